//! The `golden` command line: capture a golden snapshot of a production PVC
//! and import it into many sandbox namespaces.
//!
//! Run `golden --help` for the subcommands; `golden demo` runs the whole
//! flow on an in-process simulated cluster with no cloud account.

mod common;
mod render;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Writable copies of production data in sandbox namespaces, from one cloud
/// snapshot.
#[derive(Debug, Parser)]
#[command(name = "golden", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the import objects for namespaces as YAML (no cluster needed).
    Render(render::RenderArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render(args) => render::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("golden: error: {msg}");
            ExitCode::from(2)
        }
    }
}
