//! Checks every request must pass before either engine touches storage, so both engines refuse
//! the same inputs with the same typed errors (DynamoDB's limits, applied to redb too).

use std::collections::HashSet;

use super::{BatchOp, Cmp, Condition, Item, Key, Query, SortKey, TxOp, Update, Value, attr};
use crate::error::{Error, Result};

/// DynamoDB's item size limit: 400 KB, names and values included.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
pub const MAX_TRANSACTION_ITEMS: usize = 100;
pub const MAX_QUERY_LIMIT: u32 = 1000;
const MAX_PK_BYTES: usize = 2048;
const MAX_SK_BYTES: usize = 1024;
const MAX_NAME_BYTES: usize = 255;

fn key_part(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(Error::invalid(field, format!("must be at most {max} bytes")));
    }
    // Control characters are refused so that the embedded engine can separate key parts with
    // bytes below 0x20 and keep DynamoDB's byte order exactly.
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

pub fn key(key: &Key) -> Result<()> {
    key_part("pk", &key.pk, MAX_PK_BYTES)?;
    key_part("sk", &key.sk, MAX_SK_BYTES)
}

fn name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "attribute",
            "names are 1 to 255 bytes without control characters",
        ));
    }
    if name == attr::PK || name == attr::SK {
        return Err(Error::invalid(name.to_owned(), "is the primary key, not an attribute"));
    }
    Ok(())
}

/// The size DynamoDB charges an item: attribute names plus values.
pub fn item_size(item: &Item) -> usize {
    attr::PK.len()
        + item.key.pk.len()
        + attr::SK.len()
        + item.key.sk.len()
        + item.attrs.iter().map(|(n, v)| n.len() + value_size(v)).sum::<usize>()
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::S(s) => s.len(),
        Value::N(n) => digits(*n).div_ceil(2) + 1,
        Value::B(b) => b.len(),
        Value::Bool(_) | Value::Null => 1,
        Value::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::M(m) => 3 + m.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
    }
}

