//! `respond`: the respondent's pages, public and reached only through signed links. `GET
//! /r/{token}` shows an invitation's survey (the score from the email chosen) and never records;
//! the answer is recorded by `POST` (sent at once by an inline script the CSP allows by nonce, or
//! by the button without script). `/s/{token}` is a survey's shareable link (each answer gets an
//! invitation of its own, so it can be changed like any other); `/u/{token}` unsubscribes with
//! one click (RFC 8058); `/l/{code}`, an SMS's short link, leads to its invitation's page;
//! `/w/v1/…` are the website survey's script and what it asks (`widget`). Forms
//! post to their own page and links between pages are relative, so they hold under an API stage
//! path. Pages are server-rendered with autoescaping, localised, with no external assets but the
//! tenant's own logo.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Environment, context};
use ovation::crypto::links::{Link, LinkKind};
use ovation::domain::brand::white_reads_on;
use ovation::domain::survey::{Answer, Language, QuestionKind, origin_of};
use ovation::domain::tenant::Tenant;
use ovation::domain::texts::{Texts, fill, texts};
use ovation::domain::{Score, survey::SurveyDefinition};
use ovation::http::extract::{ClientAddress, form_to_pairs};
use ovation::services::notifications::subscriptions;
use ovation::services::people::person::Suppression;
use ovation::services::people::person::{self, Person};
use ovation::services::people::suppressions;
use ovation::services::results::response_record;
use ovation::services::results::response_record::ResponseRecord;
use ovation::services::results::responses;
use ovation::services::results::responses::{Answered, Provenance};
use ovation::services::sending::invitations::{self};
use ovation::services::sending::links::{self, Opened, Refusal};
use ovation::services::sending::short_links;
use ovation::services::surveys::{self};
use ovation::services::webhooks::delivery;
use ovation::store::now_unix;
use ovation::{Context, Error, Result};
use serde::Serialize;

/// This function's name in the route table and in `template.yaml`.
pub const FUNCTION: &str = "respond";

pub mod widget;

type Ctx = State<Arc<Context>>;

/// A link's token (or short code) from the path; one that is not text gets the invalid-link page.
struct Token(String);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> std::result::Result<Self, Self::Rejection> {
        let text = Path::<String>::from_request_parts(parts, state).await;
        Ok(Token(text.map(|Path(t)| t).unwrap_or_default()))
    }
}

/// The address of a respondent page of `kind` (`r`, `s`, `u`) for `token`, relative to any
/// other respondent page: it holds on an API stage (`/Prod/r/…`) and on a custom domain alike.
fn here(kind: &str, token: &str) -> String {
    format!("../{kind}/{token}")
}

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/r/{token}", get(invitation_page).post(answer_invitation))
        .route("/s/{token}", get(web_page).post(answer_web))
        .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/n/{token}", get(stop_page).post(stop_notification))
        .route("/l/{code}", get(short_link))
        .merge(widget::routes())
        .with_state(ctx)
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A missing value prints nothing, never `none`: a textarea holding "none" would be sent back
        // as the answer.
        env.set_formatter(|out, state, value| {
            if value.is_none() || value.is_undefined() {
                return Ok(());
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.add_template("page.html", include_str!("../templates/page.html"))
            .expect("the page template parses");
        env
    })
}

/// A rendered page with its status and a CSP that allows only its own nonce'd style and script
/// (and the tenant's logo origin).
struct Page {
    status: StatusCode,
    html: String,
    nonce: String,
    logo_origin: Option<String>,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let img = self.logo_origin.map_or_else(String::new, |o| format!("; img-src {o}"));
        let csp = format!(
            "default-src 'none'; style-src 'nonce-{n}'; script-src 'nonce-{n}'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'{img}",
            n = self.nonce
        );
        let mut response = (self.status, self.html).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        response
    }
}

/// What every page shows: language, brand, logo, sender.
struct Frame {
    language: Language,
    brand: String,
    logo: Option<String>,
    sender: String,
}

impl Frame {
    fn plain(language: Language) -> Frame {
        Frame {
            language,
            brand: "#1d4ed8".into(),
            logo: None,
            sender: String::new(),
        }
    }

    fn of(survey: &SurveyDefinition, tenant: &Tenant, language: Language) -> Frame {
        Frame {
            language,
            brand: survey.brand_color.clone(),
            logo: survey.logo_url.clone(),
            sender: survey.sender(&tenant.settings.display_name),
        }
    }

