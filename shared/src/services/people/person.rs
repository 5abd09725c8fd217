//! People of a tenant, as Delighted's people API has them: created or updated by email or phone
//! (found through blind indexes), listed by creation, deleted with all their data.
//! Email, phone, name and properties are encrypted; in "hashed email only" mode the address is
//! kept only as its blind index (and on a pending invitation until it is sent).

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::send_at::{SendAt, TIME_ZONE_PROPERTY};
use crate::domain::{Channel, Email, Phone, Properties};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::services::Caller;
use crate::services::audit::{self, Outcome, Target};
use crate::services::people::suppressions::{self, Suppression};
use crate::services::sending::invitations::{self, Invitation};
use crate::services::surveys::{self, Survey};
use crate::store::{BatchOp, Condition, Item, Key, Query, SortKey, TenantStore, TxOp, Update, keys, now_unix};

const EMAIL: &str = "email";
const PHONE: &str = "phone";
const NAME: &str = "name";
const PROPERTIES: &str = "properties";

#[derive(Clone, Debug)]
pub struct Person {
    pub id: String,
    /// The address, unless the tenant keeps only its blind index (or none was given).
    pub email: Option<Email>,
    pub email_index: Option<String>,
    pub phone: Option<Phone>,
    pub phone_index: Option<String>,
    pub name: Option<String>,
    pub properties: Properties,
    pub created_at: i64,
    pub last_sent_at: Option<i64>,
    pub last_responded_at: Option<i64>,
    pub next_survey_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
    /// When the current email address bounced permanently.
    pub bounced_at: Option<i64>,
    version: i64,
}

/// A person as Delighted's API shows one (Unix timestamps).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PersonView {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone_number: Option<String>,
    pub created_at: i64,
    pub last_sent_at: Option<i64>,
    pub last_responded_at: Option<i64>,
    pub next_survey_scheduled_at: Option<i64>,
    #[schema(value_type = Object)]
    pub properties: Properties,
    /// When a survey was scheduled by this call: its link (`/r/{token}`), until it is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey_url: Option<String>,
}

impl Person {
    pub fn view(&self) -> PersonView {
        PersonView {
            id: self.id.clone(),
            email: self.email.as_ref().map(|e| e.as_str().to_owned()),
            name: self.name.clone(),
            phone_number: self.phone.as_ref().map(|p| p.as_str().to_owned()),
            created_at: self.created_at,
            last_sent_at: self.last_sent_at,
            last_responded_at: self.last_responded_at,
            next_survey_scheduled_at: self.next_survey_at,
            properties: self.properties.clone(),
            survey_url: None,
        }
    }

    fn key(&self, store: &TenantStore) -> Result<Key> {
        keys::person(store.tenant(), &self.id)
    }

    async fn to_item(&self, store: &TenantStore, hash_only: bool) -> Result<Item> {
        let key = self.key(store)?;
        let crypto = store.crypto();
        let mut item = Item::new(key.clone())
            .with("created_at", self.created_at)
            .with("version", self.version + 1);
        if let Some(email) = self.email.as_ref().filter(|_| !hash_only) {
            item = item.with(EMAIL, crypto.encrypt_str(&key, EMAIL, email.as_str()).await?);
        }
        if let Some(ix) = &self.email_index {
            item = item.with("email_ix", ix.as_str());
        }
        if let Some(phone) = &self.phone {
            item = item.with(PHONE, crypto.encrypt_str(&key, PHONE, phone.as_str()).await?);
        }
        if let Some(ix) = &self.phone_index {
            item = item.with("phone_ix", ix.as_str());
        }
        if let Some(name) = &self.name {
            item = item.with(NAME, crypto.encrypt_str(&key, NAME, name).await?);
        }
        if !self.properties.is_empty() {
            let json = serde_json::to_vec(&self.properties).map_err(Error::internal)?;
            item = item.with(PROPERTIES, crypto.encrypt(&key, PROPERTIES, &json).await?);
        }
        for (name, at) in [
            ("last_sent_at", self.last_sent_at),
            ("last_responded_at", self.last_responded_at),
            ("next_survey_at", self.next_survey_at),
            ("unsubscribed_at", self.unsubscribed_at),
            ("bounced_at", self.bounced_at),
        ] {
            if let Some(at) = at {
                item = item.with(name, at);
            }
        }
        Ok(item)
    }

