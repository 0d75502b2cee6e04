//! Safe/unsafe caption pairs: the JSONL format of `data/README.md`, read with every problem
//! reported by line number (nothing is skipped), and seeded splits.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::preprocess::Pixels;
use crate::random::SplitMix64;

/// One line of a pair file. `unsafe_caption` is the minimal unsafe edit of `safe`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    pub safe: String,
    #[serde(rename = "unsafe")]
    pub unsafe_caption: String,
    #[serde(default)]
    pub category: Option<String>,
    /// A path relative to the pair file, or an `http(s)://` URL.
    #[serde(default)]
    pub safe_image: Option<String>,
    #[serde(default)]
    pub unsafe_image: Option<String>,
}

/// The preprocessed images of one pair.
#[derive(Debug, Clone)]
pub struct PairImages {
    pub safe: Pixels,
    pub unsafe_image: Pixels,
}

impl Pair {
    pub fn has_images(&self) -> bool {
        self.safe_image.is_some() && self.unsafe_image.is_some()
    }
}

/// What to do with a pair that repeats an earlier line's captions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// Refuse the file, naming both lines: a repeated pair can land in both the training and
    /// the test split.
    Refuse,
    /// Keep the first occurrence.
    Drop,
}

/// Bad lines listed in one error before the rest are counted.
const LISTED_PROBLEMS: usize = 20;

/// Parses a pair file. Every bad line is reported, by number, in one error (the first
/// [`LISTED_PROBLEMS`], then a count): nothing is skipped silently.
pub fn parse_pairs(text: &str, duplicates: Duplicates) -> Result<Vec<Pair>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut pairs = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match parse_line(line) {
            Ok(pair) => match seen.entry((pair.safe.clone(), pair.unsafe_caption.clone())) {
                Entry::Occupied(first) if duplicates == Duplicates::Refuse => problems.push(format!(
                    "line {}: repeats the pair of line {} (remove one; the CLI's --drop-duplicates keeps the first)",
                    i + 1,
                    first.get()
                )),
                Entry::Occupied(_) => {}
                Entry::Vacant(slot) => {
                    slot.insert(i + 1);
                    pairs.push(pair);
                }
            },
            Err(why) => problems.push(format!("line {}: {why}", i + 1)),
        }
    }
    if !problems.is_empty() {
        let more = problems.len().saturating_sub(LISTED_PROBLEMS);
        let mut listed = problems
            .into_iter()
            .take(LISTED_PROBLEMS)
            .collect::<Vec<_>>()
            .join("; ");
        if more > 0 {
            listed.push_str(&format!("; and {more} more bad lines"));
        }
        return Err(Error::Input(format!("pair file {listed}")));
    }
    if pairs.is_empty() {
        return Err(Error::Input("the pair file holds no pairs".into()));
    }
    Ok(pairs)
}

fn parse_line(line: &str) -> std::result::Result<Pair, String> {
    if line.trim().is_empty() {
        return Err("blank line; every line must hold one pair".into());
    }
    let pair: Pair = serde_json::from_str(line).map_err(|e| e.to_string())?;
    for (field, value) in [("safe", &pair.safe), ("unsafe", &pair.unsafe_caption)] {
        if value.trim().is_empty() {
            return Err(format!("`{field}` is empty"));
        }
    }
    if pair.safe == pair.unsafe_caption {
        return Err("`safe` and `unsafe` are the same caption".into());
    }
    if pair.safe_image.is_some() != pair.unsafe_image.is_some() {
        return Err("give both `safe_image` and `unsafe_image`, or neither".into());
    }
    Ok(pair)
}

