//! People who get no more surveys, in a page (whoever sees people): those who unsubscribed and
//! those whose email bounced, oldest first, a page at a time (`GET /v1/unsubscribes` and
//! `/v1/bounces`), and unsubscribing someone by email at their request (`POST /v1/unsubscribes`:
//! an unknown address becomes a person first, so a later send skips them).

use axum::extract::{MatchedPath, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::Context;
use ovation::auth::Permission;
use ovation::http::extract::encode_component;
use ovation::services::Caller;
use ovation::services::accounts::tenants;
use ovation::services::people::person::Suppression;
use ovation::services::people::suppressions::{self, UnsubscribeRequest};

use crate::filter::{self, value};
use crate::page::{PageForm, after_form, in_layout, root_of, utc};

type Ctx = State<std::sync::Arc<Context>>;

/// People a page lists.
const PER_PAGE: u32 = 50;

const DONE: &[(&str, &str)] = &[("unsubscribed", "Unsubscribed: no survey is sent to them again.")];

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = async {
        let pairs = filter::pairs(raw.as_deref())?;
        let bounced = value(&pairs, "kind") == "bounced";
        let kind = if bounced {
            Suppression::Bounced
        } else {
            Suppression::Unsubscribed
        };
        let cursor = Some(value(&pairs, "cursor")).filter(|c| !c.is_empty());
        let page = suppressions::list(&caller.store(&ctx), kind, None, None, PER_PAGE, cursor).await?;
        let people: Vec<_> = page
            .people
            .iter()
            .map(|p| {
                context! {
                    id => &p.person_id, name => &p.name, email => &p.email,
                    at => p.unsubscribed_at.or(p.bounced_at).and_then(utc),
                }
            })
            .collect();
        let kind_name = if bounced { "bounced" } else { "unsubscribed" };
        let next = page
            .cursor
            .map(|c| format!("suppressed?kind={kind_name}&cursor={}", encode_component(&c)));
        Ok(context! {
            people, bounced, next,
            done => filter::said(DONE, &pairs),
            manage => caller.principal.role.allows(Permission::ManagePeople),
        })
    };
    in_layout(&ctx, &caller, &headers, ("people", "suppressed.html", "../"), values).await
}

/// Unsubscribes someone by email, at their request.
pub async fn unsubscribe(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let done = async {
        let hash_only = tenants::active(&ctx, &caller.principal.tenant)
            .await?
            .is_some_and(|t| t.settings.privacy.store_email_hash_only);
        let request = UnsubscribeRequest {
            person_email: form.get("email").trim().to_owned(),
        };
        suppressions::unsubscribe_by_email(&caller.store(&ctx), &caller, request, hash_only).await
    };
    let to = done.await.map(|()| "people/suppressed?done=unsubscribed".to_owned());
    after_form(&ctx, &caller, &headers, ("people", root), to).await
}
