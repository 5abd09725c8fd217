//! `/dev/outbox` of `ovation serve`: the mail and SMS the local stack "sent", newest first (when,
//! from, to, subject), each email with its headers, its HTML as rendered at a desktop's and a
//! phone's width (its score links work against this server) and its text part, and buttons that
//! play SES's delivery, bounce and complaint events for it through the `job-delivery-events`
//! handler (a bounce or complaint after a confirmation: they suppress the person).
//! Local only: answered to loopback clients, never part of a Lambda's routes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use ovation::Context;
use ovation::domain::texts::escape_html;
use ovation::messaging::mime;
use ovation::messaging::outbox::{Outbox, TAGS_HEADER};
use serde_json::json;

/// Messages the list shows.
const SHOWN: usize = 200;
/// The outbox's own pages: inline styles, the mail framed from this server, forms posting here;
/// framed by nobody.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-src 'self'; \
                   frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
/// A mail as sent: its inline styles and images only, sandboxed (no script, no form, an opaque
/// origin: nothing in a mail can act on this server), framed by the outbox's pages alone.
const MAIL_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
                        frame-ancestors 'self'; base-uri 'none'; form-action 'none'; \
                        sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation";
/// The topic named in the events the page plays (locally no topic is checked).
const LOCAL_TOPIC: &str = "arn:aws:sns:local:000000000000:ovation-mail-events";

#[derive(Clone)]
struct Outboxes {
    dir: PathBuf,
    ctx: Arc<Context>,
}

pub fn routes(dir: PathBuf, ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/dev/outbox", get(list))
        .route("/dev/outbox/{name}", get(show))
        .route("/dev/outbox/{name}/html", get(email_html))
        .route("/dev/outbox/{name}/events/{kind}", get(confirm_event).post(play_event))
        .with_state(Outboxes { dir, ctx })
}

fn html(status: StatusCode, body: String) -> Response {
    with_policy(status, CSP, body)
}

fn with_policy(status: StatusCode, csp: &'static str, body: String) -> Response {
    let frames = if csp == MAIL_CSP { "SAMEORIGIN" } else { "DENY" };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, frames),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A page of the outbox: its title and body in the page's frame (readable at a phone's width).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    html(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · Outbox</title>\
             <style>{STYLE}</style></head><body><main>{body}</main></body></html>",
            title = escape_html(title)
        ),
    )
}

/// The pages' few styles (inline: nothing else loads).
const STYLE: &str = "*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#1f2328}\
main{max-width:72rem;margin:0 auto;padding:1rem}table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}\
td.what{overflow-wrap:anywhere}form{display:inline}button{font:inherit;padding:.3rem .7rem;margin:.1rem}\
a{color:#1d4ed8}.hint{color:#57606a}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}\
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.75rem}\
.views{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}\
.views iframe{border:1px solid #d0d7de;height:32rem;background:#fff}.desktop{width:620px;max-width:100%}.phone{width:375px;max-width:100%}\
@media(max-width:40rem){thead{display:none}tr,td,th{display:block;border:0;padding:.1rem 0}tr{padding:.5rem 0;border-bottom:1px solid #d0d7de}}";

fn local_only(peer: SocketAddr) -> Option<Response> {
    (!peer.ip().is_loopback()).then(|| {
        html(
            StatusCode::FORBIDDEN,
            "The outbox is shown to this machine only.".into(),
        )
    })
}

/// A file's time as people read it (UTC).
fn when(modified: std::time::SystemTime) -> String {
    let seconds = modified
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The buttons and links that play an email's events: delivery at once, a bounce or complaint
/// after a confirmation (they suppress the person).
fn event_actions(name: &str, to: &str) -> String {
    let to = escape_html(to);
    format!(
        "<form method=\"post\" action=\"/dev/outbox/{name}/events/delivery\"><button aria-label=\"Delivered: the mail to {to}\">Delivered</button></form> \
         <a href=\"/dev/outbox/{name}/events/bounce\" aria-label=\"Bounce the mail to {to}…\">Bounce…</a> · \
         <a href=\"/dev/outbox/{name}/events/complaint\" aria-label=\"A complaint about the mail to {to}…\">Complaint…</a>"
    )
}

async fn list(State(Outboxes { dir, .. }): State<Outboxes>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if let Some(refused) = local_only(peer) {
        return refused;
    }
    let mut rows = String::new();
    for entry in Outbox::list(&dir, SHOWN) {
        let content = std::fs::read_to_string(&entry.path).unwrap_or_default();
        let (from, to, subject) = match mime::parse(&content) {
            Some(parsed) => (
                parsed.header("From").unwrap_or_default(),
                parsed.header("To").unwrap_or_default(),
                parsed.header("Subject").unwrap_or_default(),
            ),
            // An SMS: `To:` line, then the text.
            None => (
                "SMS".to_owned(),
                content
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("To: ")
                    .to_owned(),
                content.lines().skip(3).collect::<Vec<_>>().join(" "),
            ),
        };
        let name = escape_html(&entry.name);
        let actions = match entry.name.ends_with(".eml") {
            true => event_actions(&name, &to),
            false => String::new(),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"what\"><a href=\"/dev/outbox/{name}\">{}</a></td><td>{actions}</td></tr>",
            when(entry.modified),
            escape_html(&from),
            escape_html(&to),
            escape_html(&subject)
        ));
    }
    let body = format!(
        "<h1>Outbox</h1><p class=\"hint\">What the local stack sent, newest first, from {}. \
         Delivered, Bounce and Complaint play SES's event for an email, as AWS would: a bounce or a \
         complaint suppresses the person.</p>\
         <table><thead><tr><th>Sent</th><th>From</th><th>To</th><th>Subject or text</th><th>Events</th></tr></thead>\
         <tbody>{rows}</tbody></table>",
        escape_html(&dir.display().to_string())
    );
    page(StatusCode::OK, "Outbox", &body)
}

