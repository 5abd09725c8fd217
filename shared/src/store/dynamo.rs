//! The DynamoDB engine: the `Store` port over one table through `aws-sdk-dynamodb`. Typed
//! conditions and updates become expressions with placeholder names and values (no user text is
//! ever spliced into an expression). Reads are strongly consistent on the table; items whose TTL
//! has passed are filtered out until DynamoDB's own TTL removes them.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::builders::{ConditionCheckBuilder, DeleteBuilder, PutBuilder, UpdateBuilder};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, Put, PutRequest, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update as DynamoUpdate, WriteRequest,
};

use super::{
    BatchOp, Cmp, Condition, Direction, Item, Key, Page, Position, Query, SortKey, Store, StoreInfo, TxOp, Update,
    Value, attr, now_unix, validate,
};
use crate::aws::map_sdk_error;
use crate::error::{Error, Result, TxFailure};

/// The name of the sparse index.
pub const INDEX_NAME: &str = "gsi1";
/// The IAM actions this adapter's calls need; every function's policy in `template.yaml` grants
/// them on the table and its index, and the template tests check them against the calls below.
pub const IAM_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:Query",
];
pub(crate) const SERVICE: &str = "DynamoDB";
const BATCH_CHUNK: usize = 25;
const BATCH_ATTEMPTS: u32 = 10;

type AttrMap = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }
}

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