/// The characters of a number written in decimal (its sign included), without writing it.
fn digits(n: i64) -> usize {
    let sign = usize::from(n < 0);
    sign + n.unsigned_abs().checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Rules on a whole item: key, names, the typed store attributes, and the size limit.
pub fn item(item: &Item) -> Result<()> {
    key(&item.key)?;
    for n in item.attrs.keys() {
        name(n)?;
    }
    match (item.get(attr::GSI1PK), item.get(attr::GSI1SK)) {
        (None, None) => {}
        (Some(Value::S(pk)), Some(Value::S(sk))) => {
            key_part(attr::GSI1PK, pk, MAX_PK_BYTES)?;
            key_part(attr::GSI1SK, sk, MAX_SK_BYTES)?;
        }
        _ => {
            return Err(Error::invalid(
                attr::GSI1PK,
                "gsi1pk and gsi1sk are strings, set together",
            ));
        }
    }
    if item.get(attr::EXPIRES_AT).is_some_and(|v| !matches!(v, Value::N(_))) {
        return Err(Error::invalid(attr::EXPIRES_AT, "must be a number of Unix seconds"));
    }
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(Error::ItemTooLarge {
            size,
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(())
}

/// Conditions both engines can evaluate alike: no empty `And`/`Or`, order only on scalars.
pub fn condition(given: Option<&Condition>) -> Result<()> {
    let Some(c) = given else { return Ok(()) };
    match c {
        Condition::Exists | Condition::NotExists => Ok(()),
        Condition::AttrExists(n) | Condition::AttrNotExists(n) => name(n),
        Condition::Compare(n, op, v) => {
            name(n)?;
            if *op != Cmp::Eq && !matches!(v, Value::S(_) | Value::N(_) | Value::B(_)) {
                return Err(Error::invalid(
                    n.clone(),
                    "only strings, numbers and bytes have an order",
                ));
            }
            Ok(())
        }
        Condition::And(cs) | Condition::Or(cs) => {
            if cs.is_empty() {
                return Err(Error::invalid(
                    "condition",
                    "`and` and `or` need at least one condition",
                ));
            }
            cs.iter().try_for_each(|c| condition(Some(c)))
        }
        Condition::Not(c) => condition(Some(c)),
    }
}

/// Rules on an update, checked before it is sent, so no engine writes what it would then refuse:
/// names, the types of the store's own attributes, and index keys changed together.
pub fn updates(updates: &[Update]) -> Result<()> {
    if updates.is_empty() {
        return Err(Error::invalid("updates", "at least one change is needed"));
    }
    let mut seen = HashSet::new();
    for u in updates {
        let n = match u {
            Update::Set(n, _) | Update::Remove(n) | Update::Add(n, _) => n,
        };
        name(n)?;
        if !seen.insert(n.as_str()) {
            return Err(Error::invalid(n.clone(), "is changed twice in one update"));
        }
        match (n.as_str(), u) {
            (attr::GSI1PK, Update::Set(_, Value::S(v))) => key_part(attr::GSI1PK, v, MAX_PK_BYTES)?,
            (attr::GSI1SK, Update::Set(_, Value::S(v))) => key_part(attr::GSI1SK, v, MAX_SK_BYTES)?,
            (attr::GSI1PK | attr::GSI1SK, Update::Set(..) | Update::Add(..)) => {
                return Err(Error::invalid(n.clone(), "index keys are strings"));
            }
            (attr::EXPIRES_AT, Update::Set(_, v)) if !matches!(v, Value::N(_)) => {
                return Err(Error::invalid(attr::EXPIRES_AT, "must be a number of Unix seconds"));
            }
            _ => {}
        }
    }
    let kind = |name: &str| {
        updates.iter().find_map(|u| match u {
            Update::Set(n, _) if n == name => Some("set"),
            Update::Remove(n) if n == name => Some("remove"),
            _ => None,
        })
    };
    if kind(attr::GSI1PK) != kind(attr::GSI1SK) {
        return Err(Error::invalid(
            attr::GSI1PK,
            "gsi1pk and gsi1sk are set or removed together",
        ));
    }
    Ok(())
}

/// The most attributes a query may name in `only` (DynamoDB's projection expression stays far
/// below its 4 KB).
pub const MAX_PROJECTED: usize = 200;

pub fn query(q: &Query) -> Result<()> {
    key_part("partition", &q.partition, MAX_PK_BYTES)?;
    if q.limit == 0 || q.limit > MAX_QUERY_LIMIT {
        return Err(Error::invalid("limit", format!("must be from 1 to {MAX_QUERY_LIMIT}")));
    }
    if let Some(names) = &q.only {
        if names.len() > MAX_PROJECTED {
            return Err(Error::invalid(
                "only",
                format!("names at most {MAX_PROJECTED} attributes"),
            ));
        }
        if names.iter().any(String::is_empty) {
            return Err(Error::invalid("only", "names an attribute without a name"));
        }
    }
    match &q.sort {
        SortKey::All => {}
        SortKey::Prefix(s) | SortKey::AtLeast(s) | SortKey::AtMost(s) => key_part("sort", s, MAX_SK_BYTES)?,
        SortKey::Between(a, b) => {
            key_part("sort", a, MAX_SK_BYTES)?;
            key_part("sort", b, MAX_SK_BYTES)?;
            if a > b {
                return Err(Error::invalid("sort", "the lower bound is above the upper bound"));
            }
        }
    }
    Ok(())
}

/// A position to continue from must lie in the partition queried; anything else is a forged or
/// misused cursor.
pub fn position(q: &Query, index: bool) -> Result<()> {
    let Some(p) = &q.after else { return Ok(()) };
    key(&p.key).map_err(|_| Error::InvalidCursor)?;
    let partition = match (&p.index, index) {
        (Some(ix), true) => {
            key(ix).map_err(|_| Error::InvalidCursor)?;
            &ix.pk
        }
        (None, false) => &p.key.pk,
        _ => return Err(Error::InvalidCursor),
    };
    if *partition != q.partition {
        return Err(Error::InvalidCursor);
    }
    Ok(())
}

fn distinct<'a>(keys: impl Iterator<Item = &'a Key>) -> Result<()> {
    let mut seen = HashSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Err(Error::invalid("operations", "two operations name the same item"));
        }
    }
    Ok(())
}

pub fn transaction(ops: &[TxOp]) -> Result<()> {
    if ops.is_empty() || ops.len() > MAX_TRANSACTION_ITEMS {
        return Err(Error::invalid(
            "operations",
            format!("a transaction has 1 to {MAX_TRANSACTION_ITEMS} operations"),
        ));
    }
    for op in ops {
        match op {
            TxOp::Put { item: i, condition: c } => {
                item(i)?;
                condition(c.as_ref())?;
            }
            TxOp::Update {
                key: k,
                updates: u,
                condition: c,
            } => {
                key(k)?;
                updates(u)?;
                condition(c.as_ref())?;
            }
            TxOp::Delete { key: k, condition: c } => {
                key(k)?;
                condition(c.as_ref())?;
            }
            TxOp::Check { key: k, condition: c } => {
                key(k)?;
                condition(Some(c))?;
            }
        }
    }
    distinct(ops.iter().map(TxOp::key))
}

