//! Lambda entry point of `api-admin`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = ovation::config::Settings::from_env()?;
    ovation::telemetry::init(settings.log_format);
    let ctx = ovation::Context::from_settings(settings).await?;
    let app = ovation::http::app(&ctx, api_admin::routes(ctx.clone()));
    lambda_http::run(ovation::http::on_lambda(app)).await
}