    /// The person stored in `item`, its sealed fields opened.
    pub(crate) async fn from_item(store: &TenantStore, item: &Item) -> Result<Person> {
        let crypto = store.crypto();
        Ok(Person {
            id: item.key.sk.clone(),
            email: crypto
                .open_str(item, EMAIL)
                .await?
                .map(|e| Email::parse(&e))
                .transpose()?,
            email_index: item.str("email_ix").map(str::to_owned),
            phone: crypto
                .open_str(item, PHONE)
                .await?
                .map(|p| Phone::parse_field(PHONE, &p))
                .transpose()?,
            phone_index: item.str("phone_ix").map(str::to_owned),
            name: crypto.open_str(item, NAME).await?,
            properties: crypto.open_json(item, PROPERTIES).await?,
            created_at: item.num("created_at").unwrap_or_default(),
            last_sent_at: item.num("last_sent_at"),
            last_responded_at: item.num("last_responded_at"),
            next_survey_at: item.num("next_survey_at"),
            unsubscribed_at: item.num("unsubscribed_at"),
            bounced_at: item.num("bounced_at"),
            version: item.num("version").unwrap_or_default(),
        })
    }
}

pub async fn email_index(store: &TenantStore, email: &Email) -> Result<String> {
    store.crypto().blind_index("person-email", email.as_str()).await
}

pub async fn phone_index(store: &TenantStore, phone: &Phone) -> Result<String> {
    store.crypto().blind_index("person-phone", phone.as_str()).await
}

pub async fn load(store: &TenantStore, id: &str) -> Result<Option<Person>> {
    let Ok(key) = keys::person(store.tenant(), id) else {
        return Ok(None);
    };
    match store.get(&key).await? {
        Some(item) => Ok(Some(Person::from_item(store, &item).await?)),
        None => Ok(None),
    }
}

async fn load_by_index(store: &TenantStore, kind: &str, blind: &str) -> Result<Option<Person>> {
    match store.get(&keys::person_lookup(store.tenant(), kind, blind)).await? {
        Some(item) => load(store, item.str("person").unwrap_or_default()).await,
        None => Ok(None),
    }
}

pub async fn load_by_email(store: &TenantStore, email: &Email) -> Result<Option<Person>> {
    load_by_index(store, EMAIL, &email_index(store, email).await?).await
}

pub async fn load_by_phone(store: &TenantStore, phone: &Phone) -> Result<Option<Person>> {
    load_by_index(store, PHONE, &phone_index(store, phone).await?).await
}

/// A person named as Delighted's paths name one: `id`, `email:addr` or `phone_number:+45…`
/// (a bare address also works, as in `/people/{email}/survey_requests/pending`).
pub async fn find(store: &TenantStore, ident: &str) -> Result<Person> {
    let found = if let Some(email) = ident.strip_prefix("email:") {
        load_by_email(store, &Email::parse(email)?).await?
    } else if let Some(phone) = ident.strip_prefix("phone_number:") {
        load_by_phone(store, &Phone::parse_field("phone_number", phone)?).await?
    } else if ident.contains('@') {
        load_by_email(store, &Email::parse(ident)?).await?
    } else {
        load(store, ident.strip_prefix("id:").unwrap_or(ident)).await?
    };
    found.ok_or(Error::NotFound("person"))
}

/// What creates or updates a person (Delighted's `POST /v1/people`), parsed.
#[derive(Clone, Debug, Default)]
pub struct PersonInput {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub name: Option<String>,
    pub properties: Properties,
    pub email_update: Option<Email>,
    pub phone_update: Option<Phone>,
    pub last_sent_at: Option<i64>,
    /// Schedule a survey: on this channel after this many seconds, of this survey (the
    /// default when none).
    pub send: Option<SendRequest>,
}

#[derive(Clone, Debug)]
pub struct SendRequest {
    pub channel: Channel,
    pub at: SendAt,
    pub survey: Option<String>,
}

/// What an upsert did.
pub struct Upserted {
    pub person: Person,
    pub created: bool,
    /// False when the person was already exactly so (a re-run import writes nothing).
    pub changed: bool,
    pub invitation: Option<Invitation>,
}

