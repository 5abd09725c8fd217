//! The deliverer: sends each queued step exactly once (a claim with a lease, the provider's
//! idempotency key) and records the outcome with the person's and the survey's counts.

use crate::context::Context;
use crate::crypto::links::{Link, LinkKind};
use crate::domain::Channel;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::messaging::{Messaging, OutgoingSms, SendFailure};
use crate::services::people::person::Person;
use crate::services::results::counters::{self, Counted, Measure, Tally};
use crate::services::sending::autopilot;
use crate::services::sending::invitations::{self, Invitation};
use crate::services::sending::short_links;
use crate::services::surveys::Survey;
use crate::store::lease::{self, Lease};
use crate::store::{Condition, Item, Key, TenantStore, TxOp, Update, keys, now_unix};

use crate::services::sending::message::{Links, Message};
use crate::services::sending::status::{SkipReason, StepStatus};
use crate::services::sending::steps::{
    Delivery, LEASE_SECONDS, Lookups, NEXT, RECIPIENT, Step, ending, index_at, remove_index, skip, suppression,
};

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
        Condition::eq(step.status(), StepStatus::Queued.as_str()),
        Condition::And(vec![
            Condition::eq(step.status(), StepStatus::Sending.as_str()),
            lease.free(now),
        ]),
    ]);
    let [until, holder] = lease.take();
    // Paced before the claim, so a claim's lease is spent sending, not waiting.
    messaging.wait_for_rate().await;
    let claimed = match store
        .update(
            &key,
            &[
                Update::Set(step.status().into(), StepStatus::Sending.as_str().into()),
                until,
                holder,
            ],
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
                .update(
                    &key,
                    &updates,
                    Some(Condition::eq(step.status(), StepStatus::Sending.as_str())),
                )
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
        .or((step == Step::Remind && claimed.str("response").is_some()).then_some(SkipReason::Answered));
    let (Some(tenant), Some(survey), Some(person_item), None) = (tenant, survey, &person_item, reason) else {
        let reason = reason.unwrap_or(SkipReason::PersonDeleted);
        let holding = Condition::eq(step.status(), StepStatus::Sending.as_str());
        skip(&store, &claimed, step, reason, holding, person_item.as_ref(), now).await?;
        return Ok(Delivered::Done);
    };
    let person = Person::from_item(&store, person_item).await?;
    let recipient = store.crypto().open_str(&claimed, RECIPIENT).await?;
    let channel = Channel::parse(claimed.str("channel").unwrap_or_default())?;
    let Some(recipient) = recipient else {
        release(ending(step, StepStatus::Failed, "failure", "no recipient".into())).await?;
        invitations::renew_next(&store, &person.id).await;
        return Ok(Delivered::Done);
    };
    let base = ctx.settings.public_url.clone().ok_or(Error::Config {
        name: "OVATION_PUBLIC_URL",
        reason: "is required to send survey links".into(),
    })?;
    let language = crate::domain::Language::from_locale(claimed.str("language").unwrap_or("en"))
        .unwrap_or(survey.definition.default_language);
    // A text message carries the short link: the built-in SMS then fits one segment.
    let survey_link = match channel {
        Channel::Sms => {
            let expires = Invitation::from_item(&claimed)?.link_expires_at(&survey);
            let code = short_links::keep(&store, &delivery.survey, &delivery.invitation, expires).await?;
            format!("{base}/l/{code}")
        }
        _ => format!(
            "{base}/r/{}",
            link(&store, LinkKind::Invitation, &delivery.survey, &delivery.invitation).await?
        ),
    };
    let links = Links {
        survey: survey_link,
        unsubscribe: format!(
            "{base}/u/{}",
            link(&store, LinkKind::Unsubscribe, &delivery.survey, &person.id).await?
        ),
    };
    // Read before sending: what fails here sends nothing (a retry sends once).
    let others_due = match step {
        Step::Invite => invitations::next_due(&store, &person.id, Some(&delivery.invitation)).await?,
        Step::Remind => None,
    };
    let message = Message {
        survey: &survey,
        tenant: &tenant,
        properties: &person.properties,
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
            let sent = Sent {
                step,
                survey: &survey,
                channel,
                person: &person,
                message_id,
                now,
                others_due,
            };
            record_sent(&store, &claimed, &sent).await?;
            Ok(Delivered::Done)
        }
        Err(SendFailure::Throttled(why) | SendFailure::Unavailable(why)) => {
            tracing::warn!(invitation = %delivery.invitation, reason = %why, "send deferred");
            release(vec![Update::Set(
                step.status().into(),
                StepStatus::Queued.as_str().into(),
            )])
            .await?;
            Ok(Delivered::RetryAfter(backoff(receive_count)))
        }
        Err(SendFailure::Rejected(why)) => {
            tracing::warn!(invitation = %delivery.invitation, reason = %why, "send refused");
            release(ending(step, StepStatus::Failed, "failure", why)).await?;
            invitations::renew_next(&store, &person.id).await;
            Ok(Delivered::Done)
        }
    }
}

