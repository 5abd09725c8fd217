//! `api-auth`: signing in (password, then a second factor when enrolled), accepting invitations,
//! the OAuth 2.0 token endpoint, sessions, the caller's own account (`/v1/me`: password, TOTP),
//! the workspace's single sign-on settings (`/v1/sso/oidc`, `/v1/sso/saml`) and email domains (`/v1/sso/domains`) and SCIM 2.0 provisioning
//! (`/scim/v2` Users and Groups, its token at `/v1/scim/token`). The router only, with
//! thin handlers over `ovation::services`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use ovation::error::GrantRefusal;
use ovation::http::error::{Scim, ScimError};
use ovation::http::extract::{ClientAddress, JsonBody, PublicBase, parse_json};
use ovation::services::Caller;
use ovation::services::accounts::credentials::{self, TokenRequest, TokenResponse};
use ovation::services::accounts::domains::{self, EmailDomain, NewEmailDomain};
use ovation::services::accounts::mfa;
use ovation::services::accounts::mfa::{DisableTotp, RecoveryCodes, TotpCode, TotpEnrolment};
use ovation::services::accounts::saml::{self, SamlInput, SamlSettings};
use ovation::services::accounts::scim::{
    self, ListQuery, ProvisioningToken, ProvisioningTokenInfo, ScimPatch, ScimUser, ScimUserInput, ScimUserList,
};
use ovation::services::accounts::scim_groups::{self, ScimGroup, ScimGroupInput, ScimGroupList};
use ovation::services::accounts::sessions;
use ovation::services::accounts::sessions::{ChangePassword, Me};
use ovation::services::accounts::sign_in;
use ovation::services::accounts::sign_in::{AcceptInvite, MfaRequest, SignInRequest, SignInResult};
use ovation::services::accounts::sso::{self, OidcInput, OidcSettings};
use ovation::services::notifications::subscriptions::{self, Choice, Subscription};
use ovation::{Context, Error, Result};

/// This function's name in the route table and in `template.yaml`.
pub const FUNCTION: &str = "api-auth";

type Ctx = State<Arc<Context>>;

pub fn routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/v1/auth/sign_in", post(sign_in))
        .route("/v1/auth/mfa", post(mfa))
        .route("/v1/auth/accept_invite", post(accept_invite))
        .route("/oauth/token", post(token))
        .route("/v1/auth/sign_out", post(sign_out))
        .route("/v1/auth/sign_out_everywhere", post(sign_out_everywhere))
        .route("/v1/me", get(me))
        .route("/v1/me/notifications", get(my_notifications).put(choose_notifications))
        .route("/v1/me/password", post(change_password))
        .route("/v1/me/mfa/totp", post(begin_totp))
        .route("/v1/me/mfa/totp/confirm", post(confirm_totp))
        .route("/v1/me/mfa/totp/disable", post(disable_totp))
        .route("/v1/sso/oidc", get(sso_settings).put(save_sso).delete(delete_sso))
        .route("/v1/sso/saml", get(saml_settings).put(save_saml).delete(delete_saml))
        .route("/v1/sso/domains", get(email_domains).post(add_email_domain))
        .route("/v1/sso/domains/{domain}/verify", post(verify_email_domain))
        .route("/v1/sso/domains/{domain}", axum::routing::delete(remove_email_domain))
        .route(
            "/v1/scim/token",
            post(create_scim_token).get(scim_token).delete(revoke_scim_token),
        )
        .route("/scim/v2/ServiceProviderConfig", get(scim_config))
        .route("/scim/v2/Users", get(scim_users).post(scim_create))
        .route(
            "/scim/v2/Users/{id}",
            get(scim_user).put(scim_replace).patch(scim_patch).delete(scim_delete),
        )
        .route("/scim/v2/Groups", get(scim_groups).post(scim_create_group))
        .route(
            "/scim/v2/Groups/{id}",
            get(scim_group)
                .put(scim_replace_group)
                .patch(scim_patch_group)
                .delete(scim_delete_group),
        )
        .with_state(ctx)
}

async fn sign_in(
    State(ctx): Ctx,
    ClientAddress(ip): ClientAddress,
    JsonBody(request): JsonBody<SignInRequest>,
) -> Result<Json<SignInResult>> {
    Ok(Json(sign_in::sign_in(&ctx, request, ip).await?))
}

async fn mfa(
    State(ctx): Ctx,
    ClientAddress(ip): ClientAddress,
    JsonBody(request): JsonBody<MfaRequest>,
) -> Result<Json<SignInResult>> {
    Ok(Json(sign_in::complete_mfa(&ctx, request, ip).await?))
}

