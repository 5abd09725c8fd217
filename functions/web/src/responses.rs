//! The responses: the feed, newest first, narrowed by survey, period, score group, channel, tag,
//! comment or not, a property's value and words in the comment (comments are sealed, so the
//! feed decrypts page by page, bounded, and says when it stopped looking); and a response's
//! page, with every answer, its notes and tags (editable by those who may), and its person's
//! sends and answers. The API's `permalink` is this page.

use axum::extract::{MatchedPath, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use minijinja::context;
use ovation::auth::Permission;
use ovation::domain::{Channel, Score};
use ovation::http::attachment;
use ovation::http::extract::{PathId, encode_component};
use ovation::ids::ResponseId;
use ovation::services::Caller;
use ovation::services::exports::downloads;
use ovation::services::exports::spreadsheets::Format;
use ovation::services::people::person::{self, Person};
use ovation::services::results::counters::Measure;
use ovation::services::results::response_list::{self, Narrowing, Order, ResponseFilter};
use ovation::services::results::response_record::{self, ResponseRecord};
use ovation::services::results::responses::{self, ResponseChange};
use ovation::services::sending::invitations;
use ovation::services::surveys;
use ovation::store::now_unix;
use ovation::{Context, Result};
use serde::Serialize;

use crate::filter::{self, Filter, value};
use crate::page::{PageForm, error_in_layout, in_layout, root_of, see_other};

type Ctx = State<std::sync::Arc<Context>>;

/// Responses a feed page shows.
const PER_PAGE: u32 = 25;
/// Of a person's other answers and sends, how many the response's page lists.
const HISTORY: usize = 10;

/// The feed's filters beyond the period, as the form shows them.
#[derive(Default, Serialize)]
pub(crate) struct Narrow {
    group: String,
    channel: String,
    tag: String,
    comment: String,
    property: String,
    value: String,
    q: String,
}

impl Narrow {
    fn parse(pairs: &[(String, String)]) -> Result<(Narrow, Narrowing)> {
        let text = |name: &str| value(pairs, name).trim().to_owned();
        let shown = Narrow {
            group: text("group"),
            channel: text("channel"),
            tag: text("tag"),
            comment: text("comment"),
            property: text("property"),
            value: text("value"),
            q: text("q"),
        };
        let some = |t: &String| Some(t.clone()).filter(|t| !t.is_empty());
        let narrowing = Narrowing {
            group: match shown.group.as_str() {
                "promoter" => Some(Measure::Promoter),
                "passive" => Some(Measure::Passive),
                "detractor" => Some(Measure::Detractor),
                _ => None,
            },
            channel: some(&shown.channel).map(|c| Channel::parse(&c)).transpose()?,
            tag: some(&shown.tag),
            with_comment: match shown.comment.as_str() {
                "with" => Some(true),
                "without" => Some(false),
                _ => None,
            },
            property: some(&shown.property).map(|p| (p, shown.value.clone())),
            text: some(&shown.q),
        };
        Ok((shown, narrowing))
    }
}

/// One response as the feed and the person's history show it.
#[derive(Serialize)]
pub(crate) struct Row {
    id: String,
    score: u8,
    group: &'static str,
    comment: Option<String>,
    name: Option<String>,
    email: Option<String>,
    channel: &'static str,
    survey: String,
    at: String,
    tags: Vec<String>,
}

fn group_of(score: Score) -> &'static str {
    match Measure::of_score(score) {
        Measure::Promoter => "promoter",
        Measure::Passive => "passive",
        _ => "detractor",
    }
}

pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "Email",
        Channel::Sms => "SMS",
        Channel::Web => "Web link",
        Channel::Api => "API",
    }
}

/// A time as the viewer reads it (`2026-12-04 09:30`).
pub(crate) fn local(at: i64, tz: &TimeZone) -> String {
    Timestamp::from_second(at)
        .map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// The rows of `records`, their surveys named from `names` (`survey_names`): their people's names
/// and emails only for those who may see them.
async fn rows(
    ctx: &Context,
    caller: &Caller,
    records: &[ResponseRecord],
    names: &[(String, String)],
    tz: &TimeZone,
) -> Result<Vec<Row>> {
    let store = caller.store(ctx);
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let person = match (&r.person, caller.sees_people) {
            (Some(id), true) => person::load(&store, id).await?,
            _ => None,
        };
        out.push(Row {
            id: r.id.clone(),
            score: r.score.value(),
            group: group_of(r.score),
            comment: r.comment.clone(),
            name: person.as_ref().and_then(|p| p.name.clone()),
            email: person
                .as_ref()
                .and_then(|p| p.email.as_ref().map(|e| e.as_str().to_owned())),
            channel: channel_name(r.channel),
            survey: names
                .iter()
                .find(|(id, _)| *id == r.survey)
                .map_or_else(String::new, |(_, n)| n.clone()),
            at: local(r.created_at, tz),
            tags: r.tags.clone(),
        });
    }
    Ok(out)
}

pub async fn feed(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = feed_page(&ctx, &caller, raw.as_deref());
    in_layout(&ctx, &caller, &headers, ("responses", "responses.html", ""), values).await
}

