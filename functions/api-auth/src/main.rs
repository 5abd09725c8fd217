//! Lambda entry point of `api-auth`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ovation::http::run_on_lambda(api_auth::routes).await
}