async fn accept_invite(
    State(ctx): Ctx,
    ClientAddress(ip): ClientAddress,
    JsonBody(request): JsonBody<AcceptInvite>,
) -> Result<Json<SignInResult>> {
    Ok(Json(sign_in::accept_invite(&ctx, request, ip).await?))
}

/// RFC 6749 §4.4: a form-encoded body; the client's credentials by HTTP Basic or in the body.
async fn token(State(ctx): Ctx, ClientAddress(ip): ClientAddress, req: Request) -> Result<Json<TokenResponse>> {
    let basic = ovation::http::gate::basic_pair(req.headers())?;
    let Form(form) = Form::<TokenRequest>::from_request(req, &()).await.map_err(|_| {
        Error::GrantRefused(GrantRefusal::InvalidRequest(
            "send an application/x-www-form-urlencoded body with grant_type",
        ))
    })?;
    Ok(Json(credentials::grant(&ctx, form, basic, ip).await?))
}

async fn sign_out(State(ctx): Ctx, caller: Caller) -> Result<StatusCode> {
    sessions::sign_out(&ctx, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_out_everywhere(State(ctx): Ctx, caller: Caller) -> Result<StatusCode> {
    sessions::sign_out_everywhere(&ctx, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(ctx): Ctx, caller: Caller) -> Result<Json<Me>> {
    Ok(Json(sessions::me(&ctx, &caller).await?))
}

async fn my_notifications(State(ctx): Ctx, caller: Caller) -> Result<Json<Vec<Subscription>>> {
    let store = caller.store(&ctx);
    Ok(Json(
        subscriptions::mine(&store, &caller).await?.into_values().collect(),
    ))
}

async fn choose_notifications(
    State(ctx): Ctx,
    caller: Caller,
    JsonBody(choices): JsonBody<Vec<Choice>>,
) -> Result<Json<Vec<Subscription>>> {
    let store = caller.store(&ctx);
    subscriptions::choose(&ctx, &store, &caller, &choices).await?;
    Ok(Json(
        subscriptions::mine(&store, &caller).await?.into_values().collect(),
    ))
}

async fn change_password(
    State(ctx): Ctx,
    caller: Caller,
    JsonBody(request): JsonBody<ChangePassword>,
) -> Result<Json<SignInResult>> {
    Ok(Json(sessions::change_password(&ctx, &caller, request).await?))
}

async fn begin_totp(State(ctx): Ctx, caller: Caller) -> Result<Json<TotpEnrolment>> {
    Ok(Json(mfa::begin_totp(&ctx, &caller).await?))
}

async fn confirm_totp(
    State(ctx): Ctx,
    caller: Caller,
    JsonBody(request): JsonBody<TotpCode>,
) -> Result<Json<RecoveryCodes>> {
    Ok(Json(mfa::confirm_totp(&ctx, &caller, request).await?))
}

async fn disable_totp(State(ctx): Ctx, caller: Caller, JsonBody(request): JsonBody<DisableTotp>) -> Result<StatusCode> {
    mfa::disable_totp(&ctx, &caller, request).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn email_domains(State(ctx): Ctx, caller: Caller) -> Result<Json<Vec<EmailDomain>>> {
    Ok(Json(domains::list(&ctx, &caller).await?))
}

async fn add_email_domain(
    State(ctx): Ctx,
    caller: Caller,
    JsonBody(input): JsonBody<NewEmailDomain>,
) -> Result<(StatusCode, Json<EmailDomain>)> {
    Ok((StatusCode::CREATED, Json(domains::add(&ctx, &caller, input).await?)))
}

async fn verify_email_domain(State(ctx): Ctx, caller: Caller, Path(domain): Path<String>) -> Result<Json<EmailDomain>> {
    Ok(Json(domains::verify(&ctx, &caller, &domain).await?))
}

async fn remove_email_domain(State(ctx): Ctx, caller: Caller, Path(domain): Path<String>) -> Result<StatusCode> {
    domains::remove(&ctx, &caller, &domain).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_scim_token(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
) -> Result<(StatusCode, Json<ProvisioningToken>)> {
    Ok((
        StatusCode::CREATED,
        Json(scim::create_token(&ctx, &caller, &base).await?),
    ))
}

async fn scim_token(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
) -> Result<Json<ProvisioningTokenInfo>> {
    Ok(Json(scim::token_info(&ctx, &caller, &base).await?))
}

async fn revoke_scim_token(State(ctx): Ctx, caller: Caller) -> Result<StatusCode> {
    scim::revoke_token(&ctx, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

type ScimResult<T> = std::result::Result<Scim<T>, ScimError>;

async fn scim_config() -> impl IntoResponse {
    Scim(scim::service_provider_config())
}

async fn scim_users(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    Query(query): Query<ListQuery>,
) -> ScimResult<ScimUserList> {
    Ok(Scim(scim::list(&ctx, &caller, query, &base).await?))
}

/// A user created: 201 with its `Location` (RFC 7644 §3.3).
async fn scim_create(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    body: Bytes,
) -> std::result::Result<impl IntoResponse, ScimError> {
    let input: ScimUserInput = parse_json(&body)?;
    let user = scim::create(&ctx, &caller, input, &base).await?;
    let location = [(header::LOCATION, user.meta.location.clone())];
    Ok((StatusCode::CREATED, location, Scim(user)))
}

async fn scim_user(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    Path(id): Path<String>,
) -> ScimResult<ScimUser> {
    Ok(Scim(scim::get(&ctx, &caller, &id, &base).await?))
}

async fn scim_replace(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    Path(id): Path<String>,
    body: Bytes,
) -> ScimResult<ScimUser> {
    let input: ScimUserInput = parse_json(&body)?;
    Ok(Scim(scim::replace(&ctx, &caller, &id, input, &base).await?))
}

async fn scim_patch(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    Path(id): Path<String>,
    body: Bytes,
) -> ScimResult<ScimUser> {
    let patch: ScimPatch = parse_json(&body)?;
    Ok(Scim(scim::patch(&ctx, &caller, &id, patch, &base).await?))
}

async fn scim_delete(
    State(ctx): Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> std::result::Result<StatusCode, ScimError> {
    scim::delete(&ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn scim_groups(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    Query(query): Query<ListQuery>,
) -> ScimResult<ScimGroupList> {
    Ok(Scim(scim_groups::list(&ctx, &caller, query, &base).await?))
}

/// A group created: 201 with its `Location`.
async fn scim_create_group(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    body: Bytes,
) -> std::result::Result<impl IntoResponse, ScimError> {
    let input: ScimGroupInput = parse_json(&body)?;
    let group = scim_groups::create(&ctx, &caller, input, &base).await?;
    let location = [(header::LOCATION, group.meta.location.clone())];
    Ok((StatusCode::CREATED, location, Scim(group)))
}

async fn scim_group(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ScimResult<ScimGroup> {
    Ok(Scim(scim_groups::get(&ctx, &caller, &id, &query, &base).await?))
}

async fn scim_replace_group(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    Path(id): Path<String>,
    body: Bytes,
) -> ScimResult<ScimGroup> {
    let input: ScimGroupInput = parse_json(&body)?;
    Ok(Scim(scim_groups::replace(&ctx, &caller, &id, input, &base).await?))
}

async fn scim_patch_group(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    Path(id): Path<String>,
    body: Bytes,
) -> ScimResult<ScimGroup> {
    let patch: ScimPatch = parse_json(&body)?;
    Ok(Scim(scim_groups::patch(&ctx, &caller, &id, patch, &base).await?))
}

async fn scim_delete_group(
    State(ctx): Ctx,
    caller: Caller,
    Path(id): Path<String>,
) -> std::result::Result<StatusCode, ScimError> {
    scim_groups::delete(&ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sso_settings(State(ctx): Ctx, caller: Caller, PublicBase(base): PublicBase) -> Result<Json<OidcSettings>> {
    Ok(Json(sso::get(&ctx, &caller, &base).await?))
}

async fn save_sso(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    JsonBody(input): JsonBody<OidcInput>,
) -> Result<Json<OidcSettings>> {
    Ok(Json(sso::save(&ctx, &caller, input, &base).await?))
}

async fn delete_sso(State(ctx): Ctx, caller: Caller) -> Result<StatusCode> {
    sso::delete(&ctx, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn saml_settings(State(ctx): Ctx, caller: Caller, PublicBase(base): PublicBase) -> Result<Json<SamlSettings>> {
    Ok(Json(saml::get(&ctx, &caller, &base).await?))
}

async fn save_saml(
    State(ctx): Ctx,
    caller: Caller,
    PublicBase(base): PublicBase,
    JsonBody(input): JsonBody<SamlInput>,
) -> Result<Json<SamlSettings>> {
    Ok(Json(saml::save(&ctx, &caller, input, &base).await?))
}

async fn delete_saml(State(ctx): Ctx, caller: Caller) -> Result<StatusCode> {
    saml::delete(&ctx, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