pub fn batch(ops: &[BatchOp]) -> Result<()> {
    for op in ops {
        match op {
            BatchOp::Put(i) => item(i)?,
            BatchOp::Delete(k) => key(k)?,
        }
    }
    distinct(ops.iter().map(BatchOp::key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_counted_as_written() {
        for n in [0, 7, 9, 10, 99, 100, -1, -10, 123_456_789, i64::MAX, i64::MIN] {
            assert_eq!(digits(n), n.to_string().len(), "{n}");
        }
    }
    use crate::store::Position;

    #[test]
    fn oversized_items_are_refused_with_their_size() {
        let big = Item::new(Key::new("T#x", "A")).with("blob", vec![0u8; MAX_ITEM_BYTES]);
        match item(&big) {
            Err(Error::ItemTooLarge { size, limit }) => assert!(size > limit),
            other => panic!("{other:?}"),
        }
        let fits = Item::new(Key::new("T#x", "A")).with("blob", vec![0u8; MAX_ITEM_BYTES - 100]);
        item(&fits).unwrap();
    }

    #[test]
    fn bad_keys_and_names_are_refused() {
        for k in [
            Key::new("", "a"),
            Key::new("a", ""),
            Key::new("a\0b", "c"),
            Key::new("a", "x".repeat(1025)),
        ] {
            assert!(matches!(key(&k), Err(Error::Invalid { .. })), "{k:?}");
        }
        let i = Item::new(Key::new("a", "b")).with("pk", "x");
        assert!(item(&i).is_err());
        let i = Item::new(Key::new("a", "b")).with(attr::GSI1PK, "x");
        assert!(item(&i).is_err(), "half an index key");
        let i = Item::new(Key::new("a", "b")).with(attr::EXPIRES_AT, "tomorrow");
        assert!(item(&i).is_err());
    }

    #[test]
    fn updates_of_store_attributes_are_typed_and_paired() {
        let set = |n: &str, v: Value| Update::Set(n.into(), v);
        updates(&[set(attr::GSI1PK, "a".into()), set(attr::GSI1SK, "b".into())]).unwrap();
        updates(&[Update::Remove(attr::GSI1PK.into()), Update::Remove(attr::GSI1SK.into())]).unwrap();
        assert!(updates(&[set(attr::GSI1PK, "a".into())]).is_err(), "half an index key");
        assert!(updates(&[set(attr::GSI1PK, "a".into()), Update::Remove(attr::GSI1SK.into())]).is_err());
        assert!(updates(&[set(attr::GSI1PK, 1.into()), set(attr::GSI1SK, "b".into())]).is_err());
        assert!(updates(&[set(attr::EXPIRES_AT, "soon".into())]).is_err());
        updates(&[set(attr::EXPIRES_AT, 5.into())]).unwrap();
        assert!(updates(&[Update::Add("n".into(), 1), Update::Remove("n".into())]).is_err());
    }

    #[test]
    fn transactions_are_bounded_and_distinct() {
        let op = |n: usize| TxOp::Delete {
            key: Key::new("p", format!("{n}")),
            condition: None,
        };
        assert!(transaction(&[]).is_err());
        assert!(transaction(&(0..101).map(op).collect::<Vec<_>>()).is_err());
        transaction(&(0..100).map(op).collect::<Vec<_>>()).unwrap();
        assert!(transaction(&[op(1), op(1)]).is_err());
    }

    #[test]
    fn a_position_from_another_partition_is_an_invalid_cursor() {
        let q = Query::new("T#a").after(Some(Position {
            key: Key::new("T#b", "x"),
            index: None,
        }));
        assert!(matches!(position(&q, false), Err(Error::InvalidCursor)));
        let q = Query::new("T#a").after(Some(Position {
            key: Key::new("T#a", "x"),
            index: None,
        }));
        position(&q, false).unwrap();
        assert!(
            matches!(position(&q, true), Err(Error::InvalidCursor)),
            "table position on the index"
        );
    }
}
