//! Credentials of integrations: API keys (shown once, stored as SHA-256, listed with their last
//! use, revoked at once by deleting the stored hash), OAuth 2.0 clients, and the client
//! credentials grant (RFC 6749 §4.4) that issues short-lived bearer tokens to them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::credential::{self, Kind};
use crate::auth::{self, Scope};
use crate::domain::Slug;
use crate::error::{Error, GrantRefusal, Result};
use crate::ids::{ApiKeyId, OAuthClientId, TenantId, new_id};
use crate::services::Caller;
use crate::services::accounts::tenants;
use crate::services::audit::{self, Target};
use crate::store::{BatchOp, Condition, Item, Query, TenantStore, TxOp, keys, now_unix};

/// At most this many API keys, and this many OAuth clients, per tenant.
pub const MAX_PER_TENANT: u32 = 100;
/// Lifetime of an OAuth access token.
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// What the key or client is for ("CRM sync").
    pub name: String,
    pub scope: Scope,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub created_at: i64,
    /// Unix seconds of the last use (to the minute); none if never used.
    pub last_used_at: Option<i64>,
    /// The key's last four characters, to tell keys apart.
    pub hint: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    /// The key itself, shown only here.
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OAuthClientView {
    pub client_id: String,
    pub name: String,
    pub scope: Scope,
    pub created_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthClientCreated {
    #[serde(flatten)]
    pub client: OAuthClientView,
    /// The client secret, shown only here.
    pub client_secret: String,
}

/// Who created a credential, for the record.
fn creator(caller: Option<&Caller>) -> String {
    caller.map_or_else(
        || "operator".to_owned(),
        |c| format!("{}:{}", c.principal.actor.kind(), c.principal.actor.id()),
    )
}

/// The tenant's API keys (`API_KEY_PREFIX`) or OAuth clients (`CLIENT_PREFIX`): at most
/// `MAX_PER_TENANT`, so one page.
async fn all_of(store: &TenantStore, prefix: &str) -> Result<Vec<Item>> {
    let query = Query::new(keys::tenant_partition(store.tenant()))
        .prefix(prefix)
        .limit(MAX_PER_TENANT);
    Ok(store.query(query, None).await?.items)
}

async fn under_the_limit(store: &TenantStore, prefix: &str, what: &'static str) -> Result<()> {
    if all_of(store, prefix).await?.len() as u32 >= MAX_PER_TENANT {
        return Err(Error::invalid(
            what,
            "the tenant has the most allowed (100); revoke one first",
        ));
    }
    Ok(())
}

/// Creates an API key in the store's tenant; `caller` is none when the operator creates it.
pub async fn create_api_key(
    store: &TenantStore,
    caller: Option<&Caller>,
    request: NewCredential,
) -> Result<ApiKeyCreated> {
    let name = crate::domain::label("name", &request.name)?;
    under_the_limit(store, keys::API_KEY_PREFIX, "api_key").await?;
    let id = new_id();
    let (key, digest) = credential::issue(Kind::ApiKey, store.tenant(), &id)?;
    let view = ApiKeyView {
        id: id.clone(),
        name,
        scope: request.scope,
        created_at: now_unix(),
        last_used_at: None,
        hint: key[key.len() - 4..].to_owned(),
    };
    let item = Item::new(keys::api_key(store.tenant(), &id)?)
        .with("name", view.name.as_str())
        .with("scope", view.scope.as_str())
        .with("secret", digest.to_vec())
        .with("hint", view.hint.as_str())
        .with("created_at", view.created_at)
        .with("created_by", creator(caller));
    let event = match caller {
        Some(c) => audit::entry(store, c, "api_key.created", Target::ApiKey(id)).await?,
        None => audit::operator_entry(store, "api_key.created", Target::ApiKey(id)).await?,
    };
    let put = TxOp::Put {
        item,
        condition: Some(Condition::NotExists),
    };
    store.transact(vec![put, event]).await?;
    Ok(ApiKeyCreated { api_key: view, key })
}

/// The operator's API key in tenant `slug`: only before anyone has taken the new tenant over
/// (scripts that set up a tenant and its first key). After that, keys are the tenant's to make;
/// not even support access lets the operator make one that would outlast it.
pub async fn create_for_operator(ctx: &Context, slug: &Slug, request: NewCredential) -> Result<ApiKeyCreated> {
    let tenant = tenants::by_slug(ctx, slug)
        .await?
        .filter(crate::domain::tenant::Tenant::is_active)
        .ok_or(Error::NotFound("tenant"))?;
    if !tenants::unclaimed(ctx, &tenant.id).await? {
        return Err(Error::Forbidden {
            code: "tenant_claimed",
            reason: "the tenant's users make its API keys once one of them has signed in",
        });
    }
    create_api_key(&ctx.tenant_store(&tenant.id), None, request).await
}

pub async fn list_api_keys(store: &TenantStore) -> Result<Vec<ApiKeyView>> {
    all_of(store, keys::API_KEY_PREFIX)
        .await?
        .iter()
        .map(|i| {
            Ok(ApiKeyView {
                id: i.key.sk.trim_start_matches(keys::API_KEY_PREFIX).to_owned(),
                name: i.str("name").unwrap_or_default().to_owned(),
                scope: Scope::parse(i.str("scope").unwrap_or_default())?,
                created_at: i.num("created_at").unwrap_or_default(),
                last_used_at: i.num("last_used_at"),
                hint: i.str("hint").unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Revokes an API key: its stored hash is deleted, so the very next request with it fails.
pub async fn revoke_api_key(store: &TenantStore, caller: &Caller, id: &ApiKeyId) -> Result<()> {
    let key = keys::api_key(store.tenant(), id.as_str())?;
    let change = vec![TxOp::Delete {
        key,
        condition: Some(Condition::Exists),
    }];
    audit::commit(store, caller, change, "api_key.revoked", Target::ApiKey(id.to_string()))
        .await
        .map_err(|e| match e {
            Error::ConditionFailed => Error::NotFound("api key"),
            e => e,
        })
}

fn client_id(tenant: &TenantId, id: &str) -> String {
    OAuthClientId {
        tenant: tenant.clone(),
        id: id.to_owned(),
    }
    .to_string()
}

pub async fn create_client(store: &TenantStore, caller: &Caller, request: NewCredential) -> Result<OAuthClientCreated> {
    let name = crate::domain::label("name", &request.name)?;
    under_the_limit(store, keys::CLIENT_PREFIX, "oauth_client").await?;
    let id = new_id();
    let secret = credential::random_text()?;
    let view = OAuthClientView {
        client_id: client_id(store.tenant(), &id),
        name,
        scope: request.scope,
        created_at: now_unix(),
    };
    let item = Item::new(keys::oauth_client(store.tenant(), &id)?)
        .with("name", view.name.as_str())
        .with("scope", view.scope.as_str())
        .with("secret", credential::sha256(&secret).to_vec())
        .with("created_at", view.created_at)
        .with("created_by", creator(Some(caller)));
    let change = vec![TxOp::Put {
        item,
        condition: Some(Condition::NotExists),
    }];
    audit::commit(store, caller, change, "oauth_client.created", Target::OAuthClient(id)).await?;
    Ok(OAuthClientCreated {
        client: view,
        client_secret: secret,
    })
}

pub async fn list_clients(store: &TenantStore) -> Result<Vec<OAuthClientView>> {
    all_of(store, keys::CLIENT_PREFIX)
        .await?
        .iter()
        .map(|i| {
            Ok(OAuthClientView {
                client_id: client_id(store.tenant(), i.key.sk.trim_start_matches(keys::CLIENT_PREFIX)),
                name: i.str("name").unwrap_or_default().to_owned(),
                scope: Scope::parse(i.str("scope").unwrap_or_default())?,
                created_at: i.num("created_at").unwrap_or_default(),
            })
        })
        .collect()
}

/// Deletes a client and every access token it holds.
pub async fn delete_client(store: &TenantStore, caller: &Caller, client: &OAuthClientId) -> Result<()> {
    if &client.tenant != store.tenant() {
        return Err(Error::NotFound("oauth client"));
    }
    let id = client.id.clone();
    let change = vec![TxOp::Delete {
        key: keys::oauth_client(store.tenant(), &id)?,
        condition: Some(Condition::Exists),
    }];
    audit::commit(
        store,
        caller,
        change,
        "oauth_client.deleted",
        Target::OAuthClient(id.clone()),
    )
    .await
    .map_err(|e| match e {
        Error::ConditionFailed => Error::NotFound("oauth client"),
        e => e,
    })?;
    let partition = keys::client_partition(store.tenant(), &id)?;
    let tokens = store
        .query_all(Query::new(partition).limit(crate::store::MAX_QUERY_LIMIT))
        .await?;
    store
        .batch_write(tokens.into_iter().map(|i| BatchOp::Delete(i.key)).collect())
        .await
}

/// A token request as the form carries it, with the client's credentials from the body or from
/// HTTP Basic.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// `read`, `write` or `admin`: at most the client's own scope; default the client's.
    pub scope: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
    pub scope: Scope,
}

/// The client credentials grant. `basic` holds the client id and secret from an Authorization
/// header; sending them both ways is an `invalid_request`.
pub async fn grant(
    ctx: &Context,
    request: TokenRequest,
    basic: Option<(String, String)>,
    ip: Option<std::net::IpAddr>,
) -> Result<TokenResponse> {
    let grant_type = request
        .grant_type
        .as_deref()
        .ok_or_else(|| Error::GrantRefused(GrantRefusal::InvalidRequest("grant_type is required")))?;
    if grant_type != "client_credentials" {
        return Err(Error::GrantRefused(GrantRefusal::UnsupportedGrantType(
            "only client_credentials is supported",
        )));
    }
    let (id, secret) = match (basic, request.client_id, request.client_secret) {
        (Some(pair), None, None) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        (Some(_), _, _) => {
            return Err(Error::GrantRefused(GrantRefusal::InvalidRequest(
                "send the client credentials one way, not both",
            )));
        }
        _ => {
            return Err(Error::GrantRefused(GrantRefusal::InvalidClient(
                "client authentication failed",
            )));
        }
    };
    let unknown = || Error::GrantRefused(GrantRefusal::InvalidClient("client authentication failed"));
    let OAuthClientId {
        tenant: tenant_id,
        id: client,
    } = id.parse().map_err(|_| unknown())?;
    let tenant = tenants::active(ctx, &tenant_id).await?.ok_or_else(unknown)?;
    let store = ctx.tenant_store(&tenant.id);
    let item = store
        .get(&keys::oauth_client(store.tenant(), &client)?)
        .await?
        .filter(|i| {
            i.bytes("secret")
                .is_some_and(|s| credential::same(s, &credential::sha256(&secret)))
        })
        .ok_or_else(unknown)?;
    if !auth::ip_allowed(&tenant.settings.ip_allow_list, ip) {
        return Err(Error::GrantRefused(GrantRefusal::InvalidGrant(
            "the tenant does not allow this address",
        )));
    }
    let own = Scope::parse(item.str("scope").unwrap_or_default())?;
    let scope = match request.scope.as_deref() {
        None | Some("") => own,
        Some(text) => {
            let asked = Scope::parse(text)
                .map_err(|_| Error::GrantRefused(GrantRefusal::InvalidScope("scope must be read, write or admin")))?;
            let rank = |s: Scope| s as u8;
            if rank(asked) > rank(own) {
                return Err(Error::GrantRefused(GrantRefusal::InvalidScope(
                    "the scope is broader than the client's",
                )));
            }
            asked
        }
    };
    let (token, digest) = credential::issue(Kind::AccessToken, store.tenant(), &client)?;
    // Only while the client exists: a deletion racing this grant leaves no token behind.
    store
        .transact(vec![
            TxOp::Check {
                key: item.key.clone(),
                condition: Condition::Exists,
            },
            TxOp::Put {
                item: Item::new(keys::access_token(store.tenant(), &client, &digest)?)
                    .with("scope", scope.as_str())
                    .with_expiry(now_unix() + ACCESS_TOKEN_SECONDS),
                condition: None,
            },
        ])
        .await
        .map_err(|e| match e {
            Error::TransactionCanceled(_) => unknown(),
            e => e,
        })?;
    Ok(TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: ACCESS_TOKEN_SECONDS,
        scope,
    })
}
