//! A tenant's life: creation by the operator (with an owner and a one-time password), deletion
//! by the operator or its owner (crypto-shredding at once) and the purge of its items when due.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::{self, Role};
use crate::domain::tenant::{Tenant, TenantStatus, display_name};
use crate::domain::{Email, Slug, TenantSettings};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::services::Caller;
use crate::services::accounts::tenants::{by_slug, to_item};
use crate::services::accounts::users::{self, NewUser, UserStatus};
use crate::services::audit::{self, Outcome, Target};
use crate::services::exports::tenant_export::{self, Lists};
use crate::store::{Condition, Item, MAX_QUERY_LIMIT, Query, SortKey, TxOp, Update, keys, now_unix};

/// How long a deleted tenant's items wait for the purge (they are unreadable from the start).
pub const PURGE_AFTER_DAYS: i64 = 30;
/// When a deleted tenant is purged (on the tenant item).
const PURGE_AT: &str = "purge_at";

/// The operator's request for a new tenant.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    pub slug: String,
    pub owner_email: String,
    pub display_name: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TenantCreated {
    pub tenant: Tenant,
    pub owner_id: String,
    pub owner_email: String,
    /// The owner's one-time password, shown only here: it must be changed at first sign-in.
    pub one_time_password: String,
}

/// Creates a tenant and its owner, who signs in with a one-time password and must change it.
pub async fn create(ctx: &Context, request: NewTenant) -> Result<TenantCreated> {
    let slug = Slug::parse(&request.slug)?;
    let email = Email::parse_field("owner_email", &request.owner_email)?;
    let name = display_name(request.display_name.as_deref().unwrap_or(slug.as_str()))?;
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: slug.to_string(),
        status: TenantStatus::Active,
        created_at: now_unix(),
        settings: TenantSettings::new(name),
        version: 0,
    };
    let one_time_password = users::one_time_password()?;
    let store = ctx.tenant_store(&tenant.id);
    let owner = users::prepare(
        &store,
        NewUser {
            email: email.clone(),
            name: None,
            role: Role::Owner,
            status: UserStatus::Active,
            password: Some(auth::password::Password::new(one_time_password.clone(), 0)?),
            must_change_password: true,
            external_id: None,
        },
    )
    .await?;
    let mut ops = vec![
        TxOp::Put {
            item: Item::new(keys::slug(slug.as_str())).with("tenant", tenant.id.as_str()),
            condition: Some(Condition::NotExists),
        },
        TxOp::Put {
            item: to_item(&tenant)?,
            condition: Some(Condition::NotExists),
        },
    ];
    ops.extend(owner.ops);
    match ctx.store.transact(ops).await {
        Err(Error::TransactionCanceled(f)) if f.iter().any(|f| f.index == 0) => {
            return Err(Error::invalid("slug", "is taken"));
        }
        other => other?,
    }
    crate::services::sending::scheduler::start_scheduler_at(ctx.store.as_ref(), tenant.created_at).await?;
    audit::record_operator(
        &store,
        "tenant.created",
        Target::Tenant(tenant.id.to_string()),
        Outcome::Success,
    )
    .await?;
    Ok(TenantCreated {
        tenant,
        owner_id: owner.id,
        owner_email: email.to_string(),
        one_time_password,
    })
}

/// Deletes a tenant: marks it deleted (every credential stops working), crypto-shreds its keys
/// (its data is unreadable everywhere, backups included), asks the export job to remove its
/// export files and schedules the purge of its items.
pub async fn delete(ctx: &Context, slug: &Slug) -> Result<TenantId> {
    delete_as(ctx, slug, None).await
}

/// What the owner gives to delete their workspace: its slug typed (as they sign in with it), and
/// their password again.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantDeletion {
    pub confirm: String,
    pub password: String,
}

/// The owner deletes their own workspace, its slug typed and their password given again: the
/// same deletion as the operator's, audited as theirs.
pub async fn delete_own(ctx: &Context, caller: &Caller, request: &TenantDeletion) -> Result<()> {
    let confirm = request.confirm.as_str();
    let tenant = crate::services::accounts::tenants::load(ctx, &caller.principal.tenant)
        .await?
        .filter(Tenant::is_active)
        .ok_or(Error::NotFound("tenant"))?;
    if confirm.trim().to_ascii_lowercase() != tenant.slug {
        return Err(Error::invalid(
            "confirm",
            "type the workspace's name as you sign in with it to delete it",
        ));
    }
    crate::services::accounts::sessions::confirm_password(ctx, caller, &request.password).await?;
    let slug: Slug = tenant.slug.parse()?;
    delete_as(ctx, &slug, Some(caller)).await.map(drop)
}

