//! Settings, the audit log (owners and admins): who did what, when, from where, newest first,
//! narrowed by period, action and person, a page at a time; and the same events as a JSON-lines
//! file (`GET /v1/audit_events?format=jsonl`'s lines, up to 10,000 a file). Thin over
//! `services::audit::list`, as the API is.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use minijinja::context;
use ovation::http::attachment;
use ovation::http::extract::encode_component;
use ovation::services::Caller;
use ovation::services::accounts::{credentials, tenants, users};
use ovation::services::audit::{self, AuditEvent, AuditFilter, AuditPage};
use ovation::store::{TenantStore, now_unix};
use ovation::{Context, Result};

use crate::filter::{self, value};
use crate::page::{error_in_layout, in_layout, utc};

type Ctx = State<std::sync::Arc<Context>>;

/// This page's entry in the settings' navigation.
pub const NAV: &str = "settings/audit";

/// Events a page shows.
const PER_PAGE: u32 = 50;
/// The periods offered, in days (the API's default window is 90).
const PERIODS: [i64; 4] = [7, 30, 90, 365];

/// What the page's form asked: the period in days, an action, a person (a user's id), and the
/// window and cursor of a next page.
struct Asked {
    days: i64,
    action: String,
    actor: String,
    filter: AuditFilter,
}

fn asked(raw: Option<&str>) -> Result<Asked> {
    let pairs = filter::pairs(raw)?;
    let days = PERIODS
        .into_iter()
        .find(|d| d.to_string() == value(&pairs, "period"))
        .unwrap_or(90);
    let number = |name: &str| value(&pairs, name).parse::<i64>().ok();
    let text = |name: &str| Some(value(&pairs, name).trim().to_owned()).filter(|t| !t.is_empty());
    let until = number("until").unwrap_or_else(now_unix);
    let filter = AuditFilter {
        since: Some(number("since").unwrap_or(until - days * 86_400)),
        until: Some(until),
        action: text("action"),
        actor_id: text("actor"),
        cursor: text("cursor"),
        ..AuditFilter::default()
    };
    Ok(Asked {
        days,
        action: value(&pairs, "action").trim().to_owned(),
        actor: value(&pairs, "actor").to_owned(),
        filter,
    })
}

/// Every user of the workspace, a page of the list at a time.
async fn every_user(store: &TenantStore) -> Result<Vec<users::UserView>> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = users::list(store, users::MAX_PER_PAGE, cursor.as_deref()).await?;
        all.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

async fn read(ctx: &Context, caller: &Caller, filter: &AuditFilter, per_page: u32) -> Result<AuditPage> {
    let floor = tenants::active(ctx, &caller.principal.tenant)
        .await?
        .map_or(0, |t| t.created_at);
    audit::list(&caller.store(ctx), filter, per_page, floor).await
}

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = async {
        let asked = asked(raw.as_deref())?;
        let page = read(&ctx, &caller, &asked.filter, PER_PAGE).await?;
        let store = caller.store(&ctx);
        let people = every_user(&store).await?;
        let keys = credentials::list_api_keys(&store).await?;
        let who = |e: &AuditEvent| match e.actor_type.as_str() {
            "user" => people
                .iter()
                .find(|u| u.id == e.actor_id)
                .map_or_else(|| "a deleted user".to_owned(), |u| u.email.clone()),
            "api_key" => keys
                .iter()
                .find(|k| k.id == e.actor_id)
                .map_or_else(|| "a revoked API key".to_owned(), |k| format!("API key “{}”", k.name)),
            "operator" => "the operator's support".to_owned(),
            other => other.replace('_', " "),
        };
        let events: Vec<_> = page
            .events
            .iter()
            .map(|e| context! { at => utc(e.created_at), who => who(e), ..minijinja::Value::from_serialize(e) })
            .collect();
        // The next page asks for the same window, filters and the cursor.
        let next = page.cursor.as_ref().map(|c| {
            format!(
                "audit?period={}&action={}&actor={}&since={}&until={}&cursor={}",
                asked.days,
                encode_component(&asked.action),
                encode_component(&asked.actor),
                page.since,
                page.until,
                encode_component(c)
            )
        });
        let export = format!(
            "audit/export?period={}&action={}&actor={}",
            asked.days,
            encode_component(&asked.action),
            encode_component(&asked.actor)
        );
        let people: Vec<_> = people
            .iter()
            .map(|u| context! { id => &u.id, email => &u.email })
            .collect();
        Ok(context! {
            events, next, export, people,
            periods => PERIODS, days => asked.days, action => asked.action, actor => asked.actor,
            per_file => audit::EXPORT_PAGE,
        })
    };
    in_layout(&ctx, &caller, &headers, (NAV, "audit.html", "../"), values).await
}

/// The events the page's filters select, newest first, as a JSON-lines file.
pub async fn export(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let lines = async {
        let asked = asked(raw.as_deref())?;
        let page = read(&ctx, &caller, &asked.filter, audit::EXPORT_PAGE).await?;
        let mut body = String::new();
        for event in &page.events {
            body.push_str(&serde_json::to_string(event).map_err(ovation::Error::internal)?);
            body.push('\n');
        }
        Ok(body)
    };
    match lines.await {
        Ok(body) => {
            let day = Timestamp::now().strftime("%Y-%m-%d");
            attachment("application/x-ndjson", &format!("audit-{day}.jsonl"), body).into_response()
        }
        Err(e) => error_in_layout(&ctx, &caller, &headers, NAV, "../../", e).await,
    }
}
