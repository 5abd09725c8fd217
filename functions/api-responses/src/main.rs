//! Lambda entry point of `api-responses`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ovation::http::run_on_lambda(api_responses::routes).await
}
