//! An email address, normalised (trimmed, lower case) so that lookups by blind index match.

use std::fmt;

use crate::error::{Error, Result};

pub const MAX_LEN: usize = 254;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses `text` as an address; `field` names it in the error.
    pub fn parse_field(field: &'static str, text: &str) -> Result<Email> {
        let text = text.trim().to_lowercase();
        let bad = |reason: &'static str| Err(Error::invalid(field, reason));
        if text.is_empty() {
            return bad("is required");
        }
        if text.len() > MAX_LEN {
            return bad("must be at most 254 characters");
        }
        let Some((local, domain)) = text.rsplit_once('@') else {
            return bad("must be an email address (name@example.com)");
        };
        let forbidden = |c: char| c.is_whitespace() || c.is_control() || "\"(),:;<>[\\]@".contains(c);
        if local.is_empty() || local.len() > 64 || local.chars().any(forbidden) {
            return bad("must be an email address (name@example.com)");
        }
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && !l.chars().any(forbidden));
        if !domain.contains('.') || !labels_ok {
            return bad("must be an email address with a domain (name@example.com)");
        }
        Ok(Email(text))
    }

    pub fn parse(text: &str) -> Result<Email> {
        Email::parse_field("email", text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        assert_eq!(
            Email::parse("a.b+tag@sub.example.co.uk").unwrap().as_str(),
            "a.b+tag@sub.example.co.uk"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a n@example.com",
            "ann@-x.com",
            "ann@x..com",
            "a\"b@x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
