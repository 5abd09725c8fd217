//! DynamoDB's semantics of conditions and updates, for the embedded engine (the DynamoDB adapter
//! translates the same types to expressions instead).

use std::cmp::Ordering;

use super::{Cmp, Condition, Item, Key, Update, Value};
use crate::error::{Error, Result};

/// Evaluates `condition` against the current item (`None` when it does not exist).
pub fn holds(condition: &Condition, item: Option<&Item>) -> bool {
    let attr = |name: &str| item.and_then(|i| i.attrs.get(name));
    match condition {
        Condition::Exists => item.is_some(),
        Condition::NotExists => item.is_none(),
        Condition::AttrExists(n) => attr(n).is_some(),
        Condition::AttrNotExists(n) => attr(n).is_none(),
        Condition::Compare(n, op, v) => attr(n).is_some_and(|a| compare(a, *op, v)),
        Condition::And(cs) => cs.iter().all(|c| holds(c, item)),
        Condition::Or(cs) => cs.iter().any(|c| holds(c, item)),
        Condition::Not(c) => !holds(c, item),
    }
}

fn compare(a: &Value, op: Cmp, b: &Value) -> bool {
    let ordering = match (a, b) {
        (Value::S(x), Value::S(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::N(x), Value::N(y)) => x.cmp(y),
        (Value::B(x), Value::B(y)) => x.cmp(y),
        _ => return op == Cmp::Eq && a == b,
    };
    match op {
        Cmp::Eq => ordering == Ordering::Equal,
        Cmp::Lt => ordering == Ordering::Less,
        Cmp::Le => ordering != Ordering::Greater,
        Cmp::Gt => ordering == Ordering::Greater,
        Cmp::Ge => ordering != Ordering::Less,
    }
}

/// Applies `updates` to the current item, creating it when missing, as UpdateItem does.
pub fn apply(key: &Key, current: Option<Item>, updates: &[Update]) -> Result<Item> {
    let mut item = current.unwrap_or_else(|| Item::new(key.clone()));
    for update in updates {
        match update {
            Update::Set(n, v) => {
                item.attrs.insert(n.clone(), v.clone());
            }
            Update::Remove(n) => {
                item.attrs.remove(n);
            }
            Update::Add(n, delta) => {
                let next = match item.attrs.get(n) {
                    None => *delta,
                    Some(Value::N(x)) => x
                        .checked_add(*delta)
                        .ok_or_else(|| Error::invalid(n.clone(), "the counter would overflow"))?,
                    Some(_) => return Err(Error::invalid(n.clone(), "is not a number, so it cannot be added to")),
                };
                item.attrs.insert(n.clone(), Value::N(next));
            }
        }
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Item {
        Item::new(Key::new("p", "s"))
            .with("n", 5)
            .with("s", "b")
            .with("flag", true)
    }

    #[test]
    fn conditions_follow_dynamodb() {
        let i = item();
        assert!(holds(&Condition::Exists, Some(&i)));
        assert!(holds(&Condition::NotExists, None));
        assert!(holds(&Condition::Compare("n".into(), Cmp::Gt, 4.into()), Some(&i)));
        assert!(!holds(&Condition::Compare("n".into(), Cmp::Gt, 5.into()), Some(&i)));
        assert!(holds(&Condition::Compare("s".into(), Cmp::Lt, "c".into()), Some(&i)));
        assert!(
            !holds(&Condition::Compare("n".into(), Cmp::Lt, "c".into()), Some(&i)),
            "types differ"
        );
        assert!(!holds(&Condition::eq("missing", 1), Some(&i)));
        assert!(holds(&Condition::Not(Box::new(Condition::eq("missing", 1))), Some(&i)));
        assert!(holds(&Condition::eq("flag", true), Some(&i)));
        let both = Condition::And(vec![
            Condition::AttrExists("n".into()),
            Condition::AttrNotExists("x".into()),
        ]);
        assert!(holds(&both, Some(&i)));
        assert!(holds(
            &Condition::Or(vec![Condition::NotExists, Condition::eq("n", 5)]),
            Some(&i)
        ));
    }

    #[test]
    fn updates_set_remove_and_count() {
        let out = apply(
            &Key::new("p", "s"),
            Some(item()),
            &[
                Update::Add("n".into(), 2),
                Update::Remove("s".into()),
                Update::Add("new".into(), 3),
            ],
        )
        .unwrap();
        assert_eq!(out.num("n"), Some(7));
        assert_eq!(out.num("new"), Some(3));
        assert!(out.get("s").is_none());
        let err = apply(&Key::new("p", "s"), Some(item()), &[Update::Add("s".into(), 1)]).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }));
        let created = apply(&Key::new("p", "s"), None, &[Update::Set("a".into(), "x".into())]).unwrap();
        assert_eq!(created.str("a"), Some("x"));
    }
}
