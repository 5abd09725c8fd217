//! Surveys in pages: the list (status, languages, responses and NPS), one form to create and
//! change a survey (every field of `PATCH /v1/surveys/{id}`, additional questions added, moved
//! and removed by buttons that need no script), its web link, and a preview of the email, the
//! SMS and the respondent page in any of its languages at desktop or phone width: rendered by
//! the sender's and the respondent page's own code, of the form as typed (posted into a frame,
//! by the Preview button or, with script, as the form changes). Thin over `services::surveys`,
//! whose checks are the API's.

use std::collections::BTreeSet;

use axum::extract::{MatchedPath, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use minijinja::context;
use ovation::auth::Permission;
use ovation::domain::language::Language;
use ovation::domain::survey::{SurveyDefinition, SurveyPatch, SurveyStatus, origin_of};
use ovation::http::extract::{PathId, PublicBase};
use ovation::ids::SurveyId;
use ovation::services::accounts::{teams, tenants};
use ovation::services::results::metrics::{self, MetricsQuery, MetricsView};
use ovation::services::sending::message;
use ovation::services::surveys::{self, Survey};
use ovation::services::{Caller, SurveyAccess};
use ovation::{Context, Error, Result};

use crate::filter::{self, value};
use crate::page::{PageForm, Shell, error, html, problem, render, root_of, see_other};
use crate::survey_form::{Draft, Edit, KINDS, LanguageName};

type Ctx = State<std::sync::Arc<Context>>;

/// What the list says after a change (`done=` of the redirect).
const DONE: &[(&str, &str)] = &[("created", "Survey created."), ("saved", "Survey saved.")];

/// How a team a survey is still limited to, since deleted, is named.
const DELETED_TEAM: &str = "(a deleted team)";
/// How a team is named to an editor or analyst who is not in it.
const ANOTHER_TEAM: &str = "another team";

/// Metrics reads the list makes at once.
const READS_AT_ONCE: usize = 8;

/// A survey as the list shows it; its figures to those who read results.
#[derive(serde::Serialize)]
struct Row {
    id: String,
    name: String,
    status: SurveyStatus,
    is_default: bool,
    /// The names of the teams it is limited to.
    teams: Vec<String>,
    languages: Vec<&'static str>,
    responses: Option<i64>,
    nps: Option<i64>,
}

pub async fn list(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = async {
        let pairs = filter::pairs(raw.as_deref())?;
        let archived = value(&pairs, "archived") == "1";
        let store = caller.store(&ctx);
        let surveys = surveys::list_visible(&store, &caller, archived).await?;
        let team_names = teams::names(&store).await?;
        let named = |id: &String| match &caller.surveys {
            SurveyAccess::TeamsOf(mine) if !mine.contains(id) => ANOTHER_TEAM.to_owned(),
            _ => team_names
                .iter()
                .find(|(team, _)| team == id)
                .map_or_else(|| DELETED_TEAM.to_owned(), |(_, name)| name.clone()),
        };
        let results = caller.principal.role.allows(Permission::ReadResponses);
        let ids: Vec<String> = surveys.iter().map(|s| s.id.clone()).collect();
        // All time, each survey's own counters: a few small reads a survey, some at once.
        let figures: Vec<Result<Option<MetricsView>>> = stream::iter(ids)
            .map(|id| {
                let query = MetricsQuery {
                    survey: Some(id),
                    ..MetricsQuery::default()
                };
                let (store, caller) = (store.clone(), caller.clone());
                async move {
                    match results {
                        true => metrics::read(&store, &caller, &query).await.map(|m| Some(m.totals)),
                        false => Ok(None),
                    }
                }
            })
            .buffered(READS_AT_ONCE)
            .collect()
            .await;
        let rows = surveys
            .iter()
            .zip(figures)
            .map(|(s, read)| {
                let totals = read?;
                Ok(Row {
                    id: s.id.clone(),
                    name: s.definition.name.clone(),
                    status: s.definition.status,
                    is_default: s.is_default,
                    teams: s.teams.iter().map(named).collect(),
                    languages: s.definition.spoken().into_iter().map(Language::code).collect(),
                    responses: totals.as_ref().map(|t| t.response_count),
                    nps: totals.and_then(|t| t.nps),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(context! {
            rows, archived, results,
            manage => caller.principal.role.allows(Permission::ManageSurveys),
        })
    };
    crate::page::in_layout(&ctx, &caller, &headers, ("surveys", "surveys.html", ""), values).await
}

/// The form of a new survey: the workspace's languages and the defaults.
pub async fn new(State(ctx): Ctx, headers: HeaderMap, base: PublicBase, caller: Caller) -> Response {
    let draft = async {
        let definition = surveys::checked(&caller.store(&ctx), &caller, None, SurveyPatch::default()).await?;
        // A survey an editor in teams makes is their teams' unless they untick them.
        let teams = match &caller.surveys {
            SurveyAccess::TeamsOf(mine) => mine.clone(),
            SurveyAccess::Every => BTreeSet::new(),
        };
        Ok(Draft {
            teams: Some(teams),
            ..Draft::of(&definition)
        })
    };
    match draft.await {
        Ok(draft) => {
            form_page(
                &ctx,
                &caller,
                &headers,
                &base,
                None,
                &draft,
                (Outcome::Shown(None), Look::default()),
            )
            .await
        }
        Err(e) => page_error(&ctx, &caller, &headers, "../", e).await,
    }
}

/// A survey's form (read-only for those who cannot change surveys).
pub async fn edit(
    State(ctx): Ctx,
    headers: HeaderMap,
    base: PublicBase,
    caller: Caller,
    PathId(id): PathId<SurveyId>,
    RawQuery(raw): RawQuery,
) -> Response {
    let found = async {
        let done = filter::said(DONE, &filter::pairs(raw.as_deref())?);
        Ok((stored(&ctx, &caller, &id).await?, done))
    };
    match found.await {
        Ok((survey, done)) => {
            let draft = Draft {
                teams: Some(survey.teams.iter().cloned().collect()),
                ..Draft::of(&survey.definition)
            };
            let shown = (Outcome::Shown(done), Look::default());
            form_page(&ctx, &caller, &headers, &base, Some(&survey), &draft, shown).await
        }
        Err(e) => page_error(&ctx, &caller, &headers, "../", e).await,
    }
}

/// The new survey's form posted: a button's change shown again unsaved, or the survey created.
pub async fn create(State(ctx): Ctx, headers: HeaderMap, base: PublicBase, caller: Caller, form: PageForm) -> Response {
    submit(&ctx, &caller, &headers, &base, None, &form).await
}

/// A survey's form posted: a button's change shown again unsaved, or the change saved.
pub async fn save(
    State(ctx): Ctx,
    headers: HeaderMap,
    base: PublicBase,
    caller: Caller,
    PathId(id): PathId<SurveyId>,
    form: PageForm,
) -> Response {
    match stored(&ctx, &caller, &id).await {
        Ok(survey) => submit(&ctx, &caller, &headers, &base, Some((&id, &survey)), &form).await,
        Err(e) => page_error(&ctx, &caller, &headers, "../", e).await,
    }
}

async fn stored(ctx: &Context, caller: &Caller, id: &SurveyId) -> Result<Survey> {
    surveys::visible(&caller.store(ctx), caller, id.as_str()).await
}

async fn submit(
    ctx: &Context,
    caller: &Caller,
    headers: &HeaderMap,
    base: &PublicBase,
    survey: Option<(&SurveyId, &Survey)>,
    form: &PageForm,
) -> Response {
    let mut draft = match Draft::from_form(form) {
        Ok(draft) => draft,
        Err(e) => return page_error(ctx, caller, headers, "../", e).await,
    };
    let outcome = match Edit::of(form) {
        Ok(Some(edit)) => match draft.edit(edit) {
            Ok(()) => Outcome::Edited,
            Err(e) => Outcome::Refused(problem(e)),
        },
        Ok(None) => {
            let store = caller.store(ctx);
            let saved = async {
                let patch = draft.patch()?;
                match survey {
                    Some((id, _)) => {
                        let seen = form.get("version").parse().ok();
                        surveys::update(&store, caller, id, patch, seen).await
                    }
                    None => surveys::create(&store, caller, patch).await,
                }
            };
            match saved.await {
                Ok(saved) => {
                    let done = if survey.is_some() { "saved" } else { "created" };
                    return see_other(&format!("../surveys/{}?done={done}", saved.id), vec![]);
                }
                Err(e) => Outcome::Refused(problem(e)),
            }
        }
        Err(e) => Outcome::Refused(problem(e)),
    };
    let look = Look::of(form.get("preview_language"), form.get("preview_device"));
    let survey = survey.map(|(_, s)| s);
    form_page(ctx, caller, headers, base, survey, &draft, (outcome, look)).await
}

/// How the form comes to be shown.
enum Outcome {
    /// As stored (or new), with what a change just done says.
    Shown(Option<&'static str>),
    /// Changed by a button, not saved yet.
    Edited,
    /// Not saved: the refusal's status and what was wrong; the form as typed.
    Refused((StatusCode, String)),
}

async fn form_page(
    ctx: &Context,
    caller: &Caller,
    headers: &HeaderMap,
    base: &PublicBase,
    survey: Option<&Survey>,
    draft: &Draft,
    (outcome, look): (Outcome, Look),
) -> Response {
    let root = "../";
    let shell = match Shell::of(ctx, caller, headers, "surveys").await {
        Ok(shell) => shell,
        Err(e) => return error(root, None, e).into_response(),
    };
    let web_link = match survey {
        Some(s) => match s.web_link(&caller.store(ctx)).await {
            Ok(token) => Some(format!("{}/s/{token}", base.0)),
            Err(e) => return error(root, Some(&shell), e).into_response(),
        },
        None => None,
    };
    let teams = match team_choices(ctx, caller, survey, draft).await {
        Ok(teams) => teams,
        Err(e) => return error(root, Some(&shell), e).into_response(),
    };
    let edited = matches!(outcome, Outcome::Edited);
    let (status, refused, done) = match outcome {
        Outcome::Refused((status, text)) => (status, Some(text), None),
        Outcome::Shown(done) => (StatusCode::OK, None, done),
        Outcome::Edited => (StatusCode::OK, None, None),
    };
    // What the stored survey does not offer, while the form shows it (a draft's: its preview).
    let unspoken: Vec<&str> = survey
        .filter(|_| !edited && refused.is_none())
        .map(|s| &s.definition)
        .map(|d| {
            d.languages
                .iter()
                .filter(|l| !d.speaks(**l))
                .map(|l| l.name())
                .collect()
        })
        .unwrap_or_default();
    let values = context! {
        shell,
        survey => draft.view(),
        id => survey.map(|s| s.id.as_str()),
        version => survey.map(Survey::version),
        preview_language => look.language.map(Language::code),
        preview_phone => look.phone,
        is_default => survey.is_some_and(|s| s.is_default),
        web_link,
        teams,
        manage => caller.principal.role.allows(Permission::ManageSurveys),
        kinds => KINDS.iter().map(|(_, code, label)| context! { code, label }).collect::<Vec<_>>(),
        edited,
        refused,
        unspoken,
        done,
    };
    render(status, "survey.html", root, values).into_response()
}

/// A team as the form offers it: ticked, and whether the caller may tick or untick it (an
/// editor, only their own teams).
#[derive(serde::Serialize)]
struct TeamChoice {
    id: String,
    name: String,
    ticked: bool,
    yours: bool,
}

/// The workspace's teams for the form (none when it has none), ticked as the draft says (else
/// as the survey is); a team since deleted that the survey still names, shown as such. One who
/// sees surveys by their teams is offered theirs, and sees the others ticked only as "another
/// team".
async fn team_choices(
    ctx: &Context,
    caller: &Caller,
    survey: Option<&Survey>,
    draft: &Draft,
) -> Result<Vec<TeamChoice>> {
    let ticked: BTreeSet<String> = match (&draft.teams, survey) {
        (Some(teams), _) => teams.clone(),
        (None, Some(s)) => s.teams.iter().cloned().collect(),
        (None, None) => BTreeSet::new(),
    };
    let mut named = teams::names(&caller.store(ctx)).await?;
    let gone: Vec<String> = ticked
        .iter()
        .filter(|t| !named.iter().any(|(id, _)| id == *t))
        .cloned()
        .collect();
    named.extend(gone.into_iter().map(|id| (id, DELETED_TEAM.to_owned())));
    Ok(named
        .into_iter()
        .map(|(id, name)| {
            let yours = match &caller.surveys {
                SurveyAccess::Every => true,
                SurveyAccess::TeamsOf(mine) => mine.contains(&id),
            };
            TeamChoice {
                ticked: ticked.contains(&id),
                name: if yours { name } else { ANOTHER_TEAM.to_owned() },
                yours,
                id,
            }
        })
        .filter(|t| t.yours || t.ticked)
        .collect())
}

async fn page_error(ctx: &Context, caller: &Caller, headers: &HeaderMap, root: &str, e: Error) -> Response {
    crate::page::error_in_layout(ctx, caller, headers, "surveys", root, e).await
}

/// The preview of a stored survey: `?language=&device=`.
pub async fn preview_saved(
    State(ctx): Ctx,
    base: PublicBase,
    caller: Caller,
    path: Option<MatchedPath>,
    PathId(id): PathId<SurveyId>,
    RawQuery(raw): RawQuery,
) -> Response {
    let shown = async {
        let definition = stored(&ctx, &caller, &id).await?.definition;
        Ok((definition, Look::of_query(raw.as_deref())?))
    };
    preview(&ctx, &caller, (root_of(path.as_ref()), &base), shown.await).await
}

/// The preview of a new survey's defaults.
pub async fn preview_new(
    State(ctx): Ctx,
    base: PublicBase,
    caller: Caller,
    path: Option<MatchedPath>,
    RawQuery(raw): RawQuery,
) -> Response {
    let shown = async {
        let definition = surveys::checked(&caller.store(&ctx), &caller, None, SurveyPatch::default()).await?;
        Ok((definition, Look::of_query(raw.as_deref())?))
    };
    preview(&ctx, &caller, (root_of(path.as_ref()), &base), shown.await).await
}

/// The preview of a survey's form as typed, posted into the form's preview frame.
pub async fn preview_draft(
    State(ctx): Ctx,
    base: PublicBase,
    caller: Caller,
    path: Option<MatchedPath>,
    PathId(id): PathId<SurveyId>,
    form: PageForm,
) -> Response {
    let shown = drafted(&ctx, &caller, Some(&id), &form).await;
    preview(&ctx, &caller, (root_of(path.as_ref()), &base), shown).await
}

/// The preview of a new survey's form as typed.
pub async fn preview_new_draft(
    State(ctx): Ctx,
    base: PublicBase,
    caller: Caller,
    path: Option<MatchedPath>,
    form: PageForm,
) -> Response {
    let shown = drafted(&ctx, &caller, None, &form).await;
    preview(&ctx, &caller, (root_of(path.as_ref()), &base), shown).await
}

/// The survey a posted form makes (checked as saving it would check it, not stored).
async fn drafted(
    ctx: &Context,
    caller: &Caller,
    id: Option<&SurveyId>,
    form: &PageForm,
) -> Result<(SurveyDefinition, Look)> {
    let mut patch = Draft::from_form(form)?.patch()?;
    // A survey not named yet previews all the same.
    if patch.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        patch.name = Some("Untitled".to_owned());
    }
    let definition = surveys::checked(&caller.store(ctx), caller, id, patch).await?;
    Ok((
        definition,
        Look::of(form.get("preview_language"), form.get("preview_device")),
    ))
}

/// The language and width a preview is shown in.
#[derive(Default)]
struct Look {
    language: Option<Language>,
    phone: bool,
}

impl Look {
    fn of_query(raw: Option<&str>) -> Result<Look> {
        let pairs = filter::pairs(raw)?;
        Ok(Look::of(value(&pairs, "language"), value(&pairs, "device")))
    }

    fn of(language: &str, device: &str) -> Look {
        Look {
            language: Language::from_locale(language),
            phone: device == "phone",
        }
    }
}

async fn preview(
    ctx: &Context,
    caller: &Caller,
    (root, base): (&str, &PublicBase),
    shown: Result<(SurveyDefinition, Look)>,
) -> Response {
    let base = &base.0;
    let rendered = async {
        let (definition, look) = shown?;
        let tenant = tenants::active(ctx, &caller.principal.tenant)
            .await?
            .ok_or(Error::NotFound("workspace"))?;
        let language = look
            .language
            .filter(|l| definition.languages.contains(l))
            .unwrap_or(definition.default_language);
        // A short link as long as a real one: the SMS's length decides its segments.
        let sms_link = format!("{base}/l/{}", "x".repeat(16));
        let (email, sms) = message::preview(&definition, &tenant, language, &ctx.settings.sending, &sms_link);
        let page = respond::preview(&definition, &tenant, language);
        let values = context! {
            email => context! {
                from_name => email.from_name, from_address => email.from_address,
                reply_to => email.reply_to, subject => email.subject, html => email.html,
            },
            sms, page, phone => look.phone,
            language => LanguageName::of(language),
            spoken => definition.speaks(language),
            default_language => definition.default_language.name(),
        };
        Ok((html("preview.html", root, values), definition.logo_url.clone()))
    };
    let (status, body, logo) = match rendered.await {
        Ok((body, logo)) => (StatusCode::OK, body, logo),
        Err(e) => {
            let (status, text) = problem(e);
            (status, html("preview.html", root, context! { refused => text }), None)
        }
    };
    // Framed by the app's own pages only; sandboxed: no script, no form, no navigation out.
    let img = logo
        .as_deref()
        .and_then(origin_of)
        .filter(|origin| origin.is_ascii())
        .unwrap_or("'none'");
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src {img}; frame-ancestors 'self'; \
         base-uri 'none'; form-action 'none'; sandbox"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}
