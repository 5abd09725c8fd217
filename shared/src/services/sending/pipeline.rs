//! Sending (DESIGN.md "Sending"): the scheduler finds due invitations in the shared due index,
//! skips those that must not go (and records why), and enqueues the rest; the deliverer renders
//! and sends each queued one exactly once.
//!
//! An invitation's index entry always names its next action: at `due_at` while pending; while
//! queued or being sent, at the time it counts as lost (the scheduler enqueues it again, at most
//! `MAX_ENQUEUES` times); once sent with a reminder, at the reminder's time. Every move between
//! states is a conditional write, so overlapping scheduler runs enqueue an invitation once and a
//! redelivered message sends nothing twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::crypto::links::{Link, LinkKind};
use crate::domain::Channel;
use crate::domain::tenant::Tenant;
use crate::domain::texts::{self, escape_html};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::messaging::{BATCH, Messaging, OutgoingEmail, OutgoingSms, SendFailure};
use crate::services::accounts::tenants;
use crate::services::people::person::Person;
use crate::services::results::counters::{self, Counted, Measure, Tally};
use crate::services::sending::autopilot;
use crate::services::surveys::{self, Survey};
use crate::store::lease::{self, Lease};
use crate::store::{Condition, Item, Key, Query, SortKey, TenantStore, TxOp, Update, attr, keys, now_unix};

/// Seconds after which a queued invitation not yet sent counts as lost and is enqueued again.
pub const REQUEUE_AFTER: i64 = 15 * 60;
/// Seconds a deliverer's claim holds a step: longer than one attempt (the deliverer's Lambda
/// times out after 50 s), so a claim outliving it belongs to an attempt that died.
pub const LEASE_SECONDS: i64 = 60;
/// Enqueues of one step before it is given up as failed (poison messages land in the DLQ).
pub const MAX_ENQUEUES: i64 = 3;
/// How far back a first scheduler run looks for due invitations.
const FIRST_LOOK_BACK_MINUTES: i64 = 7 * 24 * 60;
/// Minutes every run reads again (clocks of the writers may lag a little).
const OVERLAP_MINUTES: i64 = 5;
/// Minute partitions of the due index the scheduler reads at once.
const MINUTES_AT_ONCE: usize = 32;
/// Invitations the scheduler checks at once.
const CONCURRENCY: usize = 32;

/// The two things an invitation sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Invite,
    Remind,
}

impl Step {
    /// The attribute holding this step's status.
    fn status(self) -> &'static str {
        match self {
            Step::Invite => "status",
            Step::Remind => "reminder_status",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Step::Invite => "invite",
            Step::Remind => "remind",
        }
    }

    fn parse(text: &str) -> Step {
        if text == "remind" { Step::Remind } else { Step::Invite }
    }
}

/// Step statuses.
pub const PENDING: &str = "pending";
pub const QUEUED: &str = "queued";
pub const SENDING: &str = "sending";
pub const SENT: &str = "sent";
pub const SKIPPED: &str = "skipped";
pub const FAILED: &str = "failed";
const RECIPIENT: &str = "recipient";
const NEXT: &str = "next";

/// The body of a deliverer's queue message: ids only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub tenant: String,
    pub survey: String,
    pub invitation: String,
    pub step: Step,
}

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

/// Why nothing may be sent to this person now: the tenant, survey or person is gone or closed,
/// or the person unsubscribed or bounced.
fn suppression(
    tenant: Option<&Tenant>,
    survey: Option<&Survey>,
    person: Option<&Item>,
    now: i64,
) -> Option<&'static str> {
    if tenant.is_none() {
        return Some("tenant_deleted");
    }
    let Some(survey) = survey else {
        return Some("survey_deleted");
    };
    if !survey.definition.is_open(now) {
        return Some("survey_closed");
    }
    let Some(person) = person else {
        return Some("person_deleted");
    };
    if person.num("unsubscribed_at").is_some() {
        return Some("unsubscribed");
    }
    if person.num("bounced_at").is_some() {
        return Some("bounced");
    }
    None
}

