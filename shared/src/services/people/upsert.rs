//! Creating or updating a person (Delighted's `POST /v1/people`, imports, autopilot): matched by
//! email or phone, written with a survey it schedules in one transaction.

use utoipa::ToSchema;

use crate::domain::send_at::{SendAt, TIME_ZONE_PROPERTY};
use crate::domain::{Channel, Email, Phone, Properties};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::services::Caller;
use crate::services::audit::{self, Target};
use crate::services::people::person::{
    EMAIL, PHONE, Person, PersonInput, PersonView, SendRequest, Suppression, email_index, load_by_index, phone_index,
};
use crate::services::sending::invitations::{self, Invitation};
use crate::services::surveys::{self, Survey};
use crate::store::{Condition, Item, TenantStore, TxOp, keys, now_unix};

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
    upsert_as(store, None, input, hash_only).await
}

/// As `upsert`; a change made `by` a caller commits with their event (`person.created`,
/// `person.updated`).
async fn upsert_as(store: &TenantStore, by: Option<&Caller>, input: &PersonInput, hash_only: bool) -> Result<Upserted> {
    if input.email.is_none() && input.phone.is_none() {
        return Err(Error::invalid("email", "an email or a phone_number is required"));
    }
    // A caller sends only a survey they see; an import checked its survey when it began.
    let survey = match (&input.send, by) {
        (Some(send), Some(caller)) => Some(surveys::resolve_visible(store, caller, send.survey.as_deref()).await?),
        (Some(send), None) => Some(surveys::resolve(store, send.survey.as_deref()).await?),
        (None, _) => None,
    };
    let mut last = Error::internal("unreachable");
    for _ in 0..4 {
        match upsert_once(store, by, input, hash_only, survey.as_ref(), false).await {
            Err(e @ (Error::TransactionCanceled(_) | Error::ConditionFailed)) => last = e,
            other => return other,
        }
    }
    Err(last)
}

/// Creates a person whose email or phone no one has yet; `None`, and nothing written, when
/// someone has (found first, or made by another write meanwhile): never changes a person.
pub async fn create_only(store: &TenantStore, input: &PersonInput, hash_only: bool) -> Result<Option<Person>> {
    if input.email.is_none() && input.phone.is_none() {
        return Err(Error::invalid("email", "an email or a phone_number is required"));
    }
    match upsert_once(store, None, input, hash_only, None, true).await {
        Ok(made) => Ok(made.created.then_some(made.person)),
        Err(Error::TransactionCanceled(_) | Error::ConditionFailed) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One attempt; with `only_new`, a person found is returned untouched.
async fn upsert_once(
    store: &TenantStore,
    by: Option<&Caller>,
    input: &PersonInput,
    hash_only: bool,
    survey: Option<&Survey>,
    only_new: bool,
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
    if let (true, Some(person)) = (only_new, &existing) {
        return Ok(Upserted {
            person: person.clone(),
            created: false,
            changed: false,
            invitation: None,
        });
    }
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
        if let Some(caller) = by {
            let action = if created { "person.created" } else { "person.updated" };
            ops.push(audit::entry(store, caller, action, Target::Person(person.id.clone())).await?);
        }
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
                .map(|v| loose::unix_time("last_sent_at", v))
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
    let done = upsert_as(store, Some(caller), &input, hash_only).await?;
    let mut view = done.person.view().seen_by(caller);
    if let Some(invitation) = &done.invitation {
        view.survey_scheduled_at = Some(invitation.due_at);
        view.survey_url = Some(format!("{base}/r/{}", invitation.token(store).await?));
    }
    Ok(view)
}
