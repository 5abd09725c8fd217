//! Identifiers: sortable (ULID) ids, the tenant id that keys every tenant's data, and the id
//! types of what a path names (users, people, surveys, responses, webhooks, imports, export jobs).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A new sortable id: 26 characters of Crockford base32, ordered by creation time.
pub fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

/// The smallest (or, with `end`, the largest) id made in a second: ids of a time range are
/// selected by sort key between two of these.
pub fn id_at(unix_seconds: i64, end: bool) -> String {
    // ULIDs hold 48 bits of milliseconds; stored times are bounded far inside.
    let ms = (unix_seconds.clamp(0, 1 << 40) as u64) * 1000 + if end { 999 } else { 0 };
    let random = if end { u128::MAX } else { 0 };
    ulid::Ulid::from_parts(ms, random).to_string()
}

/// The second an id was made in (ids of other shapes: none).
pub fn id_time(id: &str) -> Option<i64> {
    ulid::Ulid::from_string(id)
        .ok()
        .map(|u| (u.timestamp_ms() / 1000) as i64)
}

/// A ULID-keyed id type: parsed (never trusted) wherever it comes in, normalised to upper case,
/// shown and stored as its 26 characters. `$missing` is the answer to text that cannot be one.
macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $missing:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                $name(new_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                ulid::Ulid::from_string(s).map(|u| $name(u.to_string())).map_err(|_| $missing)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;

            fn try_from(s: String) -> Result<Self, Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

ulid_id!(
    /// A tenant's id. Only ever taken from an authenticated principal or a signed token.
    TenantId,
    Error::invalid("tenant_id", "must be a 26-character ULID")
);

// The ids a path names: text that cannot be one names nothing, as an unknown one (404).
ulid_id!(
    /// A user of a tenant.
    UserId,
    Error::NotFound("user")
);
ulid_id!(
    /// An API key's id (the key itself is shown once, at its creation).
    ApiKeyId,
    Error::NotFound("api key")
);
ulid_id!(
    /// A person a tenant surveys.
    PersonId,
    Error::NotFound("person")
);
ulid_id!(
    /// A survey.
    SurveyId,
    Error::NotFound("survey")
);
ulid_id!(
    /// A survey response.
    ResponseId,
    Error::NotFound("survey response")
);
ulid_id!(
    /// A webhook endpoint.
    WebhookId,
    Error::NotFound("webhook")
);
ulid_id!(
    /// A site key of the website surveys.
    SiteKeyId,
    Error::NotFound("site key")
);
ulid_id!(
    /// A people import.
    ImportId,
    Error::NotFound("import")
);
ulid_id!(
    /// An export job.
    ExportJobId,
    Error::NotFound("export")
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(a < b);
        assert_eq!(a.len(), 26);
    }

    #[test]
    fn tenant_ids_are_parsed_not_trusted() {
        assert!("T#01H".parse::<TenantId>().is_err());
        assert!("".parse::<TenantId>().is_err());
        let t = TenantId::generate();
        assert_eq!(t.as_str().parse::<TenantId>().unwrap(), t);
        let lower = t.as_str().to_lowercase();
        assert_eq!(lower.parse::<TenantId>().unwrap(), t, "normalised to upper case");
    }

    #[test]
    fn a_path_id_that_cannot_be_one_names_nothing() {
        for text in ["", "nope", "01H#X", "../01H", "12345"] {
            assert!(
                matches!(text.parse::<SurveyId>(), Err(Error::NotFound("survey"))),
                "{text}"
            );
        }
        let id = ResponseId::generate();
        assert_eq!(id.as_str().to_lowercase().parse::<ResponseId>().unwrap(), id);
    }
}

/// An OAuth client's public id, `ovc_{tenant}_{id}`: it names its tenant, so the token endpoint
/// finds the client without a tenant in the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClientId {
    pub tenant: TenantId,
    /// The client's own ULID, within its tenant.
    pub id: String,
}

impl FromStr for OAuthClientId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let parsed = text
            .strip_prefix("ovc_")
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(tenant, id)| {
                Some(OAuthClientId {
                    tenant: tenant.parse().ok()?,
                    id: ulid::Ulid::from_string(id).ok()?.to_string(),
                })
            });
        parsed.ok_or(Error::NotFound("oauth client"))
    }
}

impl fmt::Display for OAuthClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ovc_{}_{}", self.tenant, self.id)
    }
}
