//! Lambda entry point of `job-delivery-events`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    job_delivery_events::run_on_lambda().await
}
