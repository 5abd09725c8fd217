//! Rendering a page: the templates (minijinja, autoescaped), the layout signed-in pages share
//! (the workspace's name, navigation by role, the user's menu), the strict CSP with the page's
//! nonce, redirects after a form, and `PageForm`: a posted form whose CSRF token matches one of
//! the secrets in the browser's cookies.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{FromRequest, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value, context};
use ovation::auth::Permission;
use ovation::auth::credential::random_text;
use ovation::http::error::HttpError;
use ovation::http::extract::form_to_pairs;
use ovation::http::pages::{self, CHALLENGE, CSRF_FIELD, PRE_SESSION, SESSION};
use ovation::services::Caller;
use ovation::services::accounts::sessions;
use ovation::{Context, Error, Result};

/// The largest form a page posts: a survey's, every language and question filled.
const MAX_FORM: usize = 256 * 1024;

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_formatter(|out, state, value| {
            if value.is_none() || value.is_undefined() {
                return Ok(());
            }
            minijinja::escape_formatter(out, state, value)
        });
        for (name, source) in [
            ("base.html", include_str!("../templates/base.html")),
            ("sign_in.html", include_str!("../templates/sign_in.html")),
            ("second_factor.html", include_str!("../templates/second_factor.html")),
            ("password.html", include_str!("../templates/password.html")),
            ("overview.html", include_str!("../templates/overview.html")),
            ("responses.html", include_str!("../templates/responses.html")),
            ("response.html", include_str!("../templates/response.html")),
            ("filters.html", include_str!("../templates/filters.html")),
            ("segments.html", include_str!("../templates/segments.html")),
            ("accept.html", include_str!("../templates/accept.html")),
            ("forgot.html", include_str!("../templates/forgot.html")),
            ("reset.html", include_str!("../templates/reset.html")),
            ("message.html", include_str!("../templates/message.html")),
            ("sign_on.html", include_str!("../templates/sign_on.html")),
            ("sso_rules.html", include_str!("../templates/sso_rules.html")),
            ("security.html", include_str!("../templates/security.html")),
            ("notifications.html", include_str!("../templates/notifications.html")),
            ("export.html", include_str!("../templates/export.html")),
            ("team.html", include_str!("../templates/team.html")),
            ("surveys.html", include_str!("../templates/surveys.html")),
            ("survey.html", include_str!("../templates/survey.html")),
            ("preview.html", include_str!("../templates/preview.html")),
            ("keys.html", include_str!("../templates/keys.html")),
            ("website.html", include_str!("../templates/website.html")),
            ("settings_nav.html", include_str!("../templates/settings_nav.html")),
            ("workspace.html", include_str!("../templates/workspace.html")),
            ("webhooks.html", include_str!("../templates/webhooks.html")),
            ("audit.html", include_str!("../templates/audit.html")),
            ("autopilot.html", include_str!("../templates/autopilot.html")),
            ("data.html", include_str!("../templates/data.html")),
            ("suppressed.html", include_str!("../templates/suppressed.html")),
            ("imports.html", include_str!("../templates/imports.html")),
            ("import.html", include_str!("../templates/import.html")),
            ("webhook_log.html", include_str!("../templates/webhook_log.html")),
            ("people.html", include_str!("../templates/people.html")),
            ("person.html", include_str!("../templates/person.html")),
            ("person_form.html", include_str!("../templates/person_form.html")),
            ("sends.html", include_str!("../templates/sends.html")),
            ("error.html", include_str!("../templates/error.html")),
        ] {
            env.add_template(name, source).expect("the templates parse");
        }
        env
    })
}

/// A rendered page: its status, HTML, the nonce its CSP allows, and cookies to set.
pub struct Page {
    status: StatusCode,
    html: String,
    nonce: String,
    cookies: Vec<HeaderValue>,
}