/// A message's content, when `name` is a message of the outbox.
fn read(dir: &std::path::Path, name: &str) -> Option<String> {
    let safe = !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    safe.then(|| std::fs::read_to_string(dir.join(name)).ok()).flatten()
}

/// One message: an email's headers, its HTML at a desktop's and a phone's width, its text part;
/// an SMS's text.
async fn show(
    State(Outboxes { dir, .. }): State<Outboxes>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    if let Some(refused) = local_only(peer) {
        return refused;
    }
    let back = "<p><a href=\"/dev/outbox\">Outbox</a></p>";
    match read(&dir, &name) {
        Some(raw) if name.ends_with(".eml") => match mime::parse(&raw) {
            Some(parsed) => {
                let field = |n: &str| escape_html(&parsed.header(n).unwrap_or_default());
                let name = escape_html(&name);
                let body = format!(
                    "{back}<h1>{subject}</h1><dl><dt>From</dt><dd>{from}</dd><dt>To</dt><dd>{to}</dd>\
                     <dt>Reply-To</dt><dd>{reply}</dd><dt>List-Unsubscribe</dt><dd>{unsubscribe}</dd></dl>\
                     <p>{actions}</p><h2>As sent</h2>\
                     <p><a href=\"/dev/outbox/{name}/html\">Open the mail on its own</a> <span class=\"hint\">(to click its score links)</span></p>\
                     <div class=\"views\">\
                     <iframe class=\"desktop\" sandbox title=\"The email at a desktop's width\" src=\"/dev/outbox/{name}/html\"></iframe>\
                     <iframe class=\"phone\" sandbox title=\"The email at a phone's width\" src=\"/dev/outbox/{name}/html\"></iframe></div>\
                     <h2>Text part</h2><pre>{text}</pre>",
                    subject = field("Subject"),
                    from = field("From"),
                    to = field("To"),
                    reply = field("Reply-To"),
                    unsubscribe = field("List-Unsubscribe"),
                    actions = event_actions(&name, &parsed.header("To").unwrap_or_default()),
                    text = escape_html(&parsed.text),
                );
                page(StatusCode::OK, &parsed.header("Subject").unwrap_or_default(), &body)
            }
            None => html(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not a message this server wrote.".into(),
            ),
        },
        Some(text) => page(
            StatusCode::OK,
            "SMS",
            &format!("{back}<h1>SMS</h1><pre>{}</pre>", escape_html(&text)),
        ),
        None => html(StatusCode::NOT_FOUND, "No such message.".into()),
    }
}

/// An email's HTML part as it was sent (its score links work against this server).
async fn email_html(
    State(Outboxes { dir, .. }): State<Outboxes>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    if let Some(refused) = local_only(peer) {
        return refused;
    }
    match read(&dir, &name)
        .filter(|_| name.ends_with(".eml"))
        .and_then(|raw| mime::parse(&raw))
    {
        Some(parsed) => with_policy(StatusCode::OK, MAIL_CSP, parsed.html),
        None => html(StatusCode::NOT_FOUND, "No such email.".into()),
    }
}

/// Asks before playing a bounce or a complaint, which suppress the person.
async fn confirm_event(
    State(Outboxes { dir, .. }): State<Outboxes>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((name, kind)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = local_only(peer) {
        return refused;
    }
    let Some(parsed) = read(&dir, &name)
        .filter(|_| name.ends_with(".eml"))
        .and_then(|raw| mime::parse(&raw))
    else {
        return html(StatusCode::NOT_FOUND, "No such email.".into());
    };
    let what = match kind.as_str() {
        "bounce" => "a permanent bounce: the address is suppressed, and no survey is mailed to it again",
        "complaint" => "a complaint (marked as spam): the person is unsubscribed, and no survey is sent to them again",
        "delivery" => "its delivery",
        _ => {
            return html(
                StatusCode::NOT_FOUND,
                "No such event: delivery, bounce or complaint.".into(),
            );
        }
    };
    let name = escape_html(&name);
    let body = format!(
        "<p><a href=\"/dev/outbox\">Outbox</a></p><h1>Play {kind} for {to}?</h1>\
         <p>This plays SES's event for “{subject}”: {what}.</p>\
         <form method=\"post\" action=\"/dev/outbox/{name}/events/{kind}\"><button>Play {kind}</button></form> \
         <a href=\"/dev/outbox\">Cancel</a>",
        kind = escape_html(&kind),
        to = escape_html(&parsed.header("To").unwrap_or_default()),
        subject = escape_html(&parsed.header("Subject").unwrap_or_default()),
    );
    page(StatusCode::OK, "Play an event", &body)
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