fn key_map(key: &Key) -> AttrMap {
    HashMap::from([
        (attr::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (attr::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn item_map(item: &Item) -> AttrMap {
    let mut map = key_map(&item.key);
    map.extend(item.attrs.iter().map(|(n, v)| (n.clone(), to_attr(v))));
    map
}

fn from_map(mut map: AttrMap) -> Result<Item> {
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
struct Expr {
    names: HashMap<String, String>,
    values: AttrMap,
}

impl Expr {
    fn name(&mut self, name: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        if let Some((p, _)) = self.names.iter().find(|(_, n)| *n == name) {
            return p.clone();
        }
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn now(&mut self) -> String {
        self.value(AttributeValue::N(now_unix().to_string()))
    }

    fn condition(&mut self, c: &Condition) -> String {
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
    fn guarded(&mut self, condition: Option<&Condition>, always: bool) -> Option<String> {
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
    fn join(&mut self, cs: &[Condition], op: &str) -> String {
        let mut parts: Vec<String> = cs.iter().map(|c| self.condition(c)).collect();
        match parts.len() {
            1 => parts.remove(0),
            _ => format!("({})", parts.join(op)),
        }
    }

    fn update(&mut self, updates: &[Update]) -> String {
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

    fn names(&self) -> Option<HashMap<String, String>> {
        Some(self.names.clone()).filter(|m| !m.is_empty())
    }

    fn values(&self) -> Option<AttrMap> {
        Some(self.values.clone()).filter(|m| !m.is_empty())
    }
}

fn classify(code: &str, message: &str) -> Option<Error> {
    match code {
        "ConditionalCheckFailedException" => Some(Error::ConditionFailed),
        "ValidationException" if message.contains("size") && message.contains("exceeded") => {
            Some(Error::invalid("item", "the item would exceed DynamoDB's 400 KB limit"))
        }
        // Depends on the stored item, so only DynamoDB can tell: adding to what is not a number.
        "ValidationException" if message.contains("incorrect data type") => {
            Some(Error::invalid("update", "an attribute added to is not a number"))
        }
        // Inputs are validated before they are sent; what DynamoDB still refuses is our fault.
        "ValidationException" => Some(Error::internal(format!("DynamoDB refused a request: {message}"))),
        "ResourceNotFoundException" => Some(Error::Unavailable {
            service: SERVICE,
            reason: "the table does not exist".into(),
        }),
        _ => None,
    }
}

/// The reasons of a cancelled transaction: from the typed field, or from the message
/// ("... reasons [None, ConditionalCheckFailed]") where an emulator leaves the field empty.
fn cancellation(codes: Vec<Option<String>>, message: &str) -> Vec<TxFailure> {
    let codes = if codes.is_empty() {
        message
            .rsplit_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(list, _)| list.split(',').map(|c| Some(c.trim().to_owned())).collect())
            .unwrap_or_default()
    } else {
        codes
    };
    codes
        .into_iter()
        .enumerate()
        .filter_map(|(index, code)| match code.as_deref() {
            None | Some("None") | Some("") => None,
            Some(reason) => Some(TxFailure {
                index,
                reason: reason.to_owned(),
            }),
        })
        .collect()
}

pub(crate) fn build_error(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("building a DynamoDB request: {e}"))
}

/// The same four calls on every conditional write's builder (their types differ, their methods
/// do not): the condition, its placeholders, and the stored item back when the condition fails.
trait Conditioned: Sized {
    fn conditioned_by(self, condition: Option<String>, expr: &Expr) -> Self;
}

macro_rules! conditioned {
    ($($builder:ty),* $(,)?) => {
        $(impl Conditioned for $builder {
            fn conditioned_by(self, condition: Option<String>, expr: &Expr) -> Self {
                self.set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            }
        })*
    };
}

conditioned!(
    PutBuilder,
    UpdateBuilder,
    DeleteBuilder,
    ConditionCheckBuilder,
    PutItemFluentBuilder,
    UpdateItemFluentBuilder,
    DeleteItemFluentBuilder,
);

/// The outcome of one attempt of a conditional write.
enum Attempt<T> {
    Done(T),
    /// The condition failed; DynamoDB's copy of the item, when it returned one.
    ConditionFailed(Option<AttrMap>),
}

/// The `expires_at` of a stored item whose TTL has passed.
fn expired_at(item: &AttrMap) -> Option<i64> {
    match item.get(attr::EXPIRES_AT) {
        Some(AttributeValue::N(n)) => n.parse().ok().filter(|at| *at <= now_unix()),
        _ => None,
    }
}

impl DynamoStore {
    /// Runs a guarded write (see `Expr::guarded`); when its condition failed only because an
    /// expired item was in the way, removes that item and runs the write once more.
    async fn past_expired<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Attempt<T>>>,
    {
        for _ in 0..2 {
            match attempt().await? {
                Attempt::Done(out) => return Ok(out),
                Attempt::ConditionFailed(old) => {
                    let Some(old) = old else {
                        return Err(Error::ConditionFailed);
                    };
                    let Some(at) = expired_at(&old) else {
                        return Err(Error::ConditionFailed);
                    };
                    self.clear_expired(&from_map(old)?.key, at).await?;
                }
            }
        }
        Err(Error::ConditionFailed)
    }

    /// Deletes an item whose TTL passed at `at`, unless it was written again since.
    async fn clear_expired(&self, key: &Key, at: i64) -> Result<()> {
        let mut expr = Expr::default();
        let condition = format!(
            "{} = {}",
            expr.name(attr::EXPIRES_AT),
            expr.value(AttributeValue::N(at.to_string()))
        );
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match result.map_err(|e| map_sdk_error(SERVICE, e, classify)) {
            Ok(_) | Err(Error::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn tx_item(&self, op: &TxOp) -> Result<TransactWriteItem> {
        let mut expr = Expr::default();
        let item = TransactWriteItem::builder();
        Ok(match op {
            TxOp::Put { item: i, condition } => {
                let c = expr.guarded(condition.as_ref(), false);
                item.put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item_map(i)))
                        .conditioned_by(c, &expr)
                        .build()
                        .map_err(build_error)?,
                )
            }
            TxOp::Update {
                key,
                updates,
                condition,
            } => {
                let u = expr.update(updates);
                let c = expr.guarded(condition.as_ref(), true);
                item.update(
                    DynamoUpdate::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_map(key)))
                        .update_expression(u)
                        .conditioned_by(c, &expr)
                        .build()
                        .map_err(build_error)?,
                )
            }
            TxOp::Delete { key, condition } => {
                let c = expr.guarded(condition.as_ref(), false);
                item.delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_map(key)))
                        .conditioned_by(c, &expr)
                        .build()
                        .map_err(build_error)?,
                )
            }
            TxOp::Check { key, condition } => {
                let c = expr.guarded(Some(condition), true);
                item.condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_map(key)))
                        .conditioned_by(c, &expr)
                        .build()
                        .map_err(build_error)?,
                )
            }
        }
        .build())
    }

    /// One transaction attempt: `Ok(true)` when written. With `clear_expired`, a cancellation
    /// caused only by expired items in the way removes them and answers `Ok(false)` (try again).
    async fn transact_once(&self, ops: &[TxOp], clear_expired: bool) -> Result<bool> {
        let items = ops.iter().map(|op| self.tx_item(op)).collect::<Result<Vec<_>>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let e = match result {
            Ok(_) => return Ok(true),
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error() else {
            return Err(map_sdk_error(SERVICE, e, classify));
        };
        let reasons = c.cancellation_reasons();
        let codes = reasons.iter().map(|r| r.code().map(str::to_owned)).collect();
        let failures = cancellation(codes, c.message().unwrap_or_default());
        let retryable = [
            "ThrottlingError",
            "ProvisionedThroughputExceeded",
            "TransactionConflict",
            "RequestLimitExceeded",
        ];
        if failures.iter().any(|f| retryable.contains(&f.reason.as_str())) {
            return Err(Error::Throttled {
                service: SERVICE,
                retry_after: Duration::from_millis(100),
            });
        }
        let expired: Vec<(Key, i64)> = failures
            .iter()
            .filter_map(|f| {
                reasons
                    .get(f.index)?
                    .item()
                    .and_then(|i| Some((ops[f.index].key().clone(), expired_at(i)?)))
            })
            .collect();
        if !clear_expired || expired.is_empty() || expired.len() != failures.len() {
            return Err(Error::TransactionCanceled(failures));
        }
        for (key, at) in expired {
            self.clear_expired(&key, at).await?;
        }
        Ok(false)
    }

    /// One query call; DynamoDB applies the TTL filter after `Limit`, so a call may return fewer
    /// items than asked.
    async fn query_once(
        &self,
        q: &Query,
        index: bool,
        limit: u32,
        start: Option<AttrMap>,
    ) -> Result<(Vec<Item>, Option<AttrMap>)> {
        let mut expr = Expr::default();
        let (pk_name, sk_name) = if index {
            (attr::GSI1PK, attr::GSI1SK)
        } else {
            (attr::PK, attr::SK)
        };
        let p = expr.name(pk_name);
        let pv = expr.value(AttributeValue::S(q.partition.clone()));
        let mut key_condition = format!("{p} = {pv}");
        let sort = match &q.sort {
            SortKey::All => None,
            SortKey::Prefix(x) => Some(("begins_with", x, None)),
            SortKey::AtLeast(x) => Some((">=", x, None)),
            SortKey::AtMost(x) => Some(("<=", x, None)),
            SortKey::Between(a, b) => Some(("BETWEEN", a, Some(b))),
        };
        if let Some((op, a, b)) = sort {
            let s = expr.name(sk_name);
            let a = expr.value(AttributeValue::S(a.clone()));
            key_condition += &match (op, b) {
                ("begins_with", _) => format!(" AND begins_with({s}, {a})"),
                (_, Some(b)) => format!(" AND {s} BETWEEN {a} AND {}", expr.value(AttributeValue::S(b.clone()))),
                (op, None) => format!(" AND {s} {op} {a}"),
            };
        }
        let exp = expr.name(attr::EXPIRES_AT);
        let now = expr.now();
        let filter = format!("attribute_not_exists({exp}) OR {exp} > {now}");
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.then(|| INDEX_NAME.to_owned()))
            .set_consistent_read((!index).then_some(true))
            .key_condition_expression(key_condition)
            .filter_expression(filter)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .scan_index_forward(q.direction == Direction::Forward)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, e, classify))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_map)
            .collect::<Result<Vec<_>>>()?;
        Ok((items, out.last_evaluated_key))
    }

    /// A full page: calls again while expired items left it short and more may follow.
    async fn run_query(&self, q: &Query, index: bool) -> Result<Page> {
        validate::query(q)?;
        validate::position(q, index)?;
        let mut start = q.after.as_ref().map(|pos| {
            let mut m = key_map(&pos.key);
            if let Some(ix) = &pos.index {
                m.insert(attr::GSI1PK.into(), AttributeValue::S(ix.pk.clone()));
                m.insert(attr::GSI1SK.into(), AttributeValue::S(ix.sk.clone()));
            }
            m
        });
        let mut items = Vec::new();
        loop {
            let wanted = q.limit - items.len() as u32;
            let (found, last) = self.query_once(q, index, wanted, start).await?;
            items.extend(found);
            start = last;
            if start.is_none() || items.len() == q.limit as usize {
                break;
            }
        }
        let next = match start {
            Some(mut last) => {
                let take = |m: &mut AttrMap, n: &str| match m.remove(n) {
                    Some(AttributeValue::S(s)) => Ok(s),
                    _ => Err(Error::internal("LastEvaluatedKey without its keys")),
                };
                let key = Key::new(take(&mut last, attr::PK)?, take(&mut last, attr::SK)?);
                let index_key = if index {
                    Some(Key::new(take(&mut last, attr::GSI1PK)?, take(&mut last, attr::GSI1SK)?))
                } else {
                    None
                };
                Some(Position { key, index: index_key })
            }
            None => None,
        };
        Ok(Page { items, next })
    }
}

