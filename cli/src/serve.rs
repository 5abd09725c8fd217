//! `ovation serve`: every function's router in one axum server on loopback, over the embedded
//! store and local keyring (or the AWS adapters with `--aws`). Stops cleanly on Ctrl-C / SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use clap::Args;
use ovation::config::{Backend, Settings};
use ovation::{Context, Error, Result};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Data directory of the embedded store and local master key [default: ./.ovation, or
    /// OVATION_DATA_DIR].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use DynamoDB and KMS (OVATION_TABLE, OVATION_KMS_KEY_ID; AWS_ENDPOINT_URL for an emulator).
    #[arg(long, conflicts_with = "data_dir")]
    aws: bool,
}

/// A function's routes, built over the process context.
pub type Routes = fn(Arc<Context>) -> Router;

/// Every HTTP function: its name (crate, route table, `template.yaml`) and its routes.
pub const HTTP_FUNCTIONS: &[(&str, Routes)] = &[(api_admin::FUNCTION, api_admin::routes)];

/// Every function's routes in one app, as the Lambdas serve them.
pub fn router(ctx: Arc<Context>) -> Router {
    let routes = HTTP_FUNCTIONS
        .iter()
        .fold(Router::new(), |app, (_, routes)| app.merge(routes(ctx.clone())));
    ovation::http::app(&ctx, routes)
}

fn settings(args: &ServeArgs) -> Result<Settings> {
    let aws = args.aws;
    let env = |name: &str| match name {
        "OVATION_BACKEND" if aws => Some("aws".to_owned()),
        "OVATION_BACKEND" => Some("embedded".to_owned()),
        _ => std::env::var(name).ok(),
    };
    let mut settings = Settings::from_lookup(env)?;
    if let (Backend::Embedded { data_dir }, Some(dir)) = (&mut settings.backend, &args.data_dir) {
        *data_dir = dir.clone();
    }
    Ok(settings)
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let settings = settings(&args)?;
    ovation::telemetry::init(settings.log_format);
    let ctx = Context::from_settings(settings).await?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| Error::Config {
            name: "--addr",
            reason: format!("cannot listen on {}: {e}", args.addr),
        })?;
    let local = listener.local_addr().map_err(Error::internal)?;
    tokio::spawn(sweep_expired(ctx.clone()));
    let store = ctx.store.info();
    // The first line on stdout is the address, for people and for scripts.
    println!(
        "Ovation is listening on http://{local} (store: {} at {})",
        store.engine, store.location
    );
    // Peer addresses reach the throttle; no header from the client is trusted for them.
    axum::serve(
        listener,
        router(ctx.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(Error::internal)?;
    drop(ctx);
    println!("Ovation stopped cleanly");
    Ok(())
}

/// How often the local stack removes items whose TTL has passed (DynamoDB does this itself).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

async fn sweep_expired(ctx: Arc<Context>) {
    let mut ticker = tokio::time::interval(SWEEP_EVERY);
    loop {
        ticker.tick().await;
        match ctx.store.sweep_expired().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "swept expired items"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired items failed"),
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let ctrl_c = tokio::signal::ctrl_c();
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
