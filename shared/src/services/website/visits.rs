//! What the widget on a customer's site asks, through a site key: whether this visitor should see
//! the survey now (`decide`), their answer (`answer`), their comment and additional answers
//! (`comment`), and their closing it unanswered (`dismiss`). A visitor is an email (a person,
//! found or made when they answer; never changed by a visitor, never said to exist; signed by
//! the host's server when the key asks for it) or an anonymous id the widget keeps in the host
//! page's storage. What is remembered of a visitor is per survey, under a blind index of who
//! they are: when they first came, were last shown the survey, answered or dismissed it.
//! Answers are web-channel responses with an invitation of their own, as the web link's are, so
//! they count, export and notify like any other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::site_keys::Site;
use crate::crypto::links::{Link, LinkKind};
use crate::domain::brand::white_reads_on;
use crate::domain::survey::{Answer, QuestionKind};
use crate::domain::texts::texts;
use crate::domain::{Email, Language, Properties, Score};
use crate::error::{Error, Result};
use crate::ids::{id_time, new_id};
use crate::services::people::person::{self, Person, PersonInput};
use crate::services::people::upsert;
use crate::services::results::response_record;
use crate::services::results::responses::{self, Answered, Provenance};
use crate::services::sending::invitations;
use crate::services::surveys::{self, Survey};
use crate::store::{Condition, Item, Key, TxOp, Update, keys};

/// How long a visitor is remembered after their last showing (then the store's expiry removes
/// it), unless the workspace's retention period is shorter.
const REMEMBERED_FOR: i64 = 400 * 86_400;
/// How long a showing left untouched (no answer, no dismissal: the visitor went on) holds the
/// survey back before it may be shown again.
const UNTOUCHED_HOLD: i64 = 3_600;
/// Showings left untouched after which the recurring period applies as to a dismissal.
const MAX_UNTOUCHED: i64 = 3;
/// How long a showing may be answered or dismissed.
const ASK_LIFETIME: i64 = 86_400;
/// The recurring period when neither the call nor the survey's throttle days set one.
const DEFAULT_RECURRING: i64 = 90 * 86_400;
/// The longest delay or period taken (ten years).
const MAX_PERIOD: f64 = 10.0 * 365.0 * 86_400.0;
/// The property a response keeps the page it was answered on in (its origin and path only).
const PAGE_PROPERTY: &str = "page_url";
/// Delighted's property for the product a question names.
const PRODUCT_PROPERTY: &str = "questionProductName";

/// Who a request is about: an email, or the widget's anonymous id.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorRef {
    pub email: Option<String>,
    /// HMAC-SHA-256 of the email (lower case) under the site key's identity secret, in hex,
    /// computed by the host's server: required when the key takes only signed emails.
    pub email_signature: Option<String>,
    /// 32 lowercase hex characters, kept by the widget in the host page's `localStorage`.
    pub visitor_id: Option<String>,
}

/// `POST /w/v1/decide`: should this visitor see the survey now? Delighted's options, by the
/// widget's names.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    pub key: String,
    pub visitor: VisitorRef,
    /// When the person was created in the host's system (ISO 8601, or Unix seconds).
    #[schema(value_type = Option<String>)]
    pub created_at: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
    /// The browser's language (`navigator.language`); the `locale` property wins over it.
    pub language: Option<String>,
    /// Seconds after `created_at` (else the visitor's first visit) before the first showing.
    pub initial_delay: Option<f64>,
    /// Seconds before the survey is shown again, or `false` for only once; else the survey's
    /// throttle days, else 90 days.
    #[schema(value_type = Option<Object>)]
    pub recurring_period: Option<serde_json::Value>,
    /// The share of eligible visitors shown the survey, 0 to 1 (each call draws anew).
    pub sample_factor: Option<f64>,
    /// Show it whatever the rules say (for testing a page).
    #[serde(default)]
    pub force_display: bool,
}

/// The answer to `decide`: nothing to show, or the survey in the visitor's language and the
/// showing its answer or dismissal carries.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Decision {
    pub show: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey: Option<WidgetSurvey>,
}

