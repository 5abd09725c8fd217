//! `ovation provision`: creates a table and a KMS key with Ovation's layout on the AWS endpoint in
//! use (moto through `AWS_ENDPOINT_URL`, or a development account), for `ovation serve --aws`.
//! Production stacks get theirs from `template.yaml`.

use clap::Args;
use ovation::Result;

#[derive(Args)]
pub struct ProvisionArgs {
    /// Prefix of the new table's name (a unique suffix is added).
    #[arg(long, default_value = "ovation-dev")]
    prefix: String,
}

pub async fn run(args: ProvisionArgs) -> Result<()> {
    let config = ovation::aws::load_config().await;
    let (table, key) = ovation::provision::table_and_key(&config, &args.prefix).await?;
    // Shell-ready: `eval "$(ovation provision)"`.
    println!("export OVATION_TABLE={table}");
    println!("export OVATION_KMS_KEY_ID={key}");
    Ok(())
}
