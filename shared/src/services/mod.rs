//! The use cases the functions call, by domain: `accounts` (tenants, users, sign-in, sessions,
//! second factor, API keys and OAuth clients), `surveys`, `people` (records, upserts, imports,
//! suppressions), `sending` (invitations, autopilot, scheduler, deliverer, messages, delivery
//! events), `results` (responses, counters, metrics), `exports` (spreadsheets, jobs, the tenant
//! export), `webhooks` (events, endpoints, delivery), `website` (site keys and the widget's visits), `lifecycle` (creating and purging a tenant,
//! erasing a person) and `audit`. They take the context's ports and a tenant-scoped store, never
//! concrete clients, and record an audit event for every change a principal makes.

pub mod accounts;
pub mod audit;
pub mod exports;
pub mod lifecycle;
pub mod notifications;
pub mod people;
pub mod results;
pub mod sending;
pub mod surveys;
pub mod webhooks;
pub mod website;

use std::net::IpAddr;

use crate::Context;
use crate::auth::Principal;
use crate::store::TenantStore;

/// Who made a request: the authenticated principal, the address the platform saw, and whether
/// they may see people's contact details (`auth::roles::sees_people`).
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub ip: Option<IpAddr>,
    pub sees_people: bool,
}

impl Caller {
    /// Whether the caller holds `permission`: people's contact details by the one rule of who
    /// sees people (`sees_people`), everything else by role. The gate and the web app's
    /// navigation both ask this.
    pub fn holds(&self, permission: crate::auth::Permission) -> bool {
        match permission {
            crate::auth::Permission::ReadPeople => self.sees_people,
            other => self.principal.role.allows(other),
        }
    }

    /// Refused (403) unless the caller may see people's contact details.
    pub fn must_see_people(&self) -> crate::Result<()> {
        if self.sees_people {
            Ok(())
        } else {
            Err(crate::Error::Forbidden {
                code: "permission_denied",
                reason: "people's contact details are not shown to your role; an admin can allow it \
                         (PATCH /v1/tenant privacy.analysts_see_people)",
            })
        }
    }

    /// The store of the caller's tenant: the principal's, never one a request names.
    pub fn store(&self, ctx: &Context) -> TenantStore {
        ctx.tenant_store(&self.principal.tenant)
    }
}
