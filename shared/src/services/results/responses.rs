//! Survey responses, as Delighted's survey_responses API has them: recorded from an invitation's
//! page (one per invitation, changed later), from the web link, or through the API; listed by
//! creation or by last change with Delighted's filters; notes and tags; erased of personal
//! fields when their person is deleted. Comments, answers, properties, notes and the respondent's
//! address are encrypted; the score is not (results are made from it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::survey::{Answer, MAX_COMMENT, QuestionKind};
use crate::domain::{Channel, Language, Properties, Score};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::services::Caller;
use crate::services::audit::{self, Outcome, Target};
use crate::services::people::person::{self, Person, id_range};
use crate::services::results::counters::{self, Counted, Measure, Tally};
use crate::services::sending::invitations::{self, Invitation};
use crate::services::surveys::{self, Survey};
use crate::services::webhooks::events;
use crate::services::webhooks::events::EventType;
use crate::store::{Condition, Item, Query, SortKey, TenantStore, TxOp, Update, keys, now_unix};

const COMMENT: &str = "comment";
const ANSWERS: &str = "answers";
const PROPERTIES: &str = "person_properties";
const NOTES: &str = "notes";
const IP: &str = "ip";
const USER_AGENT: &str = "user_agent";
const COUNTED: &str = "counted_segments";
/// Attributes that hold personal data: erased with the person.
const PERSONAL: [&str; 6] = [COMMENT, ANSWERS, PROPERTIES, NOTES, IP, USER_AGENT];
pub const MAX_TAGS: usize = 20;
pub const MAX_NOTES: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Note {
    pub id: String,
    pub text: String,
    /// Who wrote it (`user:<id>`, `api_key:<id>`).
    pub author: String,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct ResponseRecord {
    pub id: String,
    pub survey: String,
    pub person: Option<String>,
    pub invitation: Option<String>,
    pub channel: Channel,
    pub language: Language,
    pub score: Score,
    pub comment: Option<String>,
    pub answers: BTreeMap<String, Answer>,
    pub person_properties: Properties,
    pub notes: Vec<Note>,
    pub tags: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    version: i64,
    /// The segment properties its survey's counters count it under (none: not counted).
    counted: Option<Vec<String>>,
}

impl ResponseRecord {
    async fn to_item(&self, store: &TenantStore) -> Result<Item> {
        let key = keys::response(store.tenant(), &self.id)?;
        let crypto = store.crypto();
        let mut item = Item::new(key.clone())
            .with("survey", self.survey.as_str())
            .with("channel", self.channel.as_str())
            .with("language", self.language.code())
            .with("score", i64::from(self.score))
            .with("created_at", self.created_at)
            .with("updated_at", self.updated_at)
            .with("version", self.version + 1)
            .with("tags", self.tags.as_slice())
            .with_index(
                keys::responses_by_update(store.tenant()),
                keys::updated_sort(self.updated_at, &self.id),
            );
        if let Some(segments) = &self.counted {
            item = item.with(COUNTED, segments.as_slice());
        }
        for (name, value) in [("person", &self.person), ("invitation", &self.invitation)] {
            if let Some(v) = value {
                item = item.with(name, v.as_str());
            }
        }
        for (name, value) in [(COMMENT, &self.comment), (IP, &self.ip), (USER_AGENT, &self.user_agent)] {
            if let Some(v) = value {
                item = item.with(name, crypto.encrypt_str(&key, name, v).await?);
            }
        }
        // The JSON fields, sealed only when they hold something.
        for (name, bytes) in [
            (ANSWERS, json_unless_empty(&self.answers, self.answers.is_empty())?),
            (
                PROPERTIES,
                json_unless_empty(&self.person_properties, self.person_properties.is_empty())?,
            ),
            (NOTES, json_unless_empty(&self.notes, self.notes.is_empty())?),
        ] {
            if let Some(bytes) = bytes {
                item = item.with(name, crypto.encrypt(&key, name, &bytes).await?);
            }
        }
        Ok(item)
    }

    async fn from_item(store: &TenantStore, item: &Item) -> Result<ResponseRecord> {
        let crypto = store.crypto();
        Ok(ResponseRecord {
            id: item.key.sk.clone(),
            survey: item.str("survey").unwrap_or_default().to_owned(),
            person: item.str("person").map(str::to_owned),
            invitation: item.str("invitation").map(str::to_owned),
            channel: Channel::parse(item.str("channel").unwrap_or_default()),
            language: item
                .str("language")
                .and_then(Language::from_locale)
                .unwrap_or(Language::En),
            score: Score::new(item.num("score").unwrap_or_default())?,
            comment: crypto.open_str(item, COMMENT).await?,
            answers: crypto.open_json(item, ANSWERS).await?,
            person_properties: crypto.open_json(item, PROPERTIES).await?,
            notes: crypto.open_json(item, NOTES).await?,
            tags: item.strings("tags"),
            ip: crypto.open_str(item, IP).await?,
            user_agent: crypto.open_str(item, USER_AGENT).await?,
            created_at: item.num("created_at").unwrap_or_default(),
            updated_at: item.num("updated_at").unwrap_or_default(),
            version: item.num("version").unwrap_or_default(),
            counted: item.get(COUNTED).map(|_| item.strings(COUNTED)),
        })
    }
}

/// `value` as JSON, or nothing when it is empty.
fn json_unless_empty<T: Serialize>(value: &T, empty: bool) -> Result<Option<Vec<u8>>> {
    if empty {
        return Ok(None);
    }
    serde_json::to_vec(value).map(Some).map_err(Error::internal)
}

pub async fn load(store: &TenantStore, id: &str) -> Result<Option<ResponseRecord>> {
    let id = id.strip_suffix(".json").unwrap_or(id);
    let Ok(key) = keys::response(store.tenant(), id) else {
        return Ok(None);
    };
    match store.get(&key).await? {
        Some(item) => Ok(Some(ResponseRecord::from_item(store, &item).await?)),
        None => Ok(None),
    }
}

/// A comment, bounded and trimmed; empty is none.
pub fn comment(text: Option<&str>) -> Result<Option<String>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_COMMENT {
        return Err(Error::invalid(
            COMMENT,
            format!("must be at most {MAX_COMMENT} characters"),
        ));
    }
    Ok(Some(text.replace('\0', "")))
}