/// The deletion, audited as the operator's or as `by`'s.
async fn delete_as(ctx: &Context, slug: &Slug, by: Option<&Caller>) -> Result<TenantId> {
    // A deletion that failed half-way is finished by asking again.
    let tenant = by_slug(ctx, slug).await?.ok_or(Error::NotFound("tenant"))?;
    let store = ctx.tenant_store(&tenant.id);
    if tenant.is_active() {
        let target = Target::Tenant(tenant.id.to_string());
        match by {
            Some(caller) => audit::record(&store, caller, "tenant.deleted", target, Outcome::Success).await?,
            None => audit::record_operator(&store, "tenant.deleted", target, Outcome::Success).await?,
        }
    }
    // One purge per tenant, whatever the retries: its time is kept on the tenant item.
    let raw = ctx.store.get(&keys::tenant(&tenant.id)).await?;
    let due = raw
        .as_ref()
        .and_then(|i| i.num(PURGE_AT))
        .unwrap_or_else(|| now_unix() + PURGE_AFTER_DAYS * 86_400);
    ctx.store
        .put(
            Item::new(keys::purge(due, &tenant.id))
                .with("tenant", tenant.id.as_str())
                .with("slug", slug.as_str())
                .with("created_at", tenant.created_at),
            None,
        )
        .await?;
    ctx.store
        .update(
            &keys::tenant(&tenant.id),
            &[
                Update::Set("status".into(), "deleted".into()),
                Update::Set(PURGE_AT.into(), due.into()),
            ],
            Some(Condition::Exists),
        )
        .await?;
    ctx.tenants.forget(&tenant.id);
    crate::services::accounts::domains::release_all(ctx, &tenant.id).await?;
    ctx.keys.shred(&tenant.id).await?;
    crate::services::exports::jobs::queue_file_removal(ctx, &tenant.id).await?;
    Ok(tenant.id)
}

/// Purges the items of deleted tenants whose purge is due, and returns how many tenants were
/// purged: every partition of the tenant (`tenant_export::Partitions`), then the slug (free
/// again) and the purge item itself. Run by the scheduler once a minute.
pub async fn purge_due(ctx: &Context, now: i64) -> Result<usize> {
    let due = Query::new(keys::SYSTEM_PARTITION)
        .sort(SortKey::Between(keys::PURGE_PREFIX.into(), keys::purges_due_by(now)))
        .limit(MAX_QUERY_LIMIT);
    let mut purged = 0;
    for item in all_items(ctx, due).await? {
        let tenant: TenantId = item.str("tenant").unwrap_or_default().parse()?;
        // Only a tenant marked deleted is purged: a deletion that failed before marking it
        // leaves a purge item that must not touch a tenant still in use.
        let status = ctx.store.get(&keys::tenant(&tenant)).await?;
        if status.as_ref().is_some_and(|t| t.str("status") != Some("deleted")) {
            tracing::warn!(tenant = %tenant, "a purge is due for a tenant that is not deleted; skipped");
            ctx.store.delete(&item.key, None).await?;
            continue;
        }
        let created_at = item.num("created_at").unwrap_or(now);
        // The partitions that list others go last (the tenant's own last of all): a purge cut
        // short finds the rest again.
        let store = ctx.store.as_ref();
        let mut listing = Vec::new();
        let mut partitions = tenant_export::Partitions::of(store, &tenant, created_at, now)?;
        while let Some((partition, lists)) = partitions.next().await? {
            match lists {
                Lists::Others => listing.push(partition),
                Lists::Nothing => tenant_export::delete_partition(store, &partition).await?,
            }
        }
        for partition in listing.iter().rev() {
            tenant_export::delete_partition(store, partition).await?;
        }
        // The slug is freed only if it still names this tenant (not a new one that took it).
        let slug = keys::slug(item.str("slug").unwrap_or_default());
        match ctx
            .store
            .delete(&slug, Some(Condition::eq("tenant", tenant.as_str())))
            .await
        {
            Err(Error::ConditionFailed) | Ok(()) => {}
            Err(e) => return Err(e),
        }
        ctx.store.delete(&item.key, None).await?;
        purged += 1;
    }
    Ok(purged)
}

/// Every item a query of the raw store selects (a shredded tenant has no cursor key).
async fn all_items(ctx: &Context, query: Query) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = ctx.store.query(&query.clone().after(after)).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(items),
        }
    }
}
