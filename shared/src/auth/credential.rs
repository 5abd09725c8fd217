//! Opaque credentials: 256 random bits, shown once, stored only as their SHA-256, so a leaked table
//! holds nothing that authenticates and deleting the stored hash revokes at once. A credential
//! names its kind, tenant and owner in clear (`ovk_{tenant}_{owner}_{secret}`), which lets one
//! read of the owner's item verify it; the secret part is the only thing that proves anything.

use aws_lc_rs::{constant_time, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};
use crate::ids::TenantId;

/// What a credential is for; its prefix says so on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A user's sign-in session.
    Session,
    /// An integration's API key.
    ApiKey,
    /// An OAuth 2.0 access token of a client.
    AccessToken,
    /// An invitation to join a tenant.
    Invite,
    /// The second step of a sign-in with a second factor.
    MfaChallenge,
    /// A mailed link to set a new password.
    PasswordReset,
    /// A single sign-on under way: binds the provider's answer to the browser that started it.
    SsoFlow,
    /// A workspace's SCIM token: its identity provider provisions and deprovisions users.
    Provisioning,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Session => "ovs",
            Kind::ApiKey => "ovk",
            Kind::AccessToken => "ova",
            Kind::Invite => "ovi",
            Kind::MfaChallenge => "ovm",
            Kind::PasswordReset => "ovr",
            Kind::SsoFlow => "ovf",
            Kind::Provisioning => "ovp",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Kind> {
        [
            Kind::Session,
            Kind::ApiKey,
            Kind::AccessToken,
            Kind::Invite,
            Kind::MfaChallenge,
            Kind::PasswordReset,
            Kind::SsoFlow,
            Kind::Provisioning,
        ]
        .into_iter()
        .find(|k| k.prefix() == prefix)
    }
}

/// The longest credential accepted: a prefix, two ids and the secret, with room to spare.
pub const MAX_LEN: usize = 160;

/// SHA-256 of a whole credential: what is stored and compared.
pub type Digest = [u8; 32];

pub fn sha256(text: &str) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, text.as_bytes()).as_ref());
    out
}

/// Constant-time equality of two digests.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// 256 random bits, base64url without padding (43 characters).
pub fn random_text() -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(*crate::crypto::random_secret()?))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads 64 hex digits as a SHA-256 digest.
pub fn parse_sha256_hex(text: &str) -> Option<Digest> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A credential as parsed from a request: who it claims to be, and its digest to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presented {
    pub kind: Kind,
    pub tenant: TenantId,
    /// The id of the user, key or client it belongs to (a ULID).
    pub owner: String,
    pub digest: Digest,
}

/// A new credential of `kind` for `owner` in `tenant`: the text to show once, and its digest.
pub fn issue(kind: Kind, tenant: &TenantId, owner: &str) -> Result<(String, Digest)> {
    let text = format!("{}_{tenant}_{owner}_{}", kind.prefix(), random_text()?);
    let digest = sha256(&text);
    Ok((text, digest))
}

/// Parses a presented credential; anything malformed is `Unauthenticated` without detail.
pub fn parse(text: &str) -> Result<Presented> {
    let malformed = Error::Unauthenticated("the credential is malformed");
    if text.len() > MAX_LEN {
        return Err(malformed);
    }
    let mut parts = text.splitn(4, '_');
    let (Some(prefix), Some(tenant), Some(owner), Some(secret)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed);
    };
    let kind = Kind::from_prefix(prefix).ok_or(Error::Unauthenticated("the credential is malformed"))?;
    let tenant: TenantId = tenant
        .parse()
        .map_err(|_| Error::Unauthenticated("the credential is malformed"))?;
    let owner = ulid::Ulid::from_string(owner)
        .map_err(|_| Error::Unauthenticated("the credential is malformed"))?
        .to_string();
    let secret_ok = secret.len() == 43 && URL_SAFE_NO_PAD.decode(secret).is_ok_and(|b| b.len() == 32);
    if !secret_ok {
        return Err(Error::Unauthenticated("the credential is malformed"));
    }
    Ok(Presented {
        kind,
        tenant,
        owner,
        digest: sha256(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_id;

    #[test]
    fn issued_credentials_parse_back_to_their_owner() {
        let tenant = TenantId::generate();
        let owner = new_id();
        let (text, digest) = issue(Kind::ApiKey, &tenant, &owner).unwrap();
        assert!(text.starts_with("ovk_"));
        let p = parse(&text).unwrap();
        assert_eq!(
            (p.kind, &p.tenant, p.owner.as_str(), p.digest),
            (Kind::ApiKey, &tenant, owner.as_str(), digest)
        );
        // Two issues never collide.
        assert_ne!(issue(Kind::ApiKey, &tenant, &owner).unwrap().0, text);
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let tenant = TenantId::generate();
        let (good, _) = issue(Kind::Session, &tenant, &new_id()).unwrap();
        let cases = [
            String::new(),
            "ovs".into(),
            good.replacen("ovs", "xyz", 1),
            good[..good.len() - 1].to_owned(),
            format!("{good}A"),
            good.replace(tenant.as_str(), "NOT-A-TENANT"),
            "a".repeat(MAX_LEN + 1),
        ];
        for case in cases {
            assert!(matches!(parse(&case), Err(Error::Unauthenticated(_))), "{case}");
        }
    }

    #[test]
    fn digests_compare_in_constant_time_and_parse_from_hex() {
        let d = sha256("x");
        assert!(same(&d, &sha256("x")));
        assert!(!same(&d, &sha256("y")));
        assert_eq!(parse_sha256_hex(&hex(&d)), Some(d));
        assert_eq!(parse_sha256_hex("zz"), None);
    }
}
