//! Passwords: the policy (12 to 128 characters, not among the 10,000 most common, not one of the
//! last five), and argon2id hashing (m = 19 MiB, t = 2, p = 1: OWASP's first choice) off the async
//! threads, at most two at a time, each in one of two reused 19 MiB work areas: a burst of
//! sign-ins costs no more memory than two, and no allocator keeps a heap per thread.

use std::collections::HashSet;
use std::sync::OnceLock;

use std::sync::Mutex;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
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

/// Hashes running at once, and work areas kept.
const SLOTS: usize = 2;
const HASH_BYTES: usize = 32;

fn hashing_slots() -> &'static Semaphore {
    static SLOTS_IN_USE: Semaphore = Semaphore::const_new(SLOTS);
    &SLOTS_IN_USE
}

/// Runs `work` in a work area of `blocks` blocks, reusing a kept one of that size.
fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    static KEPT: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());
    let reused = {
        let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().position(|m| m.len() == blocks).map(|i| kept.swap_remove(i))
    };
    let mut memory = reused.unwrap_or_else(|| vec![Block::default(); blocks]);
    let out = work(&mut memory);
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    if kept.len() < SLOTS {
        kept.push(memory);
    }
    out
}

fn params() -> Params {
    Params::new(MEMORY_KIB, PASSES, LANES, Some(HASH_BYTES)).expect("valid argon2 parameters")
}

/// The argon2 output of `password` and `salt` under `argon`.
fn derive(argon: &Argon2<'_>, password: &[u8], salt: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    with_memory(argon.params().block_count(), |memory| {
        argon.hash_password_into_with_memory(password, salt, &mut out, memory)
    })
    .map_err(|e| Error::internal(e.to_string()))?;
    Ok(out)
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
        crate::crypto::fill_random(&mut salt)?;
        let params = params();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let out = derive(&argon, text.as_bytes(), &salt, HASH_BYTES)?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal(e.to_string()))?;
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| Error::internal(e.to_string()))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| Error::internal(e.to_string()))?),
        };
        Ok(phc.to_string())
    })
    .await
}

/// True when `text` is the password of `phc`. A malformed hash or an over-long input is false.
pub async fn verify(text: &str, phc: &str) -> Result<bool> {
    // An over-long input costs one run like any other, and never matches.
    let too_long = text.len() > MAX_LEN * 4;
    let text = Zeroizing::new(if too_long { String::new() } else { text.to_owned() });
    let phc = phc.to_owned();
    let matched = run_hashing(move || Ok(matches(text.as_bytes(), &phc))).await?;
    Ok(matched && !too_long)
}

/// True when `password` gives the hash of `phc` (an argon2id PHC string); false when it does not
/// or `phc` is malformed.
fn matches(password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let (Ok(params), Ok(salt), Ok(version)) = (
        Params::try_from(&parsed),
        salt.decode_b64(&mut salt_bytes),
        Version::try_from(parsed.version.unwrap_or(Version::V0x13.into())),
    ) else {
        return false;
    };
    if parsed.algorithm != ARGON2ID_IDENT || params.block_count() > 4 * MEMORY_KIB as usize {
        return false;
    }
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    derive(&argon, password, salt, expected.len())
        .is_ok_and(|out| crate::auth::credential::same(&out, expected.as_bytes()))
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
        // Interchangeable with the argon2 crate's own PHC strings, both ways.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
            .hash_password(
                b"correct horse battery staple",
                &SaltString::encode_b64(b"sixteen byte salt").unwrap(),
            )
            .unwrap()
            .to_string();
        assert!(verify("correct horse battery staple", &standard).await.unwrap());
        let ours = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", &ours)
                .is_ok()
        );
        assert!(!verify_nothing().await.unwrap());
    }
}
