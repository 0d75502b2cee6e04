//! `safer-clip nearest`: the safe captions closest to each query in the model's text space.

use std::path::PathBuf;

use clap::Args;
use safer_clip::device::block_on;
use safer_clip::error::Result;
use safer_clip::safety::nearest::{DEFAULT_BLOCK, nearest, read_neighbours};
use serde::Serialize;

use crate::inputs::{ModelArgs, read_pool};

#[derive(Args)]
pub struct NearestArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Caption pool: a text file, one caption per line.
    #[arg(long)]
    pool: PathBuf,
    /// A query text (repeat for several).
    #[arg(long = "query", required = true)]
    queries: Vec<String>,
    /// Neighbours to list per query.
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// Texts embedded at once while embedding the pool.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Print one JSON object per query, one per line.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Neighbour<'a> {
    caption: &'a str,
    index: usize,
    score: f32,
}

#[derive(Serialize)]
struct QueryResult<'a> {
    query: &'a str,
    neighbours: Vec<Neighbour<'a>>,
}

pub fn run(args: NearestArgs) -> Result<()> {
    let pool = read_pool(&args.pool)?;
    let clip = args.model.load()?;

    let pool_embeds = clip.embed_texts_in_batches(&pool, args.batch_size)?;
    let query_embeds = clip.embed_texts(&args.queries)?;
    let top = nearest(query_embeds, pool_embeds, args.k, None, DEFAULT_BLOCK)?;
    let found = block_on(read_neighbours(top))?;

    for (query, neighbours) in args.queries.iter().zip(found) {
        let result = QueryResult {
            query,
            neighbours: neighbours
                .iter()
                .map(|n| Neighbour {
                    caption: &pool[n.index],
                    index: n.index,
                    score: n.score,
                })
                .collect(),
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string(&result).expect("plain data serialises")
            );
        } else {
            println!("{query}");
            for n in &result.neighbours {
                println!("  {:>7.4}  #{:<6} {}", n.score, n.index, n.caption);
            }
        }
    }
    Ok(())
}
