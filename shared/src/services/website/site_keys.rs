//! Site keys: publishable (not secret) keys that put a workspace's survey on its websites. Each
//! names the survey it shows and the origins whose pages may use it; revoking one stops its
//! widget at once. The key a page carries (`pk_{tenant}_{id}`) names its tenant, so a visitor's
//! request finds its workspace without a shared lookup; nothing in it grants anything but what
//! the widget's public routes do for its origins.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::domain::site::SiteOrigin;
use crate::domain::survey::SurveyStatus;
use crate::domain::tenant::Tenant;
use crate::error::{Error, Result};
use crate::ids::{SiteKeyId, TenantId, new_id};
use crate::services::Caller;
use crate::services::accounts::tenants;
use crate::services::audit::{self, Target};
use crate::services::surveys;
use crate::store::{Condition, Item, Query, TenantStore, TxOp, Update, keys, now_unix};

/// Site keys a workspace may hold (revoked ones count until deleted with the workspace).
pub const MAX_PER_TENANT: usize = 20;
/// Origins one key may allow.
pub const MAX_ORIGINS: usize = 20;
const PREFIX: &str = "pk_";

/// A site key as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteKey {
    pub id: String,
    pub tenant: TenantId,
    pub name: String,
    pub survey: String,
    pub origins: Vec<SiteOrigin>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// Emails are taken only with their signature by the host's server (identity verification).
    pub signed_emails: bool,
    /// Which identity secret signs them: a new one makes the earlier one's signatures fail.
    pub identity_version: i64,
}

/// A site key as the API and the settings page show it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SiteKeyView {
    pub id: String,
    /// What a page's snippet carries (`pk_…`): publishable, not a secret.
    pub key: String,
    pub name: String,
    pub survey_id: String,
    /// The origins whose pages may show the survey (`https://shop.example.com`, `https://*.example.com`).
    pub origins: Vec<String>,
    pub created_at: i64,
    /// Set once revoked: its widget shows nothing from then on.
    pub revoked_at: Option<i64>,
    /// The script's path below the public URL, for the snippet.
    pub script: String,
    /// Whether a visitor's email is taken only with `emailSignature`: HMAC-SHA-256 of the email
    /// (lower case) under `identity_secret`, in hex, computed by the site's server.
    pub signed_emails: bool,
    /// The key of emails' signatures: for the site's server only, never for its pages.
    pub identity_secret: String,
}

/// A new site key (`POST /v1/site_keys`).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSiteKey {
    /// What it is for (`Shop`, `In-app`).
    pub name: String,
    /// The survey its widget shows.
    pub survey_id: String,
    /// 1 to 20 origins: `https://host[:port]`, `https://*.domain` for its subdomains.
    pub origins: Vec<String>,
    /// Take a visitor's email only with its signature by the site's server (recommended when
    /// the pages pass emails: without it anyone can answer in any email's name).
    #[serde(default)]
    pub signed_emails: bool,
}

/// A change of a site key (`PATCH /v1/site_keys/{id}`): what is given is replaced.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteKeyPatch {
    pub name: Option<String>,
    pub survey_id: Option<String>,
    pub origins: Option<Vec<String>>,
    pub signed_emails: Option<bool>,
    /// `true`: a new identity secret; signatures made with the earlier one fail from now on.
    pub new_identity_secret: Option<bool>,
}

impl SiteKey {
    /// The key a page carries.
    pub fn public(&self) -> String {
        format!("{PREFIX}{}_{}", self.tenant, self.id)
    }

    pub async fn view(&self, store: &TenantStore) -> Result<SiteKeyView> {
        Ok(SiteKeyView {
            id: self.id.clone(),
            key: self.public(),
            name: self.name.clone(),
            survey_id: self.survey.clone(),
            origins: self.origins.iter().map(|o| o.as_str().to_owned()).collect(),
            created_at: self.created_at,
            revoked_at: self.revoked_at,
            script: format!("/w/v1/{}/ovation.js", self.public()),
            signed_emails: self.signed_emails,
            identity_secret: self.identity_secret(store).await?,
        })
    }

    /// The key of this site key's email signatures, derived under the workspace's key from the
    /// key's id and the secret's version (nothing secret is stored).
    async fn identity_secret(&self, store: &TenantStore) -> Result<String> {
        let named = format!("{}#{}", self.id, self.identity_version);
        store.crypto().blind_index("site-identity", &named).await
    }

