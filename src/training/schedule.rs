//! The order of training: which pairs each step sees, epoch by epoch, with SafeR-CLIP's
//! easy-to-hard curriculum. Fixed by the seed, so a resumed run replays the same batches.

use serde::Serialize;

use super::config::{CurriculumConfig, TrainConfig};
use crate::random::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    pub epoch: usize,
    /// 0-based curriculum stage (always 0 without a curriculum).
    pub stage: usize,
    /// Indices of training pairs.
    pub pairs: Vec<usize>,
}

/// Stage `k` holds the `(k + 1) / stages` easiest pairs, where easy means a high `difficulty`
/// score (the cosine between an unsafe caption and its target: little to move). Ties keep the
/// pair order.
pub fn curriculum_stage(difficulty: &[f32], stage: usize, stages: usize) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..difficulty.len()).collect();
    ranked.sort_by(|&a, &b| difficulty[b].total_cmp(&difficulty[a]).then(a.cmp(&b)));
    let take = (difficulty.len() * (stage + 1)).div_ceil(stages);
    let mut members = ranked[..take].to_vec();
    members.sort_unstable();
    members
}

fn stage_of(epoch: usize, curriculum: &CurriculumConfig) -> usize {
    (epoch / curriculum.epochs_per_stage).min(curriculum.stages - 1)
}

pub fn schedule(config: &TrainConfig, difficulty: &[f32]) -> Vec<Batch> {
    let mut batches = Vec::new();
    for epoch in 0..config.epochs {
        let (stage, mut members) = match &config.curriculum {
            Some(c) => {
                let stage = stage_of(epoch, c);
                (stage, curriculum_stage(difficulty, stage, c.stages))
            }
            None => (0, (0..difficulty.len()).collect()),
        };
        SplitMix64::new(config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9))
            .shuffle(&mut members);
        batches.extend(members.chunks(config.batch_size).map(|pairs| Batch {
            epoch,
            stage,
            pairs: pairs.to_vec(),
        }));
    }
    if let Some(max) = config.max_steps {
        batches.truncate(max);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::Method;

    #[test]
    fn stages_grow_from_the_easiest_pairs_to_all() {
        let difficulty = [0.1, 0.9, 0.5, 0.7, 0.3, 0.8];
        assert_eq!(curriculum_stage(&difficulty, 0, 3), [1, 5]);
        assert_eq!(curriculum_stage(&difficulty, 1, 3), [1, 2, 3, 5]);
        assert_eq!(curriculum_stage(&difficulty, 2, 3), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_schedule_follows_the_curriculum_and_the_seed() {
        let difficulty: Vec<f32> = (0..30).map(|i| i as f32 / 30.0).collect();
        let mut config = TrainConfig::new(Method::Safer);
        config.batch_size = 4;
        config.epochs = 4;
        let batches = schedule(&config, &difficulty);
        let seen = |epoch: usize| -> Vec<usize> {
            let mut all: Vec<usize> = batches
                .iter()
                .filter(|b| b.epoch == epoch)
                .flat_map(|b| b.pairs.clone())
                .collect();
            all.sort_unstable();
            all
        };
        assert_eq!(
            seen(0),
            (20..30).collect::<Vec<_>>(),
            "epoch 1: the easiest third"
        );
        assert_eq!(seen(1), (10..30).collect::<Vec<_>>());
        assert_eq!(seen(2), (0..30).collect::<Vec<_>>());
        assert_eq!(seen(3), (0..30).collect::<Vec<_>>());
        assert_eq!(batches.iter().map(|b| b.stage).max(), Some(2));
        assert_eq!(schedule(&config, &difficulty), batches);
        config.seed = 1;
        assert_ne!(schedule(&config, &difficulty), batches);
        config.max_steps = Some(5);
        assert_eq!(schedule(&config, &difficulty).len(), 5);
        config.curriculum = None;
        assert!(schedule(&config, &difficulty).iter().all(|b| b.stage == 0));
    }
}
