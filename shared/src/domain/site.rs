//! Website surveys' pure types: the origins a site key allows, as browsers send them
//! (`https://shop.example.com`, `https://*.example.com` for its subdomains, `http://localhost:3000`),
//! parsed once and matched exactly against a request's `Origin`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The longest origin taken (a host name is at most 253 characters).
const MAX_ORIGIN: usize = 280;

/// An allowed origin: a scheme, a host (or `*.` and a domain: any of its subdomains), a port
/// unless the scheme's default. Lower case, as browsers send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteOrigin(String);

impl SiteOrigin {
    pub fn parse(field: &'static str, text: &str) -> Result<SiteOrigin> {
        let bad = |reason: &str| Error::invalid(field, format!("{text:?} {reason}"));
        let text = text.trim().trim_end_matches('/').to_ascii_lowercase();
        if text.len() > MAX_ORIGIN {
            return Err(bad("is too long for an origin"));
        }
        let (scheme, rest) = text
            .split_once("://")
            .filter(|(s, _)| *s == "https" || *s == "http")
            .ok_or_else(|| bad("must start with https:// (or http://)"))?;
        let (host, port) = match rest.find(']') {
            Some(end) if rest.starts_with('[') => (&rest[..=end], rest[end + 1..].strip_prefix(':')),
            _ => match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            },
        };
        let port = port
            .map(|p| p.parse::<u16>().ok().filter(|n| *n > 0))
            .map(|n| n.ok_or_else(|| bad("has a port that is not 1 to 65535")))
            .transpose()?;
        let domain = host.strip_prefix("*.").unwrap_or(host);
        let labels_ok = !domain.is_empty()
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        let ipv6 = host.starts_with('[')
            && host.ends_with(']')
            && host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
        if !(labels_ok || ipv6) {
            return Err(bad("must be scheme://host[:port], without a path, query or spaces"));
        }
        if host.starts_with("*.") && !domain.contains('.') {
            return Err(bad("must name a domain below the wildcard (`https://*.example.com`)"));
        }
        let default = if scheme == "https" { 443 } else { 80 };
        let port = port
            .filter(|p| *p != default)
            .map_or(String::new(), |p| format!(":{p}"));
        Ok(SiteOrigin(format!("{scheme}://{host}{port}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when a request's `Origin` is this one, or one of its subdomains' for a wildcard.
    pub fn allows(&self, origin: &str) -> bool {
        let Some((scheme, rest)) = self.0.split_once("://*.") else {
            return self.0 == origin;
        };
        // `https://*.example.com:8443` allows `https://a.example.com:8443`, not the domain itself.
        origin
            .strip_prefix(scheme)
            .and_then(|o| o.strip_prefix("://"))
            .and_then(|o| o.strip_suffix(rest))
            .is_some_and(|sub| {
                sub.len() > 1
                    && sub.ends_with('.')
                    && sub[..sub.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            })
    }
}

impl fmt::Display for SiteOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SiteOrigin {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SiteOrigin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SiteOrigin::parse("origins", &text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str) -> Result<SiteOrigin> {
        SiteOrigin::parse("origins", text)
    }

    #[test]
    fn origins_are_read_as_browsers_send_them() {
        assert_eq!(
            origin("https://Shop.Example.com/").unwrap().as_str(),
            "https://shop.example.com"
        );
        assert_eq!(
            origin("https://shop.example.com:443").unwrap().as_str(),
            "https://shop.example.com"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("http://[::1]:3000").unwrap().as_str(), "http://[::1]:3000");
        for bad in [
            "shop.example.com",
            "ftp://shop.example.com",
            "https://shop.example.com/path",
            "https://shop.example.com?x=1",
            "https://",
            "https://*.com",
            "https://a b.com",
            "https://shop.example.com:0",
            "https://shop.example.com:99999",
            "javascript://x",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_wildcard_allows_subdomains_only() {
        let o = origin("https://*.example.com").unwrap();
        assert!(o.allows("https://shop.example.com"));
        assert!(o.allows("https://eu.shop.example.com"));
        assert!(!o.allows("https://example.com"));
        assert!(!o.allows("https://evil-example.com"));
        assert!(!o.allows("https://shop.example.com.evil.net"));
        assert!(!o.allows("http://shop.example.com"));
        assert!(!o.allows("https://shop.example.com:8443"));
        let exact = origin("https://shop.example.com").unwrap();
        assert!(exact.allows("https://shop.example.com"));
        assert!(!exact.allows("https://shop.example.com:8443"));
        assert!(!exact.allows("null"));
    }
}
