//! `web`: the staff web app, pages rendered on the server (ARCHITECTURE.md "Web app"): signing in
//! (password, second factor, the password change a session owes), accepting an invitation, a
//! forgotten password, signing out here or everywhere, the overview of results, the responses
//! (the feed and each one's page), segments, exports, surveys (list, form, preview), people
//! (find, add, send, cancel, erase; imports; unsubscribes and bounces), autopilot, the team, your
//! notifications, and settings (API keys and OAuth clients;
//! webhooks; security, privacy and retention; the audit log; the workspace's export). Thin handlers over
//! `ovation::services`. The gate takes the session from its cookie, applies the route's
//! permission and refuses forms from other sites; every form also carries a CSRF token bound to
//! its session (`page::PageForm`).

mod accounts;
mod assets;
mod audit_log;
mod autopilot;
mod chart;
mod data;
mod exports;
mod filter;
mod imports;
mod keys;
mod multipart;
mod notifications;
mod overview;
mod page;
mod people;
mod responses;
mod security;
mod segments;
mod settings;
mod sign_in;
mod sign_on;
mod sso;
mod suppressed;
mod survey_form;
mod surveys;
mod team;
mod webhooks;
mod website;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::routing::{get, post};
use ovation::Context;

pub const FUNCTION: &str = "web";

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sso", post(sso::start))
        .route("/sso/{slug}/callback", get(sso::callback))
        .route("/sso/{slug}/saml", get(sso::saml_metadata))
        .route("/sso/{slug}/saml/acs", post(sso::saml_answer))
        .route("/second-factor", get(sign_in::code_form).post(sign_in::submit_code))
        .route("/password", get(sign_in::password_form).post(sign_in::change_password))
        .route("/accept", get(accounts::accept_form).post(accounts::accept))
        .route("/forgot", get(accounts::forgot_form).post(accounts::forgot))
        .route("/reset", get(accounts::reset_form).post(accounts::reset))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/notifications", get(notifications::page).post(notifications::save))
        .route("/security", get(security::page))
        .route("/security/totp", post(security::begin))
        .route("/security/totp/confirm", post(security::confirm))
        .route("/security/totp/disable", post(security::disable))
        .route("/overview", get(overview::page))
        .route("/segments", get(segments::page))
        .route("/responses", get(responses::feed))
        .route("/responses/export", get(responses::export).post(exports::start))
        .route("/exports/{id}", get(exports::page))
        .route("/exports/{id}/file", get(exports::file))
        .route("/responses/{id}", get(responses::one).post(responses::edit))
        .route("/surveys", get(surveys::list))
        .route("/surveys/new", get(surveys::new).post(surveys::create))
        .route(
            "/surveys/new/preview",
            get(surveys::preview_new).post(surveys::preview_new_draft),
        )
        .route("/surveys/{id}", get(surveys::edit).post(surveys::save))
        .route(
            "/surveys/{id}/preview",
            get(surveys::preview_saved).post(surveys::preview_draft),
        )
        .route("/settings/workspace", get(settings::page).post(settings::save))
        .route("/settings/sign-on", get(sign_on::page).post(sign_on::save))
        .route("/settings/webhooks", get(webhooks::page).post(webhooks::create))
        .route("/settings/webhooks/{id}", get(webhooks::log).post(webhooks::change))
        .route("/settings/audit", get(audit_log::page))
        .route("/settings/audit/export", get(audit_log::export))
        .route("/settings/data", get(data::page))
        .route("/settings/data/export", post(data::export))
        .route("/settings/data/delete", post(data::delete))
        .route("/settings/keys", get(keys::page).post(keys::create))
        .route("/settings/website", get(website::page).post(website::create))
        .route("/settings/website/{id}", post(website::change))
        .route("/settings/keys/{id}", post(keys::revoke))
        .route("/settings/clients/{id}", post(keys::delete_client))
        .route("/people", get(people::list).post(people::save))
        .route(
            "/people/imports",
            get(imports::list).post(imports::upload).layer(DefaultBodyLimit::max(
                ovation::services::people::imports::MAX_FILE_BYTES + 64 * 1024,
            )),
        )
        .route("/people/imports/{id}", get(imports::one).post(imports::start))
        .route("/people/imports/{id}/errors", get(imports::errors))
        .route("/people/suppressed", get(suppressed::page))
        .route("/people/unsubscribe", post(suppressed::unsubscribe))
        .route("/people/{id}", get(people::one))
        .route("/people/{id}/cancel", post(people::cancel))
        .route("/people/{id}/erase", post(people::erase))
        .route("/autopilot", get(autopilot::page))
        .route("/autopilot/{platform}", post(autopilot::configure))
        .route("/autopilot/{platform}/members", post(autopilot::members))
        .route("/team", get(team::page))
        .route("/team/invite", post(team::invite))
        .route("/team/{id}", post(team::change))
        .route("/team/{id}/delete", post(team::delete))
        .route("/teams", post(team::create_team))
        .route("/teams/{id}", post(team::change_team))
        .route("/assets/{name}", get(assets::serve))
        .with_state(ctx)
}

/// The app's front door: the overview, which sends whoever is not signed in to sign in.
async fn home() -> Response {
    page::see_other("overview", vec![])
}
