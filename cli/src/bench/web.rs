//! The web app's pages, timed on the server: a signed-in owner's requests through the whole
//! router (gate, session, services, templates), with a year of one survey's answers counted
//! (1,000, then 1,000,000) and the last 5,000 stored as responses for the feed; the median of
//! several requests per page, the page's size and store calls, and the stylesheet's.

use std::path::Path;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, header};
use ovation::http::pages::{self, SESSION};
use ovation::services::Caller;
use ovation::services::accounts::sessions::{self, ChangePassword};
use ovation::services::accounts::sign_in::{self, SignInRequest, SignInResult};
use ovation::services::lifecycle::tenants::{self, NewTenant};
use ovation::services::surveys;
use ovation::store::now_unix;
use ovation::{Context, Error, Result};
use tower::ServiceExt;

use super::metrics::{YEAR, count_responses, median_ms};
use super::retention::seed;

/// Requests timed per page (the median is reported).
const RUNS: usize = 11;
/// People added for the people pages.
const PEOPLE: usize = 200;
/// Responses stored whole for the feed (its scan reads at most this many for a page).
const STORED: usize = 5_000;

/// A signed-in owner's session token in a new workspace `slug`.
pub(super) async fn owner_session(ctx: &Context, slug: &str) -> Result<(String, Caller)> {
    let created = tenants::create(
        ctx,
        NewTenant {
            slug: slug.into(),
            owner_email: format!("owner@{slug}.example"),
            display_name: Some("Bench".into()),
        },
    )
    .await?;
    let request = SignInRequest {
        tenant: slug.into(),
        email: format!("owner@{slug}.example"),
        password: created.one_time_password.clone(),
    };
    let token = |result: SignInResult| match result {
        SignInResult::SignedIn { token, .. } => Ok(token),
        SignInResult::MfaRequired { .. } => Err(Error::internal("a second factor was asked")),
    };
    let first = token(sign_in::sign_in(ctx, request, None).await?)?;
    let principal = sessions::authenticate(ctx, &ovation::auth::credential::parse(&first)?, None).await?;
    let caller = Caller {
        principal,
        ip: None,
        sees_people: true,
        surveys: ovation::services::SurveyAccess::Every,
    };
    let change = ChangePassword {
        current_password: created.one_time_password,
        new_password: "a bench passphrase, long enough".into(),
    };
    let session = token(sessions::change_password(ctx, &caller, change).await?)?;
    let principal = sessions::authenticate(ctx, &ovation::auth::credential::parse(&session)?, None).await?;
    Ok((session, Caller { principal, ..caller }))
}

/// One page through the router: its status, size and time in milliseconds.
pub(super) async fn request(app: &axum::Router, path: &str, cookie: &str) -> Result<(u16, usize, f64)> {
    let request = Request::get(path)
        .header(header::COOKIE, cookie)
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .map_err(Error::internal)?;
    timed(app, request).await
}

