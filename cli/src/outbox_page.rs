//! `/dev/outbox` of `ovation serve`: the mail and SMS the local stack "sent", newest first, each
//! email shown as rendered (its score links work against this server). Local only: answered to
//! loopback clients, never part of a Lambda's routes.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ovation::domain::texts::escape_html;
use ovation::messaging::mime;
use ovation::messaging::outbox::Outbox;

/// Messages the list shows.
const SHOWN: usize = 200;
/// Inline styles of the emails themselves; nothing else loads or runs.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'none'";

pub fn routes(dir: PathBuf) -> Router {
    Router::new()
        .route("/dev/outbox", get(list))
        .route("/dev/outbox/{name}", get(show))
        .with_state(dir)
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn local_only(peer: SocketAddr) -> Option<Response> {
    (!peer.ip().is_loopback()).then(|| {
        html(
            StatusCode::FORBIDDEN,
            "The outbox is shown to this machine only.".into(),
        )
    })
}

async fn list(State(dir): State<PathBuf>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if let Some(refused) = local_only(peer) {
        return refused;
    }
    let mut rows = String::new();
    for entry in Outbox::list(&dir, SHOWN) {
        let content = std::fs::read_to_string(&entry.path).unwrap_or_default();
        let (to, subject) = match mime::parse(&content) {
            Some(parsed) => (
                parsed.header("To").unwrap_or_default(),
                parsed.header("Subject").unwrap_or_default(),
            ),
            // An SMS: `To:` line, then the text.
            None => (
                content
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("To: ")
                    .to_owned(),
                content.lines().skip(3).collect::<Vec<_>>().join(" "),
            ),
        };
        let when = entry
            .modified
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{when}</td><td>{}</td><td><a href=\"/dev/outbox/{}\">{}</a></td></tr>",
            escape_html(&to),
            escape_html(&entry.name),
            escape_html(&subject)
        ));
    }
    html(
        StatusCode::OK,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Outbox</title></head>\
             <body style=\"font:14px sans-serif;margin:2em\"><h1>Outbox</h1>\
             <p>What the local stack sent, newest first ({}).</p>\
             <table><thead><tr><th>sent (unix)</th><th>to</th><th>subject / text</th></tr></thead>\
             <tbody>{rows}</tbody></table></body></html>",
            escape_html(&dir.display().to_string())
        ),
    )
}

async fn show(
    State(dir): State<PathBuf>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    if let Some(refused) = local_only(peer) {
        return refused;
    }
    let safe = !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    let content = safe.then(|| std::fs::read_to_string(dir.join(&name)).ok()).flatten();
    match content {
        Some(raw) if name.ends_with(".eml") => match mime::parse(&raw) {
            Some(parsed) => html(StatusCode::OK, parsed.html),
            None => html(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not a message this server wrote.".into(),
            ),
        },
        Some(text) => html(StatusCode::OK, format!("<pre>{}</pre>", escape_html(&text))),
        None => html(StatusCode::NOT_FOUND, "No such message.".into()),
    }
}