    fn texts(&self) -> &'static Texts {
        texts(self.language)
    }

    fn render(&self, status: StatusCode, kind: &str, title: &str, extra: minijinja::Value) -> Page {
        let nonce = ovation::auth::credential::random_text().unwrap_or_default();
        let brand_text = if white_reads_on(&self.brand) {
            "#ffffff"
        } else {
            "#1f2328"
        };
        let base = context! {
            kind, title, nonce => &nonce, lang => self.language.code(), t => texts_value(self.texts()),
            brand => &self.brand, brand_text, logo => &self.logo, sender => &self.sender,
        };
        let html = environment()
            .get_template("page.html")
            .and_then(|t| t.render(context! { ..base, ..extra }))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "a page failed to render");
                String::from("<!doctype html><title>Error</title>")
            });
        Page {
            status,
            html,
            nonce,
            logo_origin: self.logo.as_deref().and_then(origin_of).map(str::to_owned),
        }
    }

    /// A page with only a heading: invalid, expired or closed links, an unsubscribe done.
    fn message(&self, status: StatusCode, heading: &str) -> Page {
        self.render(status, "message", heading, context! { heading })
    }
}

fn texts_value(t: &'static Texts) -> minijinja::Value {
    minijinja::Value::from_serialize(BTreeMap::from([
        ("not_likely", t.not_likely),
        ("very_likely", t.very_likely),
        ("submit", t.submit),
        ("thanks_detail", t.thanks_detail),
        ("edit_hint", t.edit_hint),
        ("unsubscribe_button", t.unsubscribe_button),
        ("optional", t.optional),
        ("saved", t.saved),
    ]))
}

/// A link that shows no survey, said in the invitation's language, else the browser's.
fn refused(refusal: Refusal, headers: &HeaderMap) -> Page {
    let language = match refusal {
        Refusal::Expired(l) | Refusal::Closed(Some(l)) => l,
        Refusal::Invalid | Refusal::Closed(None) => page_language(headers),
    };
    let frame = Frame::plain(language);
    let t = frame.texts();
    match refusal {
        Refusal::Invalid => frame.message(StatusCode::NOT_FOUND, t.invalid),
        Refusal::Expired(_) => frame.message(StatusCode::GONE, t.expired),
        Refusal::Closed(_) => frame.message(StatusCode::GONE, t.closed),
    }
}

/// The language a browser prefers among `offered`, in its order of preference.
fn accepted_language(headers: &HeaderMap, offered: &[Language]) -> Option<Language> {
    let accepted = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accepted
        .split(',')
        .filter_map(|tag| Language::from_locale(tag.split(';').next().unwrap_or_default()))
        .find(|l| offered.contains(l))
}

/// The language a browser prefers among a survey's.
fn browser_language(headers: &HeaderMap, survey: &SurveyDefinition) -> Language {
    accepted_language(headers, &survey.spoken()).unwrap_or(survey.default_language)
}

/// The language of a page without a survey (a link that is not valid): the browser's, else
/// English.
fn page_language(headers: &HeaderMap) -> Language {
    accepted_language(headers, &ovation::domain::language::LANGUAGES).unwrap_or(Language::En)
}

#[derive(Serialize)]
struct QuestionView {
    id: String,
    kind: QuestionKind,
    text: String,
    scale: Option<Vec<u8>>,
    low: &'static str,
    high: &'static str,
    choices: Vec<ChoiceView>,
    value: Option<minijinja::Value>,
}

#[derive(Serialize)]
struct ChoiceView {
    text: String,
    checked: bool,
}

/// The survey form: the question filled in, the score chosen, what was answered before.
struct Form<'a> {
    frame: Frame,
    survey: &'a SurveyDefinition,
    tenant: &'a Tenant,
    person: Option<&'a Person>,
    score: Option<u8>,
    existing: Option<&'a ResponseRecord>,
    auto_submit: bool,
    saved: bool,
    /// A score from the link that is not the one recorded: shown without script as not yet sent.
    unsent: bool,
    error: Option<String>,
}

