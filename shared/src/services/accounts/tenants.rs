//! Tenants as stored: reading them (fresh, or from the process's cache), their settings, and
//! whether the operator may still act for a new tenant.

use std::sync::Arc;

use crate::auth;
use crate::domain::tenant::{SettingsPatch, Tenant, TenantStatus};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::services::Caller;
use crate::services::audit::{self, Target};
use crate::store::{Condition, Item, MAX_QUERY_LIMIT, Query, TxOp, Value, keys};
use crate::{Context, domain::Slug};

/// A tenant as its item stores it.
pub(crate) fn from_item(id: TenantId, item: &Item) -> Result<Tenant> {
    let settings = item
        .str("settings")
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| Error::internal("a tenant item without readable settings"))?;
    Ok(Tenant {
        id,
        slug: item.str("slug").unwrap_or_default().to_owned(),
        status: if item.str("status") == Some("deleted") {
            TenantStatus::Deleted
        } else {
            TenantStatus::Active
        },
        created_at: item.num("created_at").unwrap_or_default(),
        settings,
        version: item.num("version").unwrap_or_default(),
    })
}

/// The item that stores a tenant.
pub(crate) fn to_item(tenant: &Tenant) -> Result<Item> {
    Ok(Item::new(keys::tenant(&tenant.id))
        .with("slug", tenant.slug.as_str())
        .with(
            "status",
            match tenant.status {
                TenantStatus::Active => "active",
                TenantStatus::Deleted => "deleted",
            },
        )
        .with("created_at", tenant.created_at)
        .with("version", tenant.version)
        .with(
            "settings",
            serde_json::to_string(&tenant.settings).map_err(Error::internal)?,
        ))
}

/// Reads a tenant from the store.
pub async fn load(ctx: &Context, id: &TenantId) -> Result<Option<Tenant>> {
    let item = ctx.store.get(&keys::tenant(id)).await?;
    item.map(|i| from_item(id.clone(), &i)).transpose()
}

/// An active tenant, from the cache when fresh; `None` when missing or deleted.
pub async fn active(ctx: &Context, id: &TenantId) -> Result<Option<Arc<Tenant>>> {
    if let Some(t) = ctx.tenants.lookup(id) {
        return Ok(Some(t).filter(|t| t.is_active()));
    }
    let Some(tenant) = load(ctx, id).await? else {
        return Ok(None);
    };
    ensure_listed(ctx, &tenant).await?;
    let tenant = Arc::new(tenant);
    ctx.tenants.remember(tenant.clone());
    Ok(Some(tenant).filter(|t| t.is_active()))
}

/// The tenant of a slug, read fresh (sign-in, operator requests).
pub async fn by_slug(ctx: &Context, slug: &Slug) -> Result<Option<Tenant>> {
    let Some(pointer) = ctx.store.get(&keys::slug(slug.as_str())).await? else {
        return Ok(None);
    };
    let id: TenantId = pointer
        .str("tenant")
        .ok_or_else(|| Error::internal("a slug item without its tenant"))?
        .parse()?;
    load(ctx, &id).await
}

/// Changes the caller's tenant settings. An allow-list that would lock the caller out is refused.
/// Changes the caller's tenant's settings; refused (422) when they are no longer the version
/// `seen` the change was made from (a form's).
pub async fn update_settings(
    ctx: &Context,
    caller: &Caller,
    patch: SettingsPatch,
    seen: Option<i64>,
) -> Result<Tenant> {
    let id = &caller.principal.tenant;
    let mut tenant = load(ctx, id)
        .await?
        .filter(Tenant::is_active)
        .ok_or(Error::NotFound("tenant"))?;
    if seen.is_some_and(|v| v != tenant.version) {
        return Err(Error::invalid(
            "settings",
            "were changed by someone else since this form was opened; open it again to see their change",
        ));
    }
    let settings = tenant.settings.patched(patch)?;
    if !auth::ip_allowed(&settings.ip_allow_list, caller.ip) {
        return Err(Error::invalid(
            "ip_allow_list",
            "does not include the address you are calling from; you would lock yourself out",
        ));
    }
    let support_switched = settings.support_access != tenant.settings.support_access;
    // On the retention job's list before a period is saved (a crash in between leaves a
    // listed tenant the job passes by, never a period not applied); it stays listed.
    if settings.retention_days.is_some() {
        list_for_retention(ctx, id).await?;
    }
    tenant.settings = settings;
    let store = ctx.tenant_store(id);
    let target = || Target::Tenant(id.to_string());
    let mut change = vec![write_changed(&mut tenant)?];
    if support_switched {
        let action = if tenant.settings.support_access {
            "tenant.support_access_enabled"
        } else {
            "tenant.support_access_disabled"
        };
        change.push(audit::entry(&store, caller, action, target()).await?);
    }
    audit::commit(&store, caller, change, "tenant.settings_updated", target())
        .await
        .map_err(|e| match e {
            Error::ConditionFailed | Error::TransactionCanceled(_) => {
                Error::invalid("settings", "were changed meanwhile; read them again")
            }
            e => e,
        })?;
    ctx.tenants.forget(id);
    Ok(tenant)
}

/// The write that stores `tenant` as changed from the version it was read at, only while the
/// stored one is still that version and active; its version moves on.
pub(crate) fn write_changed(tenant: &mut Tenant) -> Result<TxOp> {
    let read = tenant.version;
    tenant.version += 1;
    Ok(TxOp::Put {
        item: to_item(tenant)?,
        condition: Some(Condition::And(vec![
            Condition::eq("status", "active"),
            Condition::eq("version", read),
        ])),
    })
}

/// Puts a tenant on the retention job's list (before its first retention period is saved).
pub(crate) async fn list_for_retention(ctx: &Context, tenant: &TenantId) -> Result<()> {
    let item = Item::new(keys::retention_registry(tenant)).with("tenant", tenant.as_str());
    ctx.store.put(item, None).await
}

/// Lists a tenant loaded with a retention period, once per process: tenants that set their
/// period before the job's list existed join it when they are next used.
async fn ensure_listed(ctx: &Context, tenant: &Tenant) -> Result<()> {
    static LISTED: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<TenantId>>> =
        std::sync::OnceLock::new();
    if tenant.settings.retention_days.is_none() {
        return Ok(());
    }
    let listed = LISTED.get_or_init(Default::default);
    if listed.lock().map(|set| set.contains(&tenant.id)).unwrap_or(false) {
        return Ok(());
    }
    list_for_retention(ctx, &tenant.id).await?;
    if let Ok(mut set) = listed.lock() {
        set.insert(tenant.id.clone());
    }
    Ok(())
}

/// True while no user of the tenant has taken it over (signed in and set a password of their
/// own): the operator may still make its first API keys without support access.
pub async fn unclaimed(ctx: &Context, tenant: &TenantId) -> Result<bool> {
    let users = ctx
        .tenant_store(tenant)
        .query_all(
            Query::new(keys::tenant_partition(tenant))
                .prefix(keys::USER_PREFIX)
                .limit(MAX_QUERY_LIMIT),
        )
        .await?;
    Ok(users
        .iter()
        .all(|u| u.str("status") != Some("active") || matches!(u.get("must_change_password"), Some(Value::Bool(true)))))
}
