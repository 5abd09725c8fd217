//! The scheduler (every minute): finds due invitations in the shared due index, skips those
//! that must not go (and records why), and enqueues the rest in batches.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::messaging::{BATCH, Messaging};
use crate::store::{Condition, Item, Key, Position, Query, SortKey, Store, Update, attr, keys};

use crate::services::sending::invitations;
use crate::services::sending::status::{SkipReason, StepStatus};
use crate::services::sending::steps::{
    Delivery, Lookups, MAX_ENQUEUES, NEXT, REQUEUE_AFTER, Step, ending, index_at, remove_index, seen_as, skip,
    skip_reason,
};

/// How far back a first scheduler run looks for due invitations.
const FIRST_LOOK_BACK_MINUTES: i64 = 7 * 24 * 60;
/// Minutes every run reads again (clocks of the writers may lag a little).
const OVERLAP_MINUTES: i64 = 5;
/// Minutes one run reads at the most (a run catching up after an outage leaves the rest to
/// the next).
const MINUTES_A_RUN: i64 = 360;
/// Minutes of the due index the scheduler reads at once (each in the store's shards).
const MINUTES_AT_ONCE: usize = 4;
/// Queries of the due index in flight at once.
const QUERIES_AT_ONCE: usize = 64;
/// Invitations the scheduler checks at once.
const CONCURRENCY: usize = 32;

/// What one scheduler run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SchedulerReport {
    pub queued: u64,
    /// Lost messages enqueued again.
    pub requeued: u64,
    pub skipped: BTreeMap<String, u64>,
    pub failed: u64,
    /// Due invitations left for the next run.
    pub more: bool,
}

/// What the scheduler does with one due entry.
enum Action {
    /// Enqueue it; true when it is a lost message enqueued again.
    Enqueue(Delivery, bool),
    Skip(SkipReason),
    Fail,
    Nothing,
}