impl<'a> Form<'a> {
    /// The blank form of a survey: nothing chosen, nothing answered.
    fn new(frame: Frame, survey: &'a SurveyDefinition, tenant: &'a Tenant) -> Form<'a> {
        Form {
            frame,
            survey,
            tenant,
            person: None,
            score: None,
            existing: None,
            auto_submit: false,
            saved: false,
            unsent: false,
            error: None,
        }
    }

    /// The form again, saying what was wrong with the submission (422).
    fn with_error(mut self, e: &Error) -> Response {
        self.error = Some(error_text(e, self.frame.texts()));
        self.render(StatusCode::UNPROCESSABLE_ENTITY).into_response()
    }

    fn render(self, status: StatusCode) -> Page {
        let language = self.frame.language;
        let t = self.frame.texts();
        let display_name = self.tenant.settings.display_name.as_str();
        let properties = self.person.map(|p| &p.properties);
        let survey = self.survey;
        let filled = |text: &str| survey.fill(text, properties, display_name);
        let question = survey.filled(|o| o.question.as_ref(), t.question, language, properties, display_name);
        let comment_prompt = survey.filled(|o| o.comment.as_ref(), t.comment, language, properties, display_name);
        let pick = |m: &BTreeMap<Language, String>| {
            m.get(&language)
                .or_else(|| m.get(&self.survey.default_language))
                .cloned()
                .unwrap_or_default()
        };
        let answers = self.existing.map(|r| &r.answers);
        let questions: Vec<QuestionView> = self
            .survey
            .questions
            .iter()
            .map(|q| {
                let answer = answers.and_then(|a| a.get(&q.id));
                let (low, high) = match q.kind {
                    QuestionKind::Csat => (t.csat_low, t.csat_high),
                    QuestionKind::Ces => (t.ces_low, t.ces_high),
                    _ => ("", ""),
                };
                let chosen = |i: usize| match answer {
                    Some(Answer::Number(n)) => *n as usize == i,
                    Some(Answer::Choices(list)) => list.contains(&(i as u8)),
                    _ => false,
                };
                QuestionView {
                    id: q.id.clone(),
                    kind: q.kind,
                    text: filled(&pick(&q.text)),
                    scale: q.kind.scale().map(|(a, b)| (a..=b).collect()),
                    low,
                    high,
                    choices: q
                        .choices
                        .iter()
                        .enumerate()
                        .map(|(i, c)| ChoiceView {
                            text: filled(&pick(c)),
                            checked: chosen(i),
                        })
                        .collect(),
                    value: answer.map(|a| match a {
                        Answer::Text(s) => minijinja::Value::from(s.clone()),
                        Answer::Number(n) => minijinja::Value::from(*n),
                        Answer::Choices(_) => minijinja::Value::from(()),
                    }),
                }
            })
            .collect();
        let comment = self.existing.and_then(|r| r.comment.clone()).unwrap_or_default();
        // Over a score not yet sent: nothing is kept until Send, and what is kept so far.
        let unsent_note = match self.existing {
            _ if !self.unsent => None,
            None => Some(t.not_recorded.to_owned()),
            Some(r) => {
                let score = r.score.value().to_string();
                let saved = fill(t.saved_score, |name| (name == "score").then_some(score.as_str()));
                Some(format!("{} {saved}", t.not_saved_yet))
            }
        };
        self.frame.render(
            status,
            "survey",
            &question,
            context! {
                question => &question, comment_prompt, score => self.score,
                comment, questions, auto_submit => self.auto_submit, saved => self.saved, error => self.error,
                unsent_note,
            },
        )
    }
}

/// A survey's page in `language` as a respondent first sees it (nothing chosen, no person):
/// what the web app previews, rendered by the same template as the live page.
pub fn preview(survey: &SurveyDefinition, tenant: &Tenant, language: Language) -> String {
    Form::new(Frame::of(survey, tenant, language), survey, tenant)
        .render(StatusCode::OK)
        .html
}

/// The score a link carries (`?score=`), and the page's error when its text is no score.
fn link_score(raw: Option<&str>, t: &Texts) -> (Option<u8>, Option<String>) {
    let given = link_params(raw).into_iter().find(|(n, _)| n == "score");
    match given.map(|(_, v)| Score::parse(&v)) {
        None => (None, None),
        Some(Ok(score)) => (Some(score.value()), None),
        Some(Err(_)) => (None, Some(t.invalid_score.to_owned())),
    }
}

fn saved_param(raw: Option<&str>) -> bool {
    link_params(raw).iter().any(|(n, v)| n == "saved" && v == "1")
}

