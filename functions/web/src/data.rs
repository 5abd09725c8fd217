//! Settings, your data (the owner): every item of the workspace, decrypted, as one JSON-lines
//! file, made by an export job (`POST /v1/exports/tenant`'s) whose page shows its progress and
//! then its file; data portability as the GDPR asks of it. Audited by the job service. And
//! deleting the workspace, its name typed and the password given again (`DELETE /v1/tenant`'s
//! rule).

use axum::extract::{MatchedPath, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::Context;
use ovation::http::pages::{self, SESSION};
use ovation::services::Caller;
use ovation::services::accounts;
use ovation::services::exports::jobs::{self, ExportKind};
use ovation::services::lifecycle::tenants;
use ovation::services::results::response_list::ResponseFilter;

use crate::page::{PageForm, after_form, in_layout, root_of, see_other};

type Ctx = State<std::sync::Arc<Context>>;

/// This page's entry in the settings' navigation.
pub const NAV: &str = "settings/data";

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller) -> Response {
    let values = async {
        let slug = accounts::tenants::active(&ctx, &caller.principal.tenant)
            .await?
            .map(|t| t.slug.clone())
            .unwrap_or_default();
        Ok(context! {
            days => jobs::KEPT_SECONDS / 86_400,
            purge_days => tenants::PURGE_AFTER_DAYS,
            slug,
        })
    };
    in_layout(&ctx, &caller, &headers, (NAV, "data.html", "../"), values).await
}

/// Starts the export; its page follows it.
pub async fn export(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    _form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let store = caller.store(&ctx);
    let started = async {
        let filter = ResponseFilter::default().for_caller(&store, &caller).await?;
        jobs::request(&ctx, &store, &caller, ExportKind::Tenant, None, &filter).await
    }
    .await;
    let to = started.map(|job| format!("exports/{}", job.id));
    after_form(&ctx, &caller, &headers, (NAV, root), to).await
}

/// Deletes the workspace once its name is typed and the owner's password given again; the
/// session ends with it.
pub async fn delete(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let request = tenants::TenantDeletion {
        confirm: form.get("confirm").to_owned(),
        password: form.get("password").to_owned(),
    };
    match tenants::delete_own(&ctx, &caller, &request).await {
        Ok(()) => see_other(
            &format!("{root}sign-in?done=deleted"),
            vec![pages::set_cookie(&ctx, SESSION, "", 0)],
        ),
        Err(e) => after_form(&ctx, &caller, &headers, (NAV, root), Err(e)).await,
    }
}
