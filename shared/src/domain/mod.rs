//! Pure types and rules, no I/O: inputs are parsed into these at the edge (parse, don't validate),
//! so the services never see a malformed email, slug or setting.

pub mod brand;
pub mod domain_name;
pub mod email;
pub mod language;
pub mod loose;
pub mod person;
pub mod send_at;
pub mod site;
pub mod survey;
pub mod tenant;
pub mod texts;
pub mod time;

pub use domain_name::DomainName;
pub use email::Email;
pub use language::Language;
pub use person::{Channel, PersonRef, Phone, Properties};
pub use survey::Score;
pub use tenant::{Slug, TenantSettings};

use crate::error::{Error, Result};

/// The longest name or label a person gives (a display name, a key's name).
pub const MAX_LABEL: usize = 100;

/// The longest id an identity provider gives its own record (SCIM `externalId`).
pub const MAX_EXTERNAL_ID: usize = 255;

/// An identity provider's own id for a record (SCIM `externalId`): trimmed, at most 255
/// characters without control characters; blank is none.
pub fn external_id(text: Option<String>) -> Result<Option<String>> {
    let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if text
        .as_ref()
        .is_some_and(|t| t.len() > MAX_EXTERNAL_ID || t.chars().any(char::is_control))
    {
        return Err(Error::invalid(
            "externalId",
            format!("at most {MAX_EXTERNAL_ID} characters, without control characters"),
        ));
    }
    Ok(text)
}

/// A name or label: trimmed, 1 to 100 characters, no control characters; `field` names it.
pub fn label(field: &'static str, text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_LABEL || text.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            "must be 1 to 100 characters, without control characters",
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_bounded_text() {
        assert_eq!(external_id(Some(" a1 ".into())).unwrap().as_deref(), Some("a1"));
        assert_eq!(external_id(Some("  ".into())).unwrap(), None);
        assert!(external_id(Some("x".repeat(256))).is_err());
        assert!(external_id(Some("a\nb".into())).is_err());
    }
}
