//! `ovation serve`: every function's router in one axum server on loopback, over the embedded
//! store and local keyring (or the AWS adapters with `--aws`). On a new data directory it creates
//! the `demo` tenant and prints its owner's sign-in once. It takes operator commands from the
//! CLI through `admin.json`, purges deleted tenants when due, runs the sending jobs on a ticker
//! and the durable local queue (mail and SMS to the outbox, shown at `/dev/outbox`), and stops
//! cleanly on Ctrl-C / SIGTERM.

pub mod backup_route;
mod outbox_page;
pub mod workers;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use clap::Args;
use ovation::auth::credential;
use ovation::config::Backend;
use ovation::http::Routes;
use ovation::services::lifecycle::tenants::{self, NewTenant};
use ovation::store::now_unix;
use ovation::{Context, Error, Result};

use crate::commands::admin::{AdminChannel, new_operator_key};
use crate::commands::backend::BackendArgs;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    backend: BackendArgs,
}

/// Every HTTP function: its name (crate, route table, `template.yaml`) and its routes.
pub const HTTP_FUNCTIONS: &[(&str, Routes)] = &[
    (api_admin::FUNCTION, api_admin::routes),
    (api_auth::FUNCTION, api_auth::routes),
    (api_surveys::FUNCTION, api_surveys::routes),
    (api_people::FUNCTION, api_people::routes),
    (api_responses::FUNCTION, api_responses::routes),
    (respond::FUNCTION, respond::routes),
    (api_webhooks::FUNCTION, api_webhooks::routes),
    (web::FUNCTION, web::routes),
];

/// The tenant made on a new data directory, and its owner.
pub const DEMO_SLUG: &str = "demo";
pub const DEMO_OWNER: &str = "owner@demo.example";

/// Every function's routes in one app, as the Lambdas serve them.
pub fn router(ctx: Arc<Context>) -> Router {
    let routes = HTTP_FUNCTIONS
        .iter()
        .fold(Router::new(), |app, (_, routes)| app.merge(routes(ctx.clone())));
    ovation::http::app(&ctx, routes)
}

/// What `ovation serve` serves: every function's router and, over the embedded store, the
/// outbox page (`/dev/outbox`) and the operator's backups (`/local/backup`).
pub fn local_app(ctx: Arc<Context>) -> Router {
    let app = router(ctx.clone());
    match &ctx.settings.backend {
        Backend::Embedded { data_dir } => app
            .merge(outbox_page::routes(
                data_dir.join(ovation::messaging::outbox::FOLDER),
                ctx.clone(),
            ))
            .merge(backup_route::routes(ctx.clone())),
        Backend::Aws { .. } => app,
    }
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let mut settings = args.backend.settings()?;
    ovation::telemetry::init(settings.log_format);
    let data_dir = match &settings.backend {
        Backend::Embedded { data_dir } => Some(data_dir.clone()),
        Backend::Aws { .. } => None,
    };
    let new_store = data_dir
        .as_ref()
        .is_some_and(|d| !d.join(ovation::context::STORE_FILE).exists());
    // This run's key for the CLI's operator commands, beside any configured ones.
    let operator_key = new_operator_key()?;
    settings.operator_keys.push(credential::sha256(&operator_key));
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| Error::Config {
            name: "--addr",
            reason: format!("cannot listen on {}: {e}", args.addr),
        })?;
    let local = listener.local_addr().map_err(Error::internal)?;
    // Survey links in sent mail point here unless a public URL is configured.
    settings.public_url.get_or_insert_with(|| format!("http://{local}"));
    let ctx = Context::from_settings(settings).await?;
    let demo = if new_store {
        Some(create_demo(&ctx).await?)
    } else {
        None
    };
    tokio::spawn(sweep_expired(ctx.clone()));
    tokio::spawn(crate::serve::workers::apply_retention(ctx.clone()));
    // On AWS adapters the jobs need their queue (OVATION_QUEUE_URL); without it the API runs alone.
    match ctx.messaging(ctx.store.clone()).await {
        Ok(messaging) => {
            if messaging.local_queue.is_some() {
                let recovered = ovation::services::sending::scheduler::recover_in_flight(&ctx, now_unix()).await?;
                if recovered > 0 {
                    eprintln!("Sending again {recovered} invitations a previous run had in flight");
                }
            }
            tokio::spawn(crate::serve::workers::schedule(ctx.clone(), messaging.clone()));
            if let Some(queue) = &messaging.local_queue {
                for _ in 0..crate::serve::workers::DELIVER_WORKERS {
                    tokio::spawn(crate::serve::workers::deliver(
                        ctx.clone(),
                        messaging.clone(),
                        queue.clone(),
                    ));
                }
            }
            if matches!(ctx.settings.backend, ovation::config::Backend::Embedded { .. }) {
                tokio::spawn(crate::serve::workers::run_exports(ctx.clone()));
            }
            if let Some(queue) = &messaging.local_webhooks {
                for _ in 0..crate::serve::workers::WEBHOOK_WORKERS {
                    tokio::spawn(crate::serve::workers::call_webhooks(ctx.clone(), queue.clone()));
                }
            }
        }
        Err(e) => eprintln!("Sending is off: {e}"),
    }
    let store = ctx.store.info();
    // The first line on stdout is the address, for people and for scripts.
    println!(
        "Ovation is listening on http://{local} (store: {} at {})",
        store.engine, store.location
    );
    if let Some(password) = demo {
        println!(
            "Created tenant `{DEMO_SLUG}`: sign in with email {DEMO_OWNER} and one-time password {password} \
             (shown this once; you will be asked to change it):\n  curl -s http://{local}/v1/auth/sign_in \
             -H 'content-type: application/json' \
             -d '{{\"tenant\":\"{DEMO_SLUG}\",\"email\":\"{DEMO_OWNER}\",\"password\":\"{password}\"}}'"
        );
    }
    let channel = match &data_dir {
        Some(dir) => Some(
            AdminChannel {
                url: format!("http://{local}"),
                operator_key,
            }
            .write(dir)?,
        ),
        None => None,
    };
    // Peer addresses reach the throttle; no header from the client is trusted for them.
    let app = local_app(ctx.clone());
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(Error::internal)?;
    if let Some(channel) = channel {
        let _ = std::fs::remove_file(channel);
    }
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

/// Creates the demo tenant; returns its owner's one-time password.
async fn create_demo(ctx: &Context) -> Result<String> {
    let created = tenants::create(
        ctx,
        NewTenant {
            slug: DEMO_SLUG.into(),
            owner_email: DEMO_OWNER.into(),
            display_name: Some("Demo".into()),
        },
    )
    .await?;
    Ok(created.one_time_password)
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
