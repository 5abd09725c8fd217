//! Lambda entry point of `job-retention`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    job_retention::run_on_lambda().await
}
