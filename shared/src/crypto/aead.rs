//! The one sealing format under every envelope (wrapped local keys, a tenant's stable root,
//! fields, cursors): AES-256-GCM with a fresh random 96-bit nonce, laid out as
//! `nonce ‖ ciphertext ‖ tag`. Opening anything altered, or under another key or associated data,
//! is `Error::Undecryptable`.

use aws_lc_rs::aead::{Aad, LessSafeKey, NONCE_LEN, Nonce};
use zeroize::Zeroizing;

use super::Secret;
use crate::error::{Error, Result};

/// Seals `plaintext` bound to `aad`.
pub fn seal(key: &LessSafeKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(Error::internal)?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + key.algorithm().tag_len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(NONCE_LEN);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
        .map_err(Error::internal)?;
    out.append(&mut body);
    Ok(out)
}

/// Opens what `seal` made with the same key and `aad`; the plaintext is wiped when dropped.
pub fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + key.algorithm().tag_len() {
        return Err(Error::Undecryptable);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Undecryptable)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| Error::Undecryptable)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// Opens a sealed 256-bit key.
pub fn open_secret(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Secret> {
    let plain = open(key, aad, sealed)?;
    let mut secret = Zeroizing::new([0u8; 32]);
    if plain.len() != secret.len() {
        return Err(Error::Undecryptable);
    }
    secret.copy_from_slice(&plain);
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::aead::{AES_256_GCM, UnboundKey};

    use super::*;

    fn key(byte: u8) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[byte; 32]).unwrap())
    }

    #[test]
    fn sealed_bytes_open_only_unchanged_under_their_key_and_aad() {
        let sealed = seal(&key(1), b"aad", b"secret").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 6 + 16);
        assert_eq!(&*open(&key(1), b"aad", &sealed).unwrap(), b"secret");
        assert_ne!(
            sealed,
            seal(&key(1), b"aad", b"secret").unwrap(),
            "a fresh nonce each time"
        );
        assert!(matches!(open(&key(2), b"aad", &sealed), Err(Error::Undecryptable)));
        assert!(matches!(open(&key(1), b"other", &sealed), Err(Error::Undecryptable)));
        for at in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[at] ^= 0x80;
            assert!(
                matches!(open(&key(1), b"aad", &bad), Err(Error::Undecryptable)),
                "byte {at}"
            );
        }
        assert!(matches!(
            open(&key(1), b"aad", &sealed[..10]),
            Err(Error::Undecryptable)
        ));
        assert!(
            matches!(open_secret(&key(1), b"aad", &sealed), Err(Error::Undecryptable)),
            "not 32 bytes"
        );
    }
}
