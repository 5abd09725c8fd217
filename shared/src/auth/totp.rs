//! Time-based one-time codes (RFC 6238: SHA-1, 6 digits, 30-second steps), as every authenticator
//! app reads them from a provisioning URI. A code is accepted one step either side of now, and a
//! step once used is never accepted again (the caller stores the last step).

use totp_rs::{Algorithm, TOTP};

use crate::auth::credential::same;
use crate::error::{Error, Result};

/// Secret length: 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;
pub const STEP_SECONDS: u64 = 30;

pub fn new_secret() -> Result<Vec<u8>> {
    let mut secret = vec![0u8; SECRET_BYTES];
    crate::crypto::fill_random(&mut secret)?;
    Ok(secret)
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP> {
    // The URI format reserves `:` in both names.
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECONDS,
        secret.to_vec(),
        Some(issuer.replace(':', " ")),
        account.replace(':', "."),
    )
    .map_err(Error::internal)
}

/// The secret in base32 (RFC 4648, unpadded), as apps without a camera take it.
pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The `otpauth://totp/...` URI an authenticator app reads (usually from a QR code).
pub fn provisioning_uri(secret: &[u8], issuer: &str, account: &str) -> Result<String> {
    Ok(totp(secret, issuer, account)?.get_url())
}

/// The step (`unix time / 30`) whose code `code` is, among the previous, current and next step;
/// `None` when it is none of them or is not six digits.
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "ovation", "user").ok()?;
    let now_step = now / STEP_SECONDS;
    [now_step.saturating_sub(1), now_step, now_step + 1]
        .into_iter()
        .find(|step| same(totp.generate(step * STEP_SECONDS).as_bytes(), code.as_bytes()))
}

/// The code of `step` (for tests and the benchmark's client).
pub fn code_at(secret: &[u8], step: u64) -> Result<String> {
    Ok(totp(secret, "ovation", "user")?.generate(step * STEP_SECONDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_within_one_step() {
        let secret = new_secret().unwrap();
        let now = 1_800_000_015;
        let step = now / STEP_SECONDS;
        for s in [step - 1, step, step + 1] {
            assert_eq!(matching_step(&secret, &code_at(&secret, s).unwrap(), now), Some(s));
        }
        assert_eq!(matching_step(&secret, &code_at(&secret, step + 2).unwrap(), now), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
        let uri = provisioning_uri(&secret, "Ovation (acme)", "ann@example.com").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("secret=") && uri.contains("issuer="), "{uri}");
    }

    #[test]
    fn rfc_6238_test_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits) → 287082 in six.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59 / STEP_SECONDS).unwrap(), "287082");
    }
}
