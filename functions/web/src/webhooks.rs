//! Settings, webhooks (owners and admins): the workspace's endpoints with their events and
//! state (active, paused, or disabled and why); adding one (its signing secret shown on the
//! answering page only), changing its URL or events, pausing and enabling it, a new secret
//! (shown once; the old one stops at once), a test event sent now with how it went, deleting it,
//! and each endpoint's delivery log of the last 30 days. Thin over `services::webhooks`, whose
//! rules (https and public addresses only, at most ten endpoints) hold as in the API.

use axum::extract::{MatchedPath, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::http::extract::{PathId, PublicBase};
use ovation::ids::WebhookId;
use ovation::services::Caller;
use ovation::services::webhooks::delivery::{self, Attempt};
use ovation::services::webhooks::endpoints::{self, EndpointRequest, EndpointWithSecret};
use ovation::services::webhooks::events::EventType;
use ovation::{Context, Error, Result};

use crate::filter;
use crate::page::{PageForm, after_form, in_layout, root_of, utc};

type Ctx = State<std::sync::Arc<Context>>;

/// This page's entry in the settings' navigation.
pub const NAV: &str = "settings/webhooks";

/// Deliveries the log shows.
const LOG: u32 = 50;

const DONE: &[(&str, &str)] = &[
    ("saved", "Endpoint saved."),
    (
        "paused",
        "Endpoint paused: events are not sent to it, nor kept for later, until it is enabled again.",
    ),
    ("enabled", "Endpoint enabled: events go to it again."),
    ("deleted", "Endpoint deleted."),
];

/// What a page shows besides the endpoints: a secret made this once, or a test's outcome.
enum Outcome {
    Said(Option<&'static str>),
    Secret(EndpointWithSecret),
    Tested(String, Attempt),
}

async fn listed(ctx: &Context, caller: &Caller, outcome: Outcome) -> Result<minijinja::Value> {
    let store = caller.store(ctx);
    let endpoints: Vec<_> = endpoints::list(&store)
        .await?
        .into_iter()
        .map(|e| {
            let events: Vec<&str> = e.events.iter().map(|k| k.as_str()).collect();
            context! {
                state => match (e.active, e.disabled_reason.as_deref()) {
                    (true, _) => "active",
                    (false, Some(endpoints::PAUSED_BY_USER) | None) => "paused",
                    (false, Some(_)) => "disabled",
                },
                disabled => e.disabled_at.and_then(utc),
                events,
                ..minijinja::Value::from_serialize(&e)
            }
        })
        .collect();
    let (done, secret, tested) = match outcome {
        Outcome::Said(done) => (done, None, None),
        Outcome::Secret(made) => (
            None,
            Some(context! { url => made.endpoint.url, secret => made.secret }),
            None,
        ),
        Outcome::Tested(url, attempt) => (
            None,
            None,
            Some(context! { url, ..minijinja::Value::from_serialize(&attempt) }),
        ),
    };
    Ok(context! {
        endpoints, done, secret, tested,
        kinds => EventType::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        max => endpoints::MAX_ENDPOINTS,
    })
}

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = async {
        let done = filter::said(DONE, &filter::pairs(raw.as_deref())?);
        listed(&ctx, &caller, Outcome::Said(done)).await
    };
    in_layout(&ctx, &caller, &headers, (NAV, "webhooks.html", "../"), values).await
}

/// The events a form ticked (`event_<name>`).
fn events_of(form: &PageForm) -> Vec<String> {
    EventType::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|name| form.get(&format!("event_{name}")) == "on")
        .map(str::to_owned)
        .collect()
}

/// Adds an endpoint; the page that answers shows its secret, once.
pub async fn create(State(ctx): Ctx, headers: HeaderMap, caller: Caller, form: PageForm) -> Response {
    let made = async {
        let request = EndpointRequest {
            url: Some(form.get("url").trim().to_owned()),
            events: Some(events_of(&form)),
            active: None,
        };
        let allow_loopback = ctx.settings.webhooks.allow_loopback;
        let made = endpoints::create(&caller.store(&ctx), &caller, allow_loopback, request).await?;
        listed(&ctx, &caller, Outcome::Secret(made)).await
    };
    in_layout(&ctx, &caller, &headers, (NAV, "webhooks.html", "../"), made).await
}

/// One change of an endpoint (`action`): `save` (URL and events), `paused`, `enabled`,
/// `secret` (a new one, shown once), `test` (an event sent now) or `delete`.
pub async fn change(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    base: PublicBase,
    caller: Caller,
    PathId(id): PathId<WebhookId>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let store = caller.store(&ctx);
    let allow_loopback = ctx.settings.webhooks.allow_loopback;
    let action = form.get("action");
    let update = |request: EndpointRequest| endpoints::update(&store, &caller, allow_loopback, &id, request);
    let done: Result<&str> = match action {
        "save" => {
            let request = EndpointRequest {
                url: Some(form.get("url").trim().to_owned()),
                events: Some(events_of(&form)),
                active: None,
            };
            update(request).await.map(|_| "saved")
        }
        "paused" | "enabled" => {
            let request = EndpointRequest {
                active: Some(action == "enabled"),
                ..EndpointRequest::default()
            };
            update(request).await.map(|_| action)
        }
        "delete" => endpoints::delete(&store, &caller, &id).await.map(|_| "deleted"),
        "secret" | "test" => {
            let shown = async {
                let outcome = if action == "secret" {
                    Outcome::Secret(endpoints::rotate_secret(&store, &caller, &id).await?)
                } else {
                    let url = endpoints::get(&store, &id).await?.url;
                    let kind = Some(form.get("event_type")).filter(|k| !k.is_empty());
                    Outcome::Tested(
                        url,
                        delivery::send_test(&ctx, &store, &caller, &id, kind, &base.0).await?,
                    )
                };
                listed(&ctx, &caller, outcome).await
            };
            return in_layout(&ctx, &caller, &headers, (NAV, "webhooks.html", root), shown).await;
        }
        _ => Err(Error::invalid(
            "action",
            "must be save, paused, enabled, secret, test or delete",
        )),
    };
    let to = done.map(|done| format!("settings/webhooks?done={done}"));
    after_form(&ctx, &caller, &headers, (NAV, root), to).await
}

/// An endpoint's delivery log, newest first.
pub async fn log(State(ctx): Ctx, headers: HeaderMap, caller: Caller, PathId(id): PathId<WebhookId>) -> Response {
    let values = async {
        let store = caller.store(&ctx);
        let endpoint = endpoints::get(&store, &id).await?;
        let deliveries: Vec<_> = delivery::deliveries(&store, &id, LOG)
            .await?
            .into_iter()
            .map(|d| {
                context! {
                    at => d.last_attempt_at.and_then(utc),
                    ..minijinja::Value::from_serialize(&d)
                }
            })
            .collect();
        Ok(context! { endpoint, deliveries, shown => LOG })
    };
    in_layout(
        &ctx,
        &caller,
        &headers,
        ("settings/webhooks/log", "webhook_log.html", "../../"),
        values,
    )
    .await
}
