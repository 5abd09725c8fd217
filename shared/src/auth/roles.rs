//! Roles and the one permission table. Every protected route names one permission (in the route
//! table); a principal may call it when its role holds that permission. A test walks every route
//! × every role against this table over HTTP. The table's team dimension: what a route holds of a
//! survey limited to teams is for editors' and analysts' sessions only when they are in one of
//! them (`services::SurveyAccess`; `tests/it/team_access.rs` walks every such route).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};

/// A user's role in a tenant; API keys and OAuth clients act with the role of their scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including other owners and tenant deletion.
    Owner,
    /// Everything but owners: settings, users, credentials, audit.
    Admin,
    /// Builds and sends surveys; reads settings.
    Editor,
    /// Reads results; reads settings.
    Analyst,
}

pub const ROLES: [Role; 4] = [Role::Owner, Role::Admin, Role::Editor, Role::Analyst];

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(text: &str) -> Result<Role> {
        ROLES
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| Error::invalid("role", "must be one of owner, admin, editor, analyst"))
    }

    /// True when this role holds `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        PERMISSIONS
            .iter()
            .any(|(p, roles)| *p == permission && roles.contains(&self))
    }
}

/// What a route requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read the tenant's settings.
    ReadTenant,
    /// Change the tenant's settings.
    ManageTenant,
    /// List and read users.
    ReadUsers,
    /// Invite, change, disable and delete users.
    ManageUsers,
    /// Create, list and revoke API keys and OAuth clients.
    ManageCredentials,
    /// Read and export the audit trail.
    ReadAudit,
    /// Read surveys' definitions.
    ReadSurveys,
    /// Create, change and archive surveys.
    ManageSurveys,
    /// List people (personal data).
    ReadPeople,
    /// Create, import, update and delete people; schedule and cancel their surveys.
    ManagePeople,
    /// Read survey responses.
    ReadResponses,
    /// Record responses through the API; change their notes and tags.
    ManageResponses,
    /// Create, change, test and delete webhook endpoints (data leaves the account through them).
    ManageWebhooks,
    /// Set the workspace's single sign-on: its identity provider vouches for every user's
    /// email, the owners' too, so only owners may choose it.
    ManageSignOn,
    /// Export every item of the tenant, decrypted (data portability).
    ExportTenant,
    /// Delete the tenant: its keys destroyed at once, every item purged after 30 days.
    DeleteTenant,
}

/// The permission table: each permission and the roles that hold it.
pub const PERMISSIONS: &[(Permission, &[Role])] = &[
    (
        Permission::ReadTenant,
        &[Role::Owner, Role::Admin, Role::Editor, Role::Analyst],
    ),
    (Permission::ManageTenant, &[Role::Owner, Role::Admin]),
    (Permission::ReadUsers, &[Role::Owner, Role::Admin]),
    (Permission::ManageUsers, &[Role::Owner, Role::Admin]),
    (Permission::ManageCredentials, &[Role::Owner, Role::Admin]),
    (Permission::ReadAudit, &[Role::Owner, Role::Admin]),
    (
        Permission::ReadSurveys,
        &[Role::Owner, Role::Admin, Role::Editor, Role::Analyst],
    ),
    (Permission::ManageSurveys, &[Role::Owner, Role::Admin, Role::Editor]),
    (Permission::ReadPeople, &[Role::Owner, Role::Admin, Role::Editor]),
    (Permission::ManagePeople, &[Role::Owner, Role::Admin, Role::Editor]),
    (
        Permission::ReadResponses,
        &[Role::Owner, Role::Admin, Role::Editor, Role::Analyst],
    ),
    (Permission::ManageResponses, &[Role::Owner, Role::Admin, Role::Editor]),
    (Permission::ManageWebhooks, &[Role::Owner, Role::Admin]),
    (Permission::ManageSignOn, &[Role::Owner]),
    (Permission::ExportTenant, &[Role::Owner]),
    (Permission::DeleteTenant, &[Role::Owner]),
];

/// Whether `role` may see people's contact details: the roles that hold `ReadPeople`, and
/// analysts (and `read` keys) when their workspace lets them (`privacy.analysts_see_people`).
pub fn sees_people(role: Role, analysts_see_people: bool) -> bool {
    role.allows(Permission::ReadPeople) || (role == Role::Analyst && analysts_see_people)
}

/// The scope of an API key or OAuth client: the role it acts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Reads (acts as an analyst).
    Read,
    /// Reads and writes surveys, people and sends (acts as an editor).
    Write,
    /// Also manages the tenant (acts as an admin).
    Admin,
}

impl Scope {
    pub fn role(self) -> Role {
        match self {
            Scope::Read => Role::Analyst,
            Scope::Write => Role::Editor,
            Scope::Admin => Role::Admin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Scope> {
        [Scope::Read, Scope::Write, Scope::Admin]
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| Error::invalid("scope", "must be read, write or admin"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_hold_every_permission_and_roles_round_trip() {
        for (p, roles) in PERMISSIONS {
            assert!(Role::Owner.allows(*p), "{p:?}");
            assert!(!roles.is_empty());
        }
        for r in ROLES {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("root").is_err());
        assert!(!Role::Analyst.allows(Permission::ManageUsers));
        assert_eq!(Scope::parse("write").unwrap().role(), Role::Editor);
    }
}