impl Page {
    pub fn with_cookies(mut self, cookies: Vec<HeaderValue>) -> Page {
        self.cookies.extend(cookies);
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let csp = format!(
            "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'nonce-{}'; form-action 'self'; frame-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
            self.nonce
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
        for cookie in self.cookies {
            headers.append(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// Renders `template` with `values`, the stylesheet and a fresh nonce; `root` leads from the
/// page back to the app's top level (`""`, or `"../"` from `/responses/{id}`).
pub fn render(status: StatusCode, template: &str, root: &str, values: Value) -> Page {
    let nonce = random_text().unwrap_or_default();
    let (status, html) = match rendered(template, root, context! { nonce => &nonce, ..values }) {
        Ok(html) => (status, html),
        Err(failed) => (StatusCode::INTERNAL_SERVER_ERROR, failed),
    };
    Page {
        status,
        html,
        nonce,
        cookies: vec![],
    }
}

/// `template` rendered with `values` and the stylesheet's address.
pub fn html(template: &str, root: &str, values: Value) -> String {
    rendered(template, root, values).unwrap_or_else(|failed| failed)
}

/// `template` rendered, or (logged) the page that says it could not be.
fn rendered(template: &str, root: &str, values: Value) -> std::result::Result<String, String> {
    let stylesheet = Value::from_safe_string(format!("{root}{}", crate::assets::stylesheet()));
    let root = Value::from_safe_string(root.to_owned());
    environment()
        .get_template(template)
        .and_then(|t| t.render(context! { stylesheet, root, ..values }))
        .map_err(|e| {
            tracing::error!(error = %e, template, "a page failed to render");
            String::from("<!doctype html><title>Error</title><p>This page could not be shown.")
        })
}

/// An error of a page's handler, shown in the app's style with its status and message.
pub fn error(root: &str, shell: Option<&Shell>, e: Error) -> Page {
    let (status, message) = problem(e);
    let values = context! { shell, status => status.as_u16(), message };
    render(status, "error.html", root, values)
}

/// A refusal's status and what a page says of it: the API's message as a sentence.
pub fn problem(e: Error) -> (StatusCode, String) {
    let (status, body) = HttpError::App(e).answer();
    (status, ovation::domain::texts::sentence(&body.message))
}

/// A signed-in page: the layout of its navigation entry `current`, then `template` rendered with
/// what `values` gives, or its error in the layout.
pub async fn in_layout(
    ctx: &Context,
    caller: &Caller,
    headers: &HeaderMap,
    (current, template, root): (&str, &str, &str),
    values: impl Future<Output = Result<Value>>,
) -> Response {
    let shell = match Shell::of(ctx, caller, headers, current).await {
        Ok(shell) => shell,
        Err(e) => return error(root, None, e).into_response(),
    };
    match values.await {
        Ok(values) => render(StatusCode::OK, template, root, context! { shell, ..values }).into_response(),
        Err(e) => error(root, Some(&shell), e).into_response(),
    }
}

/// An error of a signed-in page's handler, in the layout of `current` when it can be had.
pub async fn error_in_layout(
    ctx: &Context,
    caller: &Caller,
    headers: &HeaderMap,
    current: &str,
    root: &str,
    e: Error,
) -> Response {
    let shell = Shell::of(ctx, caller, headers, current).await.ok();
    error(root, shell.as_ref(), e).into_response()
}

/// The way back to the app's top level from the page a request matched.
pub fn root_of(path: Option<&MatchedPath>) -> &'static str {
    match path.map_or(1, |p| p.as_str().matches('/').count()) {
        0 | 1 => "",
        2 => "../",
        _ => "../../",
    }
}

/// What a form's handler answers: a redirect to the page its change leads to (given from the
/// app's top level), or its refusal in the layout of `current`.
pub async fn after_form(
    ctx: &Context,
    caller: &Caller,
    headers: &HeaderMap,
    (current, root): (&str, &str),
    to: Result<String>,
) -> Response {
    match to {
        Ok(page) => see_other(&format!("{root}{page}"), vec![]),
        Err(e) => error_in_layout(ctx, caller, headers, current, root, e).await,
    }
}

/// A moment as the settings pages show it, to the second in UTC (none for a time out of range).
pub fn utc(at: i64) -> Option<String> {
    jiff::Timestamp::from_second(at)
        .ok()
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// A page of a job that is still running: it asks the browser to load it again every `seconds`
/// (no script needed); a finished job's page does not.
pub fn refreshing(page: Page, seconds: Option<&'static str>) -> Response {
    let mut response = page.into_response();
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(header::REFRESH, HeaderValue::from_static(seconds));
    }
    response
}

/// A redirect after a form (`303 See Other`) to an app page given relative to this one, with
/// cookies to set.
pub fn see_other(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, v);
    }
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// A navigation entry of the layout.
#[derive(serde::Serialize)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    /// `aria-current`: `page` on the entry of the page shown, `true` on the entry of its section
    /// (the settings, or an endpoint's log under the webhooks).
    pub current: Option<&'static str>,
}

/// What the layout shows of the signed-in user, and the CSRF token of the page's forms.
#[derive(serde::Serialize)]
pub struct Shell {
    pub workspace: String,
    pub user: String,
    pub role: &'static str,
    pub nav: Vec<NavItem>,
    /// The settings pages the user may see (a settings page's own navigation).
    pub settings: Vec<NavItem>,
    pub csrf: String,
}

/// The pages of the navigation and the permission each needs.
const NAV: &[(&str, &str, Permission)] = &[
    ("overview", "Overview", Permission::ReadResponses),
    ("responses", "Responses", Permission::ReadResponses),
    ("segments", "Segments", Permission::ReadResponses),
    ("surveys", "Surveys", Permission::ReadSurveys),
    ("people", "People", Permission::ReadPeople),
    ("autopilot", "Autopilot", Permission::ReadSurveys),
    ("team", "Team", Permission::ReadUsers),
];

/// The settings pages and the permission each needs: the navigation's "Settings" leads to the
/// first a role may see, and each settings page lists those it may.
const SETTINGS: &[(&str, &str, Permission)] = &[
    (crate::keys::NAV, "API keys", Permission::ManageCredentials),
    (crate::website::NAV, "Website surveys", Permission::ManageCredentials),
    (crate::webhooks::NAV, "Webhooks", Permission::ManageWebhooks),
    (crate::settings::NAV, "Security and privacy", Permission::ManageTenant),
    (crate::sign_on::NAV, "Single sign-on", Permission::ManageSignOn),
    (crate::audit_log::NAV, "Audit log", Permission::ReadAudit),
    (crate::data::NAV, "Your data", Permission::ExportTenant),
];

/// How a navigation entry `href` stands to the page shown, `current`.
fn current_of(href: &str, current: &str) -> Option<&'static str> {
    if href == current {
        Some("page")
    } else {
        current
            .strip_prefix(href)
            .filter(|rest| rest.starts_with('/'))
            .map(|_| "true")
    }
}

impl Shell {
    /// The layout of a page of the signed-in `caller` (its session from the cookie), `current`
    /// being the page's own entry.
    pub async fn of(ctx: &Context, caller: &Caller, headers: &HeaderMap, current: &str) -> Result<Shell> {
        let me = sessions::me(ctx, caller).await?;
        let tenant = ovation::services::accounts::tenants::active(ctx, &caller.principal.tenant)
            .await?
            .ok_or(Error::NotFound("workspace"))?;
        let session = pages::cookie(ctx, headers, SESSION).unwrap_or_default();
        let role = caller.principal.role;
        let allowed = |entries: &[(&'static str, &'static str, Permission)]| -> Vec<NavItem> {
            entries
                .iter()
                .filter(|(_, _, needs)| caller.holds(*needs))
                .map(|(href, label, _)| NavItem {
                    href,
                    label,
                    current: current_of(href, current),
                })
                .collect()
        };
        let mut nav = allowed(NAV);
        let settings = allowed(SETTINGS);
        if let Some(first) = settings.first() {
            nav.push(NavItem {
                href: first.href,
                label: "Settings",
                current: current_of(first.href, current).or(current.starts_with("settings/").then_some("true")),
            });
        }
        Ok(Shell {
            workspace: tenant.settings.display_name.clone(),
            user: me.user.and_then(|u| u.name.or(Some(u.email))).unwrap_or_default(),
            role: role.as_str(),
            nav,
            settings,
            csrf: pages::csrf_token(&session),
        })
    }
}

/// A form posted by one of the app's pages: its fields, once its CSRF token matched the secret
/// of one of the browser's app cookies (the session, a sign-in's challenge, or the pre-session
/// cookie of the sign-in page). Anything else is refused with a 403.
pub struct PageForm(pub BTreeMap<String, String>);

impl PageForm {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

impl FromRequest<Arc<Context>> for PageForm {
    type Rejection = Response;

