//! An invitation's steps (the invite and its reminder) and the moves between their states.
//!
//! An invitation's index entry always names its next action: at `due_at` while pending; while
//! queued or being sent, at the time it counts as lost (the scheduler enqueues it again, at most
//! `MAX_ENQUEUES` times); once sent with a reminder, at the reminder's time. Every move between
//! states is a conditional write, so overlapping scheduler runs enqueue an invitation once and a
//! redelivered message sends nothing twice.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::domain::tenant::Tenant;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::services::accounts::tenants;
use crate::services::people::person::Person;
use crate::services::sending::status::{SkipReason, StepStatus};
use crate::services::sending::{autopilot, invitations};
use crate::services::surveys::{self, Survey};
use crate::store::{Condition, Item, TenantStore, TxOp, Update, attr, keys};

/// Seconds after which a queued invitation not yet sent counts as lost and is enqueued again.
pub const REQUEUE_AFTER: i64 = 15 * 60;
/// Seconds a deliverer's claim holds a step: longer than one attempt (the deliverer's Lambda
/// times out after 50 s), so a claim outliving it belongs to an attempt that died.
pub const LEASE_SECONDS: i64 = 60;
/// Enqueues of one step before it is given up as failed (poison messages land in the DLQ).
pub const MAX_ENQUEUES: i64 = 3;
/// The two things an invitation sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Invite,
    Remind,
}

impl Step {
    /// The attribute holding this step's status.
    pub(super) fn status(self) -> &'static str {
        match self {
            Step::Invite => "status",
            Step::Remind => "reminder_status",
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Step::Invite => "invite",
            Step::Remind => "remind",
        }
    }

    /// The step an invitation's `next` names (an invitation without one is at its invite); an
    /// unknown name is refused, never read as the invite.
    pub(super) fn parse(next: Option<&str>) -> Result<Step> {
        match next {
            None | Some("invite") => Ok(Step::Invite),
            Some("remind") => Ok(Step::Remind),
            Some(other) => Err(Error::internal(format!("a stored step `{other}` is no step"))),
        }
    }
}

pub(super) const RECIPIENT: &str = "recipient";
pub(super) const NEXT: &str = "next";

/// The body of a deliverer's queue message: ids only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub tenant: String,
    pub survey: String,
    pub invitation: String,
    pub step: Step,
}

/// Why nothing may be sent to this person now: the tenant, survey or person is gone or closed,
/// or the person unsubscribed or bounced.
pub(super) fn suppression(
    tenant: Option<&Tenant>,
    survey: Option<&Survey>,
    person: Option<&Item>,
    now: i64,
) -> Option<SkipReason> {
    if tenant.is_none() {
        return Some(SkipReason::TenantDeleted);
    }
    let Some(survey) = survey else {
        return Some(SkipReason::SurveyDeleted);
    };
    if !survey.definition.is_open(now) {
        return Some(SkipReason::SurveyClosed);
    }
    let Some(person) = person else {
        return Some(SkipReason::PersonDeleted);
    };
    if person.num("unsubscribed_at").is_some() {
        return Some(SkipReason::Unsubscribed);
    }
    if person.num("bounced_at").is_some() {
        return Some(SkipReason::Bounced);
    }
    None
}

/// Why a due step does not go: a suppression, then the re-survey throttle (first sends) or an
/// answer already given (reminders).
pub(super) fn skip_reason(
    step: Step,
    item: &Item,
    tenant: Option<&Tenant>,
    survey: Option<&Survey>,
    person: Option<&Item>,
    now: i64,
) -> Option<SkipReason> {
    if let Some(reason) = suppression(tenant, survey, person, now) {
        return Some(reason);
    }
    match (step, survey, person) {
        (Step::Invite, Some(survey), Some(person)) => {
            let window = i64::from(survey.definition.throttle_days) * 86_400;
            let recent = person
                .num("last_sent_at")
                .is_some_and(|at| window > 0 && at > now - window);
            recent.then_some(SkipReason::Throttled)
        }
        _ => item.str("response").is_some().then_some(SkipReason::Answered),
    }
}

/// The condition that an invitation is still as a reader of the due index saw it: the step's
/// status and the index entry unchanged.
pub(super) fn seen_as(item: &Item, step: Step, status: &str) -> Condition {
    Condition::And(vec![
        Condition::eq(step.status(), status),
        Condition::eq(attr::GSI1SK, item.str(attr::GSI1SK).unwrap_or_default()),
    ])
}

