//! Tracing, initialised once per process: JSON lines on Lambda, readable lines locally. Each
//! request runs in a span carrying `request_id` and `tenant_id`, so every line logged while
//! serving it names both. Personal data is never logged: paths are logged as route templates.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::{LookupSpan, Registry};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber; later calls do nothing. The levels come from `RUST_LOG`
/// (`info`, `warn,ovation=debug`: a level, and levels by target; default `info`). Targets, not
/// `EnvFilter`: its regular expressions would be linked into every function.
pub fn init(format: LogFormat) {
    let asked = std::env::var("RUST_LOG").ok();
    let parsed = asked.as_deref().map(str::parse::<Targets>);
    let filter = match &parsed {
        Some(Ok(targets)) => targets.clone(),
        _ => Targets::new().with_default(LevelFilter::INFO),
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .finish()
            .with(filter)
            .try_init(),
        LogFormat::Text => builder
            .compact()
            .with_ansi(std::io::stderr().is_terminal())
            .finish()
            .with(filter)
            .try_init(),
    };
    if let Some(Err(e)) = parsed {
        tracing::warn!(error = %e, "RUST_LOG is not levels by target (warn,ovation=debug); logging at info");
    }
}

/// Names the tenant on the current request's span (and so on every line logged after), once:
/// a field recorded again is written again on every line by the text format.
pub fn record_tenant(tenant: &crate::ids::TenantId) {
    let span = tracing::Span::current();
    let first = span
        .with_subscriber(|(id, dispatch)| {
            let span = dispatch.downcast_ref::<Registry>()?.span(id)?;
            let mut extensions = span.extensions_mut();
            let first = extensions.get_mut::<TenantNamed>().is_none();
            if first {
                extensions.insert(TenantNamed);
            }
            Some(first)
        })
        .flatten()
        .unwrap_or(true);
    if first {
        span.record("tenant_id", tenant.as_str());
    }
}

/// The mark of a span whose tenant is named.
struct TenantNamed;
