//! Settings, Website surveys (owners and admins): the workspace's site keys with the survey each
//! shows, its origins and the snippet to paste; making one, changing its name, survey or origins,
//! revoking it at once. Thin over `services::website::site_keys`, as `/v1/site_keys` is.

use axum::extract::{MatchedPath, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::domain::survey::SurveyStatus;
use ovation::http::extract::{PathId, PublicBase};
use ovation::ids::SiteKeyId;
use ovation::services::Caller;
use ovation::services::surveys;
use ovation::services::website::site_keys::{self, NewSiteKey, SiteKeyPatch};
use ovation::{Context, Error, Result};

use crate::filter;
use crate::page::{PageForm, after_form, in_layout, root_of, utc};

type Ctx = State<std::sync::Arc<Context>>;

/// This page's entry in the settings' navigation.
pub const NAV: &str = "settings/website";

const DONE: &[(&str, &str)] = &[
    ("made", "Site key made: paste its snippet into your site's pages."),
    ("changed", "Site key changed."),
    (
        "new_secret",
        "New identity secret made: signatures made with the earlier one fail from now on.",
    ),
    (
        "revoked",
        "Site key revoked: its survey no longer shows on your site, from the next page view.",
    ),
];

pub async fn page(
    State(ctx): Ctx,
    headers: HeaderMap,
    base: PublicBase,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Response {
    let values = async {
        let done = filter::said(DONE, &filter::pairs(raw.as_deref())?);
        let store = caller.store(&ctx);
        let surveys = surveys::list_visible(&store, &caller, true).await?;
        let open = |id: &str| {
            surveys
                .iter()
                .any(|s| s.id == id && s.definition.status != SurveyStatus::Archived)
        };
        let (mut keys, mut revoked) = (vec![], vec![]);
        for k in site_keys::list(&store).await?.iter().rev() {
            let survey_name = surveys
                .iter()
                .find(|s| s.id == k.survey)
                .map_or_else(String::new, |s| s.definition.name.clone());
            let shown = context! {
                survey_name, survey_archived => !open(&k.survey),
                created => utc(k.created_at),
                revoked => k.revoked_at.and_then(utc),
                snippet => k.snippet(&base.0),
                origins_text => k.origins.iter().map(|o| o.as_str()).collect::<Vec<_>>().join("\n"),
                ..minijinja::Value::from_serialize(k.view(&store).await?)
            };
            match k.revoked_at {
                None => keys.push(shown),
                Some(_) => revoked.push(shown),
            }
        }
        let choices: Vec<_> = surveys
            .iter()
            .filter(|s| open(&s.id))
            .map(|s| context! { id => &s.id, name => &s.definition.name })
            .collect();
        Ok(context! {
            keys, revoked, surveys => choices, done,
            max => site_keys::MAX_PER_TENANT, max_origins => site_keys::MAX_ORIGINS,
        })
    };
    in_layout(&ctx, &caller, &headers, (NAV, "website.html", "../"), values).await
}

/// The origins of a form's textarea: one a line (commas and spaces also part them).
fn origins(text: &str) -> Vec<String> {
    text.split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn create(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let new = NewSiteKey {
        name: form.get("name").to_owned(),
        survey_id: form.get("survey").to_owned(),
        origins: origins(form.get("origins")),
        signed_emails: form.get("signed_emails") == "on",
    };
    let to = site_keys::create(&caller.store(&ctx), &caller, new)
        .await
        .map(|_| "settings/website?done=made".to_owned());
    after_form(&ctx, &caller, &headers, (NAV, root), to).await
}

/// Saves a key's name, survey and origins (`action=save`), makes it a new identity secret
/// (`action=new_identity_secret`), or revokes it at once (`action=revoke`).
pub async fn change(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(id): PathId<SiteKeyId>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let store = caller.store(&ctx);
    let to: Result<String> = match form.get("action") {
        "revoke" => site_keys::revoke(&store, &caller, &id)
            .await
            .map(|()| "settings/website?done=revoked".to_owned()),
        "save" => {
            let patch = SiteKeyPatch {
                name: Some(form.get("name").to_owned()),
                survey_id: Some(form.get("survey").to_owned()),
                origins: Some(origins(form.get("origins"))),
                signed_emails: Some(form.get("signed_emails") == "on"),
                new_identity_secret: None,
            };
            site_keys::change(&store, &caller, &id, patch)
                .await
                .map(|_| "settings/website?done=changed".to_owned())
        }
        "new_identity_secret" => {
            let patch = SiteKeyPatch {
                new_identity_secret: Some(true),
                ..SiteKeyPatch::default()
            };
            site_keys::change(&store, &caller, &id, patch)
                .await
                .map(|_| "settings/website?done=new_secret".to_owned())
        }
        _ => Err(Error::invalid("action", "must be save, new_identity_secret or revoke")),
    };
    after_form(&ctx, &caller, &headers, (NAV, root), to).await
}
