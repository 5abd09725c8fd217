//! Tracing, initialised once per process: JSON lines on Lambda, readable lines locally. Each
//! request runs in a span carrying `request_id` and `tenant_id`, so every line logged while
//! serving it names both. Personal data is never logged: paths are logged as route templates.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; later calls do nothing. The level comes from `RUST_LOG`
/// (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
        LogFormat::Text => builder.compact().with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

/// Names the tenant on the current request's span (and so on every line logged after).
pub fn record_tenant(tenant: &crate::ids::TenantId) {
    tracing::Span::current().record("tenant_id", tenant.as_str());
}
