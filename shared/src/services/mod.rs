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

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::Context;
use crate::auth::Principal;
use crate::store::TenantStore;

/// Who made a request: the authenticated principal, the address the platform saw, whether
/// they may see people's contact details (`auth::roles::sees_people`), and which surveys they
/// see (`SurveyAccess`).
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub ip: Option<IpAddr>,
    pub sees_people: bool,
    pub surveys: SurveyAccess,
}

/// Which surveys a caller sees. Owners, admins, API keys, OAuth clients and support staff see
/// every survey; an editor or analyst sees those limited to no team and those limited to one of
/// their teams (read by the gate at each request: a change of a team holds at the next one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SurveyAccess {
    Every,
    /// The ids of the caller's teams.
    TeamsOf(BTreeSet<String>),
}

impl SurveyAccess {
    /// Whether a survey limited to `teams` (none: the whole workspace's) is seen.
    pub fn sees(&self, teams: &[String]) -> bool {
        match self {
            SurveyAccess::Every => true,
            SurveyAccess::TeamsOf(mine) => teams.is_empty() || teams.iter().any(|t| mine.contains(t)),
        }
    }
}

impl Caller {
    /// The platform's operator in `tenant`, from its own commands (the CLI): every survey, and
    /// people's contact details.
    pub fn operator(tenant: crate::ids::TenantId) -> Caller {
        Caller {
            principal: Principal {
                tenant,
                actor: crate::auth::Actor::Operator,
                role: crate::auth::Role::Admin,
                restriction: None,
            },
            ip: None,
            sees_people: true,
            surveys: SurveyAccess::Every,
        }
    }

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