/// A survey as the widget shows it: its texts filled in one language, its brand colour.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WidgetSurvey {
    pub id: String,
    pub language: String,
    pub dir: &'static str,
    pub brand: String,
    pub brand_text: &'static str,
    pub question: String,
    pub not_likely: &'static str,
    pub very_likely: &'static str,
    pub comment_prompt: String,
    pub submit: &'static str,
    pub thanks: String,
    pub close: &'static str,
    pub optional: &'static str,
    pub questions: Vec<WidgetQuestion>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WidgetQuestion {
    pub id: String,
    pub kind: QuestionKind,
    pub text: String,
    pub scale: Option<Vec<u8>>,
    pub low: &'static str,
    pub high: &'static str,
    pub choices: Vec<String>,
}

/// `POST /w/v1/answers`: the score a visitor chose.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    pub key: String,
    /// The showing, from `decide`.
    pub ask: String,
    pub visitor: VisitorRef,
    /// A person's name, kept when the email makes a new person.
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
    pub page_url: Option<String>,
    pub score: i64,
    pub language: Option<String>,
}

/// The answer recorded: the token its comment and additional answers carry (the same again for
/// a repeat of the answer, which records nothing more).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AnswerReceipt {
    pub response: String,
}

/// `POST /w/v1/comments`: the comment and additional answers of an answer.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    pub key: String,
    /// The token `answers` gave.
    pub response: String,
    pub comment: Option<String>,
    /// By question id: text, a number of the scale, a choice's index (from 0) or a list of them.
    #[schema(value_type = Option<Object>)]
    pub answers: Option<BTreeMap<String, serde_json::Value>>,
}

/// `POST /w/v1/dismissals`: the visitor closed the survey without answering.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissRequest {
    pub key: String,
    pub ask: String,
    pub visitor: VisitorRef,
}

/// A visitor, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Visitor {
    Email(Email),
    Anonymous(String),
}

impl Visitor {
    async fn parse(given: &VisitorRef, site: &Site) -> Result<Visitor> {
        match (&given.email, &given.visitor_id) {
            (Some(email), _) => {
                let email = Email::parse_field("visitor.email", email)?;
                if site.key.signed_emails {
                    let signature = given.email_signature.as_deref().unwrap_or_default();
                    if !site.key.signs(&site.store, &email, signature).await? {
                        return Err(Error::Forbidden {
                            code: "email_signature_invalid",
                            reason: "this site key takes only emails signed by your server (emailSignature)",
                        });
                    }
                }
                Ok(Visitor::Email(email))
            }
            (None, Some(id))
                if id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Ok(Visitor::Anonymous(id.clone()))
            }
            (None, Some(_)) => Err(Error::invalid(
                "visitor.visitor_id",
                "must be 32 lowercase hex characters",
            )),
            (None, None) => Err(Error::invalid("visitor", "give an email or a visitor_id")),
        }
    }

    /// The key of what is remembered of this visitor for `survey`: an email's under the blind
    /// index people are found by (so that erasing the person finds it), an anonymous id's under
    /// its own.
    async fn key(&self, site: &Site, survey: &str) -> Result<Key> {
        let who = match self {
            Visitor::Email(e) => format!("E{}", person::email_index(&site.store, e).await?),
            Visitor::Anonymous(id) => format!("V{}", site.store.crypto().blind_index("site-visitor", id).await?),
        };
        keys::site_visit(site.store.tenant(), survey, &who)
    }
}

/// When the survey may be shown again after a showing, an answer or a dismissal.
enum Recurring {
    Default,
    Once,
    Every(i64),
}

fn seconds(field: &'static str, value: f64) -> Result<i64> {
    if !value.is_finite() || !(0.0..=MAX_PERIOD).contains(&value) {
        return Err(Error::invalid(field, "must be a number of seconds from 0 to ten years"));
    }
    Ok(value as i64)
}

