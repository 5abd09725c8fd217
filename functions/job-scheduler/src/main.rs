//! Lambda entry point of `job-scheduler`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ovation::jobs::run_scheduler_on_lambda().await
}
