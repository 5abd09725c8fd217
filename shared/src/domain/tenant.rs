//! A tenant (workspace): its id, slug, status and settings, and the partial update
//! (`PATCH /v1/tenant`) checked into them.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::language::{LANGUAGES, Language};
use crate::auth::password;
use crate::error::{Error, Result};
use crate::ids::TenantId;

/// Whether a tenant is in use or deleted (its data shredded, its purge scheduled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Deleted,
}

/// A workspace: its id, slug, status and settings.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Tenant {
    #[schema(value_type = String)]
    pub id: TenantId,
    pub slug: String,
    pub status: TenantStatus,
    pub created_at: i64,
    pub settings: TenantSettings,
    /// Optimistic concurrency of settings changes.
    #[serde(skip)]
    pub(crate) version: i64,
}

impl Tenant {
    /// The stored version: a change made from a form of this version is refused once another
    /// change came first.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// A tenant with the default settings, stored nowhere.
    #[cfg(test)]
    pub fn for_tests() -> Tenant {
        Tenant {
            id: TenantId::generate(),
            slug: "test".into(),
            status: TenantStatus::Active,
            created_at: 0,
            settings: TenantSettings::new("Test".into()),
            version: 0,
        }
    }

    /// Whether `user` may sign in with a password here: unless single sign-on is required, when
    /// only the break-glass owner may.
    pub fn password_allowed(&self, user: &str) -> bool {
        self.settings.sso_required.is_none() || self.is_break_glass(user)
    }

    /// Whether `user` is the owner who keeps their password while single sign-on is required.
    pub fn is_break_glass(&self, user: &str) -> bool {
        self.settings
            .sso_required
            .as_ref()
            .is_some_and(|required| required.break_glass_owner == user)
    }

    /// Refuses a change that would leave the break-glass owner no longer one (their second
    /// factor, role or status, or the user itself): another is chosen first.
    pub fn keep_break_glass(&self, user: &str) -> Result<()> {
        match self.is_break_glass(user) {
            true => Err(Error::Forbidden {
                code: "break_glass_owner",
                reason: "this owner is the break-glass owner while single sign-on is required: choose another one first (Settings, Single sign-on)",
            }),
            false => Ok(()),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == TenantStatus::Active
    }
}

/// The short name users sign in with: 3 to 40 of `a-z`, `0-9` and inner `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(text: &str) -> Result<Slug> {
        let text = text.trim().to_ascii_lowercase();
        let valid = (3..=40).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if !valid {
            return Err(Error::invalid(
                "slug",
                "must be 3 to 40 characters of a-z, 0-9 and `-`, not starting or ending with `-`",
            ));
        }
        Ok(Slug(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Slug {
    type Err = Error;

    fn from_str(text: &str) -> Result<Slug> {
        Slug::parse(text)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// At most this many allow-list entries.
pub const MAX_ALLOW_LIST: usize = 100;
pub const MAX_RETENTION_DAYS: u32 = 3650;
pub const MAX_PASSWORD_EXPIRY_DAYS: u32 = 3650;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantSettings {
    pub display_name: String,
    /// Addresses and ranges (CIDR, IPv4 and IPv6) that may call the API for this tenant; empty
    /// allows every address.
    #[schema(value_type = Vec<String>, example = json!(["203.0.113.0/24", "2001:db8::/32"]))]
    pub ip_allow_list: Vec<IpNet>,
    /// Whether the platform operator's support staff may act inside this tenant.
    pub support_access: bool,
    /// Days survey responses are kept; none keeps them until deleted. Once a day older
    /// responses are anonymised (or deleted: `retention_action`), and finished invitations,
    /// people without activity and imports of that age are deleted (README, "Retention").
    pub retention_days: Option<u32>,
    /// What becomes of a response older than `retention_days`.
    #[serde(default)]
    pub retention_action: RetentionAction,
    pub privacy: Privacy,
    pub password_policy: PasswordPolicy,
    /// Whether every user must sign in with a second factor (TOTP).
    pub require_mfa: bool,
    /// The languages new surveys offer: every built-in one unless the workspace narrows them.
    #[serde(default = "every_language")]
    pub languages: Vec<Language>,
    /// Set when the workspace requires single sign-on: passwords are refused but the break-glass
    /// owner's. Set and lifted with the provider (`PUT /v1/sso/oidc`), not by a settings patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_required: Option<SsoRequired>,
}

/// Single sign-on required: every sign-in goes through the workspace's provider, but one owner's
/// password (with their second factor) still opens the workspace when the provider is down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SsoRequired {
    /// The user id of the owner who may still sign in with a password (audited each time).
    pub break_glass_owner: String,
}

/// What retention does to an old response: anonymise it (its person, comment, free-text
/// answers, notes and the properties the results do not count by removed; score, channel,
/// time, tags and choices kept), or delete it. Either way the results keep counting it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    #[default]
    Anonymize,
    Delete,
}

fn every_language() -> Vec<Language> {
    LANGUAGES.to_vec()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    /// Store the IP address a respondent answered from.
    pub store_respondent_ip: bool,
    /// Keep only a hash of respondents' email addresses, not the address.
    pub store_email_hash_only: bool,
    /// Let analysts (and `read` API keys) see people's contact details: list people,
    /// unsubscribes, bounces and autopilot members, expand responses with their person, filter
    /// by email, and export with email, name and phone. Off: they see answers without them.
    #[serde(default)]
    pub analysts_see_people: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Shortest password allowed: 12 to 64.
    pub min_length: u32,
    /// Days after which a password must be changed; none never.
    pub expiry_days: Option<u32>,
}

impl TenantSettings {
    pub fn new(display_name: String) -> TenantSettings {
        TenantSettings {
            display_name,
            ip_allow_list: vec![],
            support_access: false,
            retention_days: None,
            retention_action: RetentionAction::Anonymize,
            privacy: Privacy {
                store_respondent_ip: false,
                store_email_hash_only: false,
                analysts_see_people: false,
            },
            password_policy: PasswordPolicy {
                min_length: password::MIN_LEN as u32,
                expiry_days: None,
            },
            require_mfa: false,
            languages: every_language(),
            sso_required: None,
        }
    }

    /// The settings with `patch` applied, each changed value checked.
    pub fn patched(&self, patch: SettingsPatch) -> Result<TenantSettings> {
        let mut next = self.clone();
        if let Some(name) = patch.display_name {
            next.display_name = display_name(&name)?;
        }
        if let Some(list) = patch.ip_allow_list {
            next.ip_allow_list = allow_list(&list)?;
        }
        if let Some(on) = patch.support_access {
            next.support_access = on;
        }
        if let Some(days) = patch.retention_days {
            next.retention_days = days
                .map(|d| within("retention_days", d, 1, MAX_RETENTION_DAYS))
                .transpose()?;
        }
        if let Some(action) = patch.retention_action {
            next.retention_action = action;
        }
        if let Some(privacy) = patch.privacy {
            next.privacy = privacy;
        }
        if let Some(policy) = patch.password_policy {
            within(
                "password_policy.min_length",
                policy.min_length,
                password::MIN_LEN as u32,
                64,
            )?;
            if let Some(days) = policy.expiry_days {
                within("password_policy.expiry_days", days, 1, MAX_PASSWORD_EXPIRY_DAYS)?;
            }
            next.password_policy = policy;
        }
        if let Some(on) = patch.require_mfa {
            next.require_mfa = on;
        }
        if let Some(mut languages) = patch.languages {
            languages.sort();
            languages.dedup();
            if languages.is_empty() {
                return Err(Error::invalid("languages", "must name at least one language"));
            }
            next.languages = languages;
        }
        Ok(next)
    }
}

pub fn display_name(text: &str) -> Result<String> {
    super::label("display_name", text)
}

fn within(field: &'static str, value: u32, min: u32, max: u32) -> Result<u32> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid(field, format!("must be between {min} and {max}")))
    }
}

/// Parses allow-list entries: CIDR ranges or single addresses, IPv4 or IPv6.
pub fn allow_list(entries: &[String]) -> Result<Vec<IpNet>> {
    if entries.len() > MAX_ALLOW_LIST {
        return Err(Error::invalid(
            "ip_allow_list",
            format!("may hold at most {MAX_ALLOW_LIST} entries"),
        ));
    }
    entries
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    Error::invalid(
                        "ip_allow_list",
                        format!("{entry:?} is not an IP address or CIDR range (203.0.113.0/24, 2001:db8::/32)"),
                    )
                })
        })
        .collect()
}

