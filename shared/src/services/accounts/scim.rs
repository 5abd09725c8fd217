//! SCIM 2.0 (RFC 7643, RFC 7644) provisioning: a workspace's identity provider (Okta, Microsoft
//! Entra ID, OneLogin, JumpCloud) creates, finds, renames, deactivates and deletes its users. One
//! bearer token a workspace (made by an owner, shown once, replaced or revoked at once); a user it
//! creates is active without a password (they sign in through single sign-on) with the single
//! sign-on's default role; a deactivated or deleted user's sessions end at once. Owners are left
//! to the owners: provisioning acts as an admin.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;
use utoipa::ToSchema;

use crate::Context;
use crate::auth::Role;
use crate::auth::credential::{self, Kind};
use crate::domain::Email;
use crate::error::{Error, Result};
use crate::ids::{UserId, new_id};
use crate::services::Caller;
use crate::services::accounts::sso;
use crate::services::accounts::users::{self, NewUser, UserPatch, UserRecord, UserStatus};
use crate::services::audit::{self, Outcome, Target};
use crate::store::{Condition, Item, TxOp, keys, now_unix};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The most users one page lists.
pub const MAX_COUNT: usize = 100;
const MAX_FILTER: usize = 512;
const MAX_OPERATIONS: usize = 100;

/// A new SCIM token: shown only here.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProvisioningToken {
    /// The token's id: the audit log's `actor_id` of what it does.
    pub id: String,
    pub token: String,
    /// The SCIM base URL to give the identity provider.
    pub base_url: String,
    pub created_at: i64,
}

/// The workspace's SCIM token as shown after (never the token itself).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProvisioningTokenInfo {
    pub id: String,
    pub base_url: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The SCIM base URL of the app at `base`.
pub fn base_url(base: &str) -> String {
    format!("{base}/scim/v2")
}

/// Makes the workspace's SCIM token; one made before stops working at once.
pub async fn create_token(ctx: &Context, caller: &Caller, base: &str) -> Result<ProvisioningToken> {
    let store = caller.store(ctx);
    let id = new_id();
    let (token, digest) = credential::issue(Kind::Provisioning, store.tenant(), &id)?;
    let now = now_unix();
    let item = Item::new(keys::scim_token(store.tenant()))
        .with("id", id.as_str())
        .with("secret", digest.to_vec())
        .with("created_at", now);
    let change = vec![TxOp::Put { item, condition: None }];
    audit::commit(
        &store,
        caller,
        change,
        "scim.token_created",
        Target::SingleSignOn("scim".into()),
    )
    .await?;
    Ok(ProvisioningToken {
        id,
        token,
        base_url: base_url(base),
        created_at: now,
    })
}

/// The workspace's SCIM token, if it has one.
pub async fn token_info(ctx: &Context, caller: &Caller, base: &str) -> Result<ProvisioningTokenInfo> {
    let store = caller.store(ctx);
    let item = store
        .get(&keys::scim_token(store.tenant()))
        .await?
        .ok_or(Error::NotFound("SCIM token"))?;
    Ok(ProvisioningTokenInfo {
        id: item.str("id").unwrap_or_default().to_owned(),
        base_url: base_url(base),
        created_at: item.num("created_at").unwrap_or_default(),
        last_used_at: item.num("last_used_at"),
    })
}

/// Revokes the workspace's SCIM token at once.
pub async fn revoke_token(ctx: &Context, caller: &Caller) -> Result<()> {
    let store = caller.store(ctx);
    let change = vec![TxOp::Delete {
        key: keys::scim_token(store.tenant()),
        condition: Some(Condition::Exists),
    }];
    match audit::commit(
        &store,
        caller,
        change,
        "scim.token_revoked",
        Target::SingleSignOn("scim".into()),
    )
    .await
    {
        Err(Error::ConditionFailed) => Err(Error::NotFound("SCIM token")),
        other => other,
    }
}

/// A person's name as SCIM spells it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimEmail {
    pub value: String,
    #[serde(default)]
    pub primary: bool,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A user as an identity provider sends it. Attributes Ovation does not keep (titles,
/// departments, phone numbers, the enterprise extension) are taken and left aside.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimUserInput {
    /// The user's email (or, when it is not one, their primary email is used).
    pub user_name: String,
    #[serde(default)]
    pub name: Option<ScimName>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub emails: Vec<ScimEmail>,
    /// `"True"`/`"False"` as Entra ID sends them are taken too. Left out: active when created,
    /// unchanged when replaced.
    #[serde(default, deserialize_with = "some_flag")]
    #[schema(value_type = Option<bool>)]
    pub active: Option<bool>,
    /// The identity provider's own id for the user, kept and shown back.
    #[serde(default)]
    pub external_id: Option<String>,
}

