//! Opaque, tamper-evident pagination cursors: a page's end position, encrypted with AES-256-GCM
//! under a tenant key, with the query it belongs to as associated data. A cursor reveals nothing
//! (not even the keys of the items around it), and an altered, forged, foreign or misused one is
//! `Error::InvalidCursor` (a 400), never a read elsewhere.

use std::sync::Arc;

use aws_lc_rs::aead::LessSafeKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Position, Query};
use crate::crypto::aead;
use crate::error::{Error, Result};

/// Longest cursor accepted; a real one is far shorter.
const MAX_CURSOR_CHARS: usize = 2048;

/// Seals and opens cursors with one tenant's cursor key.
#[derive(Clone)]
pub struct CursorSeal {
    key: Arc<LessSafeKey>,
}

/// What a cursor is bound to: the query's partition, sort condition and direction, table or index.
fn binding(query: &Query, index: bool) -> Vec<u8> {
    format!(
        "ovation:cursor:v1\0{}\0{:?}\0{:?}\0{index}",
        query.partition, query.sort, query.direction
    )
    .into_bytes()
}

impl CursorSeal {
    pub fn new(key: Arc<LessSafeKey>) -> Self {
        CursorSeal { key }
    }

    pub fn seal(&self, query: &Query, index: bool, position: &Position) -> Result<String> {
        let body = serde_json::to_vec(position).map_err(Error::internal)?;
        Ok(URL_SAFE_NO_PAD.encode(aead::seal(&self.key, &binding(query, index), &body)?))
    }

    /// The position in `cursor`, when it was sealed with this key for this very query.
    pub fn open(&self, query: &Query, index: bool, cursor: &str) -> Result<Position> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(Error::InvalidCursor);
        }
        let sealed = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| Error::InvalidCursor)?;
        let plain = aead::open(&self.key, &binding(query, index), &sealed).map_err(|_| Error::InvalidCursor)?;
        serde_json::from_slice(&plain).map_err(|_| Error::InvalidCursor)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::aead::{AES_256_GCM, UnboundKey};

    use super::*;
    use crate::store::Key;

    fn seal(byte: u8) -> CursorSeal {
        CursorSeal::new(Arc::new(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &[byte; 32]).unwrap(),
        )))
    }

    #[test]
    fn cursors_round_trip_hide_their_keys_and_refuse_tampering() {
        let s = seal(1);
        let q = Query::new("T#A").prefix("R#");
        let pos = Position {
            key: Key::new("T#A", "R#5-secret"),
            index: None,
        };
        let c = s.seal(&q, false, &pos).unwrap();
        assert_eq!(s.open(&q, false, &c).unwrap(), pos);
        let raw = URL_SAFE_NO_PAD.decode(&c).unwrap();
        assert!(!raw.windows(6).any(|w| w == b"secret"), "the position is encrypted");

        // Another key (another tenant), another query, the index, or any changed byte: refused.
        assert!(matches!(seal(2).open(&q, false, &c), Err(Error::InvalidCursor)));
        assert!(matches!(
            s.open(&Query::new("T#B").prefix("R#"), false, &c),
            Err(Error::InvalidCursor)
        ));
        assert!(matches!(
            s.open(&q.clone().backward(), false, &c),
            Err(Error::InvalidCursor)
        ));
        assert!(matches!(s.open(&q, true, &c), Err(Error::InvalidCursor)));
        for at in [0, 12, raw.len() - 1] {
            let mut bad = raw.clone();
            bad[at] ^= 1;
            assert!(matches!(
                s.open(&q, false, &URL_SAFE_NO_PAD.encode(bad)),
                Err(Error::InvalidCursor)
            ));
        }
        for bad in ["", ".", "abc", "!!!!", &"A".repeat(5000)] {
            assert!(matches!(s.open(&q, false, bad), Err(Error::InvalidCursor)), "{bad:?}");
        }
    }
}
