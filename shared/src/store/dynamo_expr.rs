//! DynamoDB's side of the port's types: attribute values and items, and typed conditions and
//! updates as expressions with placeholder names and values (no user text is ever spliced in).

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Cmp, Condition, Item, Key, Update, Value, attr, now_unix};
use crate::error::{Error, Result};

pub(crate) type AttrMap = HashMap<String, AttributeValue>;

fn to_attr(v: &Value) -> AttributeValue {
    match v {
        Value::S(s) => AttributeValue::S(s.clone()),
        Value::N(n) => AttributeValue::N(n.to_string()),
        Value::B(b) => AttributeValue::B(Blob::new(b.clone())),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::L(l) => AttributeValue::L(l.iter().map(to_attr).collect()),
        Value::M(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()),
        Value::Null => AttributeValue::Null(true),
    }
}

fn from_attr(v: AttributeValue) -> Result<Value> {
    Ok(match v {
        AttributeValue::S(s) => Value::S(s),
        AttributeValue::N(n) => Value::N(
            n.parse()
                .map_err(|_| Error::internal(format!("not a whole number: {n}")))?,
        ),
        AttributeValue::B(b) => Value::B(b.into_inner()),
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::L(l) => Value::L(l.into_iter().map(from_attr).collect::<Result<_>>()?),
        AttributeValue::M(m) => Value::M(
            m.into_iter()
                .map(|(k, v)| Ok((k, from_attr(v)?)))
                .collect::<Result<_>>()?,
        ),
        AttributeValue::Null(_) => Value::Null,
        other => return Err(Error::internal(format!("unsupported attribute type {other:?}"))),
    })
}

pub(crate) fn key_map(key: &Key) -> AttrMap {
    HashMap::from([
        (attr::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (attr::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

pub(crate) fn item_map(item: &Item) -> AttrMap {
    let mut map = key_map(&item.key);
    map.extend(item.attrs.iter().map(|(n, v)| (n.clone(), to_attr(v))));
    map
}

pub(crate) fn from_map(mut map: AttrMap) -> Result<Item> {
    let mut take = |name: &str| match map.remove(name) {
        Some(AttributeValue::S(s)) => Ok(s),
        _ => Err(Error::internal(format!("item without a string {name}"))),
    };
    let key = Key::new(take(attr::PK)?, take(attr::SK)?);
    let attrs = map
        .into_iter()
        .map(|(n, v)| Ok((n, from_attr(v)?)))
        .collect::<Result<_>>()?;
    Ok(Item { key, attrs })
}

/// Builds one expression's placeholder names and values.
#[derive(Default)]
pub(crate) struct Expr {
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: AttrMap,
}

impl Expr {
    pub(crate) fn name(&mut self, name: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        if let Some((p, _)) = self.names.iter().find(|(_, n)| *n == name) {
            return p.clone();
        }
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    pub(crate) fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    pub(crate) fn now(&mut self) -> String {
        self.value(AttributeValue::N(now_unix().to_string()))
    }

    pub(crate) fn condition(&mut self, c: &Condition) -> String {
        match c {
            // An item whose TTL has passed counts as missing, as on the embedded engine.
            Condition::Exists => {
                let (pk, exp, now) = (self.name(attr::PK), self.name(attr::EXPIRES_AT), self.now());
                format!("(attribute_exists({pk}) AND (attribute_not_exists({exp}) OR {exp} > {now}))")
            }
            Condition::NotExists => {
                let (pk, exp, now) = (self.name(attr::PK), self.name(attr::EXPIRES_AT), self.now());
                format!("(attribute_not_exists({pk}) OR {exp} <= {now})")
            }
            Condition::AttrExists(n) => format!("attribute_exists({})", self.name(n)),
            Condition::AttrNotExists(n) => format!("attribute_not_exists({})", self.name(n)),
            Condition::Compare(n, op, v) => {
                let op = match op {
                    Cmp::Eq => "=",
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Ge => ">=",
                };
                format!("{} {op} {}", self.name(n), self.value(to_attr(v)))
            }
            Condition::And(cs) => self.join(cs, " AND "),
            Condition::Or(cs) => self.join(cs, " OR "),
            Condition::Not(c) => format!("(NOT {})", self.condition(c)),
        }
    }

    /// The condition to send for a write: `condition` judged as if an expired item were missing.
    /// An expired item that DynamoDB's TTL has not yet removed fails the guard; the write is then
    /// retried after that item is cleared (see `DynamoStore::past_expired`). Updates are always
    /// guarded (an `Add` must not continue an expired counter); whole puts and deletes only when
    /// they carry a condition.
    pub(crate) fn guarded(&mut self, condition: Option<&Condition>, always: bool) -> Option<String> {
        let live = |e: &mut Expr| {
            let (pk, exp, now) = (e.name(attr::PK), e.name(attr::EXPIRES_AT), e.now());
            format!("(attribute_not_exists({pk}) OR attribute_not_exists({exp}) OR {exp} > {now})")
        };
        match condition {
            Some(c) => {
                let guard = live(self);
                Some(format!("{guard} AND {}", self.condition(c)))
            }
            None if always => Some(live(self)),
            None => None,
        }
    }

    /// Conditions joined in parentheses; one alone as it is (DynamoDB refuses redundant ones).
    pub(crate) fn join(&mut self, cs: &[Condition], op: &str) -> String {
        let mut parts: Vec<String> = cs.iter().map(|c| self.condition(c)).collect();
        match parts.len() {
            1 => parts.remove(0),
            _ => format!("({})", parts.join(op)),
        }
    }

    pub(crate) fn update(&mut self, updates: &[Update]) -> String {
        let (mut set, mut remove, mut add) = (vec![], vec![], vec![]);
        for u in updates {
            match u {
                Update::Set(n, v) => set.push(format!("{} = {}", self.name(n), self.value(to_attr(v)))),
                Update::Remove(n) => remove.push(self.name(n)),
                Update::Add(n, d) => add.push(format!(
                    "{} {}",
                    self.name(n),
                    self.value(AttributeValue::N(d.to_string()))
                )),
            }
        }
        [("SET", set), ("REMOVE", remove), ("ADD", add)]
            .into_iter()
            .filter(|(_, parts)| !parts.is_empty())
            .map(|(verb, parts)| format!("{verb} {}", parts.join(", ")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(crate) fn names(&self) -> Option<HashMap<String, String>> {
        Some(self.names.clone()).filter(|m| !m.is_empty())
    }

    pub(crate) fn values(&self) -> Option<AttrMap> {
        Some(self.values.clone()).filter(|m| !m.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_use_placeholders_only() {
        let mut e = Expr::default();
        let c = e.condition(&Condition::And(vec![
            Condition::eq("status) OR (1=1", "x"),
            Condition::Not(Box::new(Condition::AttrExists("b".into()))),
        ]));
        assert_eq!(c, "(#n0 = :v0 AND (NOT attribute_exists(#n1)))");
        let one = Expr::default().condition(&Condition::And(vec![Condition::Or(vec![Condition::AttrExists(
            "c".into(),
        )])]));
        assert_eq!(one, "attribute_exists(#n0)", "no redundant parentheses");
        assert_eq!(e.names["#n0"], "status) OR (1=1");
        let u = e.update(&[
            Update::Set("a".into(), 1.into()),
            Update::Remove("b".into()),
            Update::Add("c".into(), 2),
        ]);
        assert_eq!(u, "SET #n2 = :v1 REMOVE #n1 ADD #n3 :v2");
    }
}
