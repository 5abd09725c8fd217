//! What each user is mailed about, per survey: every new answer, detractors only or answers with
//! a comment, and the weekly digest. A user chooses for themselves (a signed-in session); owners
//! and admins see who receives what; a mail's one-click link stops what it was sent for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context::Context;
use crate::crypto::links::{Link, LinkKind};
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::services::Caller;
use crate::services::audit::{self, Target};
use crate::services::results::response_record::ResponseRecord;
use crate::services::surveys;
use crate::store::{
    BatchOp, Condition, Item, Key, MAX_TRANSACTION_ITEMS, Query, TenantStore, TxOp, Update, keys, now_unix,
};

/// Which of a survey's answers a user is mailed about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Answers {
    Every,
    Detractors,
    Comments,
}

impl Answers {
    pub const ALL: [Answers; 3] = [Answers::Every, Answers::Detractors, Answers::Comments];

    pub fn as_str(self) -> &'static str {
        match self {
            Answers::Every => "every",
            Answers::Detractors => "detractors",
            Answers::Comments => "comments",
        }
    }

    /// A choice as a form names it; blank or `none` is no mail.
    pub fn parse(text: &str) -> Result<Option<Answers>> {
        match text.trim() {
            "" | "none" => Ok(None),
            other => Answers::ALL
                .into_iter()
                .find(|a| a.as_str() == other)
                .map(Some)
                .ok_or_else(|| Error::invalid("answers", "choose none, every, detractors or comments")),
        }
    }

    /// What the choice means, as pages and mails say it.
    pub fn describe(self) -> &'static str {
        match self {
            Answers::Every => "every new answer",
            Answers::Detractors => "detractors (0 to 6)",
            Answers::Comments => "answers with a comment",
        }
    }

    /// Whether `response` is one this choice mails about.
    pub fn admits(self, response: &ResponseRecord) -> bool {
        match self {
            Answers::Every => true,
            Answers::Detractors => response.score.value() <= 6,
            Answers::Comments => response.comment.as_deref().is_some_and(|c| !c.trim().is_empty()),
        }
    }
}

/// One user's choice for one survey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Subscription {
    #[serde(rename = "survey_id")]
    pub survey: String,
    #[serde(rename = "user_id")]
    pub user: String,
    /// Which answers are mailed; none for the digest only.
    pub answers: Option<Answers>,
    /// The Monday digest.
    pub digest: bool,
}

impl Subscription {
    fn from_item(item: &Item) -> Option<Subscription> {
        let (survey, user) = item.key.sk.split_once('#')?;
        Some(Subscription {
            survey: survey.to_owned(),
            user: user.to_owned(),
            answers: Answers::parse(item.str("answers").unwrap_or_default()).ok().flatten(),
            digest: item.get("digest") == Some(&crate::store::Value::Bool(true)),
        })
    }
}

fn key(tenant: &TenantId, survey: &str, user: &str) -> Result<Key> {
    Ok(Key::new(
        keys::notifications_partition(tenant),
        keys::sort_key(&[survey, user])?,
    ))
}

/// Every choice in the workspace (users × surveys with something chosen), by survey.
pub async fn all(store: &TenantStore) -> Result<Vec<Subscription>> {
    let items = store
        .query_all(Query::new(keys::notifications_partition(store.tenant())))
        .await?;
    Ok(items.iter().filter_map(Subscription::from_item).collect())
}

/// One user's choice for one survey, if they made one.
pub async fn get(store: &TenantStore, survey: &str, user: &str) -> Result<Option<Subscription>> {
    let Ok(key) = key(store.tenant(), survey, user) else {
        return Ok(None);
    };
    Ok(store.get(&key).await?.as_ref().and_then(Subscription::from_item))
}

/// The caller's own choices, by survey id, for the surveys they see.
pub async fn mine(store: &TenantStore, caller: &Caller) -> Result<BTreeMap<String, Subscription>> {
    let user = user_of(caller)?;
    let visible = surveys::visible_ids(store, caller).await?;
    Ok(all(store)
        .await?
        .into_iter()
        .filter(|s| s.user == user)
        .filter(|s| visible.as_ref().is_none_or(|v| v.contains(&s.survey)))
        .map(|s| (s.survey.clone(), s))
        .collect())
}

/// Notifications are a user's own (an API key or client has no mailbox), and read answers: a
/// session that still owes its password change or second factor has none yet.
fn user_of(caller: &Caller) -> Result<&str> {
    if caller.principal.restriction.is_some() {
        return Err(Error::Forbidden {
            code: "session_restricted",
            reason: "finish signing in (a new password, a second factor) first",
        });
    }
    match &caller.principal.actor {
        crate::auth::Actor::User { id, .. } => Ok(id),
        _ => Err(Error::Forbidden {
            code: "user_only",
            reason: "notifications are chosen by a signed-in user for themselves",
        }),
    }
}

