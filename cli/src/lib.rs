//! The `ovation` command line: `serve` runs the whole product locally (or on AWS adapters),
//! `bench` prints the benchmark figures of BENCHMARKS.md, `provision` makes a table and key for
//! `serve --aws` on an emulator or a development account.

mod bench;
mod provision;
mod serve;

pub use bench::bench_key;
pub use serve::{HTTP_FUNCTIONS, router};

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ovation",
    version,
    about = "Ovation: NPS and customer-feedback surveys, on AWS or on one laptop"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every function in one local server.
    Serve(serve::ServeArgs),
    /// Measure the store, the field cipher, the key cache and cold starts; prints figures.
    Bench(bench::BenchArgs),
    /// Create a table and KMS key on the AWS endpoint in use, for `serve --aws`.
    Provision(provision::ProvisionArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Provision(args) => provision::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
