//! The key layout (DESIGN.md "Storage"). Every item of a tenant has a partition key that begins
//! with `T#{tenant}`; the builders here are the only way services make keys, and they refuse key
//! parts that could break out of their place (`#`, control characters, empty parts).

use crate::error::{Error, Result};
use crate::ids::TenantId;

const SEP: char = '#';
/// The partition of system items that belong to no tenant and hold no personal data.
pub const SYSTEM_PARTITION: &str = "SYS";
/// Index partitions shared by all tenants (they hold ids and times, no personal data), which a
/// tenant's items may join.
pub const SHARED_INDEX_PREFIXES: &[&str] = &["DUE#"];

/// The partition of the tenant's own items: `T#{tenant}`.
pub fn tenant_partition(tenant: &TenantId) -> String {
    format!("T{SEP}{tenant}")
}

/// A partition below the tenant's: `T#{tenant}#{part}#{part}...`.
pub fn tenant_sub_partition(tenant: &TenantId, parts: &[&str]) -> Result<String> {
    let mut pk = tenant_partition(tenant);
    for part in parts {
        check_part(part)?;
        pk.push(SEP);
        pk.push_str(part);
    }
    Ok(pk)
}

/// A sort key from parts: `A#B#C`.
pub fn sort_key(parts: &[&str]) -> Result<String> {
    parts.iter().try_for_each(|p| check_part(p))?;
    Ok(parts.join("#"))
}

/// True when `pk` is the tenant's partition or one below it.
pub fn belongs_to(tenant: &TenantId, pk: &str) -> bool {
    pk.strip_prefix('T')
        .and_then(|rest| rest.strip_prefix(SEP))
        .and_then(|rest| rest.strip_prefix(tenant.as_str()))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(SEP))
}

fn check_part(part: &str) -> Result<()> {
    if part.is_empty() || part.contains(SEP) || part.chars().any(char::is_control) {
        return Err(Error::invalid(
            "key",
            "a key part must be non-empty, without `#` or control characters",
        ));
    }
    Ok(())
}

/// The sort key of a tenant's wrapped data key of `version` (in the tenant partition), ordered so
/// that the newest version sorts last.
pub fn data_key_sort(version: u32) -> String {
    format!("{DATA_KEY_PREFIX}{version:010}")
}

pub const DATA_KEY_PREFIX: &str = "DEK#";

/// The tombstone left when a tenant's keys are shredded; it sorts after every version.
pub fn shredded_sort() -> String {
    format!("{DATA_KEY_PREFIX}~SHREDDED")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_belong_to_their_tenant_only() {
        let a = TenantId::generate();
        let b = TenantId::generate();
        assert!(belongs_to(&a, &tenant_partition(&a)));
        assert!(belongs_to(&a, &tenant_sub_partition(&a, &["P", "x"]).unwrap()));
        assert!(!belongs_to(&a, &tenant_partition(&b)));
        // A tenant id that is a prefix of another is not the same tenant.
        assert!(!belongs_to(&a, &format!("T#{a}X")));
        assert!(!belongs_to(&a, &format!("t#{a}")));
        assert!(!belongs_to(&a, SYSTEM_PARTITION));
        assert!(!belongs_to(&a, &format!("X#T#{a}")));
    }

    #[test]
    fn parts_cannot_climb_out_of_their_place() {
        let a = TenantId::generate();
        let b = TenantId::generate();
        assert!(tenant_sub_partition(&a, &[&format!("x#T#{b}")]).is_err());
        assert!(tenant_sub_partition(&a, &[""]).is_err());
        assert!(tenant_sub_partition(&a, &["a\0b"]).is_err());
        assert!(sort_key(&["R", "1#2"]).is_err());
        assert_eq!(sort_key(&["R", "2026", "01J"]).unwrap(), "R#2026#01J");
        assert!(data_key_sort(2) > data_key_sort(1));
        assert!(data_key_sort(10) > data_key_sort(9));
    }
}
