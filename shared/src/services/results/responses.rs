//! Writing responses: an answer from an invitation's page (one response per invitation, changed
//! later) or the web link, Delighted's `POST` and `PUT /v1/survey_responses` (notes and tags),
//! and the erasure of personal fields when their person is deleted; each write moves its
//! survey's counters and emits its webhook event in its own transaction.

use std::collections::BTreeMap;

use crate::domain::survey::{Answer, MAX_COMMENT};
use crate::domain::{Channel, Properties, Score};
use crate::error::{Error, Result};
use crate::ids::{ResponseId, new_id};
use crate::services::Caller;
use crate::services::audit::{self, Target};
use crate::services::people::person::{self, Person};
use crate::services::results::counters::{self, Counted, Measure, Tally};
use crate::services::results::response_record::{self, MAX_NOTES, MAX_TAGS, NOTES, Note, ResponseRecord, load};
use crate::services::sending::invitations::{self, Invitation};
use crate::services::surveys::{self, Survey};
use crate::services::webhooks::events;
use crate::services::webhooks::events::EventType;
use crate::store::{Condition, Item, TenantStore, TxOp, keys, now_unix};

/// An answer from a respondent's page.
#[derive(Clone, Debug, Default)]
pub struct Answered {
    pub score: Option<Score>,
    pub comment: Option<String>,
    pub answers: BTreeMap<String, Answer>,
    /// Where it came from (nothing when the tenant's privacy settings keep none).
    pub provenance: Provenance,
    /// The properties a first answer keeps, when not its person's (a website visitor's).
    pub person_properties: Option<Properties>,
    /// Writes that commit with a first answer or not at all (a website showing marked answered).
    pub also: Vec<TxOp>,
}

/// Where an answer came from: kept only when the workspace keeps respondents' addresses.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Provenance {
    /// The address and browser (its first 300 characters) of a respondent of `tenant`, or
    /// nothing when it does not keep them.
    pub fn kept(
        tenant: &crate::domain::tenant::Tenant,
        ip: Option<std::net::IpAddr>,
        user_agent: Option<&str>,
    ) -> Provenance {
        if !tenant.settings.privacy.store_respondent_ip {
            return Provenance::default();
        }
        Provenance {
            ip: ip.map(|ip| ip.to_string()),
            user_agent: user_agent.map(|ua| ua.chars().take(300).collect()),
        }
    }
}

