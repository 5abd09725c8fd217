//! Invitations: one person asked one survey on one channel. Scheduling stores the pending
//! invitation with its place in the shared due index (the sending job picks it up there) and a
//! pointer under the person (to cancel or erase it); the recipient is kept encrypted until sent.
//! The invitation's link names it, signed by the tenant; one response per invitation.

use crate::crypto::links::Link;
use crate::domain::{Channel, Language};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::services::Caller;
use crate::services::audit::{self, Outcome, Target};
use crate::services::people::person::{NEXT_SURVEY_AT, Person};
use crate::services::sending::status::StepStatus;
use crate::services::surveys::Survey;
use crate::store::{Condition, Item, Key, Query, TenantStore, TxOp, Update, keys, now_unix};

const RECIPIENT: &str = "recipient";

/// When an invitation's first step was sent.
pub const SENT_AT: &str = "invite_sent_at";
/// Why an invitation's first step was skipped (`steps::ending`'s `{step}_skip_reason`).
const SKIP_REASON: &str = "invite_skip_reason";

#[derive(Clone, Debug)]
pub struct Invitation {
    pub id: String,
    pub survey: String,
    pub person: Option<String>,
    pub channel: Channel,
    pub language: Language,
    pub status: String,
    pub due_at: i64,
    pub created_at: i64,
    /// The response to it, once answered.
    pub response: Option<String>,
    /// When it was sent (its first step), once sent.
    pub sent_at: Option<i64>,
    /// Why its first step was not sent (`status::SkipReason`'s name), when skipped.
    pub skip_reason: Option<String>,
}

impl Invitation {
    /// True for a web link's or website's invitation, made by its first answer (never sent).
    pub fn is_web_answer(&self) -> bool {
        self.status == StepStatus::Web.as_str()
    }

    pub fn key(&self, store: &TenantStore) -> Result<Key> {
        keys::invitation(store.tenant(), &self.survey, &self.id)
    }

    /// The token of this invitation's link (`/r/{token}`).
    pub async fn token(&self, store: &TenantStore) -> Result<String> {
        Link::invitation(store.tenant(), &self.survey, &self.id)
            .token(store.crypto())
            .await
    }

    pub fn from_item(item: &Item) -> Result<Invitation> {
        Ok(Invitation {
            id: item.key.sk.trim_start_matches("INV#").to_owned(),
            survey: item.str("survey").unwrap_or_default().to_owned(),
            person: item.str("person").map(str::to_owned),
            channel: Channel::parse(item.str("channel").unwrap_or_default())?,
            language: item
                .str("language")
                .and_then(Language::from_locale)
                .unwrap_or(Language::En),
            status: item.str("status").unwrap_or_default().to_owned(),
            due_at: item.num("due_at").unwrap_or_default(),
            created_at: item.num("created_at").unwrap_or_default(),
            response: item.str("response").map(str::to_owned),
            sent_at: item.num(SENT_AT),
            skip_reason: item.str(SKIP_REASON).map(str::to_owned),
        })
    }

    /// When its link stops taking answers.
    pub fn link_expires_at(&self, survey: &Survey) -> i64 {
        self.due_at.max(self.created_at) + i64::from(survey.definition.link_days) * 86_400
    }
}

/// The writes that schedule `person`'s invitation to `survey` at `due` (for the caller's
/// transaction, beside the person's own write).
pub async fn schedule_ops(
    store: &TenantStore,
    survey: &Survey,
    person: &Person,
    channel: Channel,
    due: i64,
) -> Result<(Invitation, Vec<TxOp>)> {
    let recipient = match channel {
        Channel::Email => person.email.as_ref().map(|e| e.as_str().to_owned()),
        Channel::Sms => person.phone.as_ref().map(|p| p.as_str().to_owned()),
        _ => None,
    }
    .ok_or_else(|| match channel {
        Channel::Sms => Error::invalid("phone_number", "is required to send by sms"),
        _ => Error::invalid("email", "is required to send by email"),
    })?;
    let invitation = Invitation {
        id: new_id(),
        survey: survey.id.clone(),
        person: Some(person.id.clone()),
        channel,
        language: survey.definition.language_for(person.properties.get("locale")),
        status: StepStatus::Pending.as_str().to_owned(),
        due_at: due,
        created_at: now_unix(),
        response: None,
        sent_at: None,
        skip_reason: None,
    };
    let key = invitation.key(store)?;
    let (ix_pk, ix_sk) = keys::due_index(due, store.tenant(), &invitation.id, store.spread().await?);
    let item = base_item(&invitation, key.clone())
        .with(
            RECIPIENT,
            store.crypto().encrypt_str(&key, RECIPIENT, &recipient).await?,
        )
        .with_index(ix_pk, ix_sk);
    let pointer = Item::new(keys::person_pointer(store.tenant(), &person.id, "INV", &invitation.id)?)
        .with("survey", survey.id.as_str())
        .with("status", StepStatus::Pending.as_str());
    let ops = vec![
        TxOp::Put {
            item,
            condition: Some(Condition::NotExists),
        },
        TxOp::Put {
            item: pointer,
            condition: Some(Condition::NotExists),
        },
    ];
    Ok((invitation, ops))
}