/// One scheduler run at `now`: reads the due index from the oldest minute that may hold due
/// entries, picks up to the run's budget fairly between tenants (round robin in due order, so a
/// tenant's backlog cannot hold back another's), and enqueues in batches of 10.
pub async fn schedule_due(ctx: &Context, messaging: &Messaging, now: i64) -> Result<SchedulerReport> {
    let budget = ctx.settings.sending.scheduler_budget();
    let cursor_key = scheduler_cursor();
    let now_minute = now.div_euclid(60);
    let cursor = match ctx.store.get(&cursor_key).await? {
        Some(item) => item.num("minute").unwrap_or(now_minute),
        None => now_minute - FIRST_LOOK_BACK_MINUTES,
    };
    // Read until twice the budget is seen, minutes a chunk at a time (a run catching up after an
    // outage reads many, mostly empty), every shard of the chunk alike: a page from each in a
    // pass, then another from those with more, so a run's writes spread as its entries are.
    let mut window: Vec<Item> = Vec::new();
    let mut first_unfinished = None;
    let due_by = format!("{now:012}#~");
    let page_of = |(minute, shard): (i64, u32), limit: usize, after: Option<Position>| {
        let query = Query::new(keys::due_partition(minute, shard))
            .sort(SortKey::AtMost(due_by.clone()))
            .limit(limit.clamp(1, 1000) as u32)
            .after(after);
        async move { ctx.store.query_index(&query).await }
    };
    let last = now_minute.min(cursor + MINUTES_A_RUN);
    let shards = ctx.store.spread().await?.due_shards;
    // Each run starts at another shard: the first shards read are not always drained first.
    let start = keys::shard_of(&now.to_string(), shards);
    let minutes: Vec<i64> = (cursor..=last).collect();
    'minutes: for chunk in minutes.chunks(MINUTES_AT_ONCE) {
        let mut open: Vec<((i64, u32), Option<Position>)> = chunk
            .iter()
            .flat_map(|&minute| (0..shards).map(move |n| ((minute, (start + n) % shards), None)))
            .collect();
        while !open.is_empty() {
            let limit = (2 * budget - window.len()).div_ceil(open.len());
            let pages: Vec<Result<crate::store::Page>> = futures_util::stream::iter(open.clone())
                .map(|(shard, after)| page_of(shard, limit, after))
                .buffered(QUERIES_AT_ONCE)
                .collect()
                .await;
            let mut more = Vec::new();
            for (((minute, shard), _), page) in open.iter().zip(pages) {
                let mut page = page?;
                let room = 2 * budget - window.len();
                let full = page.items.len() >= room;
                page.items.truncate(room);
                window.extend(page.items);
                if full {
                    // The earliest minute with entries left unread is where the next run starts.
                    let earliest = more.first().map_or(*minute, |((m, _), _): &((i64, u32), _)| *m);
                    first_unfinished.get_or_insert(earliest.min(*minute));
                    break 'minutes;
                }
                if let Some(next) = page.next {
                    more.push(((*minute, *shard), Some(next)));
                }
            }
            open = more;
        }
    }
    let (chosen, earliest_left) = fair_share(window, budget);
    let mut report = SchedulerReport {
        more: earliest_left.is_some() || last < now_minute,
        ..SchedulerReport::default()
    };
    // Entries read but not chosen are read again next run, from the earliest one's minute.
    if let Some(left) = earliest_left {
        first_unfinished = Some(first_unfinished.map_or(left, |m: i64| m.min(left)));
    }
    let cache = Lookups::default();
    let actions: Vec<Action> = futures_util::stream::iter(chosen)
        .map(|item| {
            let cache = &cache;
            async move { decide(ctx, cache, item, now).await }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let mut bodies = Vec::new();
    for action in actions {
        match action {
            Action::Enqueue(delivery, requeued) => {
                if requeued {
                    report.requeued += 1;
                } else {
                    report.queued += 1;
                }
                bodies.push(serde_json::to_string(&delivery).map_err(Error::internal)?);
            }
            Action::Skip(reason) => *report.skipped.entry(reason.as_str().to_owned()).or_default() += 1,
            Action::Fail => report.failed += 1,
            Action::Nothing => {}
        }
    }
    // Marked queued first: a batch that fails to go is found again once its entries count as lost.
    let batches: Vec<Vec<String>> = bodies.chunks(BATCH).map(<[String]>::to_vec).collect();
    let sent: Vec<Result<()>> = futures_util::stream::iter(batches)
        .map(|batch| async move { messaging.queue.send_batch(&batch).await })
        .buffer_unordered(8)
        .collect()
        .await;
    sent.into_iter().collect::<Result<()>>()?;
    let next_cursor = first_unfinished
        .unwrap_or(last + 1)
        .min(now_minute - OVERLAP_MINUTES)
        .max(cursor);
    if next_cursor != cursor {
        ctx.store
            .put(Item::new(cursor_key).with("minute", next_cursor), None)
            .await?;
    }
    Ok(report)
}

/// The local stack at start: its queue's deliverers died with the previous process, so every
/// step that process had queued or was sending is made due now, and the scheduler enqueues it
/// again as a lost message (a duplicate message is harmless: the claim admits one send; a lease
/// still held is waited for). Returns how many were found.
pub async fn recover_in_flight(ctx: &Context, now: i64) -> Result<u64> {
    let mut recovered = 0;
    let last = (now + REQUEUE_AFTER).div_euclid(60);
    let spread = ctx.store.spread().await?;
    let shards = (now.div_euclid(60)..=last).flat_map(|minute| (0..spread.due_shards).map(move |s| (minute, s)));
    for (minute, shard) in shards {
        let mut after = None;
        loop {
            let query = Query::new(keys::due_partition(minute, shard)).limit(1000).after(after);
            let page = ctx.store.query_index(&query).await?;
            for item in &page.items {
                let Ok(step) = Step::parse(item.str(NEXT)) else {
                    tracing::error!(key = %item.key.sk, "a due entry names no step; left as it is");
                    continue;
                };
                let status = item.str(step.status()).unwrap_or_default();
                let in_flight = matches!(
                    StepStatus::parse(status),
                    Some(StepStatus::Queued | StepStatus::Sending)
                );
                let Some(tenant) = tenant_of(item).filter(|_| in_flight) else {
                    continue;
                };
                let seen = seen_as(item, step, status);
                let invitation = item.key.sk.trim_start_matches("INV#");
                match ctx
                    .store
                    .update(&item.key, &index_at(now, &tenant, invitation, spread), Some(seen))
                    .await
                {
                    Ok(_) => recovered += 1,
                    Err(Error::ConditionFailed) => {}
                    Err(e) => return Err(e),
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Ok(recovered)
}

/// The system item holding the oldest minute of the due index that may still hold entries.
pub fn scheduler_cursor() -> Key {
    Key::new(keys::SYSTEM_PARTITION, "SCHEDULER")
}

/// Gives a new store's scheduler its first minute (the first tenant's creation), so its first
/// run does not look back a week; an existing cursor stays.
pub async fn start_scheduler_at(store: &dyn Store, at: i64) -> Result<()> {
    let item = Item::new(scheduler_cursor()).with("minute", at.div_euclid(60) - OVERLAP_MINUTES);
    match store.put(item, Some(Condition::NotExists)).await {
        Ok(()) | Err(Error::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

fn minute_of(item: &Item) -> Option<i64> {
    keys::due_minute(item.str(attr::GSI1PK)?)
}

fn tenant_of(item: &Item) -> Option<TenantId> {
    item.str(attr::GSI1SK)?.split('#').nth(1)?.parse().ok()
}

/// Up to `budget` entries, round robin between tenants in due order; and the earliest minute of
/// those left (none when every one was chosen).
fn fair_share(window: Vec<Item>, budget: usize) -> (Vec<Item>, Option<i64>) {
    let total = window.len();
    let mut queues: Vec<(Option<TenantId>, std::collections::VecDeque<Item>)> = Vec::new();
    for item in window {
        let tenant = tenant_of(&item);
        match queues.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, q)) => q.push_back(item),
            None => queues.push((tenant, std::collections::VecDeque::from([item]))),
        }
    }
    let mut chosen = Vec::with_capacity(budget.min(total));
    while chosen.len() < budget && queues.iter().any(|(_, q)| !q.is_empty()) {
        for (_, q) in queues.iter_mut() {
            if chosen.len() == budget {
                break;
            }
            if let Some(item) = q.pop_front() {
                chosen.push(item);
            }
        }
    }
    let earliest_left = queues
        .iter()
        .flat_map(|(_, q)| q.iter())
        .map(|item| minute_of(item).unwrap_or(i64::MIN))
        .min();
    debug_assert_eq!(earliest_left.is_some(), chosen.len() < total);
    (chosen, earliest_left)
}

/// Checks one due entry and moves it on with a conditional write; returns what to enqueue and
/// whether it is a lost message enqueued again.
async fn decide(ctx: &Context, cache: &Lookups, item: Item, now: i64) -> Result<Action> {
    let Some(tenant_id) = tenant_of(&item) else {
        return Ok(Action::Nothing);
    };
    let step = match Step::parse(item.str(NEXT)) {
        Ok(step) => step,
        // One unreadable entry fails alone: the run goes on for every other one and tenant.
        Err(e) => {
            tracing::error!(error = %e, key = %item.key.sk, "a due entry names no step; left as it is");
            return Ok(Action::Fail);
        }
    };
    let status = item.str(step.status()).unwrap_or_default().to_owned();
    let invitation = item.key.sk.trim_start_matches("INV#").to_owned();
    let survey_id = item.str("survey").unwrap_or_default().to_owned();
    let tenant = cache.tenant(ctx, &tenant_id).await?;
    let store = ctx.tenant_store(&tenant_id);
    let delivery = Delivery {
        tenant: tenant_id.to_string(),
        survey: survey_id.clone(),
        invitation: invitation.clone(),
        step,
    };
    let seen = seen_as(&item, step, &status);
    let enqueues = item.num(&format!("{}_enqueues", step.as_str())).unwrap_or_default();
    let write = |updates: Vec<Update>| {
        let store = &store;
        let key = item.key.clone();
        let seen = seen.clone();
        async move {
            match store.update(&key, &updates, Some(seen)).await {
                Ok(_) => Ok(true),
                // Another run, the deliverer or a cancellation moved it first.
                Err(Error::ConditionFailed) => Ok(false),
                Err(e) => Err(e),
            }
        }
    };
    match StepStatus::parse(&status) {
        Some(StepStatus::Pending) => {
            let survey = match &tenant {
                Some(_) => cache.survey(&store, &survey_id).await?,
                None => None,
            };
            let person = match (item.str("person"), &tenant) {
                (Some(id), Some(_)) => store.get(&keys::person(&tenant_id, id)?).await?,
                _ => None,
            };
            let reason = skip_reason(step, &item, tenant.as_deref(), survey.as_ref(), person.as_ref(), now);
            if let Some(reason) = reason {
                let done = skip(&store, &item, step, reason, seen.clone(), person.as_ref(), now).await?;
                return Ok(if done { Action::Skip(reason) } else { Action::Nothing });
            }
        }
        Some(StepStatus::Queued | StepStatus::Sending) if enqueues >= MAX_ENQUEUES => {
            let why = format!("not delivered after {MAX_ENQUEUES} attempts");
            let done = write(ending(step, StepStatus::Failed, "failure", why)).await?;
            if done {
                tracing::warn!(tenant = %tenant_id, invitation, step = step.as_str(), "gave up an invitation");
                if let Some(person) = item.str("person") {
                    invitations::renew_next(&store, person).await;
                }
            }
            return Ok(if done { Action::Fail } else { Action::Nothing });
        }
        Some(StepStatus::Queued | StepStatus::Sending) => {}
        // Its entry outlived its state (ended, or an older version's item): drop the entry.
        _ => {
            write(remove_index()).await?;
            return Ok(Action::Nothing);
        }
    }
    let mut updates = vec![
        Update::Set(step.status().into(), StepStatus::Queued.as_str().into()),
        Update::Add(format!("{}_enqueues", step.as_str()), 1),
    ];
    updates.extend(index_at(
        now + REQUEUE_AFTER,
        &tenant_id,
        &invitation,
        store.spread().await?,
    ));
    let done = write(updates).await?;
    Ok(if done {
        Action::Enqueue(delivery, status != StepStatus::Pending.as_str())
    } else {
        Action::Nothing
    })
}
