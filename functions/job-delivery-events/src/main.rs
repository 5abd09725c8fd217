//! Lambda entry point of `job-delivery-events`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ovation::jobs::run_delivery_events_on_lambda().await
}
