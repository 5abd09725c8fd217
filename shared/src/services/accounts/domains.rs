//! A workspace's email domains, each proved by a DNS TXT record the workspace is given: a
//! verified domain lets the sign-in page find the workspace's single sign-on from a work email
//! (`ana@acme.com`). A domain is verified for one workspace at a time (a system item names it,
//! `keys::domain_claim`): another workspace takes it over only by proving it while the holder
//! no longer does (its own record gone from DNS; the holder's audit log says so,
//! `sso.domain_taken_over`), or once the holder is deleted. Every change is audited
//! (`sso.domain_added`, `sso.domain_verified`, `sso.domain_removed`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::credential;
use crate::domain::tenant::Tenant;
use crate::domain::{DomainName, Email};
use crate::error::{Error, Result};
use crate::ids::TenantId;
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
/// The longest domain listed: its record's name (`_ovation-challenge.` before it) must fit in
/// DNS's 253 characters.
const MAX_DOMAIN_LEN: usize = 253 - RECORD_LABEL.len() - 1;

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
    /// The domain as listed; verified only while its claim names this workspace (`held`).
    fn from_item(item: &Item, held: bool) -> EmailDomain {
        let domain = item.str(DOMAIN).unwrap_or_default().to_owned();
        let verified_at = item.num(VERIFIED_AT).filter(|_| held);
        EmailDomain {
            record: TxtRecord {
                name: format!("{RECORD_LABEL}.{domain}"),
                kind: "TXT".into(),
                value: record_value(item),
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

/// The record value a listed domain's item asks for.
fn record_value(item: &Item) -> String {
    format!("{VALUE_PREFIX}{}", item.str(TOKEN).unwrap_or_default())
}

fn parse(domain: &str) -> Result<DomainName> {
    let domain = DomainName::parse_field(DOMAIN, domain)?;
    if domain.as_str().len() > MAX_DOMAIN_LEN {
        return Err(Error::invalid(
            DOMAIN,
            format!("at most {MAX_DOMAIN_LEN} characters (its record's name must fit in DNS)"),
        ));
    }
    Ok(domain)
}

/// The workspace a domain is verified for, if any.
async fn holder(ctx: &Context, domain: &str) -> Result<Option<String>> {
    let claim = ctx.store.get(&keys::domain_claim(domain)).await?;
    Ok(claim.and_then(|c| c.str(TENANT).map(str::to_owned)))
}

/// The workspace's email domains, verified and pending, by name.
pub async fn list(ctx: &Context, caller: &Caller) -> Result<Vec<EmailDomain>> {
    let store = caller.store(ctx);
    let own = store.tenant().as_str();
    let query = Query::new(keys::tenant_partition(store.tenant())).prefix(keys::EMAIL_DOMAIN_PREFIX);
    let mut listed = Vec::new();
    for item in store.query_all(query).await? {
        let held = match item.num(VERIFIED_AT) {
            Some(_) => holder(ctx, item.str(DOMAIN).unwrap_or_default()).await?.as_deref() == Some(own),
            None => false,
        };
        listed.push(EmailDomain::from_item(&item, held));
    }
    Ok(listed)
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
    Ok(EmailDomain::from_item(&item, false))
}

/// Looks for the domain's record now: when found, the domain is verified for this workspace,
/// unless another active workspace holds it and still proves it (its own record published too:
/// 409). A domain verified already stays so.
pub async fn verify(ctx: &Context, caller: &Caller, domain: &str) -> Result<EmailDomain> {
    let domain = parse(domain)?;
    let store = caller.store(ctx);
    let own = store.tenant().as_str();
    let key = keys::email_domain(store.tenant(), domain.as_str());
    let item = store.get(&key).await?.ok_or(Error::NotFound("email domain"))?;
    let held_by = holder(ctx, domain.as_str()).await?;
    if held_by.as_deref() == Some(own) && item.num(VERIFIED_AT).is_some() {
        return Ok(EmailDomain::from_item(&item, true));
    }
    let listed = EmailDomain::from_item(&item, false);
    let found = crate::dns::txt_records(&ctx.settings.dns_servers, &listed.record.name).await?;
    let published = |value: &str| found.iter().any(|f| f.trim() == value);
    if !published(&listed.record.value) {
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
    // An active holder that loses the domain is told in its own audit log.
    let mut told = None;
    let claim_condition = match held_by.as_deref() {
        None => Condition::NotExists,
        Some(holder) if holder == own => Condition::eq(TENANT, own),
        Some(holder) => {
            // Taken over only from a workspace that is deleted, or whose own record is gone.
            let other: TenantId = holder.parse()?;
            let active = tenants::load(ctx, &other).await?.is_some_and(|t| t.is_active());
            let theirs = ctx.store.get(&keys::email_domain(&other, domain.as_str())).await?;
            let still_proved = theirs.is_some_and(|t| published(&record_value(&t)));
            if active && still_proved {
                return Err(verified_elsewhere());
            }
            if active {
                let dns = audit::Actor {
                    kind: "system",
                    id: "dns",
                    role: None,
                };
                let target = Target::EmailDomain(domain.to_string());
                let holder_store = ctx.tenant_store(&other);
                told = Some(audit::entry_as(&holder_store, dns, None, "sso.domain_taken_over", target).await?);
            }
            Condition::eq(TENANT, holder)
        }
    };
    let now = now_unix();
    let verified = item.clone().with(VERIFIED_AT, now);
    let ops = vec![
        TxOp::Put {
            item: Item::new(keys::domain_claim(domain.as_str()))
                .with(TENANT, own)
                .with(VERIFIED_AT, now),
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
    let ops: Vec<TxOp> = ops.into_iter().chain(told).collect();
    match ctx.store.transact(ops).await {
        // Removed (and perhaps listed again) meanwhile.
        Err(Error::TransactionCanceled(f)) if f.iter().any(|f| f.index == 1) => Err(Error::NotFound("email domain")),
        // Verified meanwhile by this workspace's own other request (a second click), or taken.
        Err(Error::TransactionCanceled(f)) if f.iter().any(|f| f.index == 0) => {
            match holder(ctx, domain.as_str()).await?.as_deref() == Some(own) {
                true => Ok(EmailDomain::from_item(&verified, true)),
                false => Err(verified_elsewhere()),
            }
        }
        Err(Error::TransactionCanceled(_)) => Err(Error::NotFound("email domain")),
        Err(e) => Err(e),
        Ok(()) => Ok(EmailDomain::from_item(&verified, true)),
    }
}

fn verified_elsewhere() -> Error {
    Error::Conflict(
        "another workspace has verified this domain and its record is still published: its owners must remove it there first",
    )
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
    // The claim as read: released when it is this workspace's, else checked to be still not (a
    // verification landing meanwhile cancels the removal rather than leave its claim behind).
    let claim = keys::domain_claim(domain.as_str());
    match holder(ctx, domain.as_str()).await?.as_deref() == Some(own) {
        true => ops.push(TxOp::Delete {
            key: claim,
            condition: Some(Condition::eq(TENANT, own)),
        }),
        false => ops.push(TxOp::Check {
            key: claim,
            condition: Condition::Or(vec![
                Condition::NotExists,
                Condition::Not(Box::new(Condition::eq(TENANT, own))),
            ]),
        }),
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

/// Releases every domain a deleted workspace holds (each claim only while it still names it).
pub async fn release_all(ctx: &Context, tenant: &TenantId) -> Result<()> {
    let query = Query::new(keys::tenant_partition(tenant)).prefix(keys::EMAIL_DOMAIN_PREFIX);
    for item in ctx.tenant_store(tenant).query_all(query).await? {
        let claim = keys::domain_claim(item.str(DOMAIN).unwrap_or_default());
        match ctx
            .store
            .delete(&claim, Some(Condition::eq(TENANT, tenant.as_str())))
            .await
        {
            Ok(()) | Err(Error::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The active workspace an email's domain is verified for, if any.
pub async fn workspace_of(ctx: &Context, email: &Email) -> Result<Option<Tenant>> {
    let Some(domain) = DomainName::of_email(email) else {
        return Ok(None);
    };
    let Some(tenant) = holder(ctx, domain.as_str()).await? else {
        return Ok(None);
    };
    Ok(tenants::load(ctx, &tenant.parse()?).await?.filter(Tenant::is_active))
}
