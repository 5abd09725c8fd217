//! Respondent links (`/r/{token}`, `/s/{token}`, `/u/{token}`) and staff's (`/n/{token}`, stopping a
//! notification): what a link names (its kind, the tenant, the survey and the invitation, person
//! or user), signed with the tenant's link sub-key. The
//! tenant id inside only picks the key to check with: a token altered or moved to another tenant
//! fails the check, and a deleted tenant's links die with its keys. Tags are compared in constant
//! time. A short code (`/l/{code}`, for SMS) is a link's signature alone: what it names is found
//! by the code in the store, then the code is checked like a token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::TenantCrypto;
use crate::auth::credential::same;
use crate::error::Result;
use crate::ids::TenantId;

pub const TAG_LEN: usize = 16;
const ID_LEN: usize = 16;
const PAYLOAD_LEN: usize = 1 + 3 * ID_LEN;
const TOKEN_BYTES: usize = PAYLOAD_LEN + TAG_LEN;
/// A short code's bytes (96 bits of the tag; 16 characters).
const SHORT_CODE_BYTES: usize = 12;
/// Set on the kind byte of what a short code signs, so that no code is ever a token's tag.
const SHORT_DOMAIN: u8 = 0x80;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// One person's invitation: `subject` is the invitation.
    Invitation = 1,
    /// A survey's shareable web link: `subject` is the survey again.
    Survey = 2,
    /// A person's unsubscribe link: `subject` is the person.
    Unsubscribe = 3,
    /// A user's link to stop mails about a survey's answers: `subject` is the user.
    StopAnswers = 4,
    /// A user's link to stop a survey's weekly digest: `subject` is the user.
    StopDigest = 5,
    /// A website survey shown to a visitor (what their answer or dismissal carries): `subject` is
    /// the showing, made when it was shown.
    SiteAsk = 6,
    /// A website visitor's answer, for its comment: `subject` is the answer's invitation. Unlike
    /// an invitation's link it opens no page.
    SiteResponse = 7,
}

/// What a link names; all ids are ULIDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub kind: LinkKind,
    pub tenant: TenantId,
    pub survey: String,
    pub subject: String,
}

fn id_bytes(id: &str) -> Option<[u8; ID_LEN]> {
    ulid::Ulid::from_string(id).ok().map(|u| u.0.to_be_bytes())
}

fn id_text(bytes: &[u8]) -> String {
    let mut b = [0u8; ID_LEN];
    b.copy_from_slice(bytes);
    ulid::Ulid(u128::from_be_bytes(b)).to_string()
}

impl Link {
    /// The link of `tenant`'s invitation `invitation` to `survey`.
    pub fn invitation(tenant: &TenantId, survey: &str, invitation: &str) -> Link {
        Link {
            kind: LinkKind::Invitation,
            tenant: tenant.clone(),
            survey: survey.to_owned(),
            subject: invitation.to_owned(),
        }
    }

    fn payload(&self) -> Option<[u8; PAYLOAD_LEN]> {
        let mut out = [0u8; PAYLOAD_LEN];
        out[0] = self.kind as u8;
        out[1..17].copy_from_slice(&id_bytes(self.tenant.as_str())?);
        out[17..33].copy_from_slice(&id_bytes(&self.survey)?);
        out[33..49].copy_from_slice(&id_bytes(&self.subject)?);
        Some(out)
    }

    /// The token of this link, signed by its tenant.
    pub async fn token(&self, crypto: &TenantCrypto) -> Result<String> {
        let payload = self
            .payload()
            .ok_or_else(|| crate::Error::internal("a link names an id that is not a ULID"))?;
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&crypto.link_tag(&payload).await?);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// This link's short code: 16 characters, signed by its tenant like the token, but naming
    /// nothing by itself.
    pub async fn short_code(&self, crypto: &TenantCrypto) -> Result<String> {
        let mut payload = self
            .payload()
            .ok_or_else(|| crate::Error::internal("a link names an id that is not a ULID"))?;
        payload[0] |= SHORT_DOMAIN;
        let tag = crypto.link_tag(&payload).await?;
        Ok(URL_SAFE_NO_PAD.encode(&tag[..SHORT_CODE_BYTES]))
    }

    /// True when `code` has a short code's shape (what may be looked up).
    pub fn short_code_shaped(code: &str) -> bool {
        code.len() == 16 && URL_SAFE_NO_PAD.decode(code).is_ok_and(|b| b.len() == SHORT_CODE_BYTES)
    }

    /// True when `code` is this link's short code, compared in constant time.
    pub async fn has_short_code(&self, crypto: &TenantCrypto, code: &str) -> Result<bool> {
        Ok(same(self.short_code(crypto).await?.as_bytes(), code.as_bytes()))
    }

    /// What a token claims, before its signature is checked (which needs the tenant's key).
    pub fn claimed(token: &str) -> Option<(Link, Vec<u8>)> {
        if token.len() > 100 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != TOKEN_BYTES {
            return None;
        }
        let kind = match bytes[0] {
            1 => LinkKind::Invitation,
            2 => LinkKind::Survey,
            3 => LinkKind::Unsubscribe,
            4 => LinkKind::StopAnswers,
            5 => LinkKind::StopDigest,
            6 => LinkKind::SiteAsk,
            7 => LinkKind::SiteResponse,
            _ => return None,
        };
        let tenant: TenantId = id_text(&bytes[1..17]).parse().ok()?;
        let link = Link {
            kind,
            tenant,
            survey: id_text(&bytes[17..33]),
            subject: id_text(&bytes[33..49]),
        };
        Some((link, bytes))
    }

    /// True when `bytes` (a decoded token) carries this tenant's signature of its payload.
    pub async fn signed(crypto: &TenantCrypto, bytes: &[u8]) -> Result<bool> {
        let tag = crypto.link_tag(&bytes[..PAYLOAD_LEN]).await?;
        Ok(same(&tag, &bytes[PAYLOAD_LEN..]))
    }
}
