//! Lambda entry point of `job-exports`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    job_exports::run_on_lambda().await
}
