//! How the embedded engine keeps an item's attributes: a compact binary form read and written
//! without text parsing, base64 or nested tags (the writer thread decodes and encodes every
//! item a transaction updates). A version byte, the attribute count, then per attribute its name
//! and its tagged value; lengths and numbers as LEB128 varints (numbers zigzagged). Items written
//! as JSON by earlier versions (they begin with `{`) still read, and are rewritten in this form
//! when next written.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::store::{Attrs, Value, attr};

/// The first byte of the binary form (never `{`).
const VERSION: u8 = 0xB1;

const S: u8 = 0;
const N: u8 = 1;
const B: u8 = 2;
const FALSE: u8 = 3;
const TRUE: u8 = 4;
const L: u8 = 5;
const M: u8 = 6;
const NULL: u8 = 7;

/// Nesting deeper than this is refused as damage (items are shallow).
const MAX_DEPTH: usize = 32;

pub fn encode(attrs: &Attrs) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + attrs.len() * 16);
    out.push(VERSION);
    map(&mut out, attrs);
    out
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn map(out: &mut Vec<u8>, m: &BTreeMap<String, Value>) {
    varint(out, m.len() as u64);
    for (name, v) in m {
        bytes(out, name.as_bytes());
        value(out, v);
    }
}

fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::S(s) => {
            out.push(S);
            bytes(out, s.as_bytes());
        }
        Value::N(n) => {
            out.push(N);
            varint(out, ((n << 1) ^ (n >> 63)) as u64);
        }
        Value::B(b) => {
            out.push(B);
            bytes(out, b);
        }
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::L(items) => {
            out.push(L);
            varint(out, items.len() as u64);
            for item in items {
                value(out, item);
            }
        }
        Value::M(m) => {
            out.push(M);
            map(out, m);
        }
        Value::Null => out.push(NULL),
    }
}

/// An item's attributes, in either form.
pub fn decode(stored: &[u8]) -> Result<Attrs> {
    decode_only::<&str>(stored, None)
}

/// An item's attributes, only those `only` names (sorted) and its expiry when given: the others
/// are skipped unread.
pub fn decode_only<T: AsRef<str>>(stored: &[u8], only: Option<&[T]>) -> Result<Attrs> {
    let wanted = |name: &str| {
        only.is_none_or(|only| name == attr::EXPIRES_AT || only.binary_search_by(|n| n.as_ref().cmp(name)).is_ok())
    };
    match stored.split_first() {
        Some((&VERSION, rest)) => {
            let mut reader = Reader { rest };
            let count = reader.varint()?;
            let mut attrs = Attrs::new();
            for _ in 0..count {
                let name = reader.text()?;
                if wanted(name) {
                    attrs.insert(name.to_owned(), reader.value(0)?);
                } else {
                    reader.skip(0)?;
                }
            }
            if !reader.rest.is_empty() {
                return Err(damaged());
            }
            Ok(attrs)
        }
        Some((b'{', _)) => {
            let mut attrs: Attrs =
                serde_json::from_slice(stored).map_err(|e| Error::fault("reading a stored item", e))?;
            attrs.retain(|name, _| wanted(name));
            Ok(attrs)
        }
        _ => Err(damaged()),
    }
}

fn damaged() -> Error {
    Error::internal("a stored item does not read: it is damaged")
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let (&b, rest) = self.rest.split_first().ok_or_else(damaged)?;
        self.rest = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(damaged())
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| damaged())?;
        let (taken, rest) = self.rest.split_at_checked(len).ok_or_else(damaged)?;
        self.rest = rest;
        Ok(taken)
    }

    fn text(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| damaged())
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(damaged());
        }
        Ok(match self.byte()? {
            S => Value::S(self.text()?.to_owned()),
            N => {
                let z = self.varint()?;
                Value::N(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            B => Value::B(self.bytes()?.to_vec()),
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            L => {
                let count = self.varint()?;
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::L(items)
            }
            M => {
                let count = self.varint()?;
                let mut m = BTreeMap::new();
                for _ in 0..count {
                    let name = self.text()?.to_owned();
                    m.insert(name, self.value(depth + 1)?);
                }
                Value::M(m)
            }
            NULL => Value::Null,
            _ => return Err(damaged()),
        })
    }

    fn skip(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(damaged());
        }
        match self.byte()? {
            S | B => {
                self.bytes()?;
            }
            N => {
                self.varint()?;
            }
            FALSE | TRUE | NULL => {}
            L => {
                for _ in 0..self.varint()? {
                    self.skip(depth + 1)?;
                }
            }
            M => {
                for _ in 0..self.varint()? {
                    self.bytes()?;
                    self.skip(depth + 1)?;
                }
            }
            _ => return Err(damaged()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Attrs {
        let mut nested = BTreeMap::new();
        nested.insert(
            "k".to_owned(),
            Value::L(vec![Value::N(-1), Value::Null, Value::S("é".into())]),
        );
        Attrs::from([
            ("a".to_owned(), Value::S("text".into())),
            ("b".to_owned(), Value::B(vec![0, 255, 7])),
            ("expires_at".to_owned(), Value::N(1_800_000_000)),
            ("m".to_owned(), Value::M(nested)),
            ("n".to_owned(), Value::N(i64::MIN)),
            ("p".to_owned(), Value::N(i64::MAX)),
            ("t".to_owned(), Value::Bool(true)),
            ("f".to_owned(), Value::Bool(false)),
            ("z".to_owned(), Value::N(0)),
        ])
    }

    #[test]
    fn attributes_read_back_as_written_and_as_json_did() {
        let attrs = sample();
        assert_eq!(decode(&encode(&attrs)).unwrap(), attrs);
        assert_eq!(
            decode(&serde_json::to_vec(&attrs).unwrap()).unwrap(),
            attrs,
            "the JSON form still reads"
        );
        let only = decode_only(&encode(&attrs), Some(&["a", "t"])).unwrap();
        assert_eq!(only.keys().collect::<Vec<_>>(), ["a", "expires_at", "t"]);
        let json_only = decode_only(&serde_json::to_vec(&attrs).unwrap(), Some(&["a", "t"])).unwrap();
        assert_eq!(json_only, only);
    }

    #[test]
    fn damage_is_refused_not_misread() {
        let bytes = encode(&sample());
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
        assert!(decode(&[]).is_err() && decode(&[0x42]).is_err());
        let mut deep = vec![VERSION, 1, 1, b'x'];
        deep.extend(std::iter::repeat_n([L, 1], 100).flatten());
        deep.push(NULL);
        assert!(decode(&deep).is_err(), "nesting is bounded");
    }
}