/// An answer from a respondent's page.
#[derive(Clone, Debug, Default)]
pub struct Answered {
    pub score: Option<Score>,
    pub comment: Option<String>,
    pub answers: BTreeMap<String, Answer>,
    /// Where it came from; kept only when the tenant's privacy settings allow.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
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
            save(store, Some(survey), before, &mut record).await?;
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
            person_properties: person.map(|p| p.properties.clone()).unwrap_or_default(),
            notes: vec![],
            tags: vec![],
            ip: answered.ip.clone(),
            user_agent: answered.user_agent.clone(),
            created_at: now,
            updated_at: now,
            version: 0,
            counted: None,
        };
        let mut tally = Tally::moved(None, count_now(store, Some(survey), &mut record).await?.as_ref());
        let mut ops = vec![TxOp::Put {
            item: record.to_item(store).await?,
            condition: Some(Condition::NotExists),
        }];
        if invitation.channel == Channel::Web && invitation.person.is_none() {
            ops.push(invitations::web_op(store, &invitation, &record.id)?);
        } else {
            ops.push(invitations::answer_op(store, &invitation, &record.id)?);
        }
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
        serde_json::to_value(record.view("", survey, person.or(loaded.as_ref()))).map_err(Error::internal)
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
async fn save(
    store: &TenantStore,
    survey: Option<&Survey>,
    before: Option<Counted>,
    record: &mut ResponseRecord,
) -> Result<()> {
    let tally = Tally::moved(before.as_ref(), count_now(store, survey, record).await?.as_ref());
    let put = TxOp::Put {
        item: record.to_item(store).await?,
        condition: Some(Condition::eq("version", record.version)),
    };
    let mut ops = vec![put];
    ops.extend(webhook_event(store, EventType::ResponseUpdated, record, survey, None).await?);
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
    let survey = surveys::resolve(store, new.survey.as_deref()).await?;
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
    counters::transact(store, &survey.id, ops, &tally).await?;
    record.version += 1;
    audit::record(
        store,
        caller,
        "response.created",
        Target::Response(record.id.clone()),
        Outcome::Success,
    )
    .await?;
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

pub async fn update(store: &TenantStore, caller: &Caller, id: &str, change: ResponseChange) -> Result<ResponseRecord> {
    let mut record = load(store, id).await?.ok_or(Error::NotFound("survey response"))?;
    let survey = surveys::get(store, &record.survey).await?;
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
    save(store, survey.as_ref(), before, &mut record).await?;
    audit::record(
        store,
        caller,
        "response.updated",
        Target::Response(record.id.clone()),
        Outcome::Success,
    )
    .await?;
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

/// Removes a response's personal fields and its person (the person is being deleted); its
/// segment counts move to "no value" with it.
pub async fn erase_personal(store: &TenantStore, id: &str) -> Result<()> {
    let key = keys::response(store.tenant(), id)?;
    let mut updates: Vec<Update> = PERSONAL.iter().map(|a| Update::Remove((*a).into())).collect();
    updates.push(Update::Remove("person".into()));
    updates.push(Update::Add("version".into(), 1));
    for _ in 0..3 {
        let Some(record) = load(store, id).await?.filter(|r| r.person.is_some()) else {
            return Ok(()); // gone, or erased already
        };
        let survey = surveys::get(store, &record.survey).await?;
        let before = counted_before(store, &record).await?;
        let mut erased = ResponseRecord {
            person_properties: Properties::default(),
            ..record.clone()
        };
        let tally = Tally::moved(
            before.as_ref(),
            count_now(store, survey.as_ref(), &mut erased).await?.as_ref(),
        );
        let mut updates = updates.clone();
        updates.push(match &erased.counted {
            Some(segments) => Update::Set(COUNTED.into(), segments.as_slice().into()),
            None => Update::Remove(COUNTED.into()),
        });
        let update = TxOp::Update {
            key: key.clone(),
            updates,
            condition: Some(Condition::eq("version", record.version)),
        };
        match counters::transact(store, &record.survey, vec![update], &tally).await {
            Err(Error::TransactionCanceled(_)) => continue,
            other => return other,
        }
    }
    Err(Error::ConditionFailed)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    CreatedAsc,
    CreatedDesc,
    UpdatedAsc,
    UpdatedDesc,
}

impl Order {
    pub fn parse(text: &str) -> Result<Order> {
        match text {
            "asc" | "asc:created_at" => Ok(Order::CreatedAsc),
            "desc" | "desc:created_at" => Ok(Order::CreatedDesc),
            "asc:updated_at" => Ok(Order::UpdatedAsc),
            "desc:updated_at" => Ok(Order::UpdatedDesc),
            _ => Err(Error::invalid(
                "order",
                "must be asc, desc, asc:updated_at or desc:updated_at",
            )),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ResponseFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub updated_since: Option<i64>,
    pub updated_until: Option<i64>,
    pub survey: Option<String>,
    pub person: Option<String>,
    pub order: Order,
}

impl ResponseFilter {
    fn admits(&self, r: &ResponseRecord) -> bool {
        self.since.is_none_or(|t| r.created_at >= t)
            && self.until.is_none_or(|t| r.created_at <= t)
            && self.updated_since.is_none_or(|t| r.updated_at >= t)
            && self.updated_until.is_none_or(|t| r.updated_at <= t)
            && self.survey.as_ref().is_none_or(|s| *s == r.survey)
            && self.person.as_ref().is_none_or(|p| r.person.as_ref() == Some(p))
    }
}

/// Items a list reads at most to fill one page (filters can drop many).
const SCAN_LIMIT: usize = 5_000;
/// The deepest `page` × `per_page` answered; deeper pages use the `Link` cursor.
pub const MAX_OFFSET: u32 = 10_000;

pub struct ResponsePage {
    pub responses: Vec<ResponseRecord>,
    pub cursor: Option<String>,
}

/// A page of responses: `skip` matches are passed over (Delighted's `page`), then up to
/// `per_page` returned; `cursor` continues where a previous page stopped.
pub async fn list(
    store: &TenantStore,
    filter: &ResponseFilter,
    per_page: u32,
    skip: u32,
    cursor: Option<&str>,
) -> Result<ResponsePage> {
    if let Some(person) = &filter.person {
        return list_of_person(store, filter, person, per_page, skip).await;
    }
    let (base, index) = match filter.order {
        Order::CreatedAsc | Order::CreatedDesc => (
            Query::new(keys::responses_partition(store.tenant())).sort(id_range(filter.since, filter.until)),
            false,
        ),
        Order::UpdatedAsc | Order::UpdatedDesc => {
            let low = keys::updated_sort(filter.updated_since.unwrap_or(0).max(0), "");
            let high = keys::updated_sort(filter.updated_until.unwrap_or(999_999_999_999).max(0), "~");
            (
                Query::new(keys::responses_by_update(store.tenant())).sort(SortKey::Between(low, high)),
                true,
            )
        }
    };
    let base = if matches!(filter.order, Order::CreatedDesc | Order::UpdatedDesc) {
        base.backward()
    } else {
        base
    };
    let mut cursor = cursor.map(str::to_owned);
    let (mut skip_left, mut out, mut scanned) = (skip as usize, Vec::new(), 0usize);
    loop {
        let want = (skip_left + per_page as usize - out.len()).clamp(1, 100) as u32;
        let query = base.clone().limit(want);
        let page = if index {
            store.query_index(query, cursor.as_deref()).await?
        } else {
            store.query(query, cursor.as_deref()).await?
        };
        scanned += page.items.len();
        for item in &page.items {
            let record = ResponseRecord::from_item(store, item).await?;
            if !filter.admits(&record) {
                continue;
            }
            if skip_left > 0 {
                skip_left -= 1;
            } else {
                out.push(record);
            }
        }
        cursor = page.cursor;
        if cursor.is_none() || out.len() >= per_page as usize || scanned >= SCAN_LIMIT + skip as usize {
            return Ok(ResponsePage { responses: out, cursor });
        }
    }
}

async fn list_of_person(
    store: &TenantStore,
    filter: &ResponseFilter,
    person: &str,
    per_page: u32,
    skip: u32,
) -> Result<ResponsePage> {
    let Ok(partition) = keys::person_partition(store.tenant(), person) else {
        return Ok(ResponsePage {
            responses: vec![],
            cursor: None,
        });
    };
    let pointers = store.query_all(Query::new(partition).prefix("R#")).await?;
    let mut out = Vec::new();
    for pointer in &pointers {
        if let Some(r) = load(store, pointer.key.sk.trim_start_matches("R#")).await?
            && filter.admits(&r)
        {
            out.push(r);
        }
    }
    match filter.order {
        Order::CreatedAsc => out.sort_by(|a, b| a.id.cmp(&b.id)),
        Order::CreatedDesc => out.sort_by(|a, b| b.id.cmp(&a.id)),
        Order::UpdatedAsc => out.sort_by_key(|r| (r.updated_at, r.id.clone())),
        Order::UpdatedDesc => out.sort_by_key(|r| std::cmp::Reverse((r.updated_at, r.id.clone()))),
    }
    let responses = out.into_iter().skip(skip as usize).take(per_page as usize).collect();
    Ok(ResponsePage {
        responses,
        cursor: None,
    })
}

/// An answer to an additional question, as Delighted shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AdditionalAnswer {
    pub id: String,
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    #[schema(value_type = Object)]
    pub question: serde_json::Value,
}

/// A response as Delighted's API shows one.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ResponseView {
    pub id: String,
    /// The person's id, or the person when `expand[]=person`; null once the person was deleted.
    #[schema(value_type = Object)]
    pub person: serde_json::Value,
    pub survey_type: &'static str,
    pub survey_id: String,
    pub score: u8,
    pub comment: Option<String>,
    pub permalink: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[schema(value_type = Object)]
    pub person_properties: Option<Properties>,
    pub notes: Vec<Note>,
    pub tags: Vec<String>,
    pub additional_answers: Vec<AdditionalAnswer>,
    pub channel: Channel,
    pub language: Language,
}

impl ResponseRecord {
    /// The API's view; `survey` gives the questions' texts, `person` the expanded person.
    pub fn view(&self, base: &str, survey: Option<&Survey>, person: Option<&Person>) -> ResponseView {
        let person_json = match (person, &self.person) {
            (Some(p), _) => serde_json::to_value(p.view()).unwrap_or_default(),
            (None, Some(id)) => serde_json::Value::String(id.clone()),
            (None, None) => serde_json::Value::Null,
        };
        ResponseView {
            id: self.id.clone(),
            person: person_json,
            survey_type: "nps",
            survey_id: self.survey.clone(),
            score: self.score.value(),
            comment: self.comment.clone(),
            permalink: format!("{base}/v1/survey_responses/{}", self.id),
            created_at: self.created_at,
            updated_at: self.updated_at,
            person_properties: (!self.person_properties.is_empty()).then(|| self.person_properties.clone()),
            notes: self.notes.clone(),
            tags: self.tags.clone(),
            additional_answers: self.additional_answers(survey),
            channel: self.channel,
            language: self.language,
        }
    }

    fn additional_answers(&self, survey: Option<&Survey>) -> Vec<AdditionalAnswer> {
        use serde_json::json;
        let questions = survey.map(|s| s.definition.questions.as_slice()).unwrap_or_default();
        let default = survey.map_or(Language::En, |s| s.definition.default_language);
        let text = |m: &BTreeMap<Language, String>| m.get(&default).cloned().unwrap_or_default();
        self.answers
            .iter()
            .map(|(id, answer)| {
                let q = questions.iter().find(|q| q.id == *id);
                let choice = |i: &u8| {
                    let t = q.and_then(|q| q.choices.get(*i as usize)).map(text);
                    json!({"id": i.to_string(), "text": t})
                };
                let value = match (q.map(|q| q.kind), answer) {
                    (_, Answer::Text(t)) => json!({"free_response": t}),
                    (Some(QuestionKind::Single), Answer::Number(i)) => json!({"select_one": choice(i)}),
                    (_, Answer::Number(n)) => json!({"scale": n}),
                    (_, Answer::Choices(list)) => json!({"select_many": list.iter().map(choice).collect::<Vec<_>>()}),
                };
                let question = q.map_or(
                    serde_json::Value::Null,
                    |q| json!({"id": q.id, "type": q.kind, "text": text(&q.text)}),
                );
                AdditionalAnswer {
                    id: id.clone(),
                    value,
                    question,
                }
            })
            .collect()
    }
}

/// The body of Delighted's `POST` and `PUT /v1/survey_responses` (JSON or form). A `PUT` from
/// Delighted's clients sends the whole response back: its read-only fields are accepted and
/// ignored.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseRequest {
    /// The person's id (or the person object, as `save()` sends it).
    #[schema(value_type = Option<String>)]
    pub person: Option<serde_json::Value>,
    #[schema(value_type = Option<i64>)]
    pub score: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    pub comment: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub person_properties: Option<serde_json::Value>,
    /// Unix time of the answer (POST only; default now).
    #[schema(value_type = Option<i64>)]
    pub created_at: Option<serde_json::Value>,
    /// Ovation's survey id (`trend` is Delighted's name for it); the default survey when absent.
    pub survey_id: Option<String>,
    pub trend: Option<String>,
    /// Notes: text, or `{id, text}` to keep (and edit) an existing one; the list replaces.
    #[schema(value_type = Option<Vec<Object>>)]
    pub notes: Option<serde_json::Value>,
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub id: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub survey_type: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub permalink: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub updated_at: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub additional_answers: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub channel: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub language: Option<serde_json::Value>,
}

fn score_of(value: &serde_json::Value) -> Result<Score> {
    Score::new(crate::domain::loose::int("score", value)?)
}

impl ResponseRequest {
    pub fn into_new(self) -> Result<NewResponse> {
        let person = match self.person.as_ref() {
            Some(serde_json::Value::Object(p)) => p.get("id").and_then(|v| v.as_str()).map(str::to_owned),
            Some(v) => crate::domain::loose::text("person", v)?,
            None => None,
        }
        .ok_or_else(|| Error::invalid("person", "is required (the person's id)"))?;
        let score = score_of(
            self.score
                .as_ref()
                .ok_or_else(|| Error::invalid("score", "is required"))?,
        )?;
        let comment = match &self.comment {
            Some(v) => comment(crate::domain::loose::text(COMMENT, v)?.as_deref())?,
            None => None,
        };
        Ok(NewResponse {
            person,
            score,
            comment,
            person_properties: self
                .person_properties
                .as_ref()
                .map(|v| Properties::from_json(PROPERTIES, v))
                .transpose()?,
            created_at: self
                .created_at
                .as_ref()
                .map(|v| crate::domain::loose::int("created_at", v))
                .transpose()?,
            survey: self.survey_id.or(self.trend),
        })
    }

    pub fn into_change(self) -> Result<ResponseChange> {
        let notes = match &self.notes {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(list)) => Some(
                list.iter()
                    .map(|n| match n {
                        serde_json::Value::String(t) => Ok((None, t.clone())),
                        serde_json::Value::Object(o) => Ok((
                            o.get("id").and_then(|v| v.as_str()).map(str::to_owned),
                            o.get("text").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
                        )),
                        _ => Err(Error::invalid(NOTES, "each note is text or {id, text}")),
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(Error::invalid(NOTES, "must be a list")),
        };
        let tags = match &self.tags {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(list)) => Some(
                list.iter()
                    .map(|t| {
                        t.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| Error::invalid("tags", "each tag is text"))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(Error::invalid("tags", "must be a list of text")),
        };
        Ok(ResponseChange {
            score: self.score.as_ref().map(score_of).transpose()?,
            comment: self
                .comment
                .as_ref()
                .map(|v| comment(crate::domain::loose::text(COMMENT, v)?.as_deref()))
                .transpose()?,
            person_properties: match &self.person_properties {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(Properties::from_json(PROPERTIES, v)?),
            },
            notes,
            tags,
        })
    }
}

/// The API's view of responses: each with its survey's questions and, when asked, its person
/// (each survey and person read once per page).
pub async fn views(
    store: &TenantStore,
    base: &str,
    records: &[ResponseRecord],
    expand_person: bool,
) -> Result<Vec<ResponseView>> {
    let mut surveys: BTreeMap<String, Option<Survey>> = BTreeMap::new();
    let mut persons: BTreeMap<String, Option<Person>> = BTreeMap::new();
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if !surveys.contains_key(&r.survey) {
            surveys.insert(r.survey.clone(), surveys::get(store, &r.survey).await?);
        }
        if expand_person
            && let Some(p) = &r.person
            && !persons.contains_key(p)
        {
            persons.insert(p.clone(), person::load(store, p).await?);
        }
        let survey = surveys.get(&r.survey).and_then(Option::as_ref);
        let person = r.person.as_ref().and_then(|p| persons.get(p)).and_then(Option::as_ref);
        out.push(r.view(base, survey, person));
    }
    Ok(out)
}
