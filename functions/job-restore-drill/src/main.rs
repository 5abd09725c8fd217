//! Lambda entry point of `job-restore-drill`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    job_restore_drill::run_on_lambda().await
}
