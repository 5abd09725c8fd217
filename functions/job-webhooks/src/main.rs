//! Lambda entry point of `job-webhooks`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    job_webhooks::run_on_lambda().await
}
