//! Identifiers: sortable (ULID) ids, and the tenant id newtype that keys every tenant's data.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A new sortable id: 26 characters of Crockford base32, ordered by creation time.
pub fn new_id() -> String {
    ulid::Ulid::new().to_string()
}

/// A tenant's id. Only ever taken from an authenticated principal or a signed token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn generate() -> Self {
        TenantId(new_id())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        ulid::Ulid::from_string(s)
            .map(|u| TenantId(u.to_string()))
            .map_err(|_| Error::invalid("tenant_id", "must be a 26-character ULID"))
    }
}

impl TryFrom<String> for TenantId {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
}