fn recurring(value: Option<&serde_json::Value>) -> Result<Recurring> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(Recurring::Default),
        Some(serde_json::Value::Bool(false)) => Ok(Recurring::Once),
        Some(serde_json::Value::Number(n)) => Ok(Recurring::Every(seconds(
            "recurring_period",
            n.as_f64().unwrap_or(-1.0),
        )?)),
        _ => Err(Error::invalid(
            "recurring_period",
            "must be a number of seconds, or false for only once",
        )),
    }
}

fn created_at(value: Option<&serde_json::Value>) -> Result<Option<i64>> {
    let bad = || {
        Error::invalid(
            "created_at",
            "must be an ISO 8601 time (2026-05-30T00:02:46Z) or Unix seconds",
        )
    };
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().bytes().all(|b| b.is_ascii_digit()) => {
            s.trim().parse().map(Some).map_err(|_| bad())
        }
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse::<jiff::Timestamp>()
            .map(|t| Some(t.as_second()))
            .map_err(|_| bad()),
        Some(serde_json::Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn properties(value: Option<&serde_json::Value>) -> Result<Properties> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(Properties::default()),
        Some(v) => Properties::from_json("properties", v),
    }
}

/// A page's URL as kept: its origin and path (a query or fragment may carry tokens or personal
/// data, and is dropped); nothing for what is not an http(s) URL.
fn page_of(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let kept = &url[..url.len() - rest.len() + end];
    (kept.len() <= 500 && !kept.chars().any(char::is_control)).then(|| kept.to_owned())
}

/// The survey's language for a visitor: their `locale` property, else the browser's, else the
/// survey's default.
fn language_of(survey: &Survey, properties: &Properties, browser: Option<&str>) -> Language {
    let spoken = survey.definition.spoken();
    [properties.get("locale"), browser]
        .into_iter()
        .flatten()
        .filter_map(Language::from_locale)
        .find(|l| spoken.contains(l))
        .unwrap_or(survey.definition.default_language)
}

/// The properties texts are filled with: Delighted's `questionProductName` is the product named.
fn fill_properties(properties: &Properties) -> Properties {
    let mut filled = properties.clone();
    if let Some(product) = properties.get(PRODUCT_PROPERTY) {
        filled.0.insert("product_name".into(), product.to_owned());
    }
    filled
}

fn widget_survey(site: &Site, survey: &Survey, language: Language, properties: &Properties) -> WidgetSurvey {
    let t = texts(language);
    let def = &survey.definition;
    let display_name = site.tenant.settings.display_name.as_str();
    let properties = fill_properties(properties);
    let filled = |own: fn(&crate::domain::survey::SurveyTexts) -> Option<&String>, default: &str| {
        def.filled(own, default, language, Some(&properties), display_name)
    };
    let pick = |m: &BTreeMap<Language, String>| {
        let text = m
            .get(&language)
            .or_else(|| m.get(&def.default_language))
            .cloned()
            .unwrap_or_default();
        def.fill(&text, Some(&properties), display_name)
    };
    let questions = def
        .questions
        .iter()
        .map(|q| {
            let (low, high) = match q.kind {
                QuestionKind::Csat => (t.csat_low, t.csat_high),
                QuestionKind::Ces => (t.ces_low, t.ces_high),
                _ => ("", ""),
            };
            WidgetQuestion {
                id: q.id.clone(),
                kind: q.kind,
                text: pick(&q.text),
                scale: q.kind.scale().map(|(a, b)| (a..=b).collect()),
                low,
                high,
                choices: q.choices.iter().map(pick).collect(),
            }
        })
        .collect();
    WidgetSurvey {
        id: survey.id.clone(),
        language: language.code().to_owned(),
        dir: "ltr",
        brand: def.brand_color.clone(),
        brand_text: if white_reads_on(&def.brand_color) {
            "#ffffff"
        } else {
            "#1f2328"
        },
        question: filled(|o| o.question.as_ref(), t.question),
        not_likely: t.not_likely,
        very_likely: t.very_likely,
        comment_prompt: filled(|o| o.comment.as_ref(), t.comment),
        submit: t.submit,
        thanks: filled(|o| o.thanks.as_ref(), t.thanks),
        close: t.close,
        optional: t.optional,
        questions,
    }
}

