//! Surveys limited to teams, timed on the server: the same pages and API calls through the whole
//! router by the owner (who sees every survey) and by an analyst in 10 of the workspace's 20
//! teams of 50 members (the gate reads the teams at every request of theirs; lists and figures
//! keep the surveys they see). 40 surveys, half limited to teams the analyst is not in; 5,000
//! stored responses, half of a survey the analyst does not see.

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, header};
use ovation::auth::Role;
use ovation::auth::password::Password;
use ovation::domain::Email;
use ovation::http::pages::{self, SESSION};
use ovation::services::accounts::sign_in::{self, SignInRequest, SignInResult};
use ovation::services::accounts::teams::{self, NewTeam};
use ovation::services::accounts::users::{self, NewUser, UserStatus};
use ovation::services::surveys;
use ovation::store::now_unix;
use ovation::{Error, Result};

use super::metrics::median_ms;
use super::retention::seed;
use super::web::{request, timed};

/// Requests timed per case (the median is reported).
const RUNS: usize = 21;
const TEAMS: usize = 20;
const MEMBERS: usize = 50;
const SURVEYS: usize = 40;
/// Responses stored whole for the feed, per survey of the two seeded.
const STORED: usize = 2_500;
const PASSPHRASE: &str = "a bench passphrase, long enough";

pub async fn figures(dir: &Path) -> Result<()> {
    println!(
        "# teams: server time of the owner's and of a team analyst's requests, median of {RUNS} \
         ({TEAMS} teams of {MEMBERS}, the analyst in half; {SURVEYS} surveys, half another team's)"
    );
    let (meter, ctx) = super::metered_context(dir)?;
    let app = crate::serve::router(ctx.clone());
    let (session, owner) = super::web::owner_session(&ctx, "teams").await?;
    let store = owner.store(&ctx);
    let mut members = Vec::with_capacity(MEMBERS);
    for n in 0..MEMBERS {
        let new = NewUser {
            email: Email::parse(&format!("member{n}@teams.example"))?,
            name: None,
            role: Role::Analyst,
            status: UserStatus::Active,
            password: (n == 0).then(|| Password::new(PASSPHRASE.into(), 12)).transpose()?,
            must_change_password: false,
            external_id: None,
        };
        let prepared = users::prepare(&store, new).await?;
        store.transact(prepared.ops).await?;
        members.push(prepared.id);
    }
    let mut team_ids = Vec::with_capacity(TEAMS);
    for t in 0..TEAMS {
        // The analyst (member 0) is in the even teams.
        let mut in_team: Vec<String> = members[1..].to_vec();
        if t % 2 == 0 {
            in_team.push(members[0].clone());
        }
        let made = teams::create(
            &ctx,
            &owner,
            NewTeam {
                name: format!("Team {t}"),
                members: in_team,
            },
        )
        .await?;
        team_ids.push(made.id);
    }
    let mut theirs = None;
    let mut others = None;
    for n in 0..SURVEYS {
        let team = &team_ids[n % TEAMS];
        let patch = serde_json::from_value(serde_json::json!({"name": format!("Survey {n}"), "teams": [team]}))
            .map_err(Error::internal)?;
        let survey = surveys::create(&store, &owner, patch).await?;
        match n % 2 {
            0 => theirs.get_or_insert(survey.id),
            _ => others.get_or_insert(survey.id),
        };
    }
    let (theirs, others) = (theirs.unwrap_or_default(), others.unwrap_or_default());
    let now = now_unix();
    seed(&store, &theirs, STORED, now - 2 * STORED as i64 - 60).await?;
    seed(&store, &others, STORED, now - STORED as i64 - 60).await?;
    let signed_in = sign_in::sign_in(
        &ctx,
        SignInRequest {
            tenant: "teams".into(),
            email: "member0@teams.example".into(),
            password: PASSPHRASE.into(),
        },
        None,
    )
    .await?;
    let SignInResult::SignedIn { token: analyst, .. } = signed_in else {
        return Err(Error::internal("a second factor was asked"));
    };
    let cookie_name = pages::cookie_name(&ctx, SESSION);
    let cases = [
        ("GET /v1/me (the gate alone)", "/v1/me".to_owned()),
        ("GET /v1/surveys (40, links)", "/v1/surveys".to_owned()),
        ("GET /v1/survey_responses (20)", "/v1/survey_responses".to_owned()),
        ("GET /v1/metrics (every survey seen)", "/v1/metrics".to_owned()),
        ("GET /v1/surveys/{id} (one seen)", format!("/v1/surveys/{theirs}")),
        ("page /surveys", "/surveys".to_owned()),
        ("page /responses (newest 25)", "/responses".to_owned()),
        ("page /overview (30 days)", "/overview".to_owned()),
    ];
    for (name, path) in cases {
        for (who, token) in [("owner", &session), ("analyst", &analyst)] {
            let mut runs = Vec::with_capacity(RUNS);
            let before = meter.calls();
            let mut size = 0;
            for _ in 0..RUNS {
                let (status, bytes, ms) = match path.starts_with("/v1/") {
                    true => api(&app, &path, token).await?,
                    false => request(&app, &path, &format!("{cookie_name}={token}")).await?,
                };
                if status != 200 {
                    return Err(Error::internal(format!("{who} {path} answered {status}")));
                }
                size = bytes;
                runs.push(ms);
            }
            let calls = meter.calls().since(before);
            println!(
                "{:<40} {:<8} {:>8.2} ms  {:>7} bytes  {:>5.1} reads",
                name,
                who,
                median_ms(runs),
                size,
                calls.reads() as f64 / RUNS as f64,
            );
        }
    }
    Ok(())
}

/// One API call through the router with a bearer token: status, size, milliseconds.
async fn api(app: &axum::Router, path: &str, token: &str) -> Result<(u16, usize, f64)> {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .map_err(Error::internal)?;
    timed(app, request).await
}
