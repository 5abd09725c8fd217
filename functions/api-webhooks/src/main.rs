//! Lambda entry point of `api-webhooks`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ovation::http::run_on_lambda(api_webhooks::routes).await
}