/// A refused claim: another attempt holds the step (try again once its lease ends, in case that
/// attempt died), or nothing is left to do (sent, skipped, canceled, deleted).
async fn claim_refused(store: &TenantStore, key: &Key, step: Step, now: i64) -> Result<Delivered> {
    match store.get(key).await? {
        Some(item) if item.str(step.status()) == Some(StepStatus::Sending.as_str()) => {
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
/// the survey has one), the person's `last_sent_at` and next survey, and the survey's sent count,
/// in one transaction. An answer that arrived while the message went out is counted as answered.
async fn record_sent(store: &TenantStore, claimed: &Item, sent: &Sent<'_>) -> Result<()> {
    let step = sent.step;
    match record_sent_as(store, claimed, sent).await {
        Err(Error::TransactionCanceled(_)) => {}
        other => return other,
    }
    // Answered meanwhile (or the person went): again with the invitation as it is now.
    if let Some(fresh) = store.get(&claimed.key).await?
        && fresh.str(step.status()) == Some(StepStatus::Sending.as_str())
    {
        match record_sent_as(store, &fresh, sent).await {
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
                    Update::Set(step.status().into(), StepStatus::Sent.as_str().into()),
                    Update::Remove(RECIPIENT.into()),
                ]
                .as_slice(),
                &remove_index(),
            ]
            .concat(),
            Some(Condition::eq(step.status(), StepStatus::Sending.as_str())),
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
    message_id: String,
    now: i64,
    /// When the person's other pending invitations are next due (read before sending, so that a
    /// failure to read it sends nothing).
    others_due: Option<i64>,
}

/// One attempt of `record_sent` with the invitation as `claimed` holds it: canceled when its
/// answer, its status or the person changed.
async fn record_sent_as(store: &TenantStore, claimed: &Item, sent: &Sent<'_>) -> Result<()> {
    let Sent {
        step,
        survey,
        channel,
        person,
        ref message_id,
        now,
        others_due,
    } = *sent;
    let person_id = person.id.as_str();
    let invitation = claimed.key.sk.trim_start_matches("INV#");
    let mut updates = vec![
        Update::Set(step.status().into(), StepStatus::Sent.as_str().into()),
        Update::Set(format!("{}_sent_at", step.as_str()), now.into()),
        Update::Set(format!("{}_message_id", step.as_str()), message_id.as_str().into()),
    ];
    let reminder = match (step, survey.definition.reminder_days, channel) {
        (Step::Invite, Some(days), Channel::Email) if claimed.str("response").is_none() => {
            Some(now + i64::from(days) * 86_400)
        }
        _ => None,
    };
    match reminder {
        Some(at) => {
            updates.push(Update::Set(
                "reminder_status".into(),
                StepStatus::Pending.as_str().into(),
            ));
            updates.push(Update::Set(NEXT.into(), Step::Remind.as_str().into()));
            updates.extend(index_at(at, store.tenant(), invitation, store.spread().await?));
        }
        None => {
            updates.push(Update::Remove(RECIPIENT.into()));
            updates.extend(remove_index());
        }
    }
    let answered = claimed.str("response").is_some();
    let mut condition = vec![Condition::eq(step.status(), StepStatus::Sending.as_str())];
    if !answered {
        condition.push(Condition::AttrNotExists("response".into()));
    }
    let mut ops = vec![TxOp::Update {
        key: claimed.key.clone(),
        updates,
        condition: Some(Condition::And(condition)),
    }];
    // An autopilot invitation's next one is scheduled in the same write (without it when the
    // person left autopilot meanwhile).
    let follow_up = match step {
        Step::Invite => autopilot::follow_up_ops(store, claimed, person, now).await?,
        Step::Remind => vec![],
    };
    // The person's next survey: the earliest of their other pending invitations, or of those
    // and the follow-up (written with it).
    let mut next = (None, None);
    if step == Step::Invite {
        let with_follow_up = scheduled_due(&follow_up).map(|due| others_due.map_or(due, |n| n.min(due)));
        next = (others_due, with_follow_up.or(others_due));
        ops.push(TxOp::Update {
            key: keys::person_pointer(store.tenant(), person_id, "INV", invitation)?,
            updates: vec![Update::Set("status".into(), StepStatus::Sent.as_str().into())],
            condition: Some(Condition::Exists),
        });
    }
    let person_write = |next: Option<i64>| -> Result<Vec<TxOp>> {
        if step != Step::Invite {
            return Ok(vec![]);
        }
        Ok(vec![TxOp::Update {
            key: keys::person(store.tenant(), person_id)?,
            updates: vec![
                Update::Set("last_sent_at".into(), now.into()),
                Update::Add("version".into(), 1),
                invitations::next_update(next),
            ],
            condition: Some(Condition::Exists),
        }])
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
        let all = [ops.clone(), person_write(next.1)?, follow_up].concat();
        match counters::transact(store, &survey.id, all, &tally).await {
            Err(Error::TransactionCanceled(_)) => {}
            other => return other,
        }
    }
    ops.extend(person_write(next.0)?);
    counters::transact(store, &survey.id, ops, &tally).await
}

/// When the invitation a follow-up schedules is due (its invitation's write among `ops`).
fn scheduled_due(ops: &[TxOp]) -> Option<i64> {
    ops.iter().find_map(|op| match op {
        TxOp::Put { item, .. } if item.key.sk.starts_with("INV#") => item.num("due_at"),
        _ => None,
    })
}
