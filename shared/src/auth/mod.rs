//! Who is calling and what they may do: principals, roles and the permission table, opaque
//! credentials, passwords, one-time codes, IP allow-lists and the per-tenant request budget.
//! The use cases that sign people in and manage credentials are in `services`; the middleware
//! that applies all this to every request is `http::gate`.

pub mod credential;
pub mod password;
pub mod roles;
pub mod tenant_rate;
pub mod totp;

use std::net::IpAddr;

use ipnet::IpNet;

pub use credential::Digest;
pub use roles::{Permission, Role, Scope};

use crate::ids::TenantId;

/// Who acts, inside which tenant, with which role. Made only by authentication, never from input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    pub actor: Actor,
    pub role: Role,
    /// Set on a session that must first change its password or enrol a second factor.
    pub restriction: Option<Restriction>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A user signed in with a session (`session` is the session credential's digest).
    User {
        id: String,
        session: Digest,
    },
    ApiKey {
        id: String,
    },
    OAuthClient {
        id: String,
    },
    /// The platform operator acting inside a tenant that allows support access.
    Operator,
    /// The workspace's identity provider through its SCIM token (`id`: the token's).
    Provisioning {
        id: String,
    },
}

impl Actor {
    /// The kind of actor, as audit events name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User { .. } => "user",
            Actor::ApiKey { .. } => "api_key",
            Actor::OAuthClient { .. } => "oauth_client",
            Actor::Provisioning { .. } => "scim",
            Actor::Operator => "operator",
        }
    }

    /// The actor's id (`operator` for the operator).
    pub fn id(&self) -> &str {
        match self {
            Actor::User { id, .. } | Actor::ApiKey { id } | Actor::OAuthClient { id } | Actor::Provisioning { id } => {
                id
            }
            Actor::Operator => "operator",
        }
    }
}

/// What a restricted session must do before anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restriction {
    PasswordChange,
    MfaEnrolment,
}

impl Restriction {
    pub fn as_str(self) -> &'static str {
        match self {
            Restriction::PasswordChange => "password_change",
            Restriction::MfaEnrolment => "mfa_enrolment",
        }
    }

    pub fn parse(text: &str) -> Option<Restriction> {
        [Restriction::PasswordChange, Restriction::MfaEnrolment]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// True when `ip` may call a tenant with this allow-list (an empty list allows every address).
/// An IPv4 client seen as an IPv4-mapped IPv6 address is matched as IPv4.
pub fn ip_allowed(allow_list: &[IpNet], ip: Option<IpAddr>) -> bool {
    if allow_list.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    allow_list.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_match_v4_v6_and_mapped_addresses() {
        let list: Vec<IpNet> = ["203.0.113.0/24", "2001:db8::/32"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(ip_allowed(&list, ip("203.0.113.77")));
        assert!(ip_allowed(&list, ip("::ffff:203.0.113.77")));
        assert!(ip_allowed(&list, ip("2001:db8:1::5")));
        assert!(!ip_allowed(&list, ip("198.51.100.1")));
        assert!(!ip_allowed(&list, ip("2001:db9::1")));
        assert!(!ip_allowed(&list, None));
        assert!(ip_allowed(&[], None));
    }
}
