//! A durable queue on the embedded store with SQS's semantics, for the local stack: messages are
//! items (ids only, no personal data) indexed by when they become visible; receiving hides a
//! batch of messages for a visibility timeout and counts each receive, in one transaction
//! conditional on the counts seen (receives of one process take turns, so two consumers never
//! hold the same receive); a message received `max_receives` times without being deleted moves
//! to the dead-letter partition. A crash loses nothing: an unfinished message becomes visible
//! again when its timeout passes.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Queue, Received};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::store::{BatchOp, Condition, Item, Key, Query, SortKey, Store, TxOp, Update, attr};

/// The queue of the deliverer.
pub const DELIVER: &str = "deliver";
/// The queue of webhook deliveries.
pub const WEBHOOKS: &str = "webhooks";
/// The queue of export jobs.
pub const EXPORTS: &str = "exports";

pub struct LocalQueue {
    store: Arc<dyn Store>,
    name: &'static str,
    /// Receives take turns: a batch is claimed in one transaction no other receive races.
    receiving: tokio::sync::Mutex<()>,
    /// Messages sent and not yet deleted by this process (what its producer paces itself by).
    backlog: std::sync::atomic::AtomicI64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl LocalQueue {
    pub fn new(store: Arc<dyn Store>, name: &'static str) -> LocalQueue {
        LocalQueue {
            store,
            name,
            receiving: tokio::sync::Mutex::new(()),
            backlog: std::sync::atomic::AtomicI64::new(0),
        }
    }

    fn partition(&self) -> String {
        format!("Q#{}", self.name)
    }

    fn dead_letters(&self) -> String {
        format!("Q#{}-dlq", self.name)
    }

    fn visibility(&self, at_ms: i64, id: &str) -> (String, String) {
        (format!("QV#{}", self.name), format!("{at_ms:015}#{id}"))
    }

    /// Takes up to `max` visible messages, each hidden for `visibility_seconds`. Messages already
    /// received `max_receives` times go to the dead-letter partition instead.
    pub async fn receive(&self, max: u32, visibility_seconds: u32, max_receives: u32) -> Result<Vec<Received>> {
        let _turn = self.receiving.lock().await;
        let now = now_ms();
        let (ix_pk, _) = self.visibility(now, "");
        let page = self
            .store
            .query_index(
                &Query::new(ix_pk)
                    .sort(SortKey::AtMost(format!("{now:015}#~")))
                    .limit(max),
            )
            .await?;
        let (mut ops, mut received, mut dead) = (Vec::new(), Vec::new(), Vec::new());
        for item in page.items {
            let count = item.num("receive_count").unwrap_or_default();
            let seen = Condition::eq("receive_count", count);
            if count >= i64::from(max_receives) {
                let letter = Item::new(Key::new(self.dead_letters(), item.key.sk.clone()))
                    .with("body", item.str("body").unwrap_or_default())
                    .with("receive_count", count)
                    .with("dead_at", now / 1000);
                ops.push(TxOp::Put {
                    item: letter,
                    condition: None,
                });
                ops.push(TxOp::Delete {
                    key: item.key.clone(),
                    condition: Some(seen),
                });
                dead.push((item.key.sk, count));
                continue;
            }
            let (ix_pk, hidden_until) = self.visibility(now + i64::from(visibility_seconds) * 1000, &item.key.sk);
            ops.push(TxOp::Update {
                key: item.key.clone(),
                updates: vec![
                    Update::Set(attr::GSI1PK.into(), ix_pk.into()),
                    Update::Set(attr::GSI1SK.into(), hidden_until.into()),
                    Update::Add("receive_count".into(), 1),
                ],
                condition: Some(seen),
            });
            received.push(Received {
                receipt: format!("{}:{}", item.key.sk, count + 1),
                body: item.str("body").unwrap_or_default().to_owned(),
                id: item.key.sk,
                receive_count: (count + 1) as u32,
            });
        }
        if ops.is_empty() {
            return Ok(received);
        }
        match self.store.transact(ops).await {
            Ok(()) => {}
            // Deleted meanwhile (a late delete of an earlier receive): the next receive sees.
            Err(Error::TransactionCanceled(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        self.count(-(dead.len() as i64));
        for (message, receives) in dead {
            tracing::warn!(queue = self.name, message = %message, receives, "message moved to the dead-letter queue");
        }
        Ok(received)
    }

    /// Messages this process sent that are not yet deleted or dead.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(std::sync::atomic::Ordering::Relaxed).max(0) as u64
    }

    fn count(&self, change: i64) {
        self.backlog.fetch_add(change, std::sync::atomic::Ordering::Relaxed);
    }

    /// Deletes handled messages (SQS's DeleteMessageBatch).
    pub async fn delete(&self, receipts: &[String]) -> Result<()> {
        let ops = receipts
            .iter()
            .filter_map(|r| r.split_once(':'))
            .map(|(id, _)| BatchOp::Delete(Key::new(self.partition(), id)))
            .collect::<Vec<_>>();
        if ops.is_empty() {
            return Ok(());
        }
        let deleted = ops.len() as i64;
        self.store.batch_write(ops).await?;
        self.count(-deleted);
        Ok(())
    }

    /// The bodies in the dead-letter partition (an operator's look, tests).
    pub async fn dead_letter_bodies(&self) -> Result<Vec<String>> {
        let page = self.store.query(&Query::new(self.dead_letters()).limit(1000)).await?;
        Ok(page
            .items
            .iter()
            .map(|i| i.str("body").unwrap_or_default().to_owned())
            .collect())
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<()> {
        let now = now_ms();
        let ops = bodies
            .iter()
            .map(|body| {
                let id = new_id();
                let (ix_pk, ix_sk) = self.visibility(now, &id);
                BatchOp::Put(
                    Item::new(Key::new(self.partition(), id))
                        .with("body", body.as_str())
                        .with("receive_count", 0)
                        .with_index(ix_pk, ix_sk),
                )
            })
            .collect();
        self.store.batch_write(ops).await?;
        self.count(bodies.len() as i64);
        Ok(())
    }

    async fn retry_later(&self, receipt: &str, seconds: u32) -> Result<()> {
        let Some((id, count)) = receipt.split_once(':') else {
            return Err(Error::invalid("receipt", "is not a receipt of this queue"));
        };
        let count: i64 = count
            .parse()
            .map_err(|_| Error::invalid("receipt", "is not a receipt of this queue"))?;
        let (ix_pk, hidden_until) = self.visibility(now_ms() + i64::from(seconds) * 1000, id);
        match self
            .store
            .update(
                &Key::new(self.partition(), id),
                &[
                    Update::Set(attr::GSI1PK.into(), ix_pk.into()),
                    Update::Set(attr::GSI1SK.into(), hidden_until.into()),
                ],
                Some(Condition::eq("receive_count", count)),
            )
            .await
        {
            // Received again meanwhile, or gone: the newer receive decides.
            Ok(_) | Err(Error::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
