//! Settings, security and privacy (owners and admins): the workspace's name and the languages
//! new surveys offer; who may sign in and how (the IP allow-list, a second factor required, the
//! password policy, the operator's support access); what is kept of respondents (their address,
//! only a hash of their email, contact details shown to analysts); and how long answers are kept.
//! One form, saved as `PATCH /v1/tenant` saves it: the same service, its checks (the allow-list
//! must keep the viewer's own address) and its audit.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::domain::language::LANGUAGES;
use ovation::domain::tenant::{PasswordPolicy, Privacy, RetentionAction, SettingsPatch};
use ovation::services::Caller;
use ovation::services::accounts::tenants;
use ovation::{Context, Error, Result};

use crate::filter;
use crate::page::{PageForm, after_form, in_layout};

type Ctx = State<std::sync::Arc<Context>>;

/// This page's entry in the settings' navigation.
pub const NAV: &str = "settings/workspace";

const DONE: &[(&str, &str)] = &[("saved", "Settings saved.")];

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = async {
        let done = filter::said(DONE, &filter::pairs(raw.as_deref())?);
        let tenant = tenants::load(&ctx, &caller.principal.tenant)
            .await?
            .ok_or(Error::NotFound("workspace"))?;
        let settings = &tenant.settings;
        let languages: Vec<_> = LANGUAGES
            .into_iter()
            .map(|l| context! { code => l.code(), name => l.name(), checked => settings.languages.contains(&l) })
            .collect();
        Ok(context! {
            done, languages,
            version => tenant.version(),
            min_password => ovation::auth::password::MIN_LEN,
            slug => &tenant.slug,
            settings => settings,
            allow_list => settings.ip_allow_list.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
            your_address => caller.ip.map(|ip| ip.to_string()),
        })
    };
    in_layout(&ctx, &caller, &headers, (NAV, "workspace.html", "../"), values).await
}

/// Whole days from a field; blank is none.
fn days(field: &'static str, text: &str) -> Result<Option<u32>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| Error::invalid(field, "must be a whole number of days, or blank"))
}

/// The change the form asks for, every field set.
fn patch_of(form: &PageForm) -> Result<SettingsPatch> {
    let on = |name: &str| form.get(name) == "on";
    Ok(SettingsPatch {
        display_name: Some(form.get("display_name").trim().to_owned()),
        ip_allow_list: Some(
            form.get("ip_allow_list")
                .split(['\n', ','])
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        support_access: Some(on("support_access")),
        retention_days: Some(days("retention_days", form.get("retention_days"))?),
        retention_action: Some(match form.get("retention_action") {
            "delete" => RetentionAction::Delete,
            "anonymize" => RetentionAction::Anonymize,
            _ => return Err(Error::invalid("retention_action", "must be anonymize or delete")),
        }),
        privacy: Some(Privacy {
            store_respondent_ip: on("store_respondent_ip"),
            store_email_hash_only: on("store_email_hash_only"),
            analysts_see_people: on("analysts_see_people"),
        }),
        password_policy: Some(PasswordPolicy {
            min_length: form
                .get("min_length")
                .trim()
                .parse()
                .map_err(|_| Error::invalid("password_policy.min_length", "must be a whole number"))?,
            expiry_days: days("password_policy.expiry_days", form.get("expiry_days"))?,
        }),
        require_mfa: Some(on("require_mfa")),
        languages: Some(
            LANGUAGES
                .into_iter()
                .filter(|l| on(&format!("lang_{}", l.code())))
                .collect(),
        ),
    })
}

pub async fn save(State(ctx): Ctx, headers: HeaderMap, caller: Caller, form: PageForm) -> Response {
    let saved = async {
        let seen = form.get("version").parse().ok();
        tenants::update_settings(&ctx, &caller, patch_of(&form)?, seen).await
    };
    let to = saved.await.map(|_| "settings/workspace?done=saved".to_owned());
    after_form(&ctx, &caller, &headers, (NAV, "../"), to).await
}
