//! Settings, API keys and OAuth clients (owners and admins): the workspace's keys with their
//! scope, hint, creation and last use, and its OAuth clients; making either (the key or the
//! client secret shown on the answering page only, never again), revoking a key and deleting a
//! client at once. Thin over `services::accounts::credentials`, as `/v1/api_keys` and
//! `/v1/oauth_clients` are.

use axum::extract::{MatchedPath, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::auth::Scope;
use ovation::http::extract::{PathId, PublicBase};
use ovation::ids::{ApiKeyId, OAuthClientId};
use ovation::services::Caller;
use ovation::services::accounts::credentials::{self, NewCredential};
use ovation::{Context, Error, Result};

use crate::filter;
use crate::page::{PageForm, after_form, in_layout, root_of, utc};

type Ctx = State<std::sync::Arc<Context>>;

/// This page's entry in the settings' navigation.
pub const NAV: &str = "settings/keys";

/// What the page says after a change (`done=` of the redirect).
const DONE: &[(&str, &str)] = &[
    ("revoked", "API key revoked: calls with it are refused from now on."),
    (
        "deleted",
        "OAuth client deleted: its tokens are refused from now on, and it gets no new ones.",
    ),
];

/// What was just made, shown once: a key, or a client's id and secret.
#[derive(serde::Serialize)]
struct Made {
    kind: &'static str,
    name: String,
    secret: String,
    client_id: Option<String>,
}

pub async fn page(
    State(ctx): Ctx,
    headers: HeaderMap,
    base: PublicBase,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Response {
    let values = async {
        let done = filter::said(DONE, &filter::pairs(raw.as_deref())?);
        listed(&ctx, &caller, &base, None, done).await
    };
    in_layout(&ctx, &caller, &headers, (NAV, "keys.html", "../"), values).await
}

async fn listed(
    ctx: &Context,
    caller: &Caller,
    base: &PublicBase,
    made: Option<Made>,
    done: Option<&str>,
) -> Result<minijinja::Value> {
    let store = caller.store(ctx);
    let keys: Vec<_> = credentials::list_api_keys(&store)
        .await?
        .into_iter()
        .map(|k| {
            context! {
                created => utc(k.created_at),
                last_used => k.last_used_at.and_then(utc),
                ..minijinja::Value::from_serialize(&k)
            }
        })
        .collect();
    let clients: Vec<_> = credentials::list_clients(&store)
        .await?
        .into_iter()
        .map(|c| context! { created => utc(c.created_at), ..minijinja::Value::from_serialize(&c) })
        .collect();
    Ok(context! {
        keys, clients, made, done,
        max => credentials::MAX_PER_TENANT,
        api => format!("{}/v1", base.0),
        token_url => format!("{}/oauth/token", base.0),
    })
}

/// Makes an API key or an OAuth client; the page that answers shows its secret, once.
pub async fn create(State(ctx): Ctx, headers: HeaderMap, base: PublicBase, caller: Caller, form: PageForm) -> Response {
    let made = async {
        let request = NewCredential {
            name: form.get("name").trim().to_owned(),
            scope: Scope::parse(form.get("scope"))?,
        };
        let store = caller.store(&ctx);
        let made = match form.get("kind") {
            "api_key" => {
                let created = credentials::create_api_key(&store, Some(&caller), request).await?;
                Made {
                    kind: "api_key",
                    name: created.api_key.name,
                    secret: created.key,
                    client_id: None,
                }
            }
            "oauth_client" => {
                let created = credentials::create_client(&store, &caller, request).await?;
                Made {
                    kind: "oauth_client",
                    name: created.client.name,
                    secret: created.client_secret,
                    client_id: Some(created.client.client_id),
                }
            }
            _ => return Err(Error::invalid("kind", "must be api_key or oauth_client")),
        };
        listed(&ctx, &caller, &base, Some(made), None).await
    };
    in_layout(&ctx, &caller, &headers, (NAV, "keys.html", "../"), made).await
}

/// Revokes an API key at once.
pub async fn revoke(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(id): PathId<ApiKeyId>,
    _form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let to = credentials::revoke_api_key(&caller.store(&ctx), &caller, &id)
        .await
        .map(|()| "settings/keys?done=revoked".to_owned());
    after_form(&ctx, &caller, &headers, (NAV, root), to).await
}

/// Deletes an OAuth client and the tokens it holds.
pub async fn delete_client(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(id): PathId<OAuthClientId>,
    _form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let to = credentials::delete_client(&caller.store(&ctx), &caller, &id)
        .await
        .map(|()| "settings/keys?done=deleted".to_owned());
    after_form(&ctx, &caller, &headers, (NAV, root), to).await
}