    /// True when `signature` is the site's server's signature of `email` (compared in constant time).
    pub async fn signs(&self, store: &TenantStore, email: &crate::domain::Email, signature: &str) -> Result<bool> {
        use aws_lc_rs::hmac;
        let secret = self.identity_secret(store).await?;
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            email.as_str().as_bytes(),
        );
        let expected = crate::auth::credential::hex(tag.as_ref());
        Ok(crate::auth::credential::same(
            expected.as_bytes(),
            signature.trim().to_ascii_lowercase().as_bytes(),
        ))
    }

    /// The snippet a site pastes into its pages, for an Ovation served at `base`: Delighted's
    /// loader with our address and this key, then one `ovation.survey` call.
    pub fn snippet(&self, base: &str) -> String {
        format!(
            "<script>\n{loader}\n\novation.survey({{\n  email: \"customer@example.com\", // leave out for anonymous visitors\n  // emailSignature: \"…\", // from your server, when the key takes only signed emails\n  name: \"Customer Name\",\n  properties: {{ plan: \"pro\" }}\n}});\n</script>",
            loader = loader(base, &self.public(), "ovation")
        )
    }

    /// True when a page of `origin` may use this key.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o.allows(origin))
    }

    fn to_item(&self, store: &TenantStore) -> Result<Item> {
        let origins: Vec<String> = self.origins.iter().map(|o| o.as_str().to_owned()).collect();
        let mut item = Item::new(keys::site_key(store.tenant(), &self.id)?)
            .with("name", self.name.as_str())
            .with("survey", self.survey.as_str())
            .with("origins", origins.as_slice())
            .with("created_at", self.created_at)
            .with("signed_emails", self.signed_emails)
            .with("identity_version", self.identity_version);
        if let Some(at) = self.revoked_at {
            item = item.with("revoked_at", at);
        }
        Ok(item)
    }

    fn from_item(tenant: &TenantId, item: &Item) -> Result<SiteKey> {
        let origins = item
            .strings("origins")
            .iter()
            .map(|o| SiteOrigin::parse("origins", o))
            .collect::<Result<Vec<_>>>()?;
        Ok(SiteKey {
            id: item.key.sk.trim_start_matches(keys::SITE_KEY_PREFIX).to_owned(),
            tenant: tenant.clone(),
            name: item.str("name").unwrap_or_default().to_owned(),
            survey: item.str("survey").unwrap_or_default().to_owned(),
            origins,
            created_at: item.num("created_at").unwrap_or_default(),
            revoked_at: item.num("revoked_at"),
            signed_emails: item.get("signed_emails") == Some(&crate::store::Value::Bool(true)),
            identity_version: item.num("identity_version").unwrap_or(1),
        })
    }
}

/// Delighted's one-line loader, with `base`'s script address (the only change from theirs), the
/// key and the global name: it queues calls until the script has loaded.
pub fn loader(base: &str, key: &str, global: &str) -> String {
    format!(
        "!function(e,t,r,n){{if(!e[n]){{for(var a=e[n]=[],i=[\"survey\",\"reset\",\"setPassiveSurvey\",\"showPassiveSurvey\",\"hidePassiveSurvey\"],s=0;s<i.length;s++){{var c=i[s];a[c]=a[c]||function(e){{return function(){{var t=Array.prototype.slice.call(arguments);a.push([e,t])}}}}(c)}}a.SNIPPET_VERSION=\"1.0.1\";var o=t.createElement(\"script\");o.type=\"text/javascript\",o.async=!0,o.src=\"{base}/w/v1/\"+r+\"/\"+n+\".js\";var p=t.getElementsByTagName(\"script\")[0];p.parentNode.insertBefore(o,p)}}}}(window,document,\"{key}\",\"{global}\");"
    )
}

