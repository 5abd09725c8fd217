//! A person as stored: their record, found by id, email or phone (through blind indexes), listed
//! by creation, and the two marks that stop sending to them (unsubscribed, bounced).
//! Email, phone, name and properties are encrypted; in "hashed email only" mode the address is
//! kept only as its blind index (and on a pending invitation until it is sent).

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::send_at::SendAt;
use crate::domain::{Channel, Email, PersonRef, Phone, Properties};
use crate::error::{Error, Result};
use crate::services::{Caller, SurveyAccess};
use crate::store::{Condition, Item, Key, Query, SortKey, TenantStore, TxOp, Update, keys, now_unix};

pub(crate) const EMAIL: &str = "email";
pub(crate) const PHONE: &str = "phone";
const NAME: &str = "name";
const PROPERTIES: &str = "properties";
/// A person's next survey: the earliest of their pending invitations.
pub(crate) const NEXT_SURVEY_AT: &str = "next_survey_at";
const UPDATED_AT: &str = "updated_at";

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
    pub(crate) version: i64,
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
    /// When a survey was scheduled by this call: when it goes out, as Delighted answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey_scheduled_at: Option<i64>,
    /// When a survey was scheduled by this call: its link (`/r/{token}`), until it is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey_url: Option<String>,
}

impl PersonView {
    /// The view as `caller` may see it: one who sees surveys by their teams is not shown when the
    /// person was last surveyed, last answered or is next surveyed (any survey's, theirs or not).
    pub fn seen_by(mut self, caller: &Caller) -> PersonView {
        if caller.surveys != SurveyAccess::Every {
            self.last_sent_at = None;
            self.last_responded_at = None;
            self.next_survey_scheduled_at = None;
        }
        self
    }
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
            survey_scheduled_at: None,
            survey_url: None,
        }
    }

    pub(crate) fn key(&self, store: &TenantStore) -> Result<Key> {
        keys::person(store.tenant(), &self.id)
    }

    pub(crate) async fn to_item(&self, store: &TenantStore, hash_only: bool) -> Result<Item> {
        let key = self.key(store)?;
        let crypto = store.crypto();
        let mut item = Item::new(key.clone())
            .with("created_at", self.created_at)
            // When the person was last written: activity, for retention.
            .with(UPDATED_AT, now_unix())
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
            (NEXT_SURVEY_AT, self.next_survey_at),
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
            next_survey_at: item.num(NEXT_SURVEY_AT),
            unsubscribed_at: item.num("unsubscribed_at"),
            bounced_at: item.num("bounced_at"),
            version: item.num("version").unwrap_or_default(),
        })
    }
}

/// When the person stored in `item` was last active (made, written, sent a survey or
/// answered); none while something keeps them whatever their age: a survey scheduled, or an
/// unsubscribe or bounce that must be remembered so that they are not asked again.
pub(crate) fn idle_since(item: &Item) -> Option<i64> {
    if [NEXT_SURVEY_AT, "unsubscribed_at", "bounced_at"]
        .iter()
        .any(|a| item.get(a).is_some())
    {
        return None;
    }
    ["created_at", UPDATED_AT, "last_sent_at", "last_responded_at"]
        .iter()
        .filter_map(|a| item.num(a))
        .max()
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

pub(super) async fn load_by_index(store: &TenantStore, kind: &str, blind: &str) -> Result<Option<Person>> {
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

/// The person a path names.
pub async fn find(store: &TenantStore, named: &PersonRef) -> Result<Person> {
    let found = match named {
        PersonRef::Email(email) => load_by_email(store, email).await?,
        PersonRef::Phone(phone) => load_by_phone(store, phone).await?,
        PersonRef::Id(id) => load(store, id.as_str()).await?,
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
    Ok(PeoplePage {
        people: opened(store, &page.items).await?,
        cursor: page.cursor,
    })
}

/// People from their items, their personal fields opened.
async fn opened(store: &TenantStore, items: &[Item]) -> Result<Vec<Person>> {
    let mut people = Vec::with_capacity(items.len());
    for item in items {
        people.push(Person::from_item(store, item).await?);
    }
    Ok(people)
}

/// The `count` people added last, newest first.
pub async fn recent(store: &TenantStore, count: u32) -> Result<Vec<Person>> {
    let query = Query::new(keys::people_partition(store.tenant()))
        .backward()
        .limit(count);
    opened(store, &store.query(query, None).await?.items).await
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

/// The two ways a person is suppressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppression {
    Unsubscribed,
    /// A permanent bounce of the person's current email address.
    Bounced,
}

impl Suppression {
    /// The person's attribute holding when.
    pub fn field(self) -> &'static str {
        match self {
            Suppression::Unsubscribed => "unsubscribed_at",
            Suppression::Bounced => "bounced_at",
        }
    }

    fn list(self) -> &'static str {
        match self {
            Suppression::Unsubscribed => "UNSUB",
            Suppression::Bounced => "BOUNCE",
        }
    }

    /// The partition of this list.
    pub fn partition(self, tenant: &crate::ids::TenantId) -> Result<String> {
        keys::suppression_partition(tenant, self.list())
    }

    /// The person's entry in this list, suppressed at `at`.
    pub fn entry(self, store: &TenantStore, at: i64, person: &str) -> Result<Key> {
        keys::suppression(store.tenant(), self.list(), at, person)
    }
}

/// The deletions of a person's list entries (when the person goes, or a bounce no longer
/// applies to a changed address).
pub fn entry_deletions(store: &TenantStore, person: &Person) -> Result<Vec<TxOp>> {
    [
        (Suppression::Unsubscribed, person.unsubscribed_at),
        (Suppression::Bounced, person.bounced_at),
    ]
    .into_iter()
    .filter_map(|(kind, at)| at.map(|at| (kind, at)))
    .map(|(kind, at)| {
        Ok(TxOp::Delete {
            key: kind.entry(store, at, &person.id)?,
            condition: None,
        })
    })
    .collect()
}
