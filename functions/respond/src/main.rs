//! Lambda entry point of `respond`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ovation::http::run_on_lambda(respond::routes).await
}