fn origins_of(given: &[String]) -> Result<Vec<SiteOrigin>> {
    if given.is_empty() || given.len() > MAX_ORIGINS {
        return Err(Error::invalid(
            "origins",
            format!("name 1 to {MAX_ORIGINS} origins, such as https://shop.example.com"),
        ));
    }
    let mut out: Vec<SiteOrigin> = Vec::with_capacity(given.len());
    for text in given {
        let origin = SiteOrigin::parse("origins", text)?;
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// The survey a key may show: one of the workspace's, not archived.
async fn survey_of(store: &TenantStore, id: &str) -> Result<String> {
    let survey = match ulid::Ulid::from_string(id) {
        Ok(_) => surveys::get(store, id).await?,
        Err(_) => None,
    };
    match survey {
        Some(s) if s.definition.status != SurveyStatus::Archived => Ok(s.id),
        _ => Err(Error::invalid("survey_id", "names no open survey of this workspace")),
    }
}

pub async fn list(store: &TenantStore) -> Result<Vec<SiteKey>> {
    let query = Query::new(keys::tenant_partition(store.tenant())).prefix(keys::SITE_KEY_PREFIX);
    store
        .query_all(query)
        .await?
        .iter()
        .map(|i| SiteKey::from_item(store.tenant(), i))
        .collect()
}

pub async fn get(store: &TenantStore, id: &SiteKeyId) -> Result<SiteKey> {
    let item = store
        .get(&keys::site_key(store.tenant(), id.as_str())?)
        .await?
        .ok_or(Error::NotFound("site key"))?;
    SiteKey::from_item(store.tenant(), &item)
}

pub async fn create(store: &TenantStore, caller: &Caller, new: NewSiteKey) -> Result<SiteKey> {
    let name = crate::domain::label("name", &new.name)?;
    let origins = origins_of(&new.origins)?;
    let survey = survey_of(store, &new.survey_id).await?;
    if list(store).await?.len() >= MAX_PER_TENANT {
        return Err(Error::invalid(
            "site_key",
            format!("a workspace has at most {MAX_PER_TENANT} site keys"),
        ));
    }
    let key = SiteKey {
        id: new_id(),
        tenant: store.tenant().clone(),
        name,
        survey,
        origins,
        created_at: now_unix(),
        revoked_at: None,
        signed_emails: new.signed_emails,
        identity_version: 1,
    };
    let change = vec![TxOp::Put {
        item: key.to_item(store)?,
        condition: Some(Condition::NotExists),
    }];
    audit::commit(
        store,
        caller,
        change,
        "site_key.created",
        Target::SiteKey(key.id.clone()),
    )
    .await?;
    Ok(key)
}

pub async fn change(store: &TenantStore, caller: &Caller, id: &SiteKeyId, patch: SiteKeyPatch) -> Result<SiteKey> {
    let mut key = get(store, id).await?;
    if key.revoked_at.is_some() {
        return Err(Error::invalid("site_key", "a revoked site key cannot be changed"));
    }
    if let Some(name) = &patch.name {
        key.name = crate::domain::label("name", name)?;
    }
    if let Some(origins) = &patch.origins {
        key.origins = origins_of(origins)?;
    }
    // A key may keep a survey archived since; it may move only to an open one.
    if let Some(survey) = patch.survey_id.as_ref().filter(|s| **s != key.survey) {
        key.survey = survey_of(store, survey).await?;
    }
    if let Some(signed) = patch.signed_emails {
        key.signed_emails = signed;
    }
    if patch.new_identity_secret == Some(true) {
        key.identity_version += 1;
    }
    let change = vec![TxOp::Put {
        item: key.to_item(store)?,
        condition: Some(Condition::AttrNotExists("revoked_at".into())),
    }];
    audit::commit(
        store,
        caller,
        change,
        "site_key.changed",
        Target::SiteKey(key.id.clone()),
    )
    .await
    .map_err(|e| match e {
        Error::ConditionFailed => Error::invalid("site_key", "a revoked site key cannot be changed"),
        e => e,
    })?;
    Ok(key)
}

/// Revokes a key at once: its widget's next request is refused. The key stays listed, revoked.
pub async fn revoke(store: &TenantStore, caller: &Caller, id: &SiteKeyId) -> Result<()> {
    let key = keys::site_key(store.tenant(), id.as_str())?;
    let revoked = Update::Set("revoked_at".into(), now_unix().into());
    let change = vec![TxOp::Update {
        key,
        updates: vec![revoked],
        condition: Some(Condition::And(vec![
            Condition::Exists,
            Condition::AttrNotExists("revoked_at".into()),
        ])),
    }];
    match audit::commit(
        store,
        caller,
        change,
        "site_key.revoked",
        Target::SiteKey(id.to_string()),
    )
    .await
    {
        // Revoked already: done. Never made: not found.
        Err(Error::ConditionFailed) => get(store, id).await.map(drop),
        other => other,
    }
}

/// A site key a visitor's request carries, found and checked: its workspace active, the key not
/// revoked, the page's origin one of the key's.
pub struct Site {
    pub store: TenantStore,
    pub tenant: Arc<Tenant>,
    pub key: SiteKey,
}

const INVALID: Error = Error::Forbidden {
    code: "site_key_invalid",
    reason: "this site key is not valid",
};

/// Finds the key `public` names for a page of `origin` (the request's `Origin` header).
pub async fn open(ctx: &Context, public: &str, origin: Option<&str>) -> Result<Site> {
    let (tenant, id) = public
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(t, id)| Some((t.parse::<TenantId>().ok()?, id.parse::<SiteKeyId>().ok()?)))
        .ok_or(INVALID)?;
    let tenant = tenants::active(ctx, &tenant).await?.ok_or(INVALID)?;
    let store = ctx.tenant_store(&tenant.id);
    // Every request of a website reads its key: as this process read it lately.
    let key = match store.get_recent(&keys::site_key(store.tenant(), id.as_str())?).await? {
        Some(item) => SiteKey::from_item(store.tenant(), &item)?,
        None => return Err(INVALID),
    };
    if key.revoked_at.is_some() {
        return Err(Error::Forbidden {
            code: "site_key_revoked",
            reason: "this site key was revoked",
        });
    }
    if !origin.is_some_and(|o| key.allows(o)) {
        return Err(Error::Forbidden {
            code: "origin_not_allowed",
            reason: "this page's origin is not one of the site key's origins",
        });
    }
    ctx.site_rate.take_for_site(&store, &key.id, now_unix()).await?;
    Ok(Site { store, tenant, key })
}
