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
