//! The `ovation` command line, in its two roles: `serve` runs the whole product locally (every
//! function's router, the jobs' workers on the local queues, the outbox page), and `commands`
//! are the operator's (`tenant`, `api-key`, `operator-key`, `people import`, `export`,
//! `export-tenant`, `provision`); `bench` prints the figures of BENCHMARKS.md.

mod bench;
mod commands;
mod serve;

pub use bench::bench_key;
pub use commands::admin::ADMIN_FILE;
pub use serve::{DEMO_OWNER, DEMO_SLUG, HTTP_FUNCTIONS, local_app, router};

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::{admin, backup, export, people, provision};

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
    /// Create or delete tenants (the operator's command).
    #[command(subcommand)]
    Tenant(admin::TenantCommand),
    /// Create API keys in a tenant (the operator's command).
    #[command(subcommand)]
    ApiKey(admin::ApiKeyCommand),
    /// Make a new operator key for the platform API: the key on stdout, its setting on stderr.
    OperatorKey(admin::OperatorKeyArgs),
    /// Import people from CSV.
    #[command(subcommand)]
    People(people::PeopleCommand),
    /// Export survey responses to CSV or Excel.
    Export(export::ExportArgs),
    /// Export every item of a tenant, decrypted, as JSON lines (data portability).
    ExportTenant(export::TenantExportArgs),
    /// Copy the embedded store, running or not, to a backup file (without the master key).
    Backup(backup::BackupArgs),
    /// Restore a backup file into an empty data directory (or `--check` it).
    Restore(backup::RestoreArgs),
    /// Restore the DynamoDB table to its latest restorable time into a copy, check the copy,
    /// print the figures, delete it (`--aws`).
    RestoreDrill(backup::RestoreDrillArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Store reads run on blocking threads: one a core (tokio's default allows 512). Each thread
    // that allocates gets a glibc arena that keeps freed memory: with many, the resident set grew
    // with the backlog of a large send (BENCHMARKS.md, sending).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(cores)
        .enable_all()
        .build()
    {
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
            Command::Tenant(command) => admin::tenant(command).await,
            Command::ApiKey(command) => admin::api_key(command).await,
            Command::OperatorKey(args) => admin::operator_key(args),
            Command::People(command) => people::run(command).await,
            Command::Export(args) => export::run(args).await,
            Command::ExportTenant(args) => export::tenant(args).await,
            Command::Backup(args) => backup::backup(args).await,
            Command::Restore(args) => backup::restore(args),
            Command::RestoreDrill(args) => backup::restore_drill(args).await,
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