/// Creates or updates a person, and schedules a survey when asked, in one transaction; a race
/// with another write of the same person is retried.
pub async fn upsert(store: &TenantStore, input: &PersonInput, hash_only: bool) -> Result<Upserted> {
    if input.email.is_none() && input.phone.is_none() {
        return Err(Error::invalid("email", "an email or a phone_number is required"));
    }
    let survey = match &input.send {
        Some(send) => Some(surveys::resolve(store, send.survey.as_deref()).await?),
        None => None,
    };
    let mut last = Error::internal("unreachable");
    for _ in 0..4 {
        match upsert_once(store, input, hash_only, survey.as_ref()).await {
            Err(e @ (Error::TransactionCanceled(_) | Error::ConditionFailed)) => last = e,
            other => return other,
        }
    }
    Err(last)
}

async fn upsert_once(
    store: &TenantStore,
    input: &PersonInput,
    hash_only: bool,
    survey: Option<&Survey>,
) -> Result<Upserted> {
    let email_ix = match &input.email {
        Some(e) => Some(email_index(store, e).await?),
        None => None,
    };
    let phone_ix = match &input.phone {
        Some(p) => Some(phone_index(store, p).await?),
        None => None,
    };
    let existing = match (&email_ix, &phone_ix) {
        (Some(ix), _) => load_by_index(store, EMAIL, ix).await?,
        (None, Some(ix)) => load_by_index(store, PHONE, ix).await?,
        (None, None) => None,
    };
    let created = existing.is_none();
    let now = now_unix();
    let mut person = existing.clone().unwrap_or_else(|| Person {
        id: new_id(),
        email: None,
        email_index: None,
        phone: None,
        phone_index: None,
        name: None,
        properties: Properties::default(),
        created_at: now,
        last_sent_at: None,
        last_responded_at: None,
        next_survey_at: None,
        unsubscribed_at: None,
        bounced_at: None,
        version: 0,
    });
    let mut ops = Vec::new();
    let lookup = |kind: &str, ix: &str| keys::person_lookup(store.tenant(), kind, ix);
    // The email: set when new (or asked to change), its lookup moved with it.
    let new_email = input
        .email_update
        .clone()
        .or_else(|| match (&person.email_index, &input.email) {
            (None, Some(e)) => Some(e.clone()),
            _ => None,
        });
    if let Some(email) = new_email {
        let ix = email_index(store, &email).await?;
        if person.email_index.as_deref() != Some(ix.as_str()) {
            if let Some(old) = person.email_index.take() {
                ops.push(TxOp::Delete {
                    key: lookup(EMAIL, &old),
                    condition: None,
                });
            }
            ops.push(TxOp::Put {
                item: Item::new(lookup(EMAIL, &ix)).with("person", person.id.as_str()),
                condition: Some(Condition::NotExists),
            });
            person.email_index = Some(ix);
            // A bounce was of the old address: the new one may be sent to.
            if let Some(at) = person.bounced_at.take() {
                ops.push(TxOp::Delete {
                    key: Suppression::Bounced.entry(store, at, &person.id)?,
                    condition: None,
                });
            }
        }
        person.email = Some(email);
    } else if let (Some(email), false) = (&input.email, hash_only) {
        person.email.get_or_insert_with(|| email.clone());
    }
    if hash_only {
        // Kept only for this call's invitation and answer; never written.
        person.email = input.email_update.clone().or_else(|| input.email.clone());
    }
    let new_phone = input
        .phone_update
        .clone()
        .or_else(|| match (&person.phone_index, &input.phone) {
            (None, Some(p)) => Some(p.clone()),
            _ => None,
        });
    if let Some(phone) = new_phone {
        let ix = phone_index(store, &phone).await?;
        if person.phone_index.as_deref() != Some(ix.as_str()) {
            if let Some(old) = person.phone_index.take() {
                ops.push(TxOp::Delete {
                    key: lookup(PHONE, &old),
                    condition: None,
                });
            }
            ops.push(TxOp::Put {
                item: Item::new(lookup(PHONE, &ix)).with("person", person.id.as_str()),
                condition: Some(Condition::NotExists),
            });
            person.phone_index = Some(ix);
        }
        person.phone = Some(phone);
    }
    if let Some(name) = &input.name {
        person.name = Some(name.clone());
    }
    person.properties = person.properties.merged(&input.properties)?;
    if let Some(at) = input.last_sent_at {
        person.last_sent_at = Some(at);
    }
    let mut invitation = None;
    if let (Some(send), Some(survey)) = (&input.send, survey) {
        let due = send.at.due(now, person.properties.get(TIME_ZONE_PROPERTY))?;
        let (inv, inv_ops) = invitations::schedule_ops(store, survey, &person, send.channel, due).await?;
        person.next_survey_at = Some(person.next_survey_at.map_or(due, |t| t.min(due)));
        ops.extend(inv_ops);
        invitation = Some(inv);
    }
    let changed = created || !ops.is_empty() || !same_person(existing.as_ref(), &person);
    if changed {
        let condition = if created {
            Condition::NotExists
        } else {
            Condition::eq("version", person.version)
        };
        ops.push(TxOp::Put {
            item: person.to_item(store, hash_only).await?,
            condition: Some(condition),
        });
        store.transact(ops).await?;
        person.version += 1;
    }
    Ok(Upserted {
        person,
        created,
        changed,
        invitation,
    })
}

