//! Lambda entry point of `api-people`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ovation::http::run_on_lambda(api_people::routes).await
}
