//! The use cases the functions call: tenants, users, sign-in and sessions, credentials (API keys,
//! OAuth clients), audit. They take the context's ports and a tenant-scoped store, never concrete
//! clients, and they record an audit event for every change a principal makes.

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

use crate::auth::Principal;

/// Who made a request: the authenticated principal and the address the platform saw.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub ip: Option<IpAddr>,
}