fn same_person(before: Option<&Person>, after: &Person) -> bool {
    before.is_some_and(|b| {
        b.email == after.email
            && b.phone == after.phone
            && b.name == after.name
            && b.properties == after.properties
            && b.last_sent_at == after.last_sent_at
    })
}

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct PeopleFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// The smallest and largest ULID of a second: ids made in `[since, until]`.
pub fn id_range(since: Option<i64>, until: Option<i64>) -> SortKey {
    let ms = |s: i64| (s.max(0) as u64).saturating_mul(1000).min((1 << 48) - 1);
    let low = ulid::Ulid::from_parts(since.map_or(0, ms), 0).to_string();
    let high = ulid::Ulid::from_parts(until.map_or((1 << 48) - 1, |u| ms(u) + 999), u128::MAX).to_string();
    SortKey::Between(low, high)
}

pub struct PeoplePage {
    pub people: Vec<Person>,
    pub cursor: Option<String>,
}

/// A page of people, oldest first.
pub async fn list(
    store: &TenantStore,
    filter: &PeopleFilter,
    per_page: u32,
    cursor: Option<&str>,
) -> Result<PeoplePage> {
    let query = Query::new(keys::people_partition(store.tenant()))
        .sort(id_range(filter.since, filter.until))
        .limit(per_page);
    let page = store.query(query, cursor).await?;
    let mut people = Vec::with_capacity(page.items.len());
    for item in &page.items {
        people.push(Person::from_item(store, item).await?);
    }
    Ok(PeoplePage {
        people,
        cursor: page.cursor,
    })
}

/// Deletes a person and all their data: pending invitations go, their responses lose every
/// personal field (the score stays, for the results), then the person and their lookups go in
/// one transaction. A retry after a crash finishes the work.
pub async fn delete(store: &TenantStore, caller: &Caller, person: &Person) -> Result<()> {
    let partition = keys::person_partition(store.tenant(), &person.id)?;
    let pointers = store.query_all(Query::new(partition)).await?;
    for pointer in &pointers {
        if let Some(id) = pointer.key.sk.strip_prefix("INV#") {
            let key = keys::invitation(store.tenant(), pointer.str("survey").unwrap_or_default(), id)?;
            store.delete(&key, None).await?;
        } else if let Some(id) = pointer.key.sk.strip_prefix("R#") {
            crate::services::results::responses::erase_personal(store, id).await?;
        }
    }
    store
        .batch_write(pointers.iter().map(|p| BatchOp::Delete(p.key.clone())).collect())
        .await?;
    let mut ops = vec![TxOp::Delete {
        key: person.key(store)?,
        condition: None,
    }];
    ops.extend(suppressions::entry_deletions(store, person)?);
    ops.extend(crate::services::sending::autopilot::membership_deletions(
        store, &person.id,
    )?);
    for (kind, ix) in [(EMAIL, &person.email_index), (PHONE, &person.phone_index)] {
        if let Some(ix) = ix {
            ops.push(TxOp::Delete {
                key: keys::person_lookup(store.tenant(), kind, ix),
                condition: Some(Condition::eq("person", person.id.as_str())),
            });
        }
    }
    store.transact(ops).await?;
    audit::record(
        store,
        caller,
        "person.deleted",
        Target::Person(person.id.clone()),
        Outcome::Success,
    )
    .await
}

/// Records that a person answered (their `last_responded_at`).
pub fn responded_op(store: &TenantStore, person: &str, at: i64) -> Result<TxOp> {
    Ok(TxOp::Update {
        key: keys::person(store.tenant(), person)?,
        // The version moves too, so a concurrent rewrite of the person retries with this.
        updates: vec![
            Update::Set("last_responded_at".into(), at.into()),
            Update::Add("version".into(), 1),
        ],
        condition: Some(Condition::Exists),
    })
}