/// A page's query parameters; a query that is not UTF-8 carries none.
fn link_params(raw: Option<&str>) -> Vec<(String, String)> {
    form_to_pairs(raw.unwrap_or_default().as_bytes()).unwrap_or_default()
}

async fn invitation_page(State(ctx): Ctx, Token(token): Token, headers: HeaderMap, RawQuery(raw): RawQuery) -> Page {
    let invited = match links::invitation(&ctx, &token).await {
        Ok(i) => i,
        Err(r) => return refused(r, &headers),
    };
    let existing = match &invited.invitation.response {
        Some(id) => response_record::load(&invited.opened.store, id).await.ok().flatten(),
        None => None,
    };
    let frame = Frame::of(
        &invited.survey.definition,
        &invited.opened.tenant,
        invited.invitation.language,
    );
    let (chosen, error) = link_score(raw.as_deref(), frame.texts());
    let recorded = existing.as_ref().map(|r| r.score.value());
    // A score other than the recorded one is sent by the page's script, never by the GET (a link
    // scanner runs none): a first answer, or a change of a score given alone. Once the person
    // wrote more, another score waits for Send.
    let unsent = chosen.is_some() && chosen != recorded;
    let auto_submit = unsent && existing.as_ref().is_none_or(changeable_by_click);
    let blank = Form::new(frame, &invited.survey.definition, &invited.opened.tenant);
    Form {
        person: invited.person.as_ref(),
        score: chosen.or(recorded),
        auto_submit,
        unsent,
        saved: saved_param(raw.as_deref()) && existing.is_some(),
        existing: existing.as_ref(),
        error,
        ..blank
    }
    .render(StatusCode::OK)
}

/// Whether a click on another score in the email may change this response by itself: only a
/// score given alone (no comment, no other answer) is.
fn changeable_by_click(response: &ResponseRecord) -> bool {
    response.comment.is_none() && response.answers.is_empty()
}

/// A submitted form, parsed against the survey's questions.
struct Submitted {
    answered: Answered,
    auto: bool,
}

fn parse_form(body: &[u8], survey: &SurveyDefinition) -> Result<Submitted> {
    let pairs = form_to_pairs(body)?;
    let value = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let score = value("score").filter(|v| !v.is_empty()).map(Score::parse).transpose()?;
    let comment = response_record::comment(value("comment"))?;
    if let Some((name, _)) = pairs
        .iter()
        .find(|(n, _)| n.starts_with("q_") && !survey.questions.iter().any(|q| n[2..] == q.id))
    {
        return Err(Error::invalid(name.clone(), "is not a question of this survey"));
    }
    let mut answers = BTreeMap::new();
    for q in &survey.questions {
        let name = format!("q_{}", q.id);
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if let Some(answer) = q.answer(&values)? {
            answers.insert(q.id.clone(), answer);
        }
    }
    let auto = value("auto") == Some("1");
    // The script sends the score alone: what else the page held may be older than what is stored.
    let (comment, answers) = if auto {
        (None, BTreeMap::new())
    } else {
        (comment, answers)
    };
    Ok(Submitted {
        answered: Answered {
            score,
            comment,
            answers,
            ..Answered::default()
        },
        auto,
    })
}

/// The respondent's address and browser, when the tenant keeps them.
pub fn provenance(tenant: &Tenant, address: &ClientAddress, headers: &HeaderMap) -> Provenance {
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    Provenance::kept(tenant, address.0, user_agent)
}

/// What was wrong with a submission, in the page's language where the respondent can mend it
/// (the score); other refusals come from a tampered or oversized form.
fn error_text(e: &Error, t: &Texts) -> String {
    match e {
        Error::Invalid { field, .. } if field == "score" => t.choose_score.to_owned(),
        Error::Invalid { reason, .. } => reason.to_string(),
        other => other.to_string(),
    }
}

