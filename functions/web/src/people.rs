//! People (whoever sees people: owners, admins, editors, and analysts where the workspace lets
//! them): one found by exact email or phone number (through the blind index: nothing else is
//! searchable), the people added last, a person's page (contact,
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
use ovation::http::extract::{PathId, PublicBase, encode_component};
use ovation::ids::PersonId;
use ovation::services::Caller;
use ovation::services::accounts::tenants;
use ovation::services::lifecycle::erasure;
use ovation::services::people::person::{self, Person};
use ovation::services::people::upsert::{self, PersonRequest};
use ovation::services::sending::autopilot::{self, Platform};
use ovation::services::sending::invitations;
use ovation::services::surveys;
use ovation::store::TenantStore;
use ovation::{Context, Error, Result};

use crate::filter::{self, value};
use crate::page::{PageForm, after_form, error_in_layout, in_layout, root_of, see_other};
use crate::responses::{history, local};

type Ctx = State<std::sync::Arc<Context>>;

/// People the list shows when nobody is looked for.
const RECENT: u32 = 25;
/// The longest delay the form offers, in hours (a year, as `delay` allows).
const MAX_DELAY_HOURS: u32 = 8784;

/// What a page says after a change (`done=` of the redirect).
const DONE: &[(&str, &str)] = &[
    ("saved", "Saved."),
    (
        "sent",
        "Saved, and a survey is scheduled: it shows below until it goes.",
    ),
    ("canceled", "Their pending surveys were canceled."),
    (
        "autopilot_joined",
        "Added to the autopilot: they are surveyed on its schedule.",
    ),
    (
        "autopilot_left",
        "Removed from the autopilot; its pending survey for them is canceled.",
    ),
    (
        "none_pending",
        "Nothing was pending any more: it had gone out or been skipped.",
    ),
    ("erased", "The person and everything that named them were erased."),
];

/// A person as a list or their page shows them to `caller`; contact details only to those who
/// see people (whom the routes already require: a second guard), the times of their surveys as
/// `PersonView::seen_by` shows them.
fn shown(person: &Person, caller: &Caller, tz: &TimeZone) -> minijinja::Value {
    let sees_people = caller.sees_people;
    let times = person.view().seen_by(caller);
    let at = |t: Option<i64>| t.map(|t| local(t, tz));
    context! {
        id => &person.id,
        email => person.email.as_ref().filter(|_| sees_people).map(Email::as_str),
        phone => person.phone.as_ref().filter(|_| sees_people).map(Phone::as_str),
        hashed => person.email.is_none() && person.email_index.is_some(),
        name => &person.name,
        properties => &person.properties.0,
        created => local(person.created_at, tz),
        last_sent => at(times.last_sent_at),
        last_responded => at(times.last_responded_at),
        next_survey => at(times.next_survey_scheduled_at),
        unsubscribed => at(person.unsubscribed_at),
        bounced => at(person.bounced_at),
    }
}

/// What a person's erasure asks to be typed: their email, else phone number, else `erase`.
fn confirmation(person: &Person) -> String {
    person
        .email
        .as_ref()
        .map(|e| e.as_str().to_owned())
        .or_else(|| person.phone.as_ref().map(|p| p.as_str().to_owned()))
        .unwrap_or_else(|| "erase".to_owned())
}

/// The surveys a survey may be sent from: (id, name), the default first.
async fn sendable(store: &TenantStore, caller: &Caller) -> Result<Vec<(String, String)>> {
    let mut all = surveys::list_visible(store, caller, false).await?;
    all.sort_by_key(|s| !s.is_default);
    Ok(all
        .into_iter()
        .filter(|s| s.definition.is_open(ovation::store::now_unix()))
        .map(|s| (s.id, s.definition.name))
        .collect())
}

/// The person a search names: none when nobody has it, `Err(())` when it is no whole email
/// address or phone number (nothing else is searchable).
async fn searched(store: &TenantStore, q: &str) -> Result<std::result::Result<Option<Person>, ()>> {
    Ok(Ok(match q {
        q if q.contains('@') => match Email::parse_field("q", q) {
            Ok(email) => person::load_by_email(store, &email).await?,
            Err(_) => return Ok(Err(())),
        },
        q => match Phone::parse_field("q", q) {
            Ok(phone) => person::load_by_phone(store, &phone).await?,
            Err(_) => return Ok(Err(())),
        },
    }))
}