/// The body of Delighted's `POST /v1/people` (JSON, or a form with `properties[name]=value`).
#[derive(Clone, Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonRequest {
    pub email: Option<String>,
    /// E.164 (`+4520123456`).
    pub phone_number: Option<String>,
    pub name: Option<String>,
    /// Custom properties; `locale` picks the survey's language, `product_name` fills the question.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
    /// `email` (default when there is an email) or `sms`.
    pub channel: Option<String>,
    /// Seconds to wait before sending (default 0).
    #[schema(value_type = Option<i64>)]
    pub delay: Option<serde_json::Value>,
    /// Ovation's: when to send instead of `delay`: a Unix time, or `HH:MM` for the next such
    /// time in the person's `time_zone` property (an IANA name; UTC when absent).
    #[schema(value_type = Option<String>)]
    pub send_at: Option<serde_json::Value>,
    /// `false` to only create or update the person.
    #[schema(value_type = Option<bool>)]
    pub send: Option<serde_json::Value>,
    /// When the person was last surveyed elsewhere (Unix time), for the re-survey throttle.
    #[schema(value_type = Option<i64>)]
    pub last_sent_at: Option<serde_json::Value>,
    /// A new email for the person found by `phone_number` (or by `email`).
    pub email_update: Option<String>,
    /// A new phone number for the person found by `email`.
    pub phone_number_update: Option<String>,
    /// The survey to send (Ovation's; the default survey when absent).
    pub survey_id: Option<String>,
}

impl PersonRequest {
    pub fn parse(self) -> Result<PersonInput> {
        use crate::domain::loose;
        let email = self
            .email
            .as_deref()
            .map(|e| Email::parse_field("email", e))
            .transpose()?;
        let phone = self
            .phone_number
            .as_deref()
            .map(|p| Phone::parse_field("phone_number", p))
            .transpose()?;
        let name = self
            .name
            .as_deref()
            .map(|n| crate::domain::label("name", n))
            .transpose()?;
        let properties = match &self.properties {
            Some(v) => Properties::from_json("properties", v)?,
            None => Properties::default(),
        };
        let send = match &self.send {
            Some(v) => loose::boolean("send", v)?,
            None => true,
        };
        let at = match (&self.delay, &self.send_at) {
            (Some(_), Some(_)) => return Err(Error::invalid("send_at", "give either delay or send_at")),
            (_, Some(at)) => SendAt::parse("send_at", at)?,
            (delay, None) => SendAt::after(delay.as_ref().map(|v| loose::int("delay", v)).transpose()?.unwrap_or(0))?,
        };
        let channel = match self.channel.as_deref() {
            Some(c) => Channel::parse_send("channel", c)?,
            None if email.is_none() && phone.is_some() => Channel::Sms,
            None => Channel::Email,
        };
        Ok(PersonInput {
            email,
            phone,
            name,
            properties,
            email_update: self
                .email_update
                .as_deref()
                .map(|e| Email::parse_field("email_update", e))
                .transpose()?,
            phone_update: self
                .phone_number_update
                .as_deref()
                .map(|p| Phone::parse_field("phone_number_update", p))
                .transpose()?,
            last_sent_at: self
                .last_sent_at
                .as_ref()
                .map(|v| loose::int("last_sent_at", v))
                .transpose()?,
            send: send.then_some(SendRequest {
                channel,
                at,
                survey: self.survey_id,
            }),
        })
    }
}

/// Creates or updates a person through the API (audited), with the link of a survey it
/// scheduled.
pub async fn create_or_update(
    store: &TenantStore,
    caller: &Caller,
    request: PersonRequest,
    hash_only: bool,
    base: &str,
) -> Result<PersonView> {
    let input = request.parse()?;
    let done = upsert(store, &input, hash_only).await?;
    if done.changed {
        let action = if done.created {
            "person.created"
        } else {
            "person.updated"
        };
        audit::record(
            store,
            caller,
            action,
            Target::Person(done.person.id.clone()),
            Outcome::Success,
        )
        .await?;
    }
    let mut view = done.person.view();
    if let Some(invitation) = &done.invitation {
        view.survey_url = Some(format!("{base}/r/{}", invitation.token(store).await?));
    }
    Ok(view)
}
