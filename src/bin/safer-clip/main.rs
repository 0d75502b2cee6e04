//! `safer-clip`: the command-line face of the core, for jobs too big for a browser tab.

mod convert;
mod encode;
mod eval;
mod hub;
mod inputs;
mod merge;
mod model_folder;
mod nearest;
mod sweep;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "safer-clip",
    version,
    about = "Make CLIP safer without breaking it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts and images and print their similarities.
    Encode(encode::EncodeArgs),
    /// List the safe captions of a pool nearest to each query.
    Nearest(nearest::NearestArgs),
    /// Fine-tune LoRA adapters that redirect unsafe content (SafeR-CLIP or Safe-CLIP).
    Train(train::TrainArgs),
    /// Measure retrieval, zero-shot accuracy and drift, with or without an adapter.
    Eval(eval::EvalArgs),
    /// Fold an adapter into the model's weights and write a full model folder.
    Merge(merge::MergeArgs),
    /// Write the model with smaller weights: f16 (half) or q8 (int8 with per-block scales).
    Convert(convert::ConvertArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Encode(args) => encode::run(args),
        Command::Nearest(args) => nearest::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Convert(args) => convert::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