async fn answer_invitation(
    State(ctx): Ctx,
    Token(token): Token,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let invited = match links::invitation(&ctx, &token).await {
        Ok(i) => i,
        Err(r) => return refused(r, &headers).into_response(),
    };
    let store = &invited.opened.store;
    let frame = || {
        Frame::of(
            &invited.survey.definition,
            &invited.opened.tenant,
            invited.invitation.language,
        )
    };
    let form_error = |e: Error| {
        let blank = Form::new(frame(), &invited.survey.definition, &invited.opened.tenant);
        Form {
            person: invited.person.as_ref(),
            ..blank
        }
        .with_error(&e)
    };
    let mut submitted = match parse_form(&body, &invited.survey.definition) {
        Ok(s) => s,
        Err(e) => return form_error(e),
    };
    // A script's post over a response the person wrote more in changes nothing: the page shows
    // the score chosen, to be sent with the rest.
    if submitted.auto
        && let Some(id) = &invited.invitation.response
        && let Ok(Some(existing)) = response_record::load(store, id).await
        && !changeable_by_click(&existing)
    {
        let chosen = submitted
            .answered
            .score
            .map_or(String::new(), |s| format!("?score={}", s.value()));
        return Redirect::to(&format!("{}{chosen}", here("r", &token))).into_response();
    }
    submitted.answered.provenance = provenance(&invited.opened.tenant, &address, &headers);
    let recorded = responses::answer_invitation(
        store,
        &invited.survey,
        &invited.invitation,
        invited.person.as_ref(),
        submitted.answered,
    )
    .await;
    delivery::dispatch_emitted(&ctx, store).await;
    match recorded {
        Ok(_) if submitted.auto => Redirect::to(&format!("{}?saved=1", here("r", &token))).into_response(),
        Ok(_) => thanks(
            &frame(),
            &invited.survey.definition,
            &invited.opened.tenant,
            invited.person.as_ref(),
            &token,
        )
        .into_response(),
        Err(e @ Error::Invalid { .. }) => form_error(e),
        Err(e) => e.into_response(),
    }
}

/// The thank-you page, its heading filled like every survey text.
fn thanks(frame: &Frame, survey: &SurveyDefinition, tenant: &Tenant, person: Option<&Person>, token: &str) -> Page {
    let heading = survey.filled(
        |o| o.thanks.as_ref(),
        frame.texts().thanks,
        frame.language,
        person.map(|p| &p.properties),
        &tenant.settings.display_name,
    );
    frame.render(
        StatusCode::OK,
        "thanks",
        &heading,
        context! { heading => &heading, edit => here("r", token) },
    )
}

async fn web_page(State(ctx): Ctx, Token(token): Token, headers: HeaderMap, RawQuery(raw): RawQuery) -> Page {
    let (opened, survey) = match links::web_survey(&ctx, &token).await {
        Ok(found) => found,
        Err(r) => return refused(r, &headers),
    };
    let language = browser_language(&headers, &survey.definition);
    let frame = Frame::of(&survey.definition, &opened.tenant, language);
    let (score, error) = link_score(raw.as_deref(), frame.texts());
    Form {
        score,
        unsent: score.is_some(),
        error,
        ..Form::new(frame, &survey.definition, &opened.tenant)
    }
    .render(StatusCode::OK)
}

