//! Where a command's data lives: the embedded data directory (default) or AWS (`--aws`), read
//! from the flags and the environment into `Settings`.

use std::path::PathBuf;

use clap::Args;
use ovation::Result;
use ovation::config::{Backend, Settings};

#[derive(Args, Clone, Debug)]
pub struct BackendArgs {
    /// Data directory of the embedded store and local master key [default: ./.ovation, or
    /// OVATION_DATA_DIR].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Use DynamoDB and KMS (OVATION_TABLE, OVATION_KMS_KEY_ID; AWS_ENDPOINT_URL for an emulator).
    #[arg(long, conflicts_with = "data_dir")]
    pub aws: bool,
}

impl BackendArgs {
    pub fn settings(&self) -> Result<Settings> {
        let aws = self.aws;
        let env = |name: &str| match name {
            "OVATION_BACKEND" if aws => Some("aws".to_owned()),
            "OVATION_BACKEND" => Some("embedded".to_owned()),
            _ => std::env::var(name).ok(),
        };
        let mut settings = Settings::from_lookup(env)?;
        if let (Backend::Embedded { data_dir }, Some(dir)) = (&mut settings.backend, &self.data_dir) {
            *data_dir = dir.clone();
        }
        Ok(settings)
    }
}