fn some_flag<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<bool>, D::Error> {
    flag(d).map(Some)
}

/// A boolean as identity providers send it: `true`, or `"True"` (Entra ID).
fn flag<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    match Json::deserialize(d)? {
        Json::Bool(b) => Ok(b),
        Json::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Json::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(serde::de::Error::custom(format!("{other} is not true or false"))),
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimMeta {
    pub resource_type: String,
    pub created: String,
    pub last_modified: String,
    pub location: String,
}

/// A user as SCIM shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    pub schemas: Vec<String>,
    pub id: String,
    pub user_name: String,
    pub name: ScimName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub emails: Vec<ScimEmail>,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub meta: ScimMeta,
}

/// A page of users (RFC 7644 §3.4.2).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimUserList {
    pub schemas: Vec<String>,
    pub total_results: usize,
    pub start_index: usize,
    pub items_per_page: usize,
    #[serde(rename = "Resources")]
    pub resources: Vec<ScimUser>,
}

/// A PATCH (RFC 7644 §3.5.2).
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct ScimPatch {
    #[serde(rename = "Operations")]
    pub operations: Vec<ScimOperation>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct ScimOperation {
    /// `add`, `replace` or `remove` (any case).
    pub op: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub value: Option<Json>,
}

pub(crate) fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix).map_or_else(|_| String::new(), |t| t.to_string())
}

fn shown(user: &UserRecord, base: &str) -> ScimUser {
    let created = rfc3339(user.created_at);
    ScimUser {
        schemas: vec![USER_SCHEMA.to_owned()],
        id: user.id.clone(),
        user_name: user.email.as_str().to_owned(),
        name: ScimName {
            formatted: user.name.clone(),
            ..ScimName::default()
        },
        display_name: user.name.clone(),
        emails: vec![ScimEmail {
            value: user.email.as_str().to_owned(),
            primary: true,
            kind: Some("work".into()),
        }],
        active: user.status != UserStatus::Disabled,
        external_id: user.external_id.clone(),
        meta: ScimMeta {
            resource_type: "User".into(),
            last_modified: created.clone(),
            created,
            location: format!("{}/Users/{}", base_url(base), user.id),
        },
    }
}

/// The user's email: `userName` when it is one, else the primary (or first) email.
fn email_of(input: &ScimUserInput) -> Result<Email> {
    if let Ok(email) = Email::parse(&input.user_name) {
        return Ok(email);
    }
    let listed = input
        .emails
        .iter()
        .find(|e| e.primary)
        .or_else(|| input.emails.first())
        .ok_or_else(|| Error::invalid("emails", "userName is not an email address: send the email in emails"))?;
    Email::parse(&listed.value)
}

