//! Safety data: caption pools (and, as they land, safe/unsafe pair files).

mod pool;

pub use pool::parse_caption_pool;
