//! Lambda entry point of `job-deliver`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    job_deliver::run_on_lambda().await
}
