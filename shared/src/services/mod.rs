//! The use cases the functions call, by domain: `accounts` (tenants, users, sign-in, sessions,
//! second factor, API keys and OAuth clients), `surveys`, `people` (records, upserts, imports,
//! suppressions), `sending` (invitations, autopilot, scheduler, deliverer, messages, delivery
//! events), `results` (responses, counters, metrics), `exports` (spreadsheets, jobs, the tenant
//! export), `webhooks` (events, endpoints, delivery), `lifecycle` (creating and purging a tenant,
//! erasing a person) and `audit`. They take the context's ports and a tenant-scoped store, never
//! concrete clients, and record an audit event for every change a principal makes.

pub mod accounts;
pub mod audit;
pub mod exports;
pub mod lifecycle;
pub mod people;
pub mod results;
pub mod sending;
pub mod surveys;
pub mod webhooks;

use std::net::IpAddr;

use crate::Context;
use crate::auth::Principal;
use crate::store::TenantStore;

/// Who made a request: the authenticated principal and the address the platform saw.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub ip: Option<IpAddr>,
}

impl Caller {
    /// The store of the caller's tenant: the principal's, never one a request names.
    pub fn store(&self, ctx: &Context) -> TenantStore {
        ctx.tenant_store(&self.principal.tenant)
    }
}
