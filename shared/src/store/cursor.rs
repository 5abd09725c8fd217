//! Opaque, tamper-evident pagination cursors: a page's end position, bound to the query it came
//! from and sealed with an HMAC under a tenant key. An altered, forged or foreign cursor is
//! `Error::InvalidCursor` (a 400), never a read elsewhere.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{Position, Query};
use crate::error::{Error, Result};

/// Longest cursor accepted; a real one is far shorter.
const MAX_CURSOR_CHARS: usize = 2048;
const TAG_BYTES: usize = 16;

#[derive(Serialize, Deserialize)]
struct Sealed {
    /// What the cursor is bound to: the query's partition, sort condition, direction, table or index.
    q: String,
    p: Position,
}

/// Seals and opens cursors with one secret key.
#[derive(Clone)]
pub struct CursorSeal {
    key: hmac::Key,
}

fn binding(query: &Query, index: bool) -> String {
    format!("{}|{:?}|{:?}|{index}", query.partition, query.sort, query.direction)
}

impl CursorSeal {
    pub fn new(key: hmac::Key) -> Self {
        CursorSeal { key }
    }

    pub fn seal(&self, query: &Query, index: bool, position: &Position) -> String {
        let body = serde_json::to_vec(&Sealed {
            q: binding(query, index),
            p: position.clone(),
        })
        .unwrap_or_default();
        let tag = hmac::sign(&self.key, &body);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(&tag.as_ref()[..TAG_BYTES])
        )
    }

    /// The position in `cursor`, when it was sealed by this key for this very query.
    pub fn open(&self, query: &Query, index: bool, cursor: &str) -> Result<Position> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(Error::InvalidCursor);
        }
        let (body, tag) = cursor.split_once('.').ok_or(Error::InvalidCursor)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| Error::InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Error::InvalidCursor)?;
        let expected = hmac::sign(&self.key, &body);
        if tag.len() != TAG_BYTES
            || aws_lc_rs::constant_time::verify_slices_are_equal(&expected.as_ref()[..TAG_BYTES], &tag).is_err()
        {
            return Err(Error::InvalidCursor);
        }
        let sealed: Sealed = serde_json::from_slice(&body).map_err(|_| Error::InvalidCursor)?;
        if sealed.q != binding(query, index) {
            return Err(Error::InvalidCursor);
        }
        Ok(sealed.p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    fn seal(secret: &[u8]) -> CursorSeal {
        CursorSeal::new(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let s = seal(b"k1");
        let q = Query::new("T#A").prefix("R#");
        let pos = Position {
            key: Key::new("T#A", "R#5"),
            index: None,
        };
        let c = s.seal(&q, false, &pos);
        assert_eq!(s.open(&q, false, &c).unwrap(), pos);

        // Another key (another tenant), another query, the index, or any changed byte: refused.
        assert!(matches!(seal(b"k2").open(&q, false, &c), Err(Error::InvalidCursor)));
        assert!(matches!(
            s.open(&Query::new("T#B").prefix("R#"), false, &c),
            Err(Error::InvalidCursor)
        ));
        assert!(matches!(
            s.open(&q.clone().backward(), false, &c),
            Err(Error::InvalidCursor)
        ));
        assert!(matches!(s.open(&q, true, &c), Err(Error::InvalidCursor)));
        let (body, tag) = c.split_once('.').unwrap();
        let forged = serde_json::to_vec(&Sealed {
            q: binding(&q, false),
            p: Position {
                key: Key::new("T#B", "x"),
                index: None,
            },
        })
        .unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(forged));
        assert!(matches!(s.open(&q, false, &forged), Err(Error::InvalidCursor)));
        for bad in ["", ".", "abc", &format!("{body}."), &"A".repeat(5000)] {
            assert!(matches!(s.open(&q, false, bad), Err(Error::InvalidCursor)), "{bad:?}");
        }
    }
}