/// What a feed's query asks for: the period, the narrowing as shown, the filter they make.
pub(crate) fn feed_filter(pairs: &[(String, String)], now: i64) -> Result<(Filter, Narrow, ResponseFilter)> {
    let period = Filter::parse(pairs, now)?;
    let (narrow, narrowing) = Narrow::parse(pairs)?;
    let filter = ResponseFilter {
        since: Some(period.since),
        until: Some(period.until),
        survey: Some(period.survey.clone()).filter(|s| !s.is_empty()),
        order: Order::CreatedDesc,
        narrow: narrowing,
        ..ResponseFilter::default()
    };
    Ok((period, narrow, filter))
}

async fn feed_page(ctx: &Context, caller: &Caller, raw: Option<&str>) -> Result<minijinja::Value> {
    let pairs = filter::pairs(raw)?;
    // A later page keeps the first page's clock, so that its cursor reads the same range.
    let now = value(&pairs, "at").parse().unwrap_or_else(|_| now_unix());
    let (period, narrow, filter) = feed_filter(&pairs, now)?;
    let store = caller.store(ctx);
    let cursor = Some(value(&pairs, "cursor")).filter(|c| !c.is_empty());
    let filter = filter.for_caller(&store, caller).await?;
    let page = response_list::list(&store, &filter, PER_PAGE, 0, cursor).await?;
    let surveys: Vec<(String, String)> = surveys::list_visible(&store, caller, false)
        .await?
        .into_iter()
        .map(|s| (s.id, s.definition.name))
        .collect();
    // The next page: the same filters, the same clock, the cursor.
    let next = page.cursor.as_ref().map(|cursor| {
        let kept = pairs.iter().filter(|(n, _)| n != "cursor" && n != "at");
        let mut query = url_encoded(kept.map(|(n, v)| (n.as_str(), v.as_str())));
        query.push_str(&url_encoded([
            ("at", now.to_string().as_str()),
            ("cursor", cursor.as_str()),
        ]));
        format!("responses?{query}")
    });
    // The same responses as a file: the filters, without the page's place.
    let export = url_encoded(
        pairs
            .iter()
            .filter(|(n, _)| n != "cursor" && n != "format")
            .map(|(n, v)| (n.as_str(), v.as_str())),
    );
    let zone_query = url_encoded([("zone", period.zone.as_str())])
        .trim_end_matches('&')
        .to_owned();
    Ok(context! {
        zone_query,
        filter => period,
        narrow,
        export,
        surveys,
        rows => rows(ctx, caller, &page.responses, &survey_names(&store, caller).await?, &period.tz).await?,
        next,
        scan_stopped => page.scan_stopped,
        sees_people => caller.sees_people,
        channels => ["email", "sms", "web", "api"],
    })
}

/// The feed's responses as a CSV or Excel file (`format`), up to the rows and size a download
/// holds; an error page says so past them.
pub async fn export(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let file = async {
        let pairs = filter::pairs(raw.as_deref())?;
        let format: Format = match value(&pairs, "format") {
            "" => Format::Csv,
            other => other.parse()?,
        };
        let (_, _, filter) = feed_filter(&pairs, now_unix())?;
        let store = caller.store(&ctx);
        let filter = filter.for_caller(&store, &caller).await?;
        downloads::responses(&store, &caller, &filter, format).await
    };
    match file.await {
        Ok(file) => attachment(file.content_type, &file.name, file.bytes),
        Err(e) => error_in_layout(&ctx, &caller, &headers, "responses", "../", e).await,
    }
}

/// `name=value&` pairs, form-encoded.
fn url_encoded<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(name, value)| format!("{}={}&", encode_component(name), encode_component(value)))
        .collect()
}

/// One send in a person's history.
#[derive(Serialize)]
pub(crate) struct SendRow {
    at: String,
    survey: Option<String>,
    channel: &'static str,
    /// What became of it, as a sentence's end ("sent", "not sent: they unsubscribed").
    status: String,
    /// The response to it, once answered.
    answered: Option<String>,
    /// Still waiting for its time (and so cancelable).
    pub(crate) pending: bool,
}

/// What became of a send, said plainly: its status and, when skipped, why.
fn send_status(status: &str, skip_reason: Option<&str>) -> String {
    let why = match skip_reason.unwrap_or_default() {
        "tenant_deleted" => "the workspace was deleted",
        "survey_deleted" => "the survey was deleted",
        "survey_closed" => "the survey was closed",
        "person_deleted" => "the person was erased",
        "unsubscribed" => "they unsubscribed",
        "bounced" => "their email bounced",
        "throttled" => "asked recently (the survey's re-survey window)",
        "answered" => "they had answered",
        _ => "",
    };
    match (status, why) {
        ("pending", _) => "scheduled".to_owned(),
        ("queued" | "sending", _) => "sending".to_owned(),
        ("skipped", "") => "not sent".to_owned(),
        ("skipped", why) => format!("not sent: {why}"),
        ("web", _) => "answered through the web link".to_owned(),
        (other, _) => other.to_owned(),
    }
}