/// Why a due step does not go: a suppression, then the re-survey throttle (first sends) or an
/// answer already given (reminders).
fn skip_reason(
    step: Step,
    item: &Item,
    tenant: Option<&Tenant>,
    survey: Option<&Survey>,
    person: Option<&Item>,
    now: i64,
) -> Option<&'static str> {
    if let Some(reason) = suppression(tenant, survey, person, now) {
        return Some(reason);
    }
    match (step, survey, person) {
        (Step::Invite, Some(survey), Some(person)) => {
            let window = i64::from(survey.definition.throttle_days) * 86_400;
            let recent = person
                .num("last_sent_at")
                .is_some_and(|at| window > 0 && at > now - window);
            recent.then_some("throttled")
        }
        _ => item.str("response").is_some().then_some("answered"),
    }
}

/// The condition that an invitation is still as a reader of the due index saw it: the step's
/// status and the index entry unchanged.
fn seen_as(item: &Item, step: Step, status: &str) -> Condition {
    Condition::And(vec![
        Condition::eq(step.status(), status),
        Condition::eq(attr::GSI1SK, item.str(attr::GSI1SK).unwrap_or_default()),
    ])
}

/// The index entry of an invitation's next action at `at`.
fn index_at(at: i64, tenant: &TenantId, invitation: &str) -> Vec<Update> {
    let (pk, sk) = keys::due_index(at, tenant, invitation);
    vec![
        Update::Set(attr::GSI1PK.into(), pk.into()),
        Update::Set(attr::GSI1SK.into(), sk.into()),
    ]
}

fn remove_index() -> Vec<Update> {
    vec![Update::Remove(attr::GSI1PK.into()), Update::Remove(attr::GSI1SK.into())]
}

/// The changes that end a step (skipped, failed): its status, why (`{step}_{field}`), and
/// nothing left to act on: no recipient, no index entry.
fn ending(step: Step, status: &'static str, field: &str, reason: String) -> Vec<Update> {
    let mut updates = vec![
        Update::Set(step.status().into(), status.into()),
        Update::Set(format!("{}_{field}", step.as_str()), reason.into()),
        Update::Remove(RECIPIENT.into()),
    ];
    updates.extend(remove_index());
    updates
}

