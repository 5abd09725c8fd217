//! The DynamoDB engine: the `Store` port over one table through `aws-sdk-dynamodb`. Typed
//! conditions and updates become expressions with placeholder names and values (no user text is
//! ever spliced into an expression). Reads are strongly consistent on the table; items whose TTL
//! has passed are filtered out until DynamoDB's own TTL removes them.

use std::future::Future;
use std::sync::Arc;
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
use aws_sdk_dynamodb::types::builders::{ConditionCheckBuilder, DeleteBuilder, PutBuilder, UpdateBuilder};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, Put, PutRequest, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update as DynamoUpdate, WriteRequest,
};
use tokio::sync::OnceCell;

use super::dynamo_expr::{AttrMap, Expr, from_map, item_map, key_map};
use super::keys::{self, Spread};
use super::spread::SpreadStore;
use super::{
    BackupSummary, BatchOp, Condition, Direction, Item, Key, Page, Position, Query, SortKey, Store, StoreInfo, TxOp,
    Update, attr, now_unix, validate,
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

/// The attribute of the table's `keys::layout` item: shards of a workspace's busiest partitions.
const WORKSPACE_SHARDS: &str = "workspace_shards";

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    spread: Spread,
}

impl DynamoStore {
    /// The adapter alone: the shared indexes spread, a workspace's partitions whole. Services
    /// get their store from `open`, which spreads them as the table's layout says.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            spread: Spread {
                workspace_shards: 1,
                ..Spread::LIMITED
            },
        }
    }

    /// The store of `table`, its workspace partitions spread as its layout item says. The item is
    /// read with the store's first call, not here: a function's init makes no call over the
    /// network (DESIGN's cold-start budget), and a request that needs no store never waits for it.
    /// A table without one is given one by the first process that uses it: spread when nothing
    /// was written yet (its system partition is empty: every running stack's scheduler writes
    /// there each minute), whole otherwise, so that the items of earlier versions stay where they
    /// are.
    pub fn open(client: Client, table: impl Into<String>) -> Arc<dyn Store> {
        Arc::new(LaidOut {
            raw: DynamoStore::new(client, table),
            store: OnceCell::new(),
        })
    }

    /// The table's shards of workspace partitions, recorded on first use.
    async fn layout(&self) -> Result<u32> {
        let recorded = |item: Item| item.num(WORKSPACE_SHARDS).unwrap_or(1).clamp(1, 1024) as u32;
        if let Some(item) = self.get(&keys::layout()).await? {
            return Ok(recorded(item));
        }
        let used = !self
            .query(&Query::new(keys::SYSTEM_PARTITION).limit(1))
            .await?
            .items
            .is_empty();
        let shards = if used { 1 } else { Spread::LIMITED.workspace_shards };
        let item = Item::new(keys::layout()).with(WORKSPACE_SHARDS, i64::from(shards));
        match self.put(item, Some(Condition::NotExists)).await {
            Ok(()) => Ok(shards),
            // Another process recorded it first.
            Err(Error::ConditionFailed) => Ok(self.get(&keys::layout()).await?.map_or(1, recorded)),
            Err(e) => Err(e),
        }
    }
}

/// A table's store as its layout says, the layout read once, by the first call that needs the
/// store (concurrent first calls share the one read; a failed read is tried again by the next).
struct LaidOut {
    raw: DynamoStore,
    store: OnceCell<Arc<dyn Store>>,
}

impl LaidOut {
    async fn store(&self) -> Result<&Arc<dyn Store>> {
        self.store
            .get_or_try_init(|| async {
                let shards = self.raw.layout().await?;
                let store = Arc::new(DynamoStore {
                    spread: Spread {
                        workspace_shards: shards,
                        ..Spread::LIMITED
                    },
                    ..self.raw.clone()
                });
                Ok::<Arc<dyn Store>, Error>(match shards {
                    1 => store,
                    shards => Arc::new(SpreadStore::new(store, shards)),
                })
            })
            .await
    }
}

#[async_trait]
impl Store for LaidOut {
    async fn get(&self, key: &Key) -> Result<Option<Item>> {
        self.store().await?.get(key).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<()> {
        self.store().await?.put(item, condition).await
    }

    async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> Result<Item> {
        self.store().await?.update(key, updates, condition).await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<()> {
        self.store().await?.delete(key, condition).await
    }

    async fn query(&self, query: &Query) -> Result<Page> {
        self.store().await?.query(query).await
    }

    async fn query_index(&self, query: &Query) -> Result<Page> {
        self.store().await?.query_index(query).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<()> {
        self.store().await?.transact(ops).await
    }

    async fn batch_write(&self, ops: Vec<BatchOp>) -> Result<()> {
        self.store().await?.batch_write(ops).await
    }

    async fn sweep_expired(&self) -> Result<usize> {
        self.raw.sweep_expired().await
    }

    async fn ping(&self) -> Result<()> {
        self.store().await?.ping().await
    }

    fn info(&self) -> StoreInfo {
        self.raw.info()
    }

    async fn backup(&self, to: &std::path::Path) -> Result<BackupSummary> {
        self.raw.backup(to).await
    }

    async fn spread(&self) -> Result<Spread> {
        self.store().await?.spread().await
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

pub(crate) fn build_error(e: impl Into<crate::error::Cause>) -> Error {
    Error::fault("building a DynamoDB request", e)
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
        // The key always comes back (an item is made from it), the expiry too (as locally).
        let projection = q.only.as_ref().map(|names| {
            let always = [attr::PK, attr::SK, attr::EXPIRES_AT];
            always
                .into_iter()
                .chain(names.iter().map(String::as_str).filter(|n| !always.contains(n)))
                .map(|n| expr.name(n))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.then(|| INDEX_NAME.to_owned()))
            .set_consistent_read((!index).then_some(true))
            .key_condition_expression(key_condition)
            .filter_expression(filter)
            .set_projection_expression(projection)
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

    async fn spread(&self) -> Result<Spread> {
        Ok(self.spread)
    }

    fn info(&self) -> StoreInfo {
        StoreInfo {
            engine: "dynamodb",
            version: aws_sdk_dynamodb::meta::PKG_VERSION.to_owned(),
            location: self.table.clone(),
        }
    }

    async fn backup(&self, _to: &std::path::Path) -> Result<BackupSummary> {
        Err(Error::invalid(
            "backup",
            "the DynamoDB table is backed up by AWS Backup and point-in-time recovery (README, Backups and restores)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
