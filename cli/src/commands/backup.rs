//! `ovation backup` and `ovation restore`: a consistent copy of the embedded store (written by
//! the running `ovation serve` when it has the store open, else from the file), checked by its
//! own digest, restored into an empty data directory (the master key is never in the file: it is
//! kept, and restored, on its own); and `ovation restore-drill --aws`, the point-in-time restore
//! of the DynamoDB table, proved.

use std::path::PathBuf;

use clap::Args;
use ovation::config::{Backend, Settings};
use ovation::context::STORE_FILE;
use ovation::crypto::local::MASTER_KEY_FILE;
use ovation::store::BackupSummary;
use ovation::store::embedded::backup;
use ovation::{Error, Result};

use super::admin;
use super::backend::BackendArgs;
use crate::serve::backup_route;

#[derive(Args)]
pub struct BackupArgs {
    /// The backup file to write (it must not exist).
    file: PathBuf,
    #[command(flatten)]
    backend: BackendArgs,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file to restore.
    file: PathBuf,
    /// Only check the file (its form, every item, its checksum); write nothing.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

fn data_dir(settings: &Settings) -> Result<PathBuf> {
    match &settings.backend {
        Backend::Embedded { data_dir } => Ok(data_dir.clone()),
        Backend::Aws { .. } => Err(Error::Config {
            name: "--aws",
            reason: "DynamoDB is backed up by AWS Backup and point-in-time recovery; see `ovation restore-drill --aws`"
                .into(),
        }),
    }
}

/// Backs the store up: through the running server when one has it open, else from its file.
pub async fn backup(args: BackupArgs) -> Result<()> {
    let settings = args.backend.settings()?;
    let dir = data_dir(&settings)?;
    let started = std::time::Instant::now();
    let file = std::path::absolute(&args.file).map_err(|e| Error::invalid("file", e.to_string()))?;
    let done: BackupSummary = match admin::running_server(&settings).await {
        Some(server) => {
            let body = serde_json::json!({ "file": file });
            let answer = admin::call(&server, reqwest::Method::POST, backup_route::PATH, Some(body)).await?;
            serde_json::from_value(answer).map_err(Error::internal)?
        }
        None => backup::backup(&dir.join(STORE_FILE), &file)?,
    };
    println!(
        "backed up {} items ({} bytes) to {} in {:.1}s; sha256 {}",
        done.items,
        done.bytes,
        args.file.display(),
        started.elapsed().as_secs_f64(),
        done.sha256
    );
    eprintln!(
        "The master key is not in the backup: keep {} in another place (never beside this file).",
        dir.join(MASTER_KEY_FILE).display()
    );
    Ok(())
}

pub fn restore(args: RestoreArgs) -> Result<()> {
    if args.check {
        let done = backup::verify(&args.file)?;
        println!(
            "{} is whole: {} items, sha256 {}",
            args.file.display(),
            done.items,
            done.sha256
        );
        return Ok(());
    }
    let dir = data_dir(&args.backend.settings()?)?;
    // Private, as `ovation serve` makes its data directory: the store is readable there.
    let private = std::fs::create_dir_all(&dir).and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
    });
    private.map_err(|e| Error::Config {
        name: "OVATION_DATA_DIR",
        reason: format!("{}: {e}", dir.display()),
    })?;
    let started = std::time::Instant::now();
    let done = backup::restore(&args.file, &dir.join(STORE_FILE))?;
    println!(
        "restored {} items into {} in {:.1}s",
        done.items,
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    if !dir.join(MASTER_KEY_FILE).exists() {
        eprintln!(
            "Now put the master key from its own backup at {} (mode 600): without it the data cannot be read.",
            dir.join(MASTER_KEY_FILE).display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct RestoreDrillArgs {
    #[command(flatten)]
    backend: BackendArgs,
    /// How long the restore may take, in minutes, before the drill fails.
    #[arg(long, default_value_t = 720)]
    wait_minutes: u64,
}

/// Restores the table into a copy, checks it, prints the figures and deletes the copy; fails
/// (exit 1) when anything did not hold.
pub async fn restore_drill(args: RestoreDrillArgs) -> Result<()> {
    let settings = args.backend.settings()?;
    let config = ovation::aws::load_config().await;
    let wait = std::time::Duration::from_secs(args.wait_minutes * 60);
    let report = ovation::drill::run(&settings, &config, wait).await?;
    print!("{}", report.print());
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(Error::internal("the restore drill found problems (above)"))
    }
}
