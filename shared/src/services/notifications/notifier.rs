//! The notifier, run by the scheduler: for each workspace on its list, the answers recorded since
//! it last looked (and settled: a comment typed on the thank-you page belongs to its answer) make
//! one queued mail per user and survey, at most one per `Pace::batch`; on Mondays from 08:00 UTC,
//! each digest of the week before. The workspace's `NOTIFIER` item claims a window with a
//! condition before anything is queued and moves past it after, so no window is queued by two
//! runs or lost by one that stops. Answers are found by the time they were recorded (their id):
//! one sent through the API with a `created_at` before the notifier's last look (a few minutes)
//! is history being loaded, and is not told.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::messaging::Queue;
use crate::services::accounts::tenants;
use crate::services::notifications::state::{CURSOR, DIGEST_WEEK, MAILED_AT, PENDING_UNTIL, digest_week};
use crate::services::notifications::subscriptions;
use crate::services::people::person::id_range;
use crate::store::{Condition, Query, TenantStore, Update, keys};

/// How answers are gathered into mails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Seconds an answer is left to settle (its comment, its further questions) before it is told.
    pub settle: i64,
    /// The least seconds between two mails about a workspace's answers: a burst makes one mail.
    pub batch: i64,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            settle: 120,
            batch: 300,
        }
    }
}

/// Answers read a page when finding which surveys were answered.
const PAGE: u32 = 1000;

/// A queued mail about a survey's answers to one user: those recorded in `[since, until)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswersMail {
    /// The tenant.
    pub notify: String,
    pub survey: String,
    pub user: String,
    pub since: i64,
    pub until: i64,
}

/// A queued weekly digest of a survey to one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestMail {
    /// The tenant.
    pub digest: String,
    pub survey: String,
    pub user: String,
    pub week: i64,
}

/// A message of the sending queue that is a staff notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StaffMail {
    Answers(AnswersMail),
    Digest(DigestMail),
}

