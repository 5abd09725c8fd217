//! The use cases the functions call: tenants, users, sign-in and sessions, credentials (API keys,
//! OAuth clients), audit. They take the context's ports and a tenant-scoped store, never concrete
//! clients, and they record an audit event for every change a principal makes.

pub mod audit;
pub mod autopilot;
pub mod counters;
pub mod credentials;
pub mod delivery_events;
pub mod export_jobs;
pub mod exports;
pub mod imports;
pub mod invitations;
pub mod metrics;
pub mod people;
pub mod portability;
pub mod responses;
pub mod sending;
pub mod sign_in;
pub mod suppressions;
pub mod surveys;
pub mod tenants;
pub mod users;
pub mod webhooks;

use std::net::IpAddr;

use crate::auth::Principal;

/// Who made a request: the authenticated principal and the address the platform saw.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub ip: Option<IpAddr>,
}