    async fn from_request(req: Request, ctx: &Arc<Context>) -> std::result::Result<Self, Response> {
        let headers = req.headers().clone();
        let root = root_of(req.extensions().get::<MatchedPath>());
        let refused = |e: Error| error(root, None, e).into_response();
        let body = Bytes::from_request(req, ctx)
            .await
            .map_err(|_| refused(Error::invalid("body", "could not be read")))?;
        if body.len() > MAX_FORM {
            return Err(refused(Error::invalid("body", "is too large for a form")));
        }
        let fields: BTreeMap<String, String> = form_to_pairs(&body).map_err(refused)?.into_iter().collect();
        csrf_checked(ctx, &headers, &fields).map_err(refused)?;
        Ok(PageForm(fields))
    }
}

/// Refuses a form whose CSRF token matches none of the browser's app cookies.
fn csrf_checked(ctx: &Context, headers: &HeaderMap, fields: &BTreeMap<String, String>) -> Result<()> {
    let presented = fields.get(CSRF_FIELD).map_or("", String::as_str);
    let matched = [SESSION, CHALLENGE, PRE_SESSION]
        .iter()
        .filter_map(|name| pages::cookie(ctx, headers, name))
        .any(|secret| pages::csrf_matches(&secret, presented));
    if !matched {
        return Err(foreign_form());
    }
    Ok(())
}

/// A form that did not come from the app's own page (or came too long ago).
fn foreign_form() -> Error {
    Error::Forbidden {
        code: "csrf_token_invalid",
        reason: "this form has expired or did not come from this app; load the page again",
    }
}

/// A form with a file (`multipart/form-data`): its text fields and its one file, once its CSRF
/// token matched as `PageForm`'s must; bounded by the route's body limit.
pub struct PageUpload {
    pub fields: BTreeMap<String, String>,
    pub file: Vec<u8>,
}

impl FromRequest<Arc<Context>> for PageUpload {
    type Rejection = Response;

