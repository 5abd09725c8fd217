//! Lambda entry point of `job-webhooks`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ovation::jobs::run_webhooks_on_lambda().await
}