/// Records an answer to an invitation: the first makes its one response (with a transaction
/// that ties it to the invitation), later ones change that response. Two first answers at once
/// make one response: the loser changes the winner's.
pub async fn answer_invitation(
    store: &TenantStore,
    survey: &Survey,
    invitation: &Invitation,
    person: Option<&Person>,
    answered: Answered,
) -> Result<ResponseRecord> {
    let mut invitation = invitation.clone();
    for _ in 0..3 {
        if let Some(id) = &invitation.response {
            let mut record = load(store, id).await?.ok_or(Error::NotFound("response"))?;
            let before = counted_before(store, &record).await?;
            if let Some(score) = answered.score {
                record.score = score;
            }
            if answered.comment.is_some() {
                record.comment = answered.comment.clone();
            }
            record.answers.extend(answered.answers.clone());
            record.updated_at = now_unix();
            save(store, Some(survey), before, &mut record, None).await?;
            return Ok(record);
        }
        let score = answered
            .score
            .ok_or_else(|| Error::invalid("score", "choose a score from 0 to 10"))?;
        let now = now_unix();
        let mut record = ResponseRecord {
            id: new_id(),
            survey: survey.id.clone(),
            person: person.map(|p| p.id.clone()),
            invitation: Some(invitation.id.clone()),
            channel: invitation.channel,
            language: invitation.language,
            score,
            comment: answered.comment.clone(),
            answers: answered.answers.clone(),
            person_properties: answered
                .person_properties
                .clone()
                .or_else(|| person.map(|p| p.properties.clone()))
                .unwrap_or_default(),
            notes: vec![],
            tags: vec![],
            ip: answered.provenance.ip.clone(),
            user_agent: answered.provenance.user_agent.clone(),
            created_at: now,
            updated_at: now,
            anonymized_at: None,
            version: 0,
            counted: None,
        };
        let mut tally = Tally::moved(None, count_now(store, Some(survey), &mut record).await?.as_ref());
        let mut ops = vec![TxOp::Put {
            item: record.to_item(store).await?,
            condition: Some(Condition::NotExists),
        }];
        if invitation.is_web_answer() {
            ops.extend(invitations::web_ops(store, &invitation, &record.id)?);
        } else {
            ops.push(invitations::answer_op(store, &invitation, &record.id)?);
        }
        ops.extend(answered.also.iter().cloned());
        if let Some(person) = person {
            ops.extend(person_ops(store, &person.id, &record.id, now)?);
        }
        ops.extend(webhook_event(store, EventType::ResponseCreated, &record, Some(survey), person).await?);
        if let Some(sent_at) = invitation.sent_at {
            let answered = Counted::new(
                store,
                &survey.definition.segments,
                Measure::Answered,
                sent_at,
                invitation.channel,
                &record.person_properties,
            )
            .await?;
            tally = tally.and(Tally::moved(None, Some(&answered)));
        }
        match counters::transact(store, &survey.id, ops, &tally).await {
            Ok(()) => {
                record.version += 1;
                return Ok(record);
            }
            Err(Error::TransactionCanceled(_)) => {
                invitation = invitations::load(store, &invitation.survey, &invitation.id)
                    .await?
                    .ok_or(Error::NotFound("invitation"))?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::ConditionFailed)
}

/// The webhook event of a response write: the response as the write leaves it, with its person
/// (its permalink relative: the deliverer puts the public URL before it).
async fn webhook_event(
    store: &TenantStore,
    kind: EventType,
    record: &ResponseRecord,
    survey: Option<&Survey>,
    person: Option<&Person>,
) -> Result<Option<TxOp>> {
    events::emit(store, kind, &record.id, record.person.as_deref(), async || {
        let loaded = match (person, &record.person) {
            (None, Some(id)) => person::load(store, id).await?,
            _ => None,
        };
        serde_json::to_value(record.view("", survey, person.or(loaded.as_ref()).map(Person::view)))
            .map_err(Error::internal)
    })
    .await
}

/// The person's pointer to a new response and their `last_responded_at`.
fn person_ops(store: &TenantStore, person: &str, response: &str, now: i64) -> Result<Vec<TxOp>> {
    Ok(vec![
        TxOp::Put {
            item: Item::new(keys::person_pointer(store.tenant(), person, "R", response)?),
            condition: None,
        },
        person::responded_op(store, person, now)?,
    ])
}

/// What a response was counted as when last written (none: not counted).
async fn counted_before(store: &TenantStore, record: &ResponseRecord) -> Result<Option<Counted>> {
    let Some(segments) = &record.counted else {
        return Ok(None);
    };
    let measure = Measure::of_score(record.score);
    Counted::new(
        store,
        segments,
        measure,
        record.created_at,
        record.channel,
        &record.person_properties,
    )
    .await
    .map(Some)
}

/// What a response counts as now, under its survey's current segment properties (which it
/// records); nothing once the survey is gone.
async fn count_now(
    store: &TenantStore,
    survey: Option<&Survey>,
    record: &mut ResponseRecord,
) -> Result<Option<Counted>> {
    record.counted = survey.map(|s| s.definition.segments.clone());
    counted_before(store, record).await
}

/// Writes a changed response with the counters it moves from `before`, refusing (409) when it
/// changed since it was read.
/// `event`: the audit event that commits with it (a change by a user or key).
async fn save(
    store: &TenantStore,
    survey: Option<&Survey>,
    before: Option<Counted>,
    record: &mut ResponseRecord,
    event: Option<TxOp>,
) -> Result<()> {
    let tally = Tally::moved(before.as_ref(), count_now(store, survey, record).await?.as_ref());
    let put = TxOp::Put {
        item: record.to_item(store).await?,
        condition: Some(Condition::eq("version", record.version)),
    };
    let mut ops = vec![put];
    ops.extend(webhook_event(store, EventType::ResponseUpdated, record, survey, None).await?);
    ops.extend(event);
    match counters::transact(store, &record.survey, ops, &tally).await {
        Ok(()) => {
            record.version += 1;
            Ok(())
        }
        Err(Error::TransactionCanceled(_)) => Err(Error::ConditionFailed),
        Err(e) => Err(e),
    }
}

/// A response made through the API (Delighted's `POST /v1/survey_responses`).
#[derive(Clone, Debug)]
pub struct NewResponse {
    pub person: String,
    pub score: Score,
    pub comment: Option<String>,
    pub person_properties: Option<Properties>,
    pub created_at: Option<i64>,
    pub survey: Option<String>,
}

pub async fn create(store: &TenantStore, caller: &Caller, new: NewResponse) -> Result<ResponseRecord> {
    let person = person::load(store, &new.person)
        .await?
        .ok_or_else(|| Error::invalid("person", "names no person of this account"))?;
    let survey = surveys::resolve_visible(store, caller, new.survey.as_deref()).await?;
    let now = now_unix();
    let created_at = match new.created_at {
        Some(t) if t < 0 || t > now + 300 => {
            return Err(Error::invalid("created_at", "must be a Unix time, not in the future"));
        }
        Some(t) => t,
        None => now,
    };
    let id = ulid::Ulid::from_parts((created_at as u64) * 1000, rand_bits()?).to_string();
    let mut record = ResponseRecord {
        id,
        survey: survey.id.clone(),
        person: Some(person.id.clone()),
        invitation: None,
        channel: Channel::Api,
        language: survey.definition.language_for(person.properties.get("locale")),
        score: new.score,
        comment: new.comment,
        answers: BTreeMap::new(),
        person_properties: new.person_properties.unwrap_or_else(|| person.properties.clone()),
        notes: vec![],
        tags: vec![],
        ip: None,
        user_agent: None,
        created_at,
        updated_at: now,
        anonymized_at: None,
        version: 0,
        counted: None,
    };
    let tally = Tally::moved(None, count_now(store, Some(&survey), &mut record).await?.as_ref());
    let mut ops = vec![TxOp::Put {
        item: record.to_item(store).await?,
        condition: Some(Condition::NotExists),
    }];
    ops.extend(person_ops(store, &person.id, &record.id, now)?);
    ops.extend(webhook_event(store, EventType::ResponseCreated, &record, Some(&survey), Some(&person)).await?);
    ops.push(audit::entry(store, caller, "response.created", Target::Response(record.id.clone())).await?);
    counters::transact(store, &survey.id, ops, &tally).await?;
    record.version += 1;
    Ok(record)
}

fn rand_bits() -> Result<u128> {
    let mut bytes = [0u8; 16];
    crate::crypto::fill_random(&mut bytes)?;
    Ok(u128::from_be_bytes(bytes) >> 48)
}

/// A change through the API (Delighted's `PUT /v1/survey_responses/{id}`).
#[derive(Clone, Debug, Default)]
pub struct ResponseChange {
    pub score: Option<Score>,
    pub comment: Option<Option<String>>,
    pub person_properties: Option<Properties>,
    /// The notes wanted: kept ones by id, new ones by text.
    pub notes: Option<Vec<(Option<String>, String)>>,
    pub tags: Option<Vec<String>>,
}

pub async fn update(
    store: &TenantStore,
    caller: &Caller,
    id: &ResponseId,
    change: ResponseChange,
) -> Result<ResponseRecord> {
    let (mut record, survey) = response_record::visible(store, caller, id.as_str()).await?;
    if record.anonymized_at.is_some() {
        let personal = [
            ("comment", matches!(change.comment, Some(Some(_)))),
            ("person_properties", change.person_properties.is_some()),
            ("notes", change.notes.as_ref().is_some_and(|n| !n.is_empty())),
        ];
        if let Some((field, _)) = personal.iter().find(|(_, given)| *given) {
            return Err(Error::invalid(
                *field,
                "cannot be given to a response anonymised by the workspace's retention period",
            ));
        }
    }
    let survey = Some(survey);
    let before = counted_before(store, &record).await?;
    let now = now_unix();
    if let Some(score) = change.score {
        record.score = score;
    }
    if let Some(comment) = change.comment {
        record.comment = comment;
    }
    if let Some(props) = change.person_properties {
        record.person_properties = props;
    }
    if let Some(tags) = change.tags {
        record.tags = tags_checked(tags)?;
    }
    if let Some(notes) = change.notes {
        if notes.len() > MAX_NOTES {
            return Err(Error::invalid(NOTES, format!("at most {MAX_NOTES} notes")));
        }
        let author = format!("{}:{}", caller.principal.actor.kind(), caller.principal.actor.id());
        let mut next = Vec::with_capacity(notes.len());
        for (id, text) in notes {
            let text = text.trim();
            if text.is_empty() || text.chars().count() > MAX_COMMENT {
                return Err(Error::invalid(
                    NOTES,
                    format!("a note is 1 to {MAX_COMMENT} characters"),
                ));
            }
            match id.and_then(|id| record.notes.iter().find(|n| n.id == id)) {
                Some(kept) => next.push(Note {
                    text: text.to_owned(),
                    ..kept.clone()
                }),
                None => next.push(Note {
                    id: new_id(),
                    text: text.to_owned(),
                    author: author.clone(),
                    created_at: now,
                }),
            }
        }
        record.notes = next;
    }
    record.updated_at = now;
    let event = audit::entry(store, caller, "response.updated", Target::Response(record.id.clone())).await?;
    save(store, survey.as_ref(), before, &mut record, Some(event)).await?;
    Ok(record)
}

fn tags_checked(tags: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = crate::domain::label("tags", &tag)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(Error::invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

/// Deletes a response of a person being erased, as Delighted does: its score leaves the
/// counters and, when it answered a sent invitation, its answer leaves the response rate, in the
/// one transaction that deletes it. Run before the invitation goes; a retry finds it gone.
pub async fn delete(store: &TenantStore, id: &str) -> Result<()> {
    let key = keys::response(store.tenant(), id)?;
    for _ in 0..3 {
        let Some(record) = load(store, id).await? else {
            return Ok(());
        };
        let mut tally = Tally::moved(counted_before(store, &record).await?.as_ref(), None);
        if let (Some(invitation), Some(segments)) = (&record.invitation, &record.counted)
            && let Some(invitation) = invitations::load(store, &record.survey, invitation).await?
            && let Some(sent_at) = invitation.sent_at
        {
            let answered = Counted::new(
                store,
                segments,
                Measure::Answered,
                sent_at,
                invitation.channel,
                &record.person_properties,
            )
            .await?;
            tally = tally.and(Tally::moved(Some(&answered), None));
        }
        let delete = TxOp::Delete {
            key: key.clone(),
            condition: Some(Condition::eq("version", record.version)),
        };
        match counters::transact(store, &record.survey, vec![delete], &tally).await {
            Err(Error::TransactionCanceled(_)) => continue,
            other => return other,
        }
    }
    Err(Error::ConditionFailed)
}