    async fn from_request(req: Request, ctx: &Arc<Context>) -> std::result::Result<Self, Response> {
        let headers = req.headers().clone();
        let root = root_of(req.extensions().get::<MatchedPath>());
        let refused = |e: Error| error(root, None, e).into_response();
        let boundary = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::multipart::boundary)
            // The app's upload forms send multipart bodies only.
            .ok_or_else(|| refused(foreign_form()))?;
        let body = Bytes::from_request(req, ctx)
            .await
            .map_err(|_| refused(Error::invalid("body", "could not be read")))?;
        let mut upload = PageUpload {
            fields: BTreeMap::new(),
            file: Vec::new(),
        };
        for part in crate::multipart::parts(&body, &boundary).map_err(refused)? {
            match part.file_name {
                Some(_) => upload.file = part.content.to_vec(),
                None => {
                    let text = String::from_utf8_lossy(part.content).into_owned();
                    upload.fields.insert(part.name, text);
                }
            }
        }
        csrf_checked(ctx, &headers, &upload.fields).map_err(refused)?;
        Ok(upload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_and_escapes() {
        let shell = Shell {
            workspace: "<b>Acme</b>".into(),
            user: "{{ x }}".into(),
            role: "owner",
            nav: vec![],
            settings: vec![],
            csrf: "t".into(),
        };
        for name in [
            "sign_in.html",
            "second_factor.html",
            "password.html",
            "error.html",
            "accept.html",
            "forgot.html",
            "reset.html",
            "message.html",
            "security.html",
            "team.html",
            "surveys.html",
            "keys.html",
            "website.html",
            "people.html",
            "webhooks.html",
            "audit.html",
        ] {
            let page = render(
                StatusCode::OK,
                name,
                "",
                context! { shell => &shell, problem => "<i>no</i>" },
            );
            assert!(
                page.html.starts_with("<!doctype html>") && !page.html.contains("could not be shown"),
                "{name}: {}",
                page.html
            );
            assert!(
                !page.html.contains("<i>no</i>") && !page.html.contains("<b>Acme"),
                "{name}: {}",
                page.html
            );
        }
    }
}
