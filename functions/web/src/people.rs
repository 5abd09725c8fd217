//! People (owners, admins, editors): one found by exact email or phone number (through the blind
//! index: nothing else is searchable), the people added last, a person's page (contact,
//! properties, unsubscribed or bounced, each send with its status and why one was skipped, their
//! answers), adding or changing a person and sending them a survey now, after a delay or at a
//! time of their day (the upsert of `POST /v1/people`, its rules and audit), cancelling their
//! pending surveys, and erasing them with every item that names them (their email typed).

use axum::extract::{MatchedPath, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::tz::TimeZone;
use minijinja::context;
use ovation::auth::Permission;
use ovation::domain::{Email, Phone};
use ovation::http::extract::{PathId, PublicBase};
use ovation::ids::PersonId;
use ovation::services::Caller;
use ovation::services::accounts::tenants;
use ovation::services::lifecycle::erasure;
use ovation::services::people::person::{self, Person};
use ovation::services::people::upsert::{self, PersonRequest};
use ovation::services::results::metrics;
use ovation::services::sending::invitations;
use ovation::services::surveys;
use ovation::store::TenantStore;
use ovation::{Context, Error, Result};

use crate::filter::{self, value};
use crate::page::{PageForm, error_in_layout, in_layout, root_of, see_other};
use crate::responses::{history, local};

type Ctx = State<std::sync::Arc<Context>>;

/// People the list shows when nobody is looked for.
const RECENT: u32 = 25;

/// What a page says after a change (`done=` of the redirect).
const DONE: &[(&str, &str)] = &[
    ("saved", "Saved."),
    (
        "sent",
        "Saved, and a survey is scheduled: it shows below until it goes.",
    ),
    ("canceled", "Their pending surveys were canceled."),
    ("erased", "The person and everything that named them were erased."),
];

/// A person as a list or their page shows them; contact details only to those who see people.
fn shown(person: &Person, sees_people: bool, tz: &TimeZone) -> minijinja::Value {
    let at = |t: Option<i64>| t.map(|t| local(t, tz));
    context! {
        id => &person.id,
        email => person.email.as_ref().filter(|_| sees_people).map(Email::as_str),
        phone => person.phone.as_ref().filter(|_| sees_people).map(Phone::as_str),
        hashed => person.email.is_none() && person.email_index.is_some(),
        name => &person.name,
        properties => &person.properties.0,
        created => local(person.created_at, tz),
        last_sent => at(person.last_sent_at),
        last_responded => at(person.last_responded_at),
        next_survey => at(person.next_survey_at),
        unsubscribed => at(person.unsubscribed_at),
        bounced => at(person.bounced_at),
    }
}

/// The viewer's zone from `zone=` (UTC when absent or unknown), and its name.
fn zone_of(pairs: &[(String, String)]) -> (String, TimeZone) {
    let name = value(pairs, "zone");
    match metrics::zone(name) {
        Ok(tz) if !name.is_empty() => (name.to_owned(), tz),
        _ => ("UTC".to_owned(), TimeZone::UTC),
    }
}

/// The surveys a survey may be sent from: (id, name), the default first.
async fn sendable(store: &TenantStore) -> Result<Vec<(String, String)>> {
    let mut all = surveys::list(store, false).await?;
    all.sort_by_key(|s| !s.is_default);
    Ok(all
        .into_iter()
        .filter(|s| s.definition.is_open(ovation::store::now_unix()))
        .map(|s| (s.id, s.definition.name))
        .collect())
}

pub async fn list(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let found = async {
        let pairs = filter::pairs(raw.as_deref())?;
        let q = value(&pairs, "q").trim().to_owned();
        let store = caller.store(&ctx);
        let person = match &q {
            q if q.is_empty() => None,
            q if q.contains('@') => person::load_by_email(&store, &Email::parse_field("q", q)?).await?,
            q => person::load_by_phone(&store, &Phone::parse_field("q", q)?).await?,
        };
        Ok((pairs, q, person))
    };
    let (pairs, q, found) = match found.await {
        Ok(found) => found,
        Err(e) => return error_in_layout(&ctx, &caller, &headers, "people", "", e).await,
    };
    if let Some(person) = found {
        return see_other(&format!("people/{}", person.id), vec![]);
    }
    let values = async {
        let store = caller.store(&ctx);
        let (zone, tz) = zone_of(&pairs);
        let people: Vec<_> = person::recent(&store, RECENT)
            .await?
            .iter()
            .map(|p| shown(p, caller.sees_people, &tz))
            .collect();
        Ok(context! {
            people, q, zone,
            missing => !q.is_empty(),
            done => filter::said(DONE, &pairs),
            surveys => sendable(&store).await?,
            manage => caller.principal.role.allows(Permission::ManagePeople),
            person => context! {},
        })
    };
    in_layout(&ctx, &caller, &headers, ("people", "people.html", ""), values).await
}

/// A person's page, times in the viewer's zone (`zone=`).
pub async fn one(
    State(ctx): Ctx,
    headers: HeaderMap,
    caller: Caller,
    PathId(id): PathId<PersonId>,
    RawQuery(raw): RawQuery,
) -> Response {
    let values = async {
        let pairs = filter::pairs(raw.as_deref())?;
        let (zone, tz) = zone_of(&pairs);
        let store = caller.store(&ctx);
        let found = load(&store, &id).await?;
        let (answers, sends) = history(&ctx, &caller, &found.id, None, &tz).await?;
        let pending = invitations::next_due(&store, &found.id, None).await?.is_some();
        let properties = found
            .properties
            .0
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n");
        Ok(context! {
            person => shown(&found, caller.sees_people, &tz),
            properties_text => properties,
            answers, sends, pending, zone,
            zone_query => format!("zone={}", ovation::http::extract::encode_component(&zone)),
            done => filter::said(DONE, &pairs),
            surveys => sendable(&store).await?,
            manage => caller.principal.role.allows(Permission::ManagePeople),
            confirm_with => found.email.as_ref().map(|e| e.as_str().to_owned())
                .or_else(|| found.phone.as_ref().map(|p| p.as_str().to_owned())),
        })
    };
    in_layout(&ctx, &caller, &headers, ("people", "person.html", "../"), values).await
}

async fn load(store: &TenantStore, id: &PersonId) -> Result<Person> {
    person::load(store, id.as_str()).await?.ok_or(Error::NotFound("person"))
}

/// The API's request of a form: contact, name, properties (`name: value` a line), and whether,
/// what, how and when to send.
fn request_of(form: &PageForm) -> Result<PersonRequest> {
    let text = |name: &str| Some(form.get(name).trim().to_owned()).filter(|t| !t.is_empty());
    let mut properties = serde_json::Map::new();
    for line in form.get("properties").lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::invalid("properties", "one a line, as name: value"))?;
        properties.insert(name.trim().to_owned(), serde_json::Value::from(value.trim()));
    }
    let send = form.get("send") == "on";
    let (delay, send_at) = match form.get("when") {
        "" | "now" => (None, None),
        "delay" => {
            let hours: u32 = form
                .get("delay_hours")
                .trim()
                .parse()
                .map_err(|_| Error::invalid("delay", "must be a whole number of hours"))?;
            (Some(serde_json::Value::from(u64::from(hours) * 3600)), None)
        }
        "at" => (None, Some(serde_json::Value::from(form.get("send_at").trim()))),
        _ => return Err(Error::invalid("when", "must be now, delay or at")),
    };
    Ok(PersonRequest {
        email: text("email"),
        phone_number: text("phone_number"),
        name: text("name"),
        properties: (!properties.is_empty()).then_some(serde_json::Value::Object(properties)),
        channel: text("channel").filter(|_| send),
        delay: delay.filter(|_| send),
        send_at: send_at.filter(|_| send),
        send: Some(serde_json::Value::from(send)),
        survey_id: text("survey_id").filter(|_| send),
        ..PersonRequest::default()
    })
}

