//! `pitboss`: the one binary. It serves any set of modules (`serve --target`), runs a
//! self-contained demo, drives a server with synthetic traffic, migrates, benchmarks,
//! manages API keys, and fits churn and lifetime value models on a transaction log. Every
//! command that touches data takes the same store settings.

mod audit_cmd;
mod bench;
mod cli;
mod config;
mod demo;
mod model_cmd;
mod security;
mod serve;
mod simulate;
mod synth;
mod telemetry;

use clap::Parser;

// Ingest allocates and frees many short-lived strings and JSON values per event; the system
// allocator spent about a third of the process's time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