impl StaffMail {
    /// The message, if `body` is one (a survey's delivery is not).
    pub fn parse(body: &str) -> Option<StaffMail> {
        serde_json::from_str(body).ok()
    }
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifierReport {
    pub workspaces: usize,
    pub answer_mails: usize,
    pub digests: usize,
}

/// One run over every workspace on the list: the mails due are queued on `queue`.
pub async fn run_due(ctx: &Context, queue: &dyn Queue, now: i64, pace: Pace) -> Result<NotifierReport> {
    let mut report = NotifierReport::default();
    let listed = Query::new(keys::SYSTEM_PARTITION)
        .prefix(keys::NOTIFY_PREFIX)
        .limit(crate::store::MAX_QUERY_LIMIT);
    let mut after = None;
    loop {
        let page = ctx.store.query(&listed.clone().after(after)).await?;
        for entry in &page.items {
            let Ok(id) = entry.str("tenant").unwrap_or_default().parse::<TenantId>() else {
                continue;
            };
            if tenants::active(ctx, &id).await?.is_none() {
                // A deleted workspace's items go with its purge.
                ctx.store.delete(&entry.key, None).await?;
                continue;
            }
            match run_workspace(&ctx.tenant_store(&id), queue, now, pace).await {
                Ok((answers, digests)) => {
                    report.workspaces += 1;
                    report.answer_mails += answers;
                    report.digests += digests;
                }
                // One workspace's failure stops neither the others nor its next run.
                Err(e) => tracing::error!(tenant = %id, error = %e, "notifications failed for a workspace"),
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(report),
        }
    }
}

/// One workspace: the mails due. The window of answers is claimed first (`pending_until`, with
/// a condition, so two runs never queue it both), its messages queued, then the cursor moved
/// past it. A run that stops between finds the same window pending next time and queues it
/// again, so its mails keep their marks and go once.
async fn run_workspace(store: &TenantStore, queue: &dyn Queue, now: i64, pace: Pace) -> Result<(usize, usize)> {
    let key = keys::notifier_state(store.tenant());
    let Some(state) = store.get(&key).await? else {
        return Ok((0, 0));
    };
    let week = digest_week(now);
    let Some(cursor) = state.num(CURSOR) else {
        // A state without its cursor (restored by hand) starts again from now.
        let start = [Update::Set(CURSOR.into(), now.into())];
        store
            .update(&key, &start, Some(Condition::AttrNotExists(CURSOR.into())))
            .await?;
        return Ok((0, 0));
    };
    let mailed_at = state.num(MAILED_AT).unwrap_or(0);
    let done_week = state.num(DIGEST_WEEK).unwrap_or(week);
    let pending = state.num(PENDING_UNTIL);
    let until = pending.unwrap_or(now - pace.settle);
    let answers_due = pending.is_some() || (until > cursor && now >= mailed_at + pace.batch);
    if !answers_due && done_week >= week {
        return Ok((0, 0));
    }
    if answers_due && pending.is_none() {
        let claim = [Update::Set(PENDING_UNTIL.into(), until.into())];
        let unclaimed = Condition::And(vec![
            Condition::eq(CURSOR, cursor),
            Condition::AttrNotExists(PENDING_UNTIL.into()),
        ]);
        match store.update(&key, &claim, Some(unclaimed)).await {
            Ok(_) => {}
            // Another run took it: it queues it.
            Err(Error::ConditionFailed) => return Ok((0, 0)),
            Err(e) => return Err(e),
        }
    }
    let chosen = subscriptions::all(store).await?;
    let mut bodies = Vec::new();
    if answers_due {
        let wanted: BTreeSet<&str> = chosen
            .iter()
            .filter(|s| s.answers.is_some())
            .map(|s| s.survey.as_str())
            .collect();
        let answered = answered_surveys(store, cursor, until, &wanted).await?;
        for s in chosen
            .iter()
            .filter(|s| s.answers.is_some() && answered.contains(&s.survey))
        {
            bodies.push(StaffMail::Answers(AnswersMail {
                notify: store.tenant().to_string(),
                survey: s.survey.clone(),
                user: s.user.clone(),
                since: cursor,
                until,
            }));
        }
    }
    let answer_mails = bodies.len();
    if done_week < week {
        for s in chosen.iter().filter(|s| s.digest) {
            bodies.push(StaffMail::Digest(DigestMail {
                digest: store.tenant().to_string(),
                survey: s.survey.clone(),
                user: s.user.clone(),
                week,
            }));
        }
    }
    let texts: Vec<String> = bodies
        .iter()
        .map(serde_json::to_string)
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::internal)?;
    for chunk in texts.chunks(10) {
        // Left pending on failure: the next run queues the same window again.
        queue.send_batch(chunk).await?;
    }
    let mut done = vec![Update::Set(DIGEST_WEEK.into(), done_week.max(week).into())];
    if answers_due {
        done.push(Update::Set(CURSOR.into(), until.into()));
        done.push(Update::Remove(PENDING_UNTIL.into()));
        if answer_mails > 0 {
            done.push(Update::Set(MAILED_AT.into(), now.into()));
        }
    }
    match store.update(&key, &done, Some(Condition::eq(CURSOR, cursor))).await {
        // Another run finished the same window first (their mails' marks keep them once).
        Ok(_) | Err(Error::ConditionFailed) => Ok((answer_mails, texts.len() - answer_mails)),
        Err(e) => Err(e),
    }
}

/// Which of the `wanted` surveys have answers recorded in `[since, until)` (read by id, which
/// sorts by the time recorded; only the survey attribute is read).
async fn answered_surveys(
    store: &TenantStore,
    since: i64,
    until: i64,
    wanted: &BTreeSet<&str>,
) -> Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    let query = Query::new(keys::responses_partition(store.tenant()))
        .sort(id_range(Some(since), Some(until - 1)))
        .only(["survey".to_owned()])
        .limit(PAGE);
    let mut cursor: Option<String> = None;
    loop {
        let page = store.query(query.clone(), cursor.as_deref()).await?;
        for item in &page.items {
            if let Some(survey) = item.str("survey").filter(|s| wanted.contains(s)) {
                found.insert(survey.to_owned());
            }
        }
        if found.len() == wanted.len() {
            return Ok(found);
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(found),
        }
    }
}
