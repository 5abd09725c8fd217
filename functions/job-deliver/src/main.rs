//! Lambda entry point of `job-deliver`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ovation::jobs::run_deliverer_on_lambda().await
}
