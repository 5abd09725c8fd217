//! A domain name as people give one for their email (`acme.com`): lower case, ASCII labels
//! (an international name in its `xn--` form), so that it is compared, stored and looked up in
//! DNS as one spelling.

use std::fmt;

use crate::error::{Error, Result};

const MAX_LEN: usize = 253;
const MAX_LABEL: usize = 63;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// Parses `text` (`Acme.COM`, `@acme.com` and a trailing dot are taken); `field` names it in
    /// the error.
    pub fn parse_field(field: &'static str, text: &str) -> Result<DomainName> {
        let name = text
            .trim()
            .trim_start_matches('@')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= MAX_LABEL
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if name.len() > MAX_LEN || !name.contains('.') || !name.split('.').all(label_ok) {
            let shown: String = name.chars().take(MAX_LEN).collect();
            return Err(Error::invalid(
                field,
                format!("{shown:?} is not a domain name such as acme.com"),
            ));
        }
        Ok(DomainName(name))
    }

    /// The domain of an email address, when it is a name of ASCII labels.
    pub fn of_email(email: &crate::domain::Email) -> Option<DomainName> {
        let (_, domain) = email.as_str().rsplit_once('@')?;
        DomainName::parse_field("email", domain).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;

    #[test]
    fn names_are_lower_case_ascii_labels() {
        for (given, kept) in [
            (" @Acme.COM ", "acme.com"),
            ("eu.acme.co.uk.", "eu.acme.co.uk"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ] {
            assert_eq!(DomainName::parse_field("domain", given).unwrap().as_str(), kept);
        }
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        for wrong in [
            "",
            "acme",
            "acme..com",
            ".acme.com",
            "-acme.com",
            "acme-.com",
            "ac me.com",
            "acme.com/x",
            "bücher.de",
            "*.acme.com",
            &long_label,
            &long_name,
        ] {
            assert!(DomainName::parse_field("domain", wrong).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn an_emails_domain() {
        let email = Email::parse("Ana@EU.Acme.com").unwrap();
        assert_eq!(DomainName::of_email(&email).unwrap().as_str(), "eu.acme.com");
        assert!(DomainName::of_email(&Email::parse("ana@bücher.de").unwrap()).is_none());
    }
}
