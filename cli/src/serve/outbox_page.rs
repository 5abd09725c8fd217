//! `/dev/outbox` of `ovation serve`: the mail and SMS the local stack "sent", newest first, each
//! email shown as rendered (its score links work against this server), with buttons that play
//! SES's delivery, bounce and complaint events for it through the `job-delivery-events` handler.
//! Local only: answered to loopback clients, never part of a Lambda's routes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ovation::Context;
use ovation::domain::texts::escape_html;
use ovation::messaging::mime;
use ovation::messaging::outbox::{Outbox, TAGS_HEADER};
use serde_json::json;

/// Messages the list shows.
const SHOWN: usize = 200;
/// Inline styles of the emails themselves; nothing else loads or runs; forms post here only.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'self'";
/// The topic named in the events the page plays (locally no topic is checked).
const LOCAL_TOPIC: &str = "arn:aws:sns:local:000000000000:ovation-mail-events";
/// The SES events the page plays, by the name in its path.
const EVENTS: &[&str] = &["delivery", "bounce", "complaint"];

#[derive(Clone)]
struct Outboxes {
    dir: PathBuf,
    ctx: Arc<Context>,
}

pub fn routes(dir: PathBuf, ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/dev/outbox", get(list))
        .route("/dev/outbox/{name}", get(show))
        .route("/dev/outbox/{name}/events/{kind}", post(play_event))
        .with_state(Outboxes { dir, ctx })
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

async fn list(State(Outboxes { dir, .. }): State<Outboxes>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
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
        let name = escape_html(&entry.name);
        let buttons: String = match entry.name.ends_with(".eml") {
            true => EVENTS
                .iter()
                .map(|kind| {
                    format!(
                        "<form method=\"post\" action=\"/dev/outbox/{name}/events/{kind}\" style=\"display:inline\">\
                         <button>{kind}</button></form> "
                    )
                })
                .collect(),
            false => String::new(),
        };
        rows.push_str(&format!(
            "<tr><td>{when}</td><td>{}</td><td><a href=\"/dev/outbox/{name}\">{}</a></td><td>{buttons}</td></tr>",
            escape_html(&to),
            escape_html(&subject)
        ));
    }
    html(
        StatusCode::OK,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Outbox</title></head>\
             <body style=\"font:14px sans-serif;margin:2em\"><h1>Outbox</h1>\
             <p>What the local stack sent, newest first ({}). The buttons play SES's event for an \
             email (a bounce or complaint suppresses the person).</p>\
             <table><thead><tr><th>sent (unix)</th><th>to</th><th>subject / text</th><th>play event</th></tr></thead>\
             <tbody>{rows}</tbody></table></body></html>",
            escape_html(&dir.display().to_string())
        ),
    )
}

/// A message's content, when `name` is a message of the outbox.
fn read(dir: &std::path::Path, name: &str) -> Option<String> {
    let safe = !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    safe.then(|| std::fs::read_to_string(dir.join(name)).ok()).flatten()
}

async fn show(
    State(Outboxes { dir, .. }): State<Outboxes>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    if let Some(refused) = local_only(peer) {
        return refused;
    }
    match read(&dir, &name) {
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

/// Plays SES's event `kind` for one email, as SNS would deliver it to `job-delivery-events`, then
/// shows the list again. Refused from other sites' pages (a cross-site form post).
async fn play_event(
    State(Outboxes { dir, ctx }): State<Outboxes>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((name, kind)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = local_only(peer) {
        return refused;
    }
    let header = |n: header::HeaderName| headers.get(n).and_then(|v| v.to_str().ok());
    let same_site = match (header(header::ORIGIN), header(header::HOST)) {
        (Some(origin), Some(host)) => origin == format!("http://{host}"),
        (Some(_), None) => false,
        (None, _) => headers.get("sec-fetch-site").is_none_or(|v| v == "same-origin"),
    };
    if !same_site {
        return html(
            StatusCode::FORBIDDEN,
            "Events are played from the outbox page only.".into(),
        );
    }
    let Some(parsed) = read(&dir, &name)
        .filter(|_| name.ends_with(".eml"))
        .and_then(|raw| mime::parse(&raw))
    else {
        return html(StatusCode::NOT_FOUND, "No such email.".into());
    };
    let Some(event) = ses_event(
        &kind,
        &parsed.header(TAGS_HEADER).unwrap_or_default(),
        &parsed.header("To").unwrap_or_default(),
    ) else {
        return html(
            StatusCode::NOT_FOUND,
            "No such event: delivery, bounce or complaint.".into(),
        );
    };
    let sns = ovation::jobs::sns_event(LOCAL_TOPIC, &[event.to_string()]);
    match job_delivery_events::handle(&ctx, sns).await {
        Ok(report) if report.refused.is_empty() => Redirect::to("/dev/outbox").into_response(),
        Ok(report) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            escape_html(&format!("Refused: {:?}", report.refused)),
        ),
        Err(e) => e.into_response(),
    }
}

/// SES's event of `kind` for a mail with these tags (`name=value, …`) sent to `to`, as a
/// configuration set publishes it.
fn ses_event(kind: &str, tags: &str, to: &str) -> Option<serde_json::Value> {
    let mut tag_map = serde_json::Map::new();
    for pair in tags.split(',') {
        if let Some((k, v)) = pair.trim().split_once('=') {
            tag_map.insert(k.to_owned(), json!([v]));
        }
    }
    let to = to.trim_start_matches('<').trim_end_matches('>');
    let at = "1970-01-01T00:00:00.000Z";
    let mail = json!({"timestamp": at, "destination": [to], "tags": tag_map, "messageId": "local"});
    Some(match kind {
        "delivery" => json!({"eventType": "Delivery", "mail": mail,
            "delivery": {"timestamp": at, "recipients": [to], "smtpResponse": "250 OK"}}),
        "bounce" => json!({"eventType": "Bounce", "mail": mail,
            "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "timestamp": at,
                       "bouncedRecipients": [{"emailAddress": to, "status": "5.1.1"}]}}),
        "complaint" => json!({"eventType": "Complaint", "mail": mail,
            "complaint": {"timestamp": at, "complainedRecipients": [{"emailAddress": to}]}}),
        _ => return None,
    })
}
