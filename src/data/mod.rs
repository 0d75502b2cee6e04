//! Safety data: caption pools, safe/unsafe pair files and their splits.

mod pairs;
mod pool;
mod random;

pub use pairs::{Pair, Splits, parse_pairs, split_pairs};
pub use pool::parse_caption_pool;
pub use random::SplitMix64;