async fn answer_web(
    State(ctx): Ctx,
    Token(token): Token,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (opened, survey) = match links::web_survey(&ctx, &token).await {
        Ok(found) => found,
        Err(r) => return refused(r, &headers).into_response(),
    };
    let language = browser_language(&headers, &survey.definition);
    let frame = Frame::of(&survey.definition, &opened.tenant, language);
    let error_page = |e: Error| {
        let frame = Frame::of(&survey.definition, &opened.tenant, language);
        Form::new(frame, &survey.definition, &opened.tenant).with_error(&e)
    };
    let mut submitted = match parse_form(&body, &survey.definition) {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    submitted.answered.provenance = provenance(&opened.tenant, &address, &headers);
    let invitation = invitations::for_web_answer(&survey, language, None);
    let recorded = responses::answer_invitation(&opened.store, &survey, &invitation, None, submitted.answered).await;
    delivery::dispatch_emitted(&ctx, &opened.store).await;
    let own_token = match recorded {
        Ok(_) => invitation.token(&opened.store).await,
        Err(e) => Err(e),
    };
    match own_token {
        Ok(t) if submitted.auto => Redirect::to(&format!("{}?saved=1", here("r", &t))).into_response(),
        Ok(t) => thanks(&frame, &survey.definition, &opened.tenant, None, &t).into_response(),
        Err(e @ Error::Invalid { .. }) => error_page(e),
        Err(e) => e.into_response(),
    }
}

async fn unsubscribe_target(ctx: &Context, token: &str) -> std::result::Result<(Opened, Frame), Refusal> {
    let opened = links::open(ctx, token, LinkKind::Unsubscribe).await?;
    let survey = surveys::get(&opened.store, &opened.link.survey).await.ok().flatten();
    // In the person's language, as their invitation was.
    let person = person::load(&opened.store, &opened.link.subject).await.ok().flatten();
    let locale = person.as_ref().and_then(|p| p.properties.get("locale"));
    let frame = match &survey {
        Some(s) => Frame::of(&s.definition, &opened.tenant, s.definition.language_for(locale)),
        None => Frame::plain(locale.and_then(Language::from_locale).unwrap_or(Language::En)),
    };
    Ok((opened, frame))
}

async fn unsubscribe_page(State(ctx): Ctx, Token(token): Token, headers: HeaderMap) -> Page {
    match unsubscribe_target(&ctx, &token).await {
        Ok((_, frame)) => {
            let heading = fill(frame.texts().unsubscribe_question, |n| {
                (n == "sender").then_some(frame.sender.as_str())
            });
            frame.render(
                StatusCode::OK,
                "unsubscribe",
                &heading,
                context! { heading => &heading },
            )
        }
        Err(r) => refused(r, &headers),
    }
}

/// A short link (SMS): on to the invitation's own link, which shows the survey.
async fn short_link(State(ctx): Ctx, Token(code): Token, headers: HeaderMap) -> Response {
    match short_links::open(&ctx, &code).await {
        Ok(token) => Redirect::to(&here("r", &token)).into_response(),
        Err(r) => refused(r, &headers).into_response(),
    }
}

/// What a staff notification's stop link stops, as its pages say it.
async fn stop_target(ctx: &Context, token: &str) -> std::result::Result<(Opened, String), Refusal> {
    let kind = Link::claimed(token)
        .map(|(link, _)| link.kind)
        .filter(|k| matches!(k, LinkKind::StopAnswers | LinkKind::StopDigest))
        .ok_or(Refusal::Invalid)?;
    let opened = links::open(ctx, token, kind).await?;
    let survey = surveys::get(&opened.store, &opened.link.survey)
        .await
        .ok()
        .flatten()
        .ok_or(Refusal::Invalid)?;
    let name = &survey.definition.name;
    let what = match kind {
        LinkKind::StopAnswers => format!("mails about the answers to {name}"),
        _ => format!("the weekly digest of {name}"),
    };
    Ok((opened, what))
}

/// A staff notification's stop link: asks first (a mail scanner's GET stops nothing).
async fn stop_page(State(ctx): Ctx, Token(token): Token, headers: HeaderMap) -> Page {
    match stop_target(&ctx, &token).await {
        Ok((_, what)) => {
            let heading = format!("Stop {what}?");
            let button = "Stop these mails";
            Frame::plain(Language::En).render(StatusCode::OK, "unsubscribe", &heading, context! { heading, button })
        }
        Err(r) => refused(r, &headers),
    }
}

/// Stops a staff notification: one click (RFC 8058) or the page's button.
async fn stop_notification(State(ctx): Ctx, Token(token): Token, headers: HeaderMap) -> Response {
    let (opened, what) = match stop_target(&ctx, &token).await {
        Ok(found) => found,
        Err(r) => return refused(r, &headers).into_response(),
    };
    match subscriptions::stop(&opened.store, &opened.link).await {
        Ok(()) => {
            let done = format!("Stopped: no more {what}. Choose again under Notifications in Ovation.");
            Frame::plain(Language::En)
                .message(StatusCode::OK, &done)
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// One click, as RFC 8058 asks (`List-Unsubscribe=One-Click` or the page's button): any POST.
async fn unsubscribe(State(ctx): Ctx, Token(token): Token, headers: HeaderMap) -> Response {
    let (opened, frame) = match unsubscribe_target(&ctx, &token).await {
        Ok(found) => found,
        Err(r) => return refused(r, &headers).into_response(),
    };
    let at = now_unix();
    let suppressed =
        suppressions::suppress(&opened.store, &opened.link.subject, Suppression::Unsubscribed, at, None).await;
    delivery::dispatch_emitted(&ctx, &opened.store).await;
    match suppressed {
        Ok(_) => {
            let done = fill(frame.texts().unsubscribed, |n| {
                (n == "sender").then_some(frame.sender.as_str())
            });
            frame.message(StatusCode::OK, &done).into_response()
        }
        Err(e) => e.into_response(),
    }
}