/// A change of settings: only the fields given change; `null` clears an optional one.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub display_name: Option<String>,
    pub ip_allow_list: Option<Vec<String>>,
    pub support_access: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub retention_days: Option<Option<u32>>,
    pub retention_action: Option<RetentionAction>,
    pub privacy: Option<Privacy>,
    pub password_policy: Option<PasswordPolicy>,
    pub require_mfa: Option<bool>,
    /// The languages new surveys offer (en, da, nl, de, fr, es, sv, nb).
    pub languages: Option<Vec<Language>>,
}

/// A field that is present (possibly `null`), as opposed to absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(Slug::parse(" Acme-EU ").unwrap().as_str(), "acme-eu");
        for bad in ["ab", "-acme", "acme-", "ac me", "acmé", &"a".repeat(41)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patches_check_each_value() {
        let s = TenantSettings::new("Acme".into());
        let patch: SettingsPatch =
            serde_json::from_str(r#"{"ip_allow_list": ["203.0.113.9/24", "2001:db8::1"], "retention_days": 30}"#)
                .unwrap();
        let next = s.patched(patch).unwrap();
        assert_eq!(next.ip_allow_list[0].to_string(), "203.0.113.0/24");
        assert_eq!(next.ip_allow_list[1].to_string(), "2001:db8::1/128");
        assert_eq!(next.retention_days, Some(30));
        let cleared = next
            .patched(serde_json::from_str(r#"{"retention_days": null}"#).unwrap())
            .unwrap();
        assert_eq!(cleared.retention_days, None);
        for (body, field) in [
            (r#"{"ip_allow_list": ["10.0.0.0/33"]}"#, "ip_allow_list"),
            (r#"{"ip_allow_list": ["example.com"]}"#, "ip_allow_list"),
            (r#"{"retention_days": 0}"#, "retention_days"),
            (r#"{"display_name": "  "}"#, "display_name"),
            (
                r#"{"password_policy": {"min_length": 8, "expiry_days": null}}"#,
                "password_policy.min_length",
            ),
        ] {
            match s.patched(serde_json::from_str(body).unwrap()) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"tenant_id": "x"}"#).is_err());
    }
}