fn base_item(invitation: &Invitation, key: Key) -> Item {
    let mut item = Item::new(key)
        .with("survey", invitation.survey.as_str())
        .with("channel", invitation.channel.as_str())
        .with("language", invitation.language.code())
        .with("status", invitation.status.as_str())
        .with("due_at", invitation.due_at)
        .with("created_at", invitation.created_at);
    if let Some(person) = &invitation.person {
        item = item.with("person", person.as_str());
    }
    item
}

/// A web-link or website visitor's invitation: made when they answer, so that they can add a
/// comment later through its link like anyone invited; a website visitor known by email is
/// its `person`.
pub fn for_web_answer(survey: &Survey, language: Language, person: Option<&str>) -> Invitation {
    let now = now_unix();
    Invitation {
        id: new_id(),
        survey: survey.id.clone(),
        person: person.map(str::to_owned),
        channel: Channel::Web,
        language,
        status: StepStatus::Web.as_str().to_owned(),
        due_at: now,
        created_at: now,
        response: None,
        sent_at: None,
        skip_reason: None,
    }
}

/// The writes of a web answer's invitation (already answered by `response`), with its person's
/// pointer when it has one (so that erasing the person finds it).
pub fn web_ops(store: &TenantStore, invitation: &Invitation, response: &str) -> Result<Vec<TxOp>> {
    let mut ops = vec![TxOp::Put {
        item: base_item(invitation, invitation.key(store)?).with("response", response),
        condition: Some(Condition::NotExists),
    }];
    if let Some(person) = &invitation.person {
        let pointer = Item::new(keys::person_pointer(store.tenant(), person, "INV", &invitation.id)?)
            .with("survey", invitation.survey.as_str())
            .with("status", StepStatus::Web.as_str());
        ops.push(TxOp::Put {
            item: pointer,
            condition: Some(Condition::NotExists),
        });
    }
    Ok(ops)
}

/// A person's invitations (through their pointers), newest first.
pub async fn of_person(store: &TenantStore, person: &str) -> Result<Vec<Invitation>> {
    let pointers = keys::person_partition(store.tenant(), person)?;
    let mut out = Vec::new();
    for pointer in store.query_all(Query::new(pointers).prefix("INV#")).await? {
        let survey = pointer.str("survey").unwrap_or_default();
        if let Some(invitation) = load(store, survey, pointer.key.sk.trim_start_matches("INV#")).await? {
            out.push(invitation);
        }
    }
    out.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(out)
}

pub async fn load(store: &TenantStore, survey: &str, id: &str) -> Result<Option<Invitation>> {
    let key = keys::invitation(store.tenant(), survey, id)?;
    store.get(&key).await?.map(|i| Invitation::from_item(&i)).transpose()
}

/// The write that ties a first response to the invitation: it fails when another response got
/// there first (one response per invitation).
/// The write that ties an invitation to its response: conditional on no response yet and on the
/// send as it was read (a send recorded meanwhile changes what the answer counts).
pub fn answer_op(store: &TenantStore, invitation: &Invitation, response: &str) -> Result<TxOp> {
    let sent = match invitation.sent_at {
        Some(at) => Condition::eq(SENT_AT, at),
        None => Condition::AttrNotExists(SENT_AT.into()),
    };
    Ok(TxOp::Update {
        key: invitation.key(store)?,
        updates: vec![Update::Set("response".into(), response.into())],
        condition: Some(Condition::And(vec![
            Condition::Exists,
            Condition::AttrNotExists("response".into()),
            sent,
        ])),
    })
}