/// `Attempt` from a conditional write's result: a failed condition carries the old item.
macro_rules! attempt {
    ($result:expr, $error:path, $done:expr) => {
        match $result {
            Ok(out) => Ok(Attempt::Done($done(out))),
            Err(e) => match e.as_service_error() {
                Some($error(failed)) => Ok(Attempt::ConditionFailed(failed.item.clone())),
                _ => Err(map_sdk_error(SERVICE, e, classify)),
            },
        }
    };
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>> {
        validate::key(key)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, e, classify))?;
        match out.item {
            Some(map) => Ok(Some(from_map(map)?).filter(|i| !i.is_expired(now_unix()))),
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<()> {
        validate::item(&item)?;
        validate::condition(condition.as_ref())?;
        self.past_expired(|| async {
            let mut expr = Expr::default();
            let c = expr.guarded(condition.as_ref(), false);
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item_map(&item)))
                .conditioned_by(c, &expr)
                .send()
                .await;
            attempt!(result, PutItemError::ConditionalCheckFailedException, drop)
        })
        .await
    }

    async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> Result<Item> {
        validate::key(key)?;
        validate::updates(updates)?;
        validate::condition(condition.as_ref())?;
        let out = self
            .past_expired(|| async {
                let mut expr = Expr::default();
                let u = expr.update(updates);
                let c = expr.guarded(condition.as_ref(), true);
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key_map(key)))
                    .update_expression(u)
                    .conditioned_by(c, &expr)
                    .return_values(ReturnValue::AllNew)
                    .send()
                    .await;
                attempt!(
                    result,
                    UpdateItemError::ConditionalCheckFailedException,
                    |o: UpdateItemOutput| o.attributes
                )
            })
            .await?;
        from_map(out.unwrap_or_else(|| key_map(key)))
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<()> {
        validate::key(key)?;
        validate::condition(condition.as_ref())?;
        self.past_expired(|| async {
            let mut expr = Expr::default();
            let c = expr.guarded(condition.as_ref(), false);
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key_map(key)))
                .conditioned_by(c, &expr)
                .send()
                .await;
            attempt!(result, DeleteItemError::ConditionalCheckFailedException, drop)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page> {
        self.run_query(query, false).await
    }

    async fn query_index(&self, query: &Query) -> Result<Page> {
        self.run_query(query, true).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<()> {
        validate::transaction(&ops)?;
        if !self.transact_once(&ops, true).await? {
            self.transact_once(&ops, false).await?;
        }
        Ok(())
    }

    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<()> {
        validate::batch(&ops)?;
        for chunk in ops.chunks(BATCH_CHUNK) {
            let mut pending = chunk
                .iter()
                .map(|op| {
                    Ok(match op {
                        BatchOp::Put(item) => WriteRequest::builder()
                            .put_request(
                                PutRequest::builder()
                                    .set_item(Some(item_map(item)))
                                    .build()
                                    .map_err(build_error)?,
                            )
                            .build(),
                        BatchOp::Delete(key) => WriteRequest::builder()
                            .delete_request(
                                DeleteRequest::builder()
                                    .set_key(Some(key_map(key)))
                                    .build()
                                    .map_err(build_error)?,
                            )
                            .build(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt > 0 {
                    // Unprocessed items: back off exponentially (capped), as AWS advises.
                    let wait = Duration::from_millis(25u64 << attempt.min(7));
                    tokio::time::sleep(wait).await;
                }
                if attempt == BATCH_ATTEMPTS {
                    return Err(Error::Throttled {
                        service: SERVICE,
                        retry_after: Duration::from_secs(1),
                    });
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| map_sdk_error(SERVICE, e, classify))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    async fn sweep_expired(&self) -> Result<usize> {
        // DynamoDB's TTL deletes expired items itself; reads hide them until then.
        Ok(0)
    }

    async fn ping(&self) -> Result<()> {
        self.get(&Key::new("SYS", "PING")).await.map(drop)
    }

    fn info(&self) -> StoreInfo {
        StoreInfo {
            engine: "dynamodb",
            version: aws_sdk_dynamodb::meta::PKG_VERSION.to_owned(),
            location: self.table.clone(),
        }
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

    #[test]
    fn cancellation_reasons_come_from_the_field_or_the_message() {
        let f = cancellation(vec![Some("None".into()), Some("ConditionalCheckFailed".into())], "");
        assert_eq!(
            f,
            vec![TxFailure {
                index: 1,
                reason: "ConditionalCheckFailed".into()
            }]
        );
        let f = cancellation(
            vec![],
            "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]",
        );
        assert_eq!(
            f,
            vec![TxFailure {
                index: 0,
                reason: "ConditionalCheckFailed".into()
            }]
        );
    }
}
