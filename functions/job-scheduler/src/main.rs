//! Lambda entry point of `job-scheduler`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    job_scheduler::run_on_lambda().await
}