/// Ends a step as skipped under `condition` (false when it no longer holds); an autopilot
/// invitation's next one is scheduled in the same write.
async fn skip(
    store: &TenantStore,
    item: &Item,
    step: Step,
    reason: &str,
    condition: Condition,
    person: Option<&Item>,
    now: i64,
) -> Result<bool> {
    let updates = ending(step, SKIPPED, "skip_reason", reason.to_owned());
    let follow_up = match (step, person) {
        (Step::Invite, Some(person)) if item.str(autopilot::AUTOPILOT).is_some() => {
            let person = Person::from_item(store, person).await?;
            autopilot::follow_up_ops(store, item, &person, now).await?
        }
        _ => vec![],
    };
    // A plain conditional write for the usual skip (a transaction costs DynamoDB twice).
    if follow_up.is_empty() {
        return match store.update(&item.key, &updates, Some(condition)).await {
            Ok(_) => Ok(true),
            Err(Error::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        };
    }
    let mut ops = vec![TxOp::Update {
        key: item.key.clone(),
        updates,
        condition: Some(condition),
    }];
    ops.extend(follow_up);
    match store.transact(ops).await {
        Ok(()) => Ok(true),
        // Moved on meanwhile, or the person left autopilot (the next run skips it alone).
        Err(Error::TransactionCanceled(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What the scheduler does with one due entry.
enum Action {
    /// Enqueue it; true when it is a lost message enqueued again.
    Enqueue(Delivery, bool),
    Skip(&'static str),
    Fail,
    Nothing,
}

/// Tenants and surveys as read once per scheduler run or deliverer batch.
#[derive(Default)]
pub struct Lookups {
    tenants: tokio::sync::Mutex<HashMap<TenantId, Option<Arc<Tenant>>>>,
    surveys: tokio::sync::Mutex<HashMap<(TenantId, String), Option<Survey>>>,
}

impl Lookups {
    async fn tenant(&self, ctx: &Context, id: &TenantId) -> Result<Option<Arc<Tenant>>> {
        if let Some(t) = self.tenants.lock().await.get(id) {
            return Ok(t.clone());
        }
        let tenant = tenants::active(ctx, id).await?;
        self.tenants.lock().await.insert(id.clone(), tenant.clone());
        Ok(tenant)
    }

    async fn survey(&self, store: &TenantStore, id: &str) -> Result<Option<Survey>> {
        let key = (store.tenant().clone(), id.to_owned());
        if let Some(s) = self.surveys.lock().await.get(&key) {
            return Ok(s.clone());
        }
        let survey = surveys::get(store, id).await?;
        self.surveys.lock().await.insert(key, survey.clone());
        Ok(survey)
    }
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
    // Read in due order until twice the budget is seen; minutes are read a chunk at a time (a
    // run catching up after an outage reads many, mostly empty).
    let mut window: Vec<Item> = Vec::new();
    let mut first_unfinished = None;
    let due_by = format!("{now:012}#~");
    let page_of = |minute: i64, limit: usize, after| {
        let query = Query::new(format!("DUE#{minute}"))
            .sort(SortKey::AtMost(due_by.clone()))
            .limit(limit.min(1000) as u32)
            .after(after);
        async move { ctx.store.query_index(&query).await }
    };
    let minutes: Vec<i64> = (cursor..=now_minute).collect();
    'minutes: for chunk in minutes.chunks(MINUTES_AT_ONCE) {
        let limit = 2 * budget - window.len();
        let firsts: Vec<Result<crate::store::Page>> = futures_util::stream::iter(chunk.to_vec())
            .map(|minute| page_of(minute, limit, None))
            .buffered(MINUTES_AT_ONCE)
            .collect()
            .await;
        for (&minute, page) in chunk.iter().zip(firsts) {
            let mut page = page?;
            loop {
                let room = 2 * budget - window.len();
                if page.items.len() > room {
                    page.items.truncate(room);
                    page.next = None;
                    first_unfinished.get_or_insert(minute);
                }
                window.extend(page.items);
                if window.len() == 2 * budget {
                    first_unfinished.get_or_insert(minute);
                    break 'minutes;
                }
                match page.next {
                    Some(next) => page = page_of(minute, 2 * budget - window.len(), Some(next)).await?,
                    None => break,
                }
            }
        }
    }
    let chosen = fair_share(window, budget);
    let mut report = SchedulerReport {
        more: chosen.1,
        ..SchedulerReport::default()
    };
    if report.more && first_unfinished.is_none() {
        first_unfinished = chosen.0.first().map(|i| minute_of(i).unwrap_or(now_minute));
    }
    let cache = Lookups::default();
    let actions: Vec<Action> = futures_util::stream::iter(chosen.0)
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
            Action::Skip(reason) => *report.skipped.entry(reason.to_owned()).or_default() += 1,
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
        .unwrap_or(now_minute)
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
    for minute in now.div_euclid(60)..=last {
        let mut after = None;
        loop {
            let page = ctx
                .store
                .query_index(&Query::new(format!("DUE#{minute}")).limit(1000).after(after))
                .await?;
            for item in &page.items {
                let step = Step::parse(item.str(NEXT).unwrap_or("invite"));
                let status = item.str(step.status()).unwrap_or_default();
                let Some(tenant) = tenant_of(item).filter(|_| matches!(status, QUEUED | SENDING)) else {
                    continue;
                };
                let seen = seen_as(item, step, status);
                let invitation = item.key.sk.trim_start_matches("INV#");
                match ctx
                    .store
                    .update(&item.key, &index_at(now, &tenant, invitation), Some(seen))
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
pub async fn start_scheduler_at(ctx: &Context, at: i64) -> Result<()> {
    let item = Item::new(scheduler_cursor()).with("minute", at.div_euclid(60) - OVERLAP_MINUTES);
    match ctx.store.put(item, Some(Condition::NotExists)).await {
        Ok(()) | Err(Error::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

fn minute_of(item: &Item) -> Option<i64> {
    item.str(attr::GSI1PK)?.strip_prefix("DUE#")?.parse().ok()
}

fn tenant_of(item: &Item) -> Option<TenantId> {
    item.str(attr::GSI1SK)?.split('#').nth(1)?.parse().ok()
}

/// Up to `budget` entries, round robin between tenants in due order; true when some are left.
fn fair_share(window: Vec<Item>, budget: usize) -> (Vec<Item>, bool) {
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
    let left = chosen.len() < total;
    (chosen, left)
}

/// Checks one due entry and moves it on with a conditional write; returns what to enqueue and
/// whether it is a lost message enqueued again.
async fn decide(ctx: &Context, cache: &Lookups, item: Item, now: i64) -> Result<Action> {
    let Some(tenant_id) = tenant_of(&item) else {
        return Ok(Action::Nothing);
    };
    let step = Step::parse(item.str(NEXT).unwrap_or("invite"));
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
    match status.as_str() {
        PENDING => {
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
        QUEUED | SENDING if enqueues >= MAX_ENQUEUES => {
            let why = format!("not delivered after {MAX_ENQUEUES} attempts");
            let done = write(ending(step, FAILED, "failure", why)).await?;
            if done {
                tracing::warn!(tenant = %tenant_id, invitation, step = step.as_str(), "gave up an invitation");
            }
            return Ok(if done { Action::Fail } else { Action::Nothing });
        }
        QUEUED | SENDING => {}
        // Its entry outlived its state (an older version's item): drop the entry.
        _ => {
            write(remove_index()).await?;
            return Ok(Action::Nothing);
        }
    }
    let mut updates = vec![
        Update::Set(step.status().into(), QUEUED.into()),
        Update::Add(format!("{}_enqueues", step.as_str()), 1),
    ];
    updates.extend(index_at(now + REQUEUE_AFTER, &tenant_id, &invitation));
    let done = write(updates).await?;
    Ok(if done {
        Action::Enqueue(delivery, status != PENDING)
    } else {
        Action::Nothing
    })
}

/// What the deliverer made of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Sent, or nothing left to do (already sent, skipped, canceled, deleted).
    Done,
    /// Try again after this many seconds (throttled, provider down).
    RetryAfter(u32),
}

/// A message whose body is not a delivery: it can never succeed.
pub fn parse_delivery(body: &str) -> Result<Delivery> {
    serde_json::from_str(body).map_err(|_| Error::invalid("message", "is not a delivery of this queue"))
}

/// Sends one queued step once: claims it (`sending`, with a lease), renders, sends with the
/// step's idempotency key, then records the outcome; a throttled or failed provider hands the
/// claim back and asks for a retry with backoff.
pub async fn deliver(
    ctx: &Context,
    messaging: &Messaging,
    lookups: &Lookups,
    delivery: &Delivery,
    receive_count: u32,
) -> Result<Delivered> {
    let tenant_id: TenantId = delivery.tenant.parse()?;
    let store = ctx.tenant_store(&tenant_id);
    let key = keys::invitation(&tenant_id, &delivery.survey, &delivery.invitation)?;
    let step = delivery.step;
    let now = now_unix();
    // Claimed only from `queued`, or from `sending` whose lease ran out (a crashed attempt).
    let lease = Lease::new(now, LEASE_SECONDS);
    let claim = Condition::Or(vec![
        Condition::eq(step.status(), QUEUED),
        Condition::And(vec![Condition::eq(step.status(), SENDING), lease.free(now)]),
    ]);
    let [until, holder] = lease.take();
    // Paced before the claim, so a claim's lease is spent sending, not waiting.
    messaging.wait_for_rate().await;
    let claimed = match store
        .update(
            &key,
            &[Update::Set(step.status().into(), SENDING.into()), until, holder],
            Some(Condition::And(vec![Condition::Exists, claim])),
        )
        .await
    {
        Ok(item) => item,
        Err(Error::ConditionFailed) => return claim_refused(&store, &key, step, now).await,
        Err(e) => return Err(e),
    };
    // Every change after the claim holds it: one the lease outlived leaves the item alone.
    let release = |updates: Vec<Update>| {
        let store = &store;
        let key = key.clone();
        async move {
            match store
                .update(&key, &updates, Some(Condition::eq(step.status(), SENDING)))
                .await
            {
                Ok(_) | Err(Error::ConditionFailed) => Ok(()),
                Err(e) => Err(e),
            }
        }
    };
    let tenant = lookups.tenant(ctx, &tenant_id).await?;
    let survey = match tenant {
        Some(_) => lookups.survey(&store, &delivery.survey).await?,
        None => None,
    };
    let person_item = match claimed.str("person") {
        Some(id) => store.get(&keys::person(&tenant_id, id)?).await?,
        None => None,
    };
    // Suppressed since it was scheduled (an unsubscribe, a bounce)? The scheduler checked the
    // throttle; a send it queued is not throttled by itself.
    let reason = suppression(tenant.as_deref(), survey.as_ref(), person_item.as_ref(), now)
        .or((step == Step::Remind && claimed.str("response").is_some()).then_some("answered"));
    let (Some(tenant), Some(survey), Some(person_item), None) = (tenant, survey, &person_item, reason) else {
        let reason = reason.unwrap_or("person_deleted");
        let holding = Condition::eq(step.status(), SENDING);
        skip(&store, &claimed, step, reason, holding, person_item.as_ref(), now).await?;
        return Ok(Delivered::Done);
    };
    let person = Person::from_item(&store, person_item).await?;
    let recipient = store.crypto().open_str(&claimed, RECIPIENT).await?;
    let channel = Channel::parse(claimed.str("channel").unwrap_or_default());
    let Some(recipient) = recipient else {
        release(ending(step, FAILED, "failure", "no recipient".into())).await?;
        return Ok(Delivered::Done);
    };
    let base = ctx.settings.public_url.clone().ok_or(Error::Config {
        name: "OVATION_PUBLIC_URL",
        reason: "is required to send survey links".into(),
    })?;
    let language = crate::domain::Language::from_locale(claimed.str("language").unwrap_or("en"))
        .unwrap_or(survey.definition.default_language);
    let links = Links {
        survey: format!(
            "{base}/r/{}",
            link(&store, LinkKind::Invitation, &delivery.survey, &delivery.invitation).await?
        ),
        unsubscribe: format!(
            "{base}/u/{}",
            link(&store, LinkKind::Unsubscribe, &delivery.survey, &person.id).await?
        ),
    };
    let message = Message {
        survey: &survey,
        tenant: &tenant,
        person: &person,
        language,
        step,
        links: &links,
    };
    let idempotency_key = format!("{}-{}", delivery.invitation, step.as_str());
    let sent = match channel {
        Channel::Sms => {
            messaging
                .sms
                .send(&OutgoingSms {
                    idempotency_key,
                    to: recipient,
                    sender_id: ctx.settings.sending.sms_sender_id.clone(),
                    text: message.sms(),
                })
                .await
        }
        _ => {
            messaging
                .mailer
                .send(&message.email(
                    &ctx.settings.sending,
                    &tenant_id,
                    &delivery.invitation,
                    idempotency_key,
                    recipient,
                ))
                .await
        }
    };
    match sent {
        Ok(message_id) => {
            record_sent(&store, &claimed, step, &survey, channel, &person, message_id, now).await?;
            Ok(Delivered::Done)
        }
        Err(SendFailure::Throttled(why) | SendFailure::Unavailable(why)) => {
            tracing::warn!(invitation = %delivery.invitation, reason = %why, "send deferred");
            release(vec![Update::Set(step.status().into(), QUEUED.into())]).await?;
            Ok(Delivered::RetryAfter(backoff(receive_count)))
        }
        Err(SendFailure::Rejected(why)) => {
            tracing::warn!(invitation = %delivery.invitation, reason = %why, "send refused");
            release(ending(step, FAILED, "failure", why)).await?;
            Ok(Delivered::Done)
        }
    }
}

/// A refused claim: another attempt holds the step (try again once its lease ends, in case that
/// attempt died), or nothing is left to do (sent, skipped, canceled, deleted).
async fn claim_refused(store: &TenantStore, key: &Key, step: Step, now: i64) -> Result<Delivered> {
    match store.get(key).await? {
        Some(item) if item.str(step.status()) == Some(SENDING) => {
            let left = item.num(lease::UNTIL).unwrap_or(now) - now;
            Ok(Delivered::RetryAfter(left.clamp(0, LEASE_SECONDS) as u32 + 1))
        }
        _ => Ok(Delivered::Done),
    }
}

/// Seconds before the `receive_count`th retry: 30 s doubling, at most 15 minutes.
pub fn backoff(receive_count: u32) -> u32 {
    30u32
        .saturating_mul(1 << receive_count.saturating_sub(1).min(5))
        .min(900)
}

async fn link(store: &TenantStore, kind: LinkKind, survey: &str, subject: &str) -> Result<String> {
    Link {
        kind,
        tenant: store.tenant().clone(),
        survey: survey.to_owned(),
        subject: subject.to_owned(),
    }
    .token(store.crypto())
    .await
}

/// Records a sent step: the invitation's status, message id and next action (the reminder, if
/// the survey has one), the person's `last_sent_at` and the survey's sent count, in one
/// transaction. An answer that arrived while the message went out is counted as answered.
#[allow(clippy::too_many_arguments)]
async fn record_sent(
    store: &TenantStore,
    claimed: &Item,
    step: Step,
    survey: &Survey,
    channel: Channel,
    person: &Person,
    message_id: String,
    now: i64,
) -> Result<()> {
    let sent = Sent {
        step,
        survey,
        channel,
        person,
        message_id: &message_id,
        now,
    };
    match record_sent_as(store, claimed, &sent).await {
        Err(Error::TransactionCanceled(_)) => {}
        other => return other,
    }
    // Answered meanwhile (or the person went): again with the invitation as it is now.
    if let Some(fresh) = store.get(&claimed.key).await?
        && fresh.str(step.status()) == Some(SENDING)
    {
        match record_sent_as(store, &fresh, &sent).await {
            Err(Error::TransactionCanceled(_)) => {}
            other => return other,
        }
    }
    // The person went meanwhile: the invitation alone records the send.
    let _ = store
        .update(
            &claimed.key,
            &[
                [
                    Update::Set(step.status().into(), SENT.into()),
                    Update::Remove(RECIPIENT.into()),
                ]
                .as_slice(),
                &remove_index(),
            ]
            .concat(),
            Some(Condition::eq(step.status(), SENDING)),
        )
        .await;
    Ok(())
}

/// What a deliverer sent.
struct Sent<'a> {
    step: Step,
    survey: &'a Survey,
    channel: Channel,
    person: &'a Person,
    message_id: &'a str,
    now: i64,
}

/// One attempt of `record_sent` with the invitation as `claimed` holds it: canceled when its
/// answer, its status or the person changed.
async fn record_sent_as(store: &TenantStore, claimed: &Item, sent: &Sent<'_>) -> Result<()> {
    let Sent {
        step,
        survey,
        channel,
        person,
        message_id,
        now,
    } = *sent;
    let person_id = person.id.as_str();
    let invitation = claimed.key.sk.trim_start_matches("INV#");
    let mut updates = vec![
        Update::Set(step.status().into(), SENT.into()),
        Update::Set(format!("{}_sent_at", step.as_str()), now.into()),
        Update::Set(format!("{}_message_id", step.as_str()), message_id.into()),
    ];
    let reminder = match (step, survey.definition.reminder_days, channel) {
        (Step::Invite, Some(days), Channel::Email) if claimed.str("response").is_none() => {
            Some(now + i64::from(days) * 86_400)
        }
        _ => None,
    };
    match reminder {
        Some(at) => {
            updates.push(Update::Set("reminder_status".into(), PENDING.into()));
            updates.push(Update::Set(NEXT.into(), Step::Remind.as_str().into()));
            updates.extend(index_at(at, store.tenant(), invitation));
        }
        None => {
            updates.push(Update::Remove(RECIPIENT.into()));
            updates.extend(remove_index());
        }
    }
    let answered = claimed.str("response").is_some();
    let mut condition = vec![Condition::eq(step.status(), SENDING)];
    if !answered {
        condition.push(Condition::AttrNotExists("response".into()));
    }
    let mut ops = vec![TxOp::Update {
        key: claimed.key.clone(),
        updates,
        condition: Some(Condition::And(condition)),
    }];
    if step == Step::Invite {
        ops.push(TxOp::Update {
            key: keys::person(store.tenant(), person_id)?,
            updates: vec![
                Update::Set("last_sent_at".into(), now.into()),
                Update::Add("version".into(), 1),
            ],
            condition: Some(Condition::Exists),
        });
        ops.push(TxOp::Update {
            key: keys::person_pointer(store.tenant(), person_id, "INV", invitation)?,
            updates: vec![Update::Set("status".into(), SENT.into())],
            condition: Some(Condition::Exists),
        });
    }
    // An autopilot invitation's next one is scheduled in the same write (without it when the
    // person left autopilot meanwhile).
    let follow_up = match step {
        Step::Invite => autopilot::follow_up_ops(store, claimed, person, now).await?,
        Step::Remind => vec![],
    };
    // A first send counts towards the survey's response rate (answered already when an answer
    // came while it went out).
    let mut tally = Tally::default();
    if step == Step::Invite {
        let sent = Counted::new(
            store,
            &survey.definition.segments,
            Measure::Sent,
            now,
            channel,
            &person.properties,
        )
        .await?;
        if answered {
            let answer = Counted {
                measure: Measure::Answered,
                ..sent.clone()
            };
            tally = Tally::moved(None, Some(&answer));
        }
        tally = tally.and(Tally::moved(None, Some(&sent)));
    }
    if !follow_up.is_empty() {
        match counters::transact(store, &survey.id, [ops.clone(), follow_up].concat(), &tally).await {
            Err(Error::TransactionCanceled(_)) => {}
            other => return other,
        }
    }
    counters::transact(store, &survey.id, ops, &tally).await
}

struct Links {
    survey: String,
    unsubscribe: String,
}

/// One step's message, before it becomes an email or an SMS.
struct Message<'a> {
    survey: &'a Survey,
    tenant: &'a Tenant,
    person: &'a Person,
    language: crate::domain::Language,
    step: Step,
    links: &'a Links,
}

impl Message<'_> {
    fn question(&self) -> String {
        let t = texts::texts(self.language);
        self.survey.definition.filled(
            |o| o.question.as_ref(),
            t.question,
            self.language,
            Some(&self.person.properties),
            &self.tenant.settings.display_name,
        )
    }

    fn sender(&self) -> String {
        self.survey.definition.sender(&self.tenant.settings.display_name)
    }

    fn subject(&self) -> String {
        match self.step {
            Step::Invite => self.question(),
            Step::Remind => format!("{}: {}", texts::texts(self.language).reminder, self.question()),
        }
    }

    /// A short text: the sender, the question and the link; without the sender when that makes
    /// it one SMS segment.
    fn sms(&self) -> String {
        sms_text(&self.sender(), &self.question(), &self.links.survey)
    }

    fn email(
        &self,
        sending: &crate::config::SendingSettings,
        tenant: &TenantId,
        invitation: &str,
        idempotency_key: String,
        to: String,
    ) -> OutgoingEmail {
        let t = texts::texts(self.language);
        let question = self.question();
        let sender = self.sender();
        let brand = &self.survey.definition.brand_color;
        let score_url = |n: u8| format!("{}?score={n}", self.links.survey);
        let mut cells = String::new();
        for n in 0..=10u8 {
            cells.push_str(&format!(
                "<td align=\"center\" style=\"padding:2px\"><a href=\"{}\" style=\"display:block;width:36px;\
                 padding:10px 0;border:1px solid {brand};border-radius:4px;color:{brand};font:bold 16px Arial,\
                 sans-serif;text-decoration:none\">{n}</a></td>",
                escape_html(&score_url(n))
            ));
        }
        let html = format!(
            "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
             <body style=\"margin:0;padding:0;background:#f4f4f5\">\
             <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#f4f4f5\">\
             <tr><td align=\"center\" style=\"padding:24px 8px\">\
             <table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:560px;background:#ffffff;\
             border-radius:6px\"><tr><td style=\"padding:24px;font:16px/1.5 Arial,sans-serif;color:#18181b\">\
             <p style=\"margin:0 0 16px;font-size:18px;font-weight:bold\">{question}</p>\
             <table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\"><tr>{cells}</tr></table>\
             <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"font:12px Arial,\
             sans-serif;color:#52525b\"><tr><td>0 = {low}</td><td align=\"right\">10 = {high}</td></tr></table>\
             </td></tr></table>\
             <p style=\"font:12px Arial,sans-serif;color:#71717a\">{sender} · \
             <a href=\"{unsubscribe}\" style=\"color:#71717a\">{unsubscribe_text}</a></p>\
             </td></tr></table></body></html>",
            lang = self.language.code(),
            title = escape_html(&question),
            question = escape_html(&question),
            low = escape_html(t.not_likely),
            high = escape_html(t.very_likely),
            sender = escape_html(&sender),
            unsubscribe = escape_html(&self.links.unsubscribe),
            unsubscribe_text = escape_html(t.unsubscribe_button),
        );
        let text = format!(
            "{question}\n\n{choose}:\n{scores}\n\n0 = {low}, 10 = {high}\n\n--\n{sender}\n{unsubscribe_text}: {unsubscribe}\n",
            choose = t.choose_score,
            scores = (0..=10u8)
                .map(|n| format!("{n}: {}", score_url(n)))
                .collect::<Vec<_>>()
                .join("\n"),
            low = t.not_likely,
            high = t.very_likely,
            unsubscribe_text = t.unsubscribe_button,
            unsubscribe = self.links.unsubscribe,
        );
        OutgoingEmail {
            idempotency_key,
            from_name: sender,
            from_address: sending.mail_from.clone(),
            reply_to: self.survey.definition.reply_to.clone(),
            to,
            subject: self.subject(),
            html,
            text,
            unsubscribe_url: self.links.unsubscribe.clone(),
            unsubscribe_mailto: sending.unsubscribe_mailto.clone(),
            tags: vec![
                ("tenant".into(), tenant.to_string()),
                ("invitation".into(), invitation.to_owned()),
                ("survey".into(), self.survey.id.clone()),
                ("step".into(), self.step.as_str().into()),
            ],
        }
    }
}

/// `{sender}: {question} {link}`, or without the sender when only that fits one segment.
fn sms_text(sender: &str, question: &str, link: &str) -> String {
    let full = format!("{sender}: {question} {link}");
    let short = format!("{question} {link}");
    if crate::messaging::sms_segments(&full) > 1 && crate::messaging::sms_segments(&short) == 1 {
        short
    } else {
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_segments_count_gsm7_and_ucs2() {
        use crate::messaging::sms_segments;
        assert_eq!(sms_segments(&"a".repeat(160)), 1);
        assert_eq!(sms_segments(&"a".repeat(161)), 2);
        assert_eq!(sms_segments(&"a".repeat(307)), 3, "153 a segment once concatenated");
        assert_eq!(
            sms_segments(&"€".repeat(80)),
            1,
            "an extension character is two septets"
        );
        assert_eq!(sms_segments(&"€".repeat(81)), 2);
        assert_eq!(sms_segments(&"’".repeat(70)), 1, "not GSM-7: UCS-2");
        assert_eq!(sms_segments(&"’".repeat(71)), 2);
    }

    #[test]
    fn an_sms_drops_the_sender_to_fit_one_segment() {
        let link = format!("https://s.example/r/{}", "a".repeat(87));
        assert_eq!(
            sms_text("Acme", "Rate us 0-10?", &link),
            format!("Acme: Rate us 0-10? {link}")
        );
        let question = "How likely are you to recommend us to a friend?";
        assert_eq!(
            sms_text("Acme Corporation", question, &link),
            format!("{question} {link}")
        );
        let long = "How likely are you to recommend Acme to a friend or colleague?";
        assert_eq!(
            sms_text("Acme", long, &link),
            format!("Acme: {long} {link}"),
            "two segments either way"
        );
    }
}
