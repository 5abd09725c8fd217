//! Lambda entry point of `job-exports`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ovation::jobs::run_exports_on_lambda().await
}