/// When `person`'s next survey is due: the earliest of their pending invitations but `leaving`
/// (one being sent, skipped or canceled), found through their pointers. A pointer still marked
/// pending whose invitation moved on (skipped) is marked as its invitation is, so that the next
/// look reads only what is pending.
pub async fn next_due(store: &TenantStore, person: &str, leaving: Option<&str>) -> Result<Option<i64>> {
    let partition = keys::person_partition(store.tenant(), person)?;
    let pointers = store
        .query_all(crate::store::Query::new(partition).prefix("INV#"))
        .await?;
    let mut next: Option<i64> = None;
    for pointer in pointers
        .iter()
        .filter(|p| p.str("status") == Some(StepStatus::Pending.as_str()))
    {
        let id = pointer.key.sk.trim_start_matches("INV#");
        if Some(id) == leaving {
            continue;
        }
        let Some(invitation) = load(store, pointer.str("survey").unwrap_or_default(), id).await? else {
            continue;
        };
        if invitation.status == StepStatus::Pending.as_str() {
            next = Some(next.map_or(invitation.due_at, |n| n.min(invitation.due_at)));
        } else {
            let moved = Update::Set("status".into(), invitation.status.as_str().into());
            match store.update(&pointer.key, &[moved], Some(Condition::Exists)).await {
                Ok(_) | Err(Error::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(next)
}

/// The change of a person's next survey (`next_survey_scheduled_at`) to `next`.
pub fn next_update(next: Option<i64>) -> Update {
    match next {
        Some(at) => Update::Set(NEXT_SURVEY_AT.into(), at.into()),
        None => Update::Remove(NEXT_SURVEY_AT.into()),
    }
}

/// Records `person`'s next survey after one of their invitations stopped being pending (a plain
/// write after the one that ended it). Best effort: a failure is logged, and the person's next
/// send, skip or cancel renews it; nothing is written for a person deleted meanwhile.
pub async fn renew_next(store: &TenantStore, person: &str) {
    let renewed = async {
        let next = next_due(store, person, None).await?;
        let key = keys::person(store.tenant(), person)?;
        // The version moves, so that an update of the person read before this one retries.
        let updates = [next_update(next), Update::Add("version".into(), 1)];
        store.update(&key, &updates, Some(Condition::Exists)).await
    };
    match renewed.await {
        Ok(_) | Err(Error::ConditionFailed) => {}
        Err(e) => tracing::warn!(error = %e, "a person's next survey was not renewed"),
    }
}

/// Cancels one of a person's invitations if it is still pending; false when it was not (sent,
/// skipped or canceled meanwhile).
pub async fn cancel_one(store: &TenantStore, survey: &str, id: &str, person: &str) -> Result<bool> {
    let cancel = TxOp::Update {
        key: keys::invitation(store.tenant(), survey, id)?,
        updates: vec![
            Update::Set("status".into(), StepStatus::Canceled.as_str().into()),
            Update::Remove(crate::store::attr::GSI1PK.into()),
            Update::Remove(crate::store::attr::GSI1SK.into()),
            Update::Remove(RECIPIENT.into()),
        ],
        condition: Some(Condition::eq("status", StepStatus::Pending.as_str())),
    };
    let mark = TxOp::Update {
        key: keys::person_pointer(store.tenant(), person, "INV", id)?,
        updates: vec![Update::Set("status".into(), StepStatus::Canceled.as_str().into())],
        condition: None,
    };
    match store.transact(vec![cancel, mark]).await {
        Ok(()) => Ok(true),
        Err(Error::TransactionCanceled(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Cancels a person's pending invitations of the surveys `caller` sees (audited when there were
/// any); returns how many.
pub async fn cancel_pending(store: &TenantStore, caller: &Caller, person: &str) -> Result<usize> {
    let partition = keys::person_partition(store.tenant(), person)?;
    let pointers = store
        .query_all(crate::store::Query::new(partition).prefix("INV#"))
        .await?;
    let visible = crate::services::surveys::visible_ids(store, caller).await?;
    let seen = |p: &&Item| {
        visible
            .as_ref()
            .is_none_or(|v| p.str("survey").is_some_and(|s| v.contains(s)))
    };
    let mut canceled = 0;
    for pointer in pointers
        .iter()
        .filter(|p| p.str("status") == Some(StepStatus::Pending.as_str()))
        .filter(seen)
    {
        let id = pointer.key.sk.trim_start_matches("INV#");
        if cancel_one(store, pointer.str("survey").unwrap_or_default(), id, person).await? {
            canceled += 1;
        }
    }
    if canceled > 0 {
        let target = Target::Person(person.to_owned());
        audit::record(store, caller, "survey_requests.canceled", target, Outcome::Success).await?;
        renew_next(store, person).await;
    }
    Ok(canceled)
}
