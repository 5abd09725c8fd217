//! Passwords: the policy (12 to 128 characters, not among the 10,000 most common, not one of the
//! last five), and argon2id hashing (m = 19 MiB, t = 2, p = 1: OWASP's first choice) off the async
//! threads, at most two at a time so that a burst of sign-ins cannot exhaust memory.

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The shortest password any tenant may allow.
pub const MIN_LEN: usize = 12;
/// The longest password accepted (characters).
pub const MAX_LEN: usize = 128;
/// How many earlier passwords a new one may not repeat.
pub const HISTORY: usize = 5;
/// argon2id memory in KiB (19 MiB), passes and lanes.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

const COMMON: &str = include_str!("../../data/common-passwords.txt");

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON.lines().collect())
}

fn hashing_slots() -> &'static Semaphore {
    static SLOTS: Semaphore = Semaphore::const_new(2);
    &SLOTS
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A password that meets the policy. Its text is wiped from memory when dropped.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Checks `text` against the policy with the tenant's minimum length (at least `MIN_LEN`).
    pub fn new(text: String, min_len: usize) -> Result<Password> {
        let text = Zeroizing::new(text);
        let len = text.chars().count();
        let min_len = min_len.max(MIN_LEN);
        if len < min_len {
            return Err(Error::invalid(
                "password",
                format!("must be at least {min_len} characters"),
            ));
        }
        if len > MAX_LEN {
            return Err(Error::invalid(
                "password",
                format!("must be at most {MAX_LEN} characters"),
            ));
        }
        if common().contains(text.as_str()) || common().contains(text.to_lowercase().as_str()) {
            return Err(Error::invalid(
                "password",
                "is among the 10,000 most common passwords; choose another",
            ));
        }
        if text.chars().all(|c| text.starts_with(c)) {
            return Err(Error::invalid("password", "must not be one character repeated"));
        }
        Ok(Password(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub async fn hash(password: &Password) -> Result<String> {
    let text = Zeroizing::new(password.as_str().to_owned());
    run_hashing(move || {
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| Error::internal("the system random source failed"))?;
        let salt = SaltString::encode_b64(&salt).map_err(Error::internal)?;
        argon2()
            .hash_password(text.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(Error::internal)
    })
    .await
}

/// True when `text` is the password of `phc`. A malformed hash or an over-long input is false.
pub async fn verify(text: &str, phc: &str) -> Result<bool> {
    // An over-long input costs one run like any other, and never matches.
    let too_long = text.len() > MAX_LEN * 4;
    let text = Zeroizing::new(if too_long { String::new() } else { text.to_owned() });
    let phc = phc.to_owned();
    let matched = run_hashing(move || {
        Ok(PasswordHash::new(&phc)
            .map(|h| argon2().verify_password(text.as_bytes(), &h).is_ok())
            .unwrap_or(false))
    })
    .await?;
    Ok(matched && !too_long)
}

/// Spends the time of one verification without a hash to verify against, so that an unknown
/// user takes as long to refuse as a wrong password.
pub async fn verify_nothing() -> Result<bool> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = match DUMMY.get() {
        Some(phc) => phc.clone(),
        None => {
            let phc = hash(&Password(Zeroizing::new("dummy password never used".to_owned()))).await?;
            DUMMY.get_or_init(|| phc).clone()
        }
    };
    verify("not the dummy password", &phc).await.map(|_| false)
}

async fn run_hashing<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let _slot = hashing_slots().acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(work).await.map_err(Error::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match Password::new(text.to_owned(), MIN_LEN) {
            Err(Error::Invalid { field, reason }) => {
                assert_eq!(field, "password");
                reason.into_owned()
            }
            Ok(_) => panic!("{text} was accepted"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_policy_refuses_short_long_and_common_passwords() {
        assert!(refused("short").contains("at least 12"));
        assert!(refused(&"ab".repeat(65)).contains("at most 128"));
        assert!(refused("1qaz2wsx3edc").contains("most common"));
        assert!(refused("QWERTY123456").contains("most common"), "case does not help");
        assert!(refused("aaaaaaaaaaaaaaaa").contains("repeated"));
        assert!(Password::new("correct horse battery staple".into(), MIN_LEN).is_ok());
        assert!(
            Password::new("a".repeat(3) + &"xyz".repeat(21), MIN_LEN).is_ok(),
            "64 characters are allowed"
        );
        // A tenant may ask for more, never for less.
        assert!(Password::new("fourteen chars".into(), 16).is_err());
        assert!(Password::new("fourteen chars".into(), 4).is_ok());
        assert_eq!(common().len(), 10_000);
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_chosen_cost_and_verify() {
        let p = Password::new("correct horse battery staple".into(), MIN_LEN).unwrap();
        let phc = hash(&p).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery staple", &phc).await.unwrap());
        assert!(!verify("correct horse battery stapler", &phc).await.unwrap());
        assert!(!verify("x", "not a hash").await.unwrap());
        assert_ne!(hash(&p).await.unwrap(), phc, "salted");
        assert!(!verify_nothing().await.unwrap());
    }
}
