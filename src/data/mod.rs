//! Safety data: caption pools, safe/unsafe pair files and their splits.

mod pairs;
mod pool;

pub use pairs::{Duplicates, Pair, PairImages, Splits, parse_pairs, split_pairs};
pub use pool::{check_captions, parse_caption_pool};