/// Adds or changes a person (found by email, else phone number) and sends a survey if asked.
pub async fn save(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    base: PublicBase,
    caller: Caller,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let saved = async {
        let store = caller.store(&ctx);
        let tenant = tenants::active(&ctx, &caller.principal.tenant)
            .await?
            .ok_or(Error::NotFound("workspace"))?;
        let hash_only = tenant.settings.privacy.store_email_hash_only;
        upsert::create_or_update(&store, &caller, request_of(&form)?, hash_only, &base.0).await
    };
    match saved.await {
        Ok(view) => {
            let done = if view.survey_scheduled_at.is_some() {
                "sent"
            } else {
                "saved"
            };
            see_other(&format!("{root}people/{}?done={done}", view.id), vec![])
        }
        Err(e) => error_in_layout(&ctx, &caller, &headers, "people", root, e).await,
    }
}

/// Cancels the person's pending surveys.
pub async fn cancel(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(id): PathId<PersonId>,
    _form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let canceled = async {
        let store = caller.store(&ctx);
        let found = load(&store, &id).await?;
        invitations::cancel_pending(&store, &caller, &found.id).await
    };
    match canceled.await {
        Ok(_) => see_other(&format!("{root}people/{id}?done=canceled"), vec![]),
        Err(e) => error_in_layout(&ctx, &caller, &headers, "people", root, e).await,
    }
}

/// Erases the person once their email (or phone number, or `erase`) is typed to confirm.
pub async fn erase(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(id): PathId<PersonId>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let erased = async {
        let store = caller.store(&ctx);
        let found = load(&store, &id).await?;
        let expected = found
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .or_else(|| found.phone.as_ref().map(|p| p.as_str().to_owned()))
            .unwrap_or_else(|| "erase".to_owned());
        if !form.get("confirm").trim().eq_ignore_ascii_case(&expected) {
            return Err(Error::invalid(
                "confirm",
                "type what the form asks, to erase this person",
            ));
        }
        erasure::erase_person(&store, &caller, &found).await
    };
    match erased.await {
        Ok(()) => see_other(&format!("{root}people?done=erased"), vec![]),
        Err(e) => error_in_layout(&ctx, &caller, &headers, "people", root, e).await,
    }
}