/// A form posted through the router (the page's CSRF token added): its status, size and time.
pub(super) async fn post(
    app: &axum::Router,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> Result<(u16, usize, f64)> {
    let body = fields
        .iter()
        .map(|(name, value)| format!("{name}={}", ovation::http::extract::encode_component(value)))
        .collect::<Vec<_>>()
        .join("&");
    let request = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .map_err(Error::internal)?;
    timed(app, request).await
}

/// A request through the router: its status, size and time in milliseconds.
pub(super) async fn timed(app: &axum::Router, request: Request<Body>) -> Result<(u16, usize, f64)> {
    let started = Instant::now();
    let response = app.clone().oneshot(request).await.map_err(Error::internal)?;
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .map_err(Error::internal)?;
    Ok((status, body.len(), started.elapsed().as_secs_f64() * 1e3))
}

pub async fn figures(dir: &Path) -> Result<()> {
    println!("# web pages: server time of a signed-in owner's request, median of {RUNS}");
    let (meter, ctx) = super::metered_context(dir)?;
    let app = crate::serve::router(ctx.clone());
    let now = now_unix();
    for (i, answers) in [1_000usize, 1_000_000].into_iter().enumerate() {
        let (session, caller) = owner_session(&ctx, &format!("web{i}")).await?;
        let cookie = format!("{}={session}", pages::cookie_name(&ctx, SESSION));
        let store = caller.store(&ctx);
        let patch = serde_json::from_value(serde_json::json!({
            "name": "Bench", "segments": ["plan"], "languages": ["en", "fr"],
            "questions": [{"id": "plan", "kind": "single", "text": {"en": "Your plan?", "fr": "Votre offre ?"},
                "choices": [{"en": "Free", "fr": "Gratuite"}, {"en": "Paid", "fr": "Payante"}]}]
        }))
        .map_err(Error::internal)?;
        let survey = surveys::create(&store, &caller, patch).await?;
        let started = Instant::now();
        count_responses(&store, &survey, answers, now - YEAR).await?;
        seed(&store, &survey.id, STORED, now - STORED as i64 - 60).await?;
        eprintln!(
            "progress: {answers} answers counted in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut person = String::new();
        for n in 0..PEOPLE {
            let input = ovation::services::people::person::PersonInput {
                email: Some(ovation::domain::Email::parse(&format!("p{n}@example.com"))?),
                name: Some(format!("Person {n}")),
                ..Default::default()
            };
            person = ovation::services::people::upsert::upsert(&store, &input, false)
                .await?
                .person
                .id;
        }
        let every = ovation::services::results::response_list::ResponseFilter::default()
            .for_caller(&store, &Caller::operator(store.tenant().clone()))
            .await?;
        let one = ovation::services::results::response_list::list(&store, &every, 1, 0, None)
            .await?
            .responses
            .pop()
            .map(|r| r.id)
            .ok_or(Error::internal("no stored response"))?;
        let pages = [
            ("overview, last 30 days (UTC)", "/overview".to_owned()),
            (
                "overview, a year by month (UTC)",
                "/overview?period=365&by=month&zone=UTC".to_owned(),
            ),
            (
                "overview, a year by day (Europe/Paris)",
                "/overview?period=365&by=day&zone=Europe%2FParis".to_owned(),
            ),
            (
                "overview, 30 days by day (Asia/Kolkata)",
                "/overview?period=30&by=day&zone=Asia%2FKolkata".to_owned(),
            ),
            ("responses, newest 25", "/responses".to_owned()),
            ("responses, detractors", "/responses?group=detractor".to_owned()),
            (
                "responses, words no comment has (scan bound)",
                "/responses?q=zzzz".to_owned(),
            ),
            ("a response's page", format!("/responses/{one}")),
            ("segments by plan, last 30 days", "/segments".to_owned()),
            ("team (the owner alone)", "/team".to_owned()),
            ("surveys (two, with all-time figures)", "/surveys".to_owned()),
            ("a survey's form", format!("/surveys/{}", survey.id)),
            (
                "a survey's preview (French, phone)",
                format!("/surveys/{}/preview?language=fr&device=phone", survey.id),
            ),
            (
                "a survey's form as typed, previewed (POST)",
                format!("/surveys/{}/preview", survey.id),
            ),
            ("people, the 25 added last (of 200)", "/people".to_owned()),
            ("a person's page", format!("/people/{person}")),
            ("autopilot (no members)", "/autopilot".to_owned()),
            ("settings: API keys", "/settings/keys".to_owned()),
            ("settings: webhooks", "/settings/webhooks".to_owned()),
            ("settings: security and privacy", "/settings/workspace".to_owned()),
            ("settings: audit log, newest 50", "/settings/audit".to_owned()),
        ];
        let csrf = pages::csrf_token(&session);
        let draft = [
            ("csrf", csrf.as_str()),
            ("name", "Bench"),
            ("status", "active"),
            ("default_language", "en"),
            ("lang_fr", "on"),
            ("question_fr", "Recommanderiez-vous {{ product_name }} ?"),
            ("question_count", "1"),
            ("q0_id", "plan"),
            ("q0_kind", "single"),
            ("q0_text_en", "Your plan?"),
            ("q0_text_fr", "Votre offre ?"),
            ("q0_choices_en", "Free\nPaid"),
            ("q0_choices_fr", "Gratuite\nPayante"),
            ("brand_color", "#0f766e"),
            ("throttle_days", "30"),
            ("reminder_days", "7"),
            ("link_days", "90"),
            ("segments", "plan"),
            ("preview_language", "fr"),
        ];
        for (name, path) in pages {
            let mut runs = Vec::with_capacity(RUNS);
            let mut size = 0;
            let before = meter.calls();
            for _ in 0..RUNS {
                let (status, bytes, ms) = if name.ends_with("(POST)") {
                    post(&app, &path, &cookie, &draft).await?
                } else {
                    request(&app, &path, &cookie).await?
                };
                if status != 200 {
                    return Err(Error::internal(format!("{path} answered {status}")));
                }
                size = bytes;
                runs.push(ms);
            }
            let calls = meter.calls().since(before);
            println!(
                "{:<52} {:>9.2} ms  {:>7} bytes  {:>5.1} reads {:>4.1} writes  ({answers} answers counted)",
                name,
                median_ms(runs),
                size,
                calls.reads() as f64 / RUNS as f64,
                (calls.total() - calls.reads()) as f64 / RUNS as f64,
            );
        }
    }
    let stylesheet = format!("/{}", web_stylesheet(&app).await?);
    let (_, css, _) = request(&app, &stylesheet, "").await?;
    println!("stylesheet {stylesheet}: {css} bytes");
    Ok(())
}

/// The stylesheet's address, as the sign-in page links it.
async fn web_stylesheet(app: &axum::Router) -> Result<String> {
    let request = Request::get("/sign-in").body(Body::empty()).map_err(Error::internal)?;
    let response = app.clone().oneshot(request).await.map_err(Error::internal)?;
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(Error::internal)?;
    let html = String::from_utf8_lossy(&body);
    html.split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .ok_or(Error::internal("no stylesheet link"))
}