/// A person's latest answers (but `except`) and sends, newest first: their history on a page.
pub(crate) async fn history(
    ctx: &Context,
    caller: &Caller,
    person: &str,
    except: Option<&str>,
    tz: &TimeZone,
) -> Result<(Vec<Row>, Vec<SendRow>)> {
    let store = caller.store(ctx);
    let theirs = ResponseFilter {
        person: Some(person.to_owned()),
        order: Order::CreatedDesc,
        ..ResponseFilter::default()
    }
    .for_caller(&store, caller)
    .await?;
    let latest = response_list::list(&store, &theirs, HISTORY as u32 + 1, 0, None).await?;
    let others: Vec<ResponseRecord> = latest
        .responses
        .into_iter()
        .filter(|r| Some(r.id.as_str()) != except)
        .take(HISTORY)
        .collect();
    let names = survey_names(&store, caller).await?;
    let answers = rows(ctx, caller, &others, &names, tz).await?;
    // The sends of the surveys the caller sees.
    let sends = invitations::of_person(&store, person)
        .await?
        .into_iter()
        .filter(|invitation| names.iter().any(|(id, _)| *id == invitation.survey))
        .take(HISTORY)
        .map(|invitation| SendRow {
            at: local(invitation.sent_at.unwrap_or(invitation.due_at), tz),
            survey: names
                .iter()
                .find(|(id, _)| *id == invitation.survey)
                .map(|(_, n)| n.clone()),
            channel: channel_name(invitation.channel),
            status: send_status(&invitation.status, invitation.skip_reason.as_deref()),
            pending: invitation.status == "pending",
            answered: invitation.response,
        })
        .collect();
    Ok((answers, sends))
}

/// The id and name of every survey the caller sees (archived ones too), to name them in lists.
async fn survey_names(store: &ovation::store::TenantStore, caller: &Caller) -> Result<Vec<(String, String)>> {
    Ok(surveys::list_visible(store, caller, true)
        .await?
        .into_iter()
        .map(|s| (s.id, s.definition.name))
        .collect())
}

/// A response's page, its times in the viewer's zone (`zone`, else UTC).
pub async fn one(
    State(ctx): Ctx,
    headers: HeaderMap,
    caller: Caller,
    PathId(id): PathId<ResponseId>,
    RawQuery(raw): RawQuery,
) -> Response {
    let zone = filter::pairs(raw.as_deref())
        .map(|p| value(&p, "zone").to_owned())
        .unwrap_or_default();
    let values = response_page(&ctx, &caller, &id, &zone);
    in_layout(&ctx, &caller, &headers, ("responses", "response.html", "../"), values).await
}

async fn response_page(ctx: &Context, caller: &Caller, id: &ResponseId, zone: &str) -> Result<minijinja::Value> {
    let store = caller.store(ctx);
    let (record, survey) = response_record::visible(&store, caller, id.as_str()).await?;
    let survey = Some(survey);
    let person: Option<Person> = match (&record.person, caller.sees_people) {
        (Some(p), true) => person::load(&store, p).await?,
        _ => None,
    };
    let (zone, tz) = crate::filter::zone(zone);
    let view = record.view("", survey.as_ref(), person.as_ref().map(|p| p.view().seen_by(caller)));
    let (answers, sends) = match &record.person {
        Some(p) => history(ctx, caller, p, Some(&record.id), &tz).await?,
        None => (vec![], vec![]),
    };
    Ok(context! {
        response => view,
        group => group_of(record.score),
        survey_name => survey.map(|s| s.definition.name),
        channel => channel_name(record.channel),
        created => local(record.created_at, &tz),
        updated => local(record.updated_at, &tz),
        person => person.map(|p| p.view().seen_by(caller)),
        anonymized => record.anonymized_at.is_some(),
        answers,
        sends,
        zone_query => url_encoded([("zone", zone.as_str())]).trim_end_matches('&').to_owned(),
        zone,
        can_edit => caller.principal.role.allows(Permission::ManageResponses),
        sees_people => caller.sees_people,
    })
}

/// Changes a response's tags and adds a note (the form of its page).
pub async fn edit(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(id): PathId<ResponseId>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let store = caller.store(&ctx);
    let change = async {
        let (record, _) = response_record::visible(&store, &caller, id.as_str()).await?;
        let tags: Vec<String> = form
            .get("tags")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let mut notes: Vec<(Option<String>, String)> = record
            .notes
            .iter()
            .map(|n| (Some(n.id.clone()), n.text.clone()))
            .collect();
        let note = form.get("note").trim();
        if !note.is_empty() {
            notes.push((None, note.to_owned()));
        }
        let change = ResponseChange {
            tags: Some(tags),
            notes: Some(notes),
            ..ResponseChange::default()
        };
        responses::update(&store, &caller, &id, change).await
    };
    match change.await {
        Ok(_) => see_other(id.as_str(), vec![]),
        Err(e) => error_in_layout(&ctx, &caller, &headers, "responses", root, e).await,
    }
}