/// A user's choice for a survey, as a form or `PUT /v1/me/notifications` gives it: no
/// `answers` and no `digest` is no mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    #[serde(rename = "survey_id")]
    pub survey: String,
    #[serde(default)]
    pub answers: Option<Answers>,
    #[serde(default)]
    pub digest: bool,
}

/// The most choices one request makes.
pub const MAX_CHOICES: usize = 500;

/// Saves the caller's choices for the surveys named (others stay as they were): a survey that
/// is not the workspace's, or that they do not see, is refused. The workspace's first choice puts it on the notifier's
/// list from then on (answers from before are never mailed); a later one takes the answers the
/// notifier has not looked at yet (a few minutes' worth).
pub async fn choose(ctx: &Context, store: &TenantStore, caller: &Caller, choices: &[Choice]) -> Result<()> {
    let user = user_of(caller)?.to_owned();
    if choices.len() > MAX_CHOICES {
        return Err(Error::invalid("choices", format!("at most {MAX_CHOICES} at once")));
    }
    let mine = mine(store, caller).await?;
    // A survey named twice: its last choice holds.
    let last: BTreeMap<&str, &Choice> = choices.iter().map(|c| (c.survey.as_str(), c)).collect();
    let mut ops = Vec::new();
    for choice in last.into_values() {
        match surveys::visible(store, caller, &choice.survey).await {
            Err(Error::NotFound(_)) => return Err(Error::invalid("survey", "is not one of this workspace's surveys")),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let before = mine.get(&choice.survey);
        let same = before.is_some_and(|b| b.answers == choice.answers && b.digest == choice.digest)
            || (before.is_none() && choice.answers.is_none() && !choice.digest);
        if same {
            continue;
        }
        let key = key(store.tenant(), &choice.survey, &user)?;
        ops.push(match (choice.answers, choice.digest) {
            (None, false) => TxOp::Delete { key, condition: None },
            (answers, digest) => {
                let mut item = Item::new(key).with("digest", digest).with("updated_at", now_unix());
                if let Some(answers) = answers {
                    item = item.with("answers", answers.as_str());
                }
                TxOp::Put { item, condition: None }
            }
        });
    }
    if ops.is_empty() {
        return Ok(());
    }
    if choices.iter().any(|c| c.answers.is_some() || c.digest) {
        crate::services::notifications::state::register(ctx, store).await?;
    }
    // Transactions of the most a transaction takes, the event in the last.
    let mut chunks: Vec<Vec<TxOp>> = ops.chunks(MAX_TRANSACTION_ITEMS - 1).map(<[TxOp]>::to_vec).collect();
    let last = chunks.pop().unwrap_or_default();
    for chunk in chunks {
        store.transact(chunk).await?;
    }
    audit::commit(store, caller, last, "notifications.changed", Target::User(user)).await
}

/// The link that stops what a mail was sent for: a survey's answer mails or its digest.
pub async fn stop_link(store: &TenantStore, kind: LinkKind, survey: &str, user: &str) -> Result<String> {
    Link {
        kind,
        tenant: store.tenant().clone(),
        survey: survey.to_owned(),
        subject: user.to_owned(),
    }
    .token(store.crypto())
    .await
}

/// What a stop link stops, once it is followed: the answers' mails, or the digest, of one user
/// and survey (a link followed twice changes nothing more).
pub async fn stop(store: &TenantStore, link: &Link) -> Result<()> {
    let key = key(store.tenant(), &link.survey, &link.subject)?;
    let update = match link.kind {
        LinkKind::StopAnswers => Update::Remove("answers".into()),
        LinkKind::StopDigest => Update::Set("digest".into(), false.into()),
        _ => return Err(Error::invalid("link", "is not a link that stops a notification")),
    };
    let actor = audit::Actor {
        kind: "user",
        id: &link.subject,
        role: None,
    };
    let target = Target::Survey(link.survey.clone());
    let event = audit::entry_as(store, actor, None, "notifications.stopped", target).await?;
    let change = TxOp::Update {
        key,
        updates: vec![update],
        condition: Some(Condition::Exists),
    };
    // Nothing to stop (followed before, or the choice is gone): nothing changes.
    match store.transact(vec![change, event]).await {
        Ok(()) | Err(Error::TransactionCanceled(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Forgets a deleted user's choices.
pub async fn forget_user(store: &TenantStore, user: &str) -> Result<()> {
    let ops: Vec<BatchOp> = all(store)
        .await?
        .into_iter()
        .filter(|s| s.user == user)
        .filter_map(|s| key(store.tenant(), &s.survey, &s.user).ok().map(BatchOp::Delete))
        .collect();
    if ops.is_empty() {
        return Ok(());
    }
    store.batch_write(ops).await
}
