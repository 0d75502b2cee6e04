//! The integration tests, as one binary: each test binary links Burn's whole GPU stack, so one
//! link instead of ten.

mod common;

mod bad_input;
mod categories;
mod convert;
mod end_to_end;
mod fuzz;
mod hub;
mod hysac;
mod kernels;
mod lora;
mod losses;
mod nearest;
mod parity;
mod precision;
mod preprocess;
mod reliability;
mod strength;
mod tokenizer;
mod training;
mod zero_shot;
