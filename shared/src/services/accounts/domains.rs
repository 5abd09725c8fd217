//! A workspace's email domains, each proved by a DNS TXT record the workspace is given: a
//! verified domain lets the sign-in page find the workspace's single sign-on from a work email
//! (`ana@acme.com`). A domain is verified for one workspace at a time (a system item names it,
//! `keys::domain_claim`); every change is audited (`sso.domain_added`, `sso.domain_verified`,
//! `sso.domain_removed`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::credential;
use crate::domain::tenant::Tenant;
use crate::domain::{DomainName, Email};
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::accounts::tenants;
use crate::services::audit::{self, Target};
use crate::store::{Condition, Item, Query, TxOp, keys, now_unix};

/// The name the record is published under, before the domain (`_ovation-challenge.acme.com`).
pub const RECORD_LABEL: &str = "_ovation-challenge";
/// The record's value, before the workspace's token for the domain.
const VALUE_PREFIX: &str = "ovation-domain-verification=";
/// The most email domains one workspace lists.
pub const MAX_DOMAINS: usize = 20;

const DOMAIN: &str = "domain";
const TOKEN: &str = "token";
const ADDED_AT: &str = "added_at";
const VERIFIED_AT: &str = "verified_at";
const TENANT: &str = "tenant";

/// An email domain to list.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEmailDomain {
    /// The domain of your people's email addresses (`acme.com`; an international name in its
    /// `xn--` form).
    pub domain: String,
}

/// Whether a domain's record has been found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainStatus {
    /// Listed; its TXT record not found yet.
    Pending,
    /// Its TXT record was found: the sign-in page finds this workspace from its emails.
    Verified,
}

/// A TXT record to publish in a domain's DNS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxtRecord {
    /// The record's full name (`_ovation-challenge.acme.com`).
    pub name: String,
    /// Always `TXT`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// One of the workspace's email domains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EmailDomain {
    pub domain: String,
    pub status: DomainStatus,
    /// The record that proves the domain is the workspace's (kept published: it is how a
    /// domain's ownership can be checked again).
    pub record: TxtRecord,
    pub added_at: i64,
    pub verified_at: Option<i64>,
}

impl EmailDomain {
    fn from_item(item: &Item) -> EmailDomain {
        let domain = item.str(DOMAIN).unwrap_or_default().to_owned();
        let verified_at = item.num(VERIFIED_AT);
        EmailDomain {
            record: TxtRecord {
                name: format!("{RECORD_LABEL}.{domain}"),
                kind: "TXT".into(),
                value: format!("{VALUE_PREFIX}{}", item.str(TOKEN).unwrap_or_default()),
            },
            domain,
            status: match verified_at {
                Some(_) => DomainStatus::Verified,
                None => DomainStatus::Pending,
            },
            added_at: item.num(ADDED_AT).unwrap_or_default(),
            verified_at,
        }
    }
}

fn parse(domain: &str) -> Result<DomainName> {
    DomainName::parse_field(DOMAIN, domain)
}

/// The workspace's email domains, verified and pending, by name.
pub async fn list(ctx: &Context, caller: &Caller) -> Result<Vec<EmailDomain>> {
    let store = caller.store(ctx);
    let query = Query::new(keys::tenant_partition(store.tenant())).prefix(keys::EMAIL_DOMAIN_PREFIX);
    Ok(store
        .query_all(query)
        .await?
        .iter()
        .map(EmailDomain::from_item)
        .collect())
}

/// Lists a domain, pending until its record is found; the record to publish is in the answer.
pub async fn add(ctx: &Context, caller: &Caller, input: NewEmailDomain) -> Result<EmailDomain> {
    let domain = parse(&input.domain)?;
    if list(ctx, caller).await?.len() >= MAX_DOMAINS {
        return Err(Error::invalid(
            DOMAIN,
            format!("a workspace lists at most {MAX_DOMAINS} email domains; remove one first"),
        ));
    }
    let store = caller.store(ctx);
    let item = Item::new(keys::email_domain(store.tenant(), domain.as_str()))
        .with(DOMAIN, domain.as_str())
        .with(TOKEN, credential::random_text()?)
        .with(ADDED_AT, now_unix());
    let change = vec![TxOp::Put {
        item: item.clone(),
        condition: Some(Condition::NotExists),
    }];
    let target = Target::EmailDomain(domain.to_string());
    match audit::commit(&store, caller, change, "sso.domain_added", target).await {
        Err(Error::ConditionFailed) => Err(Error::Conflict("this domain is listed already")),
        other => other,
    }?;
    Ok(EmailDomain::from_item(&item))
}