/// The index entry of an invitation's next action at `at`.
pub(super) fn index_at(at: i64, tenant: &TenantId, invitation: &str, spread: keys::Spread) -> Vec<Update> {
    let (pk, sk) = keys::due_index(at, tenant, invitation, spread);
    vec![
        Update::Set(attr::GSI1PK.into(), pk.into()),
        Update::Set(attr::GSI1SK.into(), sk.into()),
    ]
}

pub(super) fn remove_index() -> Vec<Update> {
    vec![Update::Remove(attr::GSI1PK.into()), Update::Remove(attr::GSI1SK.into())]
}

/// The changes that end a step (skipped, failed): its status, why (`{step}_{field}`), and
/// nothing left to act on: no recipient, no index entry.
pub(super) fn ending(step: Step, status: StepStatus, field: &str, reason: String) -> Vec<Update> {
    let mut updates = vec![
        Update::Set(step.status().into(), status.as_str().into()),
        Update::Set(format!("{}_{field}", step.as_str()), reason.into()),
        Update::Remove(RECIPIENT.into()),
    ];
    updates.extend(remove_index());
    updates
}

/// Ends a step as skipped under `condition` (false when it no longer holds); an autopilot
/// invitation's next one is scheduled in the same write.
pub(super) async fn skip(
    store: &TenantStore,
    item: &Item,
    step: Step,
    reason: SkipReason,
    condition: Condition,
    person: Option<&Item>,
    now: i64,
) -> Result<bool> {
    let updates = ending(step, StepStatus::Skipped, "skip_reason", reason.as_str().to_owned());
    let follow_up = match (step, person) {
        (Step::Invite, Some(person)) if item.str(autopilot::AUTOPILOT).is_some() => {
            let person = Person::from_item(store, person).await?;
            autopilot::follow_up_ops(store, item, &person, now).await?
        }
        _ => vec![],
    };
    // A plain conditional write for the usual skip (a transaction costs DynamoDB twice).
    let skipped = if follow_up.is_empty() {
        match store.update(&item.key, &updates, Some(condition)).await {
            Ok(_) => true,
            Err(Error::ConditionFailed) => false,
            Err(e) => return Err(e),
        }
    } else {
        let mut ops = vec![TxOp::Update {
            key: item.key.clone(),
            updates,
            condition: Some(condition),
        }];
        ops.extend(follow_up);
        match store.transact(ops).await {
            Ok(()) => true,
            // Moved on meanwhile, or the person left autopilot (the next run skips it alone).
            Err(Error::TransactionCanceled(_)) => false,
            Err(e) => return Err(e),
        }
    };
    // The person's next survey is another one now (or none).
    if let (true, Step::Invite, Some(person)) = (skipped, step, person) {
        invitations::renew_next(store, &person.key.sk).await;
    }
    Ok(skipped)
}

/// Tenants and surveys as read once per scheduler run or deliverer batch.
#[derive(Default)]
pub struct Lookups {
    tenants: tokio::sync::Mutex<HashMap<TenantId, Option<Arc<Tenant>>>>,
    surveys: tokio::sync::Mutex<HashMap<(TenantId, String), Option<Survey>>>,
}

impl Lookups {
    pub(super) async fn tenant(&self, ctx: &Context, id: &TenantId) -> Result<Option<Arc<Tenant>>> {
        if let Some(t) = self.tenants.lock().await.get(id) {
            return Ok(t.clone());
        }
        let tenant = tenants::active(ctx, id).await?;
        self.tenants.lock().await.insert(id.clone(), tenant.clone());
        Ok(tenant)
    }

    pub(super) async fn survey(&self, store: &TenantStore, id: &str) -> Result<Option<Survey>> {
        let key = (store.tenant().clone(), id.to_owned());
        if let Some(s) = self.surveys.lock().await.get(&key) {
            return Ok(s.clone());
        }
        let survey = surveys::get(store, id).await?;
        self.surveys.lock().await.insert(key, survey.clone());
        Ok(survey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_step_is_read_back_or_refused() {
        assert_eq!(Step::parse(None).unwrap(), Step::Invite, "no next step: the invite");
        for step in [Step::Invite, Step::Remind] {
            assert_eq!(Step::parse(Some(step.as_str())).unwrap(), step);
        }
        assert!(Step::parse(Some("reminder")).is_err(), "never read as the invite");
    }
}