const HIDDEN: Decision = Decision {
    show: false,
    ask: None,
    survey: None,
};

/// A random draw in [0, 1).
fn draw() -> Result<f64> {
    let mut bytes = [0u8; 8];
    crate::crypto::fill_random(&mut bytes)?;
    Ok((u64::from_be_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64)
}

/// How long what is remembered of a visitor is kept: 400 days, or the workspace's retention
/// period when shorter.
fn remembered_until(site: &Site, now: i64) -> i64 {
    let retention = site.tenant.settings.retention_days.map(|d| i64::from(d) * 86_400);
    now + retention.map_or(REMEMBERED_FOR, |r| r.min(REMEMBERED_FOR))
}

/// Whether a visitor remembered as `visit` is held back at `now`: within the recurring period
/// after their answer or dismissal (or after showings they left untouched, past a few), or
/// within an hour of a showing they left untouched.
fn held_back(visit: &Item, period: Option<i64>, now: i64) -> bool {
    let within = |at: i64| period.is_none_or(|p| now < at + p);
    let settled = ["answered_at", "dismissed_at"]
        .iter()
        .filter_map(|a| visit.num(a))
        .max();
    let untouched = visit.num("showings").unwrap_or(0);
    let shown = visit.num("shown_at");
    settled.is_some_and(within)
        || (untouched >= MAX_UNTOUCHED && shown.is_some_and(within))
        || (untouched > 0 && shown.is_some_and(|at| now < at + UNTOUCHED_HOLD))
}

/// Whether the visitor should see the survey now; a showing is remembered and named by the
/// token its answer or dismissal carries. The answer says only yes or no, never why.
pub async fn decide(site: &Site, request: &DecideRequest, now: i64) -> Result<Decision> {
    let visitor = Visitor::parse(&request.visitor, site).await?;
    let created = created_at(request.created_at.as_ref())?;
    let delay = seconds("initial_delay", request.initial_delay.unwrap_or(0.0))?;
    let recurring = recurring(request.recurring_period.as_ref())?;
    let sample = request.sample_factor.unwrap_or(1.0);
    if !sample.is_finite() || !(0.0..=1.0).contains(&sample) {
        return Err(Error::invalid("sample_factor", "must be a number from 0 to 1"));
    }
    let properties = properties(request.properties.as_ref())?;
    let Some(survey) = surveys::get_recent(&site.store, &site.key.survey)
        .await?
        .filter(|s| s.definition.is_open(now))
    else {
        return Ok(HIDDEN);
    };
    let key = visitor.key(site, &survey.id).await?;
    let visit = site.store.get(&key).await?;
    let first_seen = visit.as_ref().and_then(|v| v.num("first_seen"));
    if !request.force_display {
        let period = match recurring {
            Recurring::Every(s) => Some(s),
            Recurring::Once => None,
            Recurring::Default if survey.definition.throttle_days > 0 => {
                Some(i64::from(survey.definition.throttle_days) * 86_400)
            }
            Recurring::Default => Some(DEFAULT_RECURRING),
        };
        let too_soon = now < created.or(first_seen).unwrap_or(now) + delay;
        let held = visit.as_ref().is_some_and(|v| held_back(v, period, now));
        if too_soon || held || draw()? >= sample {
            if visit.is_none() {
                // The first visit starts the initial delay of a visitor the host gives no date of.
                let first = Item::new(key)
                    .with("first_seen", now)
                    .with_expiry(remembered_until(site, now));
                match site.store.put(first, Some(Condition::NotExists)).await {
                    Ok(()) | Err(Error::ConditionFailed) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(HIDDEN);
        }
    }
    let showing = new_id();
    // Past the untouched showings' period, the count starts again.
    let counted = match visit.as_ref().and_then(|v| v.num("showings")) {
        Some(n) if n >= MAX_UNTOUCHED => Update::Set("showings".into(), 1.into()),
        _ => Update::Add("showings".into(), 1),
    };
    let mut updates = vec![
        Update::Set("shown_at".into(), now.into()),
        Update::Set("ask".into(), showing.as_str().into()),
        counted,
        Update::Set(
            crate::store::attr::EXPIRES_AT.into(),
            remembered_until(site, now).into(),
        ),
    ];
    if first_seen.is_none() {
        updates.push(Update::Set("first_seen".into(), now.into()));
    }
    site.store.update(&key, &updates, None).await?;
    let ask = Link {
        kind: LinkKind::SiteAsk,
        tenant: site.store.tenant().clone(),
        survey: survey.id.clone(),
        subject: showing,
    }
    .token(site.store.crypto())
    .await?;
    let language = language_of(&survey, &properties, request.language.as_deref());
    Ok(Decision {
        show: true,
        ask: Some(ask),
        survey: Some(widget_survey(site, &survey, language, &properties)),
    })
}

const ASK_INVALID: Error = Error::Forbidden {
    code: "ask_invalid",
    reason: "this survey was not shown here: ask whether to show it first",
};

/// A showing a request carries, checked.
struct Showing {
    survey: Survey,
    /// The key of what is remembered of the visitor, and what is.
    key: Key,
    visit: Item,
    id: String,
}

/// Checks the showing `token` names: signed by the key's workspace, of the key's survey, not
/// older than a day, the visitor's latest, its survey still open.
async fn showing(site: &Site, token: &str, visitor: &Visitor, now: i64) -> Result<Showing> {
    let (link, bytes) = Link::claimed(token)
        .filter(|(l, _)| l.kind == LinkKind::SiteAsk && &l.tenant == site.store.tenant())
        .ok_or(ASK_INVALID)?;
    if !Link::signed(site.store.crypto(), &bytes).await? {
        tracing::warn!(target: "security", "a website survey's showing failed its signature check");
        return Err(ASK_INVALID);
    }
    if link.survey != site.key.survey {
        return Err(Error::Forbidden {
            code: "survey_not_on_key",
            reason: "this site key shows another survey",
        });
    }
    if id_time(&link.subject).is_none_or(|at| now > at + ASK_LIFETIME) {
        return Err(Error::Forbidden {
            code: "ask_expired",
            reason: "this showing is more than a day old: ask again",
        });
    }
    let survey = surveys::get_recent(&site.store, &link.survey)
        .await?
        .filter(|s| s.definition.is_open(now))
        .ok_or(Error::Forbidden {
            code: "survey_closed",
            reason: "this survey takes no more answers",
        })?;
    let key = visitor.key(site, &survey.id).await?;
    let visit = site
        .store
        .get(&key)
        .await?
        .filter(|v| v.str("ask") == Some(link.subject.as_str()))
        .ok_or(ASK_INVALID)?;
    Ok(Showing {
        survey,
        key,
        visit,
        id: link.subject,
    })
}

/// The write that marks a showing answered by `invitation`: it fails when it was answered
/// already (one answer per showing) or another showing came since.
fn answered_op(showing: &Showing, invitation: &str, now: i64) -> TxOp {
    TxOp::Update {
        key: showing.key.clone(),
        updates: vec![
            Update::Set("answered_at".into(), now.into()),
            Update::Set("answered".into(), showing.id.as_str().into()),
            Update::Set("invitation".into(), invitation.into()),
            Update::Set("showings".into(), 0.into()),
        ],
        condition: Some(Condition::And(vec![
            Condition::eq("ask", showing.id.as_str()),
            Condition::Not(Box::new(Condition::eq("answered", showing.id.as_str()))),
        ])),
    }
}

/// The token an answer's comment carries: it names the answer's invitation, for this workspace's
/// survey, and opens nothing but `comment`.
async fn receipt(site: &Site, survey: &str, invitation: &str) -> Result<AnswerReceipt> {
    let response = Link {
        kind: LinkKind::SiteResponse,
        tenant: site.store.tenant().clone(),
        survey: survey.to_owned(),
        subject: invitation.to_owned(),
    }
    .token(site.store.crypto())
    .await?;
    Ok(AnswerReceipt { response })
}

/// The person an email names: found, or made with the name and properties given. A visitor never
/// changes a person who exists (one made meanwhile by another write is taken as it is).
async fn person_of(site: &Site, email: &Email, name: Option<String>, properties: &Properties) -> Result<Person> {
    if let Some(found) = person::load_by_email(&site.store, email).await? {
        return Ok(found);
    }
    let input = PersonInput {
        email: Some(email.clone()),
        name,
        properties: properties.clone(),
        ..PersonInput::default()
    };
    let hash_only = site.tenant.settings.privacy.store_email_hash_only;
    match upsert::create_only(&site.store, &input, hash_only).await? {
        Some(made) => Ok(made),
        None => person::load_by_email(&site.store, email)
            .await?
            .ok_or(Error::ConditionFailed),
    }
}

/// Records a visitor's score for a showing (once; a repeat answers the first's receipt), with
/// the page and properties given, tied to the showing in one transaction. Everything given is
/// checked before anything is looked up, so that no answer tells a known email from another.
pub async fn answer(site: &Site, request: &AnswerRequest, provenance: Provenance, now: i64) -> Result<AnswerReceipt> {
    let visitor = Visitor::parse(&request.visitor, site).await?;
    let score =
        Score::new(request.score).map_err(|_| Error::invalid("score", "must be a whole number from 0 to 10"))?;
    let name = request
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| crate::domain::label("name", n))
        .transpose()?;
    let mut given = properties(request.properties.as_ref())?;
    if let Some(page) = page_of(request.page_url.as_deref()) {
        given.0.insert(PAGE_PROPERTY.into(), page);
        given = Properties::checked("properties", given.0)?;
    }
    let showing = showing(site, &request.ask, &visitor, now).await?;
    if showing.visit.str("answered") == Some(showing.id.as_str())
        && let Some(invitation) = showing.visit.str("invitation")
    {
        return receipt(site, &showing.survey.id, invitation).await;
    }
    let person = match &visitor {
        Visitor::Email(email) => Some(person_of(site, email, name, &given).await?),
        Visitor::Anonymous(_) => None,
    };
    let survey = &showing.survey;
    let language = language_of(survey, &given, request.language.as_deref());
    let invitation = invitations::for_web_answer(survey, language, person.as_ref().map(|p| p.id.as_str()));
    let kept = match &person {
        Some(p) => stored_under(&p.properties, given),
        None => given,
    };
    let answered = Answered {
        score: Some(score),
        person_properties: Some(kept),
        also: vec![answered_op(&showing, &invitation.id, now)],
        provenance,
        ..Answered::default()
    };
    match responses::answer_invitation(&site.store, survey, &invitation, person.as_ref(), answered).await {
        Ok(_) => receipt(site, &survey.id, &invitation.id).await,
        // Answered by the same request sent twice at once (its first receipt), or shown again.
        Err(Error::NotFound("invitation") | Error::TransactionCanceled(_)) => {
            let now_kept = site.store.get(&showing.key).await?;
            match now_kept
                .as_ref()
                .filter(|v| v.str("answered") == Some(showing.id.as_str()))
            {
                Some(visit) => receipt(site, &survey.id, visit.str("invitation").unwrap_or_default()).await,
                None => Err(Error::ConditionFailed),
            }
        }
        Err(e) => Err(e),
    }
}

/// The properties a known person's answer keeps: theirs, with the visitor's laid over them, and
/// within the bound by leaving out stored ones (never an error, which would tell that the email
/// is known).
fn stored_under(stored: &Properties, given: Properties) -> Properties {
    let mut kept = given;
    for (name, value) in &stored.0 {
        if kept.0.len() >= crate::domain::person::MAX_PROPERTIES {
            break;
        }
        kept.0.entry(name.clone()).or_insert_with(|| value.clone());
    }
    kept
}

const RESPONSE_INVALID: Error = Error::Forbidden {
    code: "response_invalid",
    reason: "this response token is not valid, or its survey is closed",
};

/// Adds or changes the comment and additional answers of an answer made through this key, while
/// its survey is open and its link would be.
pub async fn comment(site: &Site, request: &CommentRequest, now: i64) -> Result<()> {
    let (link, bytes) = Link::claimed(&request.response)
        .filter(|(l, _)| l.kind == LinkKind::SiteResponse && &l.tenant == site.store.tenant())
        .ok_or(RESPONSE_INVALID)?;
    if link.survey != site.key.survey || !Link::signed(site.store.crypto(), &bytes).await? {
        return Err(RESPONSE_INVALID);
    }
    let store = &site.store;
    let survey = surveys::get_recent(store, &link.survey)
        .await?
        .filter(|s| s.definition.is_open(now))
        .ok_or(RESPONSE_INVALID)?;
    let invitation = invitations::load(store, &link.survey, &link.subject)
        .await?
        .filter(|i| i.response.is_some() && now <= i.link_expires_at(&survey))
        .ok_or(RESPONSE_INVALID)?;
    let mut answers = BTreeMap::new();
    for (id, value) in request.answers.iter().flatten() {
        let question = survey
            .definition
            .questions
            .iter()
            .find(|q| &q.id == id)
            .ok_or_else(|| Error::invalid(format!("answers.{id}"), "is not a question of this survey"))?;
        let texts: Vec<String> = match value {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Number(n) => vec![n.to_string()],
            serde_json::Value::Array(list) if list.len() <= 50 => list
                .iter()
                .map(|v| v.as_u64().map(|n| n.to_string()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Error::invalid(format!("answers.{id}"), "must list choices by their index"))?,
            serde_json::Value::Null => continue,
            _ => {
                return Err(Error::invalid(
                    format!("answers.{id}"),
                    "must be text, a number or a list of choices",
                ));
            }
        };
        let values: Vec<&str> = texts.iter().map(String::as_str).collect();
        if let Some(answer) = question.answer(&values)? {
            answers.insert(id.clone(), answer);
        }
    }
    let answered = Answered {
        comment: response_record::comment(request.comment.as_deref())?,
        answers: answers.into_iter().collect::<BTreeMap<String, Answer>>(),
        ..Answered::default()
    };
    responses::answer_invitation(store, &survey, &invitation, None, answered)
        .await
        .map(|_| ())
}

/// Remembers that the visitor closed the survey unanswered: the recurring period starts.
pub async fn dismiss(site: &Site, request: &DismissRequest, now: i64) -> Result<()> {
    let visitor = Visitor::parse(&request.visitor, site).await?;
    let showing = showing(site, &request.ask, &visitor, now).await?;
    let dismissed = [
        Update::Set("dismissed_at".into(), now.into()),
        Update::Set("showings".into(), 0.into()),
    ];
    match site
        .store
        .update(
            &showing.key,
            &dismissed,
            Some(Condition::eq("ask", showing.id.as_str())),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(Error::ConditionFailed) => Err(ASK_INVALID),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_kept_without_its_query_or_fragment() {
        assert_eq!(
            page_of(Some("https://shop.example.com/cart?token=abc#pay")).as_deref(),
            Some("https://shop.example.com/cart")
        );
        assert_eq!(
            page_of(Some("http://127.0.0.1:3000/")).as_deref(),
            Some("http://127.0.0.1:3000/")
        );
        assert_eq!(page_of(Some("javascript:alert(1)")), None);
        assert_eq!(page_of(None), None);
    }

    #[test]
    fn options_are_read_as_delighted_gives_them() {
        let ts = serde_json::json!("2020-05-30T00:02:46Z");
        assert_eq!(created_at(Some(&ts)).unwrap(), Some(1_590_796_966));
        assert!(created_at(Some(&serde_json::json!("yesterday"))).is_err());
        assert!(matches!(
            recurring(Some(&serde_json::json!(false))).unwrap(),
            Recurring::Once
        ));
        assert!(matches!(
            recurring(Some(&serde_json::json!(60))).unwrap(),
            Recurring::Every(60)
        ));
        assert!(recurring(Some(&serde_json::json!(-1))).is_err());
        assert!(recurring(Some(&serde_json::json!("soon"))).is_err());
        assert!(seconds("initial_delay", f64::NAN).is_err());
    }
}