/// Looks for the domain's record now: when found, the domain is verified for this workspace
/// (unless another active workspace has verified it: 409). A domain verified already stays so.
pub async fn verify(ctx: &Context, caller: &Caller, domain: &str) -> Result<EmailDomain> {
    let domain = parse(domain)?;
    let store = caller.store(ctx);
    let key = keys::email_domain(store.tenant(), domain.as_str());
    let item = store.get(&key).await?.ok_or(Error::NotFound("email domain"))?;
    let listed = EmailDomain::from_item(&item);
    if listed.status == DomainStatus::Verified {
        return Ok(listed);
    }
    let found = crate::dns::txt_records(&ctx.settings.dns_servers, &listed.record.name).await?;
    if !found.iter().any(|value| value.trim() == listed.record.value) {
        let seen = if found.is_empty() {
            "no TXT record"
        } else {
            "TXT records, but not this one,"
        };
        return Err(Error::invalid(
            DOMAIN,
            format!(
                "{seen} found at {}: publish a TXT record with the value {} there, then check again (a new record can take a few minutes, up to your DNS host's TTL, to be seen)",
                listed.record.name, listed.record.value
            ),
        ));
    }
    let own = store.tenant().as_str();
    let claim = keys::domain_claim(domain.as_str());
    let claim_condition = match ctx.store.get(&claim).await?.as_ref().and_then(|c| c.str(TENANT)) {
        None => Condition::NotExists,
        Some(holder) if holder == own => Condition::eq(TENANT, own),
        Some(holder) => {
            // A deleted workspace's domain is free to prove again.
            let active = tenants::load(ctx, &holder.parse()?)
                .await?
                .is_some_and(|t| t.is_active());
            if active {
                return Err(verified_elsewhere());
            }
            Condition::eq(TENANT, holder)
        }
    };
    let now = now_unix();
    let verified = item.clone().with(VERIFIED_AT, now);
    let ops = vec![
        TxOp::Put {
            item: Item::new(claim).with(TENANT, own).with(VERIFIED_AT, now),
            condition: Some(claim_condition),
        },
        TxOp::Put {
            item: verified.clone(),
            condition: Some(Condition::And(vec![
                Condition::Exists,
                Condition::eq(TOKEN, item.str(TOKEN).unwrap_or_default()),
            ])),
        },
        audit::entry(
            &store,
            caller,
            "sso.domain_verified",
            Target::EmailDomain(domain.to_string()),
        )
        .await?,
    ];
    match ctx.store.transact(ops).await {
        Err(Error::TransactionCanceled(f)) if f.iter().any(|f| f.index == 0) => Err(verified_elsewhere()),
        Err(Error::TransactionCanceled(_)) => Err(Error::NotFound("email domain")),
        other => other,
    }?;
    Ok(EmailDomain::from_item(&verified))
}

fn verified_elsewhere() -> Error {
    Error::Conflict("another workspace has verified this domain: its owners must remove it there first")
}

/// Removes a domain: the sign-in page no longer finds the workspace from its emails.
pub async fn remove(ctx: &Context, caller: &Caller, domain: &str) -> Result<()> {
    let domain = parse(domain)?;
    let store = caller.store(ctx);
    let own = store.tenant().as_str();
    let mut ops = vec![TxOp::Delete {
        key: keys::email_domain(store.tenant(), domain.as_str()),
        condition: Some(Condition::Exists),
    }];
    let claim = keys::domain_claim(domain.as_str());
    if ctx.store.get(&claim).await?.is_some_and(|c| c.str(TENANT) == Some(own)) {
        ops.push(TxOp::Delete {
            key: claim,
            condition: Some(Condition::eq(TENANT, own)),
        });
    }
    ops.push(
        audit::entry(
            &store,
            caller,
            "sso.domain_removed",
            Target::EmailDomain(domain.to_string()),
        )
        .await?,
    );
    match ctx.store.transact(ops).await {
        Err(Error::TransactionCanceled(f)) if f.iter().any(|f| f.index == 0) => Err(Error::NotFound("email domain")),
        Err(Error::TransactionCanceled(_)) => Err(Error::invalid(DOMAIN, "was changed meanwhile; try again")),
        other => other,
    }
}

/// The active workspace an email's domain is verified for, if any.
pub async fn workspace_of(ctx: &Context, email: &Email) -> Result<Option<Tenant>> {
    let Some(domain) = DomainName::of_email(email) else {
        return Ok(None);
    };
    let Some(claim) = ctx.store.get(&keys::domain_claim(domain.as_str())).await? else {
        return Ok(None);
    };
    let Some(tenant) = claim.str(TENANT) else {
        return Err(Error::internal("a domain's claim without its workspace"));
    };
    Ok(tenants::load(ctx, &tenant.parse()?).await?.filter(Tenant::is_active))
}