/// Disjoint parts of a pair list, by index into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splits {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits `pairs` into train / validation / test with the given fractions, category by category
/// (so each part keeps the category mix), in a seeded random order.
pub fn split_pairs(pairs: &[Pair], validation: f64, test: f64, seed: u64) -> Result<Splits> {
    let valid_fraction = |f: f64| (0.0..1.0).contains(&f);
    if !valid_fraction(validation) || !valid_fraction(test) || validation + test >= 1.0 {
        return Err(Error::Input(format!(
            "split fractions must be in [0, 1) and leave pairs to train on (validation {validation}, test {test})"
        )));
    }
    let mut categories: Vec<&str> = pairs
        .iter()
        .map(|p| p.category.as_deref().unwrap_or(""))
        .collect();
    categories.sort_unstable();
    categories.dedup();
    let mut rng = SplitMix64::new(seed);
    let mut splits = Splits {
        train: vec![],
        validation: vec![],
        test: vec![],
    };
    for category in categories {
        let mut members: Vec<usize> = (0..pairs.len())
            .filter(|&i| pairs[i].category.as_deref().unwrap_or("") == category)
            .collect();
        rng.shuffle(&mut members);
        let n = members.len() as f64;
        let n_test = (n * test).round() as usize;
        let n_validation = (n * validation).round() as usize;
        splits.test.extend(&members[..n_test]);
        splits
            .validation
            .extend(&members[n_test..n_test + n_validation]);
        splits.train.extend(&members[n_test + n_validation..]);
    }
    for part in [&mut splits.train, &mut splits.validation, &mut splits.test] {
        part.sort_unstable();
    }
    if splits.train.is_empty() {
        return Err(Error::Input("the split leaves no pair to train on".into()));
    }
    Ok(splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(safe: &str, unsafe_caption: &str, category: &str) -> String {
        format!(r#"{{"safe": "{safe}", "unsafe": "{unsafe_caption}", "category": "{category}"}}"#)
    }

    #[test]
    fn every_bad_line_is_reported_by_number() {
        let good = line("a cat", "a dead cat", "violence");
        let cases = [
            (format!("{good}\n\n{good}"), "line 2: blank"),
            (
                format!("{good}\n{{\"safe\": \"a\"}}"),
                "line 2: missing field `unsafe`",
            ),
            (format!("{good}\nnot json"), "line 2: expected"),
            (
                r#"{"safe": "a", "unsafe": "b", "colour": "red"}"#.to_string(),
                "line 1: unknown field `colour`",
            ),
            (
                r#"{"safe": " ", "unsafe": "b"}"#.to_string(),
                "line 1: `safe` is empty",
            ),
            (
                r#"{"safe": "a", "unsafe": "a"}"#.to_string(),
                "line 1: `safe` and `unsafe` are the same",
            ),
            (
                r#"{"safe": "a", "unsafe": "b", "safe_image": "a.png"}"#.to_string(),
                "line 1: give both",
            ),
            (
                r#"{"safe": 3, "unsafe": "b"}"#.to_string(),
                "line 1: invalid type",
            ),
            (String::new(), "no pairs"),
        ];
        for (text, expected) in cases {
            let error = parse_pairs(&text, Duplicates::Refuse)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let several = format!("{good}\nnot json\n\n{good}\n{}", "x\n".repeat(30));
        let error = parse_pairs(&several, Duplicates::Refuse)
            .unwrap_err()
            .to_string();
        for expected in [
            "line 2: expected",
            "line 3: blank",
            "line 4: repeats the pair of line 1",
            "and 13 more",
        ] {
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn duplicates_are_refused_or_dropped() {
        let (a, b) = (
            line("a cat", "a dead cat", "violence"),
            line("a dog", "a dead dog", "violence"),
        );
        let text = format!("{a}\n{b}\n{a}");
        assert!(
            parse_pairs(&text, Duplicates::Refuse)
                .unwrap_err()
                .to_string()
                .contains("line 3: repeats the pair of line 1")
        );
        let kept = parse_pairs(&text, Duplicates::Drop).unwrap();
        assert_eq!(
            kept.iter().map(|p| p.safe.as_str()).collect::<Vec<_>>(),
            ["a cat", "a dog"]
        );
    }

    #[test]
    fn the_shipped_pairs_parse_whole() {
        let text = include_str!("../../data/pairs.jsonl");
        let pairs = parse_pairs(text, Duplicates::Refuse).unwrap();
        assert_eq!(pairs.len(), text.lines().count());
        assert!(
            pairs
                .iter()
                .all(|p| p.category.is_some() && !p.has_images())
        );
    }

    #[test]
    fn splits_are_disjoint_stratified_and_seeded() {
        let text = include_str!("../../data/pairs.jsonl");
        let pairs = parse_pairs(text, Duplicates::Refuse).unwrap();
        let splits = split_pairs(&pairs, 0.1, 0.2, 3).unwrap();
        let mut all: Vec<usize> = [&splits.train, &splits.validation, &splits.test]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..pairs.len()).collect::<Vec<_>>());
        let share = |part: &[usize], category: &str| {
            part.iter()
                .filter(|&&i| pairs[i].category.as_deref() == Some(category))
                .count() as f64
                / part.len() as f64
        };
        for category in ["violence", "nudity"] {
            assert!((share(&splits.test, category) - share(&splits.train, category)).abs() < 0.05);
        }
        assert_eq!(split_pairs(&pairs, 0.1, 0.2, 3).unwrap(), splits);
        assert_ne!(split_pairs(&pairs, 0.1, 0.2, 4).unwrap(), splits);
        assert!(split_pairs(&pairs, 0.5, 0.5, 0).is_err());
    }
}