pub async fn list(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let pairs = match filter::pairs(raw.as_deref()) {
        Ok(pairs) => pairs,
        Err(e) => return error_in_layout(&ctx, &caller, &headers, "people", "", e).await,
    };
    let (zone, tz) = filter::zone(value(&pairs, "zone"));
    let q = value(&pairs, "q").trim().to_owned();
    let store = caller.store(&ctx);
    let found = match q.is_empty() {
        true => Ok(Ok(None)),
        false => searched(&store, &q).await,
    };
    if let Ok(Ok(Some(person))) = &found {
        return see_other(
            &format!("people/{}?zone={}", person.id, encode_component(&zone)),
            vec![],
        );
    }
    let values = async {
        let unsearchable = found?.is_err();
        let people: Vec<_> = person::recent(&store, RECENT)
            .await?
            .iter()
            .map(|p| shown(p, &caller, &tz))
            .collect();
        let manage = caller.principal.role.allows(Permission::ManagePeople);
        Ok(context! {
            people, unsearchable, manage,
            missing => !q.is_empty() && !unsearchable,
            q,
            zone_query => format!("zone={}", encode_component(&zone)),
            zone,
            done => filter::said(DONE, &pairs),
            surveys => if manage { sendable(&store, &caller).await? } else { vec![] },
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
        let (zone, tz) = filter::zone(value(&pairs, "zone"));
        let store = caller.store(&ctx);
        let found = load(&store, &id).await?;
        let (answers, sends) = history(&ctx, &caller, &found.id, None, &tz).await?;
        let manage = caller.principal.role.allows(Permission::ManagePeople);
        let members = autopilot::memberships(&store, &found.id).await?;
        let autopilot: Vec<_> = [Platform::Email, Platform::Sms]
            .into_iter()
            .map(|p| context! { platform => p.as_str(), member => members.contains(&p) })
            .collect();
        Ok(context! {
            person => shown(&found, &caller, &tz),
            autopilot,
            pending => sends.iter().any(|s| s.pending),
            answers, sends, manage,
            zone_query => format!("zone={}", encode_component(&zone)),
            zone,
            done => filter::said(DONE, &pairs),
            surveys => if manage { sendable(&store, &caller).await? } else { vec![] },
            confirm_with => confirmation(&found),
        })
    };
    in_layout(&ctx, &caller, &headers, ("people", "person.html", "../"), values).await
}

async fn load(store: &TenantStore, id: &PersonId) -> Result<Person> {
    person::load(store, id.as_str()).await?.ok_or(Error::NotFound("person"))
}

/// The API's request of a form: contact, name, properties (`name: value` a line, added or
/// changed), and whether, what, how and when to send. From a person's page the person is named
/// by their stored contact (`lookup_email`, else `lookup_phone`), and an email or number typed
/// that differs from it is the API's `email_update` or `phone_number_update`.
fn request_of(form: &PageForm) -> Result<PersonRequest> {
    let text = |name: &str| Some(form.get(name).trim().to_owned()).filter(|t| !t.is_empty());
    let (lookup_email, lookup_phone) = (text("lookup_email"), text("lookup_phone"));
    let (typed_email, typed_phone) = (text("email"), text("phone_number"));
    let differs = |typed: &Option<String>, stored: &Option<String>| match (typed, stored) {
        (Some(t), Some(s)) => !t.eq_ignore_ascii_case(s),
        (Some(_), None) => true,
        (None, _) => false,
    };
    let (email, phone_number, email_update, phone_number_update) = if lookup_email.is_some() || lookup_phone.is_some() {
        (
            lookup_email.clone(),
            lookup_phone.clone().filter(|_| lookup_email.is_none()),
            typed_email.clone().filter(|_| differs(&typed_email, &lookup_email)),
            typed_phone.clone().filter(|_| differs(&typed_phone, &lookup_phone)),
        )
    } else {
        (typed_email, typed_phone, None, None)
    };
    let mut properties = serde_json::Map::new();
    for line in form.get("properties").lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::invalid("properties", "one a line, as name: value"))?;
        properties.insert(name.trim().to_owned(), serde_json::Value::from(value.trim()));
    }
    let send = form.get("send") == "on";
    let (delay, send_at) = match form.get("when") {
        _ if !send => (None, None),
        "" | "now" => (None, None),
        "delay" => {
            let hours: u32 = form
                .get("delay_hours")
                .trim()
                .parse()
                .ok()
                .filter(|h| *h <= MAX_DELAY_HOURS)
                .ok_or_else(|| {
                    Error::invalid(
                        "delay",
                        format!("must be a whole number of hours, up to {MAX_DELAY_HOURS}"),
                    )
                })?;
            (Some(serde_json::Value::from(u64::from(hours) * 3600)), None)
        }
        "at" => (None, Some(serde_json::Value::from(form.get("send_at").trim()))),
        _ => return Err(Error::invalid("when", "must be now, delay or at")),
    };
    Ok(PersonRequest {
        email,
        phone_number,
        email_update,
        phone_number_update,
        name: text("name"),
        properties: (!properties.is_empty()).then_some(serde_json::Value::Object(properties)),
        channel: text("channel").filter(|_| send),
        delay,
        send_at,
        send: Some(serde_json::Value::from(send)),
        survey_id: text("survey_id").filter(|_| send),
        ..PersonRequest::default()
    })
}

/// Adds or changes a person and sends a survey if asked.
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
    let to = saved.await.map(|view| {
        let done = if view.survey_scheduled_at.is_some() {
            "sent"
        } else {
            "saved"
        };
        format!(
            "people/{}?done={done}&zone={}",
            view.id,
            encode_component(form.get("zone"))
        )
    });
    after_form(&ctx, &caller, &headers, ("people", root), to).await
}

/// Cancels the person's pending surveys.
pub async fn cancel(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(id): PathId<PersonId>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let canceled = async {
        let store = caller.store(&ctx);
        let found = load(&store, &id).await?;
        invitations::cancel_pending(&store, &caller, &found.id).await
    };
    let to = canceled.await.map(|count| {
        let done = if count > 0 { "canceled" } else { "none_pending" };
        format!("people/{id}?done={done}&zone={}", encode_component(form.get("zone")))
    });
    after_form(&ctx, &caller, &headers, ("people", root), to).await
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
        if !form.get("confirm").trim().eq_ignore_ascii_case(&confirmation(&found)) {
            return Err(Error::invalid(
                "confirm",
                "type what the form asks, to erase this person",
            ));
        }
        erasure::erase_person(&store, &caller, &found).await
    };
    let to = erased.await.map(|()| "people?done=erased".to_owned());
    after_form(&ctx, &caller, &headers, ("people", root), to).await
}