/// The display name from SCIM's parts: `formatted`, else the given and family names, else
/// `displayName`.
fn name_of(name: Option<&ScimName>, display: Option<&str>) -> Result<Option<String>> {
    let parts = name.map(|n| {
        [n.given_name.as_deref(), n.family_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let chosen = name
        .and_then(|n| n.formatted.clone())
        .filter(|f| !f.trim().is_empty())
        .or(parts.filter(|p| !p.is_empty()))
        .or(display.map(str::to_owned).filter(|d| !d.trim().is_empty()));
    chosen.map(|n| users::display_name(&n)).transpose()
}

async fn user_of(caller: &Caller, ctx: &Context, id: &str) -> Result<UserRecord> {
    users::load(&caller.store(ctx), id)
        .await?
        .ok_or(Error::NotFound("user"))
}

/// Creates a user: active (unless sent inactive) without a password, with the single sign-on's
/// default role. An email already in the workspace is a conflict (409 `uniqueness`).
pub async fn create(ctx: &Context, caller: &Caller, input: ScimUserInput, base: &str) -> Result<ScimUser> {
    let store = caller.store(ctx);
    let email = email_of(&input)?;
    let name = name_of(input.name.as_ref(), input.display_name.as_deref())?;
    let role = sso::default_role(&store).await?;
    let status = match input.active {
        Some(false) => UserStatus::Disabled,
        _ => UserStatus::Active,
    };
    let prepared = users::prepare(
        &store,
        NewUser {
            email,
            name,
            role,
            status,
            password: None,
            must_change_password: false,
            external_id: input.external_id.clone(),
        },
    )
    .await?;
    let mut ops = prepared.ops;
    ops.push(audit::entry(&store, caller, "user.provisioned", Target::User(prepared.id.clone())).await?);
    match store.transact(ops).await {
        Err(Error::TransactionCanceled(_)) => return Err(Error::Conflict("a user with this email exists")),
        other => other?,
    }
    Ok(shown(&user_of(caller, ctx, &prepared.id).await?, base))
}

pub async fn get(ctx: &Context, caller: &Caller, id: &str, base: &str) -> Result<ScimUser> {
    Ok(shown(&user_of(caller, ctx, id).await?, base))
}

/// A filter `attribute eq "value"`, the one form identity providers send to find a resource:
/// its attribute (lower case) and value. The split is the first ` eq ` outside the attribute's
/// brackets whose rest is one JSON string (a value may hold ` eq ` itself, and so may an
/// attribute: `emails[type eq "work"].value`). `supported` says what may be asked, in the error.
pub(crate) fn filter_eq(filter: &str, supported: &'static str) -> Result<(String, String)> {
    let invalid = || Error::invalid("filter", format!("only {supported} are supported"));
    if filter.len() > MAX_FILTER {
        return Err(invalid());
    }
    let lower = filter.to_ascii_lowercase();
    lower
        .match_indices(" eq ")
        .find_map(|(at, _)| {
            let attribute = filter[..at].trim();
            let balanced = attribute.matches('[').count() == attribute.matches(']').count();
            let value = serde_json::from_str::<String>(filter[at + 4..].trim()).ok()?;
            balanced.then(|| (attribute.to_ascii_lowercase(), value))
        })
        .ok_or_else(invalid)
}

/// What a list filter asks for: the users with an email (`userName eq "…"`, `emails.value eq
/// "…"`, `emails[type eq "work"].value eq "…"`), or with the identity provider's own id
/// (`externalId eq "…"`): the filters identity providers send to find a user.
#[derive(Debug, PartialEq, Eq)]
enum UserFilter {
    Email(String),
    External(String),
}

fn user_filter(filter: &str) -> Result<UserFilter> {
    let supported = "`userName eq \"…\"`, `emails.value eq \"…\"` and `externalId eq \"…\"`";
    let (attribute, value) = filter_eq(filter, supported)?;
    match attribute.as_str() {
        "username" | "emails.value" | "emails[type eq \"work\"].value" => Ok(UserFilter::Email(value)),
        "externalid" => Ok(UserFilter::External(value)),
        _ => Err(Error::invalid("filter", format!("only {supported} are supported"))),
    }
}

/// A list's query as SCIM names it (its numbers read here: a bad one is a SCIM error).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ListQuery {
    pub filter: Option<String>,
    #[serde(rename = "startIndex")]
    pub start_index: Option<String>,
    pub count: Option<String>,
    /// `members` leaves a group's members out (Okta and Entra ID ask so on their lookups).
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

/// A whole number of the query; below `least`, `least` (RFC 7644 §3.4.2.4).
pub(crate) fn number(name: &'static str, text: Option<&str>, least: i64) -> Result<Option<usize>> {
    text.map(|t| {
        t.trim()
            .parse::<i64>()
            .map(|n| n.max(least) as usize)
            .map_err(|_| Error::invalid(name, "must be a whole number"))
    })
    .transpose()
}

/// A page of users (`startIndex` from 1, `count` up to 100), or those a filter finds.
pub async fn list(ctx: &Context, caller: &Caller, query: ListQuery, base: &str) -> Result<ScimUserList> {
    let store = caller.store(ctx);
    let start = number("startIndex", query.start_index.as_deref(), 1)?.unwrap_or(1);
    let count = number("count", query.count.as_deref(), 0)?
        .unwrap_or(MAX_COUNT)
        .min(MAX_COUNT);
    let found: Vec<UserRecord> = match query.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(filter) => match user_filter(filter)? {
            UserFilter::Email(wanted) => match Email::parse(&wanted) {
                Ok(email) => users::load_by_email(&store, &email).await?.into_iter().collect(),
                Err(_) => vec![],
            },
            UserFilter::External(wanted) => users::all(&store)
                .await?
                .into_iter()
                .filter(|u| u.external_id.as_deref() == Some(wanted.as_str()))
                .collect(),
        },
        None => users::all(&store).await?,
    };
    let total = found.len();
    let resources: Vec<ScimUser> = found
        .iter()
        .skip(start - 1)
        .take(count)
        .map(|u| shown(u, base))
        .collect();
    Ok(ScimUserList {
        schemas: vec![LIST_SCHEMA.to_owned()],
        total_results: total,
        start_index: start,
        items_per_page: resources.len(),
        resources,
    })
}

/// What a replacement or a patch asks of a user: their name, whether they are active.
#[derive(Default)]
struct Wanted {
    name: Option<Option<String>>,
    active: Option<bool>,
    external_id: Option<Option<String>>,
}

/// Applies what is wanted and differs: a name through the users service; deactivation disables
/// the user (every session and mailed link ends at once), reactivation enables them again (only
/// those it disabled itself). Owners are out of its reach, audited when it tries.
async fn apply(ctx: &Context, caller: &Caller, user: &UserRecord, wanted: Wanted, base: &str) -> Result<ScimUser> {
    let active = user.status != UserStatus::Disabled;
    let external_id = wanted
        .external_id
        .map(crate::domain::external_id)
        .transpose()?
        .filter(|e| e != &user.external_id);
    let patch = UserPatch {
        name: wanted.name.flatten().filter(|n| Some(n) != user.name.as_ref()),
        disabled: wanted.active.filter(|a| *a != active).map(|a| !a),
        external_id,
        ..UserPatch::default()
    };
    if patch.name.is_some() || patch.disabled.is_some() || patch.external_id.is_some() {
        leave_owners_alone(ctx, caller, user).await?;
        let id: UserId = user.id.parse()?;
        users::update(ctx, caller, &id, patch).await?;
    }
    get(ctx, caller, &user.id, base).await
}

/// The email a request names must be the user's: an email does not change through SCIM.
fn same_email(user: &UserRecord, named: &Email) -> Result<()> {
    match named == &user.email {
        true => Ok(()),
        false => Err(Error::invalid(
            "userName",
            "cannot change (a user's email is their sign-in): delete the user and create another",
        )),
    }
}

/// Replaces a user's name and state (`PUT`).
pub async fn replace(ctx: &Context, caller: &Caller, id: &str, input: ScimUserInput, base: &str) -> Result<ScimUser> {
    let user = user_of(caller, ctx, id).await?;
    same_email(&user, &email_of(&input)?)?;
    let wanted = Wanted {
        name: Some(name_of(input.name.as_ref(), input.display_name.as_deref())?),
        active: input.active,
        external_id: Some(input.external_id),
    };
    apply(ctx, caller, &user, wanted, base).await
}

/// A PATCH operation's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Replace,
    Remove,
}

/// A PATCH's operations, each as (kind, path, value): at most 100; `op` in any case; a value
/// object without a path stands for one operation on each attribute it names.
pub(crate) fn operations(patch: ScimPatch) -> Result<Vec<(Op, String, Json)>> {
    if patch.operations.len() > MAX_OPERATIONS {
        return Err(Error::invalid(
            "Operations",
            format!("at most {MAX_OPERATIONS} operations"),
        ));
    }
    let mut each = Vec::new();
    for operation in patch.operations {
        let op = match operation.op.to_ascii_lowercase().as_str() {
            "add" => Op::Add,
            "replace" => Op::Replace,
            "remove" => Op::Remove,
            _ => return Err(Error::invalid("op", "must be add, replace or remove")),
        };
        let value = operation.value.unwrap_or(Json::Null);
        match operation.path {
            Some(path) => each.push((op, path, value)),
            None => match value {
                Json::Object(map) => each.extend(map.into_iter().map(|(path, value)| (op, path, value))),
                _ => return Err(Error::invalid("path", "is required unless the value is an object")),
            },
        }
    }
    Ok(each)
}

/// Applies a PATCH's operations: `active`, the name's parts and `displayName` (a path, or a
/// value object without one); the user's own email as `userName` or `emails` is a no-op;
/// attributes Ovation does not keep are left aside.
pub async fn patch(ctx: &Context, caller: &Caller, id: &str, patch: ScimPatch, base: &str) -> Result<ScimUser> {
    let operations = operations(patch)?;
    let user = user_of(caller, ctx, id).await?;
    let mut wanted = Wanted::default();
    let mut name = ScimName {
        formatted: user.name.clone(),
        ..ScimName::default()
    };
    let mut name_changed = false;
    for (op, path, value) in operations {
        let removing = op == Op::Remove;
        match path.to_ascii_lowercase().as_str() {
            "active" => {
                wanted.active = Some(match removing {
                    true => false,
                    false => flag(value).map_err(|e| Error::invalid("active", e.to_string()))?,
                });
            }
            "displayname" | "name.formatted" => {
                name.formatted = text(value, removing)?;
                name.given_name = None;
                name.family_name = None;
                name_changed = true;
            }
            "name.givenname" => {
                name.given_name = text(value, removing)?;
                name.formatted = None;
                name_changed = true;
            }
            "name.familyname" => {
                name.family_name = text(value, removing)?;
                name.formatted = None;
                name_changed = true;
            }
            "name" => {
                name = serde_json::from_value(value).map_err(|e| Error::invalid("name", e.to_string()))?;
                name_changed = true;
            }
            "username" => same_email(&user, &Email::parse(&text(value, removing)?.unwrap_or_default())?)?,
            "externalid" => wanted.external_id = Some(text(value, removing)?),
            _ => {}
        }
    }
    if name_changed {
        wanted.name = Some(name_of(Some(&name), None)?);
    }
    apply(ctx, caller, &user, wanted, base).await
}

fn text(value: Json, removing: bool) -> Result<Option<String>> {
    match (removing, value) {
        (true, _) | (false, Json::Null) => Ok(None),
        (false, Json::String(s)) => Ok(Some(s)),
        (false, other) => Err(Error::invalid("value", format!("{other} is not text"))),
    }
}

/// Refuses, and audits (`scim.owner_left_alone`), a change to an owner: owners are the owners'
/// to manage; the identity provider's log shows the refusal.
async fn leave_owners_alone(ctx: &Context, caller: &Caller, user: &UserRecord) -> Result<()> {
    if user.role != Role::Owner {
        return Ok(());
    }
    let store = caller.store(ctx);
    let target = Target::User(user.id.clone());
    audit::record(&store, caller, "scim.owner_left_alone", target, Outcome::Failure).await?;
    Err(Error::Forbidden {
        code: "owner_out_of_reach",
        reason: "owners are managed by the workspace's owners, not by the identity provider",
    })
}

/// Deletes a user (their sessions, invitations and sign-in end with them).
pub async fn delete(ctx: &Context, caller: &Caller, id: &str) -> Result<()> {
    let user = user_of(caller, ctx, id).await?;
    leave_owners_alone(ctx, caller, &user).await?;
    let id: UserId = user.id.parse()?;
    super::teams::delete_user(ctx, caller, &id).await
}

/// What the service provider supports (RFC 7643 §5), for the identity provider's checks.
pub fn service_provider_config() -> Json {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The workspace's SCIM token (Settings, Single sign-on)",
            "primary": true
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_find_a_user_by_email_or_external_id_and_nothing_else() {
        assert_eq!(
            user_filter(r#"externalId eq "00u1ab""#).unwrap(),
            UserFilter::External("00u1ab".into())
        );
        for (filter, email) in [
            (r#"userName eq "ana@acme.example""#, "ana@acme.example"),
            (r#"USERNAME EQ "ana@acme.example""#, "ana@acme.example"),
            (r#"emails.value eq "bo@acme.example""#, "bo@acme.example"),
            (
                r#"emails[type eq "work"].value eq "cy@acme.example""#,
                "cy@acme.example",
            ),
        ] {
            assert_eq!(
                user_filter(filter).unwrap(),
                UserFilter::Email(email.into()),
                "{filter}"
            );
        }
        assert_eq!(
            filter_eq(r#"displayName eq "R eq D""#, "").unwrap(),
            ("displayname".to_owned(), "R eq D".to_owned())
        );
        let long = format!(r#"userName eq "{}@acme.example""#, "a".repeat(600));
        for bad in [
            r#"title eq "x""#,
            r#"userName co "x""#,
            "userName eq x",
            "",
            long.as_str(),
        ] {
            assert!(user_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_come_from_scims_parts() {
        let name = |formatted: Option<&str>, given: Option<&str>, family: Option<&str>| ScimName {
            formatted: formatted.map(str::to_owned),
            given_name: given.map(str::to_owned),
            family_name: family.map(str::to_owned),
        };
        let full = name(Some("Ana Lima"), Some("A"), Some("L"));
        assert_eq!(name_of(Some(&full), Some("x")).unwrap().as_deref(), Some("Ana Lima"));
        let parts = name(None, Some(" Ana "), Some("Lima"));
        assert_eq!(name_of(Some(&parts), None).unwrap().as_deref(), Some("Ana Lima"));
        let blank = name(Some(" "), None, Some(""));
        assert_eq!(name_of(Some(&blank), Some("Ana")).unwrap().as_deref(), Some("Ana"));
        assert_eq!(name_of(None, None).unwrap(), None);
        assert!(name_of(None, Some(&"x".repeat(101))).is_err());
    }
}
