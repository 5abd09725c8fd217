//! The OpenAPI 3.1 document of the whole API, made from the route table (every route, its access
//! rule as security, its body and answer schemas) and the request and response types' schemas.
//! Served at `GET /openapi.json`; a test checks that every route is in it and every schema it
//! names exists.

use utoipa::OpenApi;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder, Schema};

use super::routes::{Access, ROUTES, Route};
use crate::auth::{Role, Scope};
use crate::domain::Channel;
use crate::domain::survey::{
    Answer, Language, Question, QuestionKind, SurveyDefinition, SurveyPatch, SurveyStatus, SurveyTexts,
};
use crate::domain::tenant::{PasswordPolicy, Privacy, SettingsPatch, SsoRequired, TenantSettings};
use crate::domain::tenant::{Tenant, TenantStatus};
use crate::http::{ErrorBody, OAuthErrorBody};
use crate::services::accounts::credentials::{
    ApiKeyCreated, ApiKeyView, NewCredential, OAuthClientCreated, OAuthClientView, TokenRequest, TokenResponse,
};
use crate::services::accounts::domains::{DomainStatus, EmailDomain, NewEmailDomain, TxtRecord};
use crate::services::accounts::mfa::{DisableTotp, RecoveryCodes, TotpCode, TotpEnrolment};
use crate::services::accounts::saml::{SamlInput, SamlSettings, SigningCertificate};
use crate::services::accounts::scim::{
    ProvisioningToken, ProvisioningTokenInfo, ScimEmail, ScimMeta, ScimName, ScimOperation, ScimPatch, ScimUser,
    ScimUserInput, ScimUserList,
};
use crate::services::accounts::scim_groups::{ScimGroup, ScimGroupInput, ScimGroupList, ScimMember};
use crate::services::accounts::sessions::{ChangePassword, Me};
use crate::services::accounts::sign_in::{AcceptInvite, MfaRequest, SignInRequest, SignInResult};
use crate::services::accounts::sso::{OidcInput, OidcSettings};
use crate::services::accounts::teams::{NewTeam, TeamMember, TeamPatch, TeamView};
use crate::services::accounts::users::{Invite, Invited, UserPatch, UserStatus, UserView};
use crate::services::audit::AuditEvent;
use crate::services::exports::jobs::{ExportJob, ExportKind, ExportStatus};
use crate::services::lifecycle::tenants::{NewTenant, TenantCreated, TenantDeletion};
use crate::services::notifications::subscriptions::{Answers, Choice, Subscription};
use crate::services::people::imports::{ImportSummary, RowError};
use crate::services::people::person::PersonView;
use crate::services::people::suppressions::{SuppressedView, UnsubscribeRequest};
use crate::services::people::upsert::PersonRequest;
use crate::services::results::metrics::{ChannelMetrics, Metrics, MetricsView, PeriodMetrics, SegmentMetrics};
use crate::services::results::response_record::Note;
use crate::services::results::response_wire::{AdditionalAnswer, ResponseRequest, ResponseView};
use crate::services::sending::autopilot::{
    AutopilotPatch, AutopilotView, MembershipRequest, MembershipView, NextSurveyRequest,
};
use crate::services::surveys::Survey;
use crate::services::webhooks::delivery::{Attempt, DeliveryLogEntry};
use crate::services::webhooks::endpoints::{Endpoint, EndpointRequest, EndpointWithSecret, TestEventRequest};
use crate::services::webhooks::events::EventType;
use crate::services::website::site_keys::{NewSiteKey, SiteKeyPatch, SiteKeyView};
use crate::services::website::visits::{
    AnswerReceipt, AnswerRequest, CommentRequest, DecideRequest, Decision, DismissRequest, VisitorRef, WidgetQuestion,
    WidgetSurvey,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ovation API",
        description = "NPS and customer-feedback surveys. Authenticate with `Authorization: Bearer <token>` (a session, an API key or an OAuth access token) or HTTP Basic with the API key as user name.",
        license(name = "Apache-2.0")
    ),
    components(schemas(
        AcceptInvite,
        AdditionalAnswer,
        Answer,
        AnswerForm,
        AutopilotPatch,
        AutopilotView,
        Canceled,
        Channel,
        CsvFile,
        Html,
        JavaScript,
        NewSiteKey,
        SiteKeyPatch,
        SiteKeyView,
        AnswerReceipt,
        AnswerRequest,
        CommentRequest,
        DecideRequest,
        Decision,
        DismissRequest,
        VisitorRef,
        WidgetQuestion,
        WidgetSurvey,
        ExportFile,
        ExportJob,
        ExportKind,
        ExportStatus,
        JsonLinesFile,
        ImportSummary,
        Language,
        MembershipRequest,
        MembershipView,
        NextSurveyRequest,
        Note,
        Ok,
        PersonRequest,
        PersonView,
        Question,
        QuestionKind,
        ResponseRequest,
        ResponseView,
        Metrics,
        MetricsView,
        PeriodMetrics,
        SegmentMetrics,
        ChannelMetrics,
        Attempt,
        DeliveryLogEntry,
        Endpoint,
        EndpointRequest,
        EndpointWithSecret,
        EventType,
        TestEventRequest,
        RowError,
        SuppressedView,
        Survey,
        SurveyDefinition,
        SurveyPatch,
        SurveyStatus,
        SurveyTexts,
        ApiKeyCreated,
        ApiKeyView,
        AuditEvent,
        ChangePassword,
        DisableTotp,
        ErrorBody,
        Invite,
        Invited,
        Me,
        MfaRequest,
        NewCredential,
        NewTenant,
        OAuthClientCreated,
        OAuthClientView,
        OAuthErrorBody,
        OidcInput,
        EmailDomain,
        NewEmailDomain,
        DomainStatus,
        TxtRecord,
        OidcSettings,
        SamlInput,
        SamlSettings,
        SigningCertificate,
        SamlMetadata,
        SamlAnswer,
        PasswordPolicy,
        Privacy,
        ProvisioningToken,
        ProvisioningTokenInfo,
        RecoveryCodes,
        Role,
        ScimEmail,
        ScimMeta,
        ScimName,
        ScimOperation,
        ScimPatch,
        ScimUser,
        ScimUserInput,
        ScimUserList,
        ScimGroup,
        ScimGroupInput,
        ScimGroupList,
        ScimMember,
        TeamView,
        TeamMember,
        NewTeam,
        TeamPatch,
        Scope,
        SettingsPatch,
        SignInRequest,
        SignInResult,
        SsoRequired,
        Tenant,
        TenantCreated,
        TenantDeletion,
        Subscription,
        Choice,
        Answers,
        TenantSettings,
        TenantStatus,
        TokenRequest,
        TokenResponse,
        TotpCode,
        TotpEnrolment,
        UserPatch,
        UnsubscribeRequest,
        UserStatus,
        UserView
    ))
)]
struct Schemas;

/// The answer Delighted's clients expect of a deletion or an unsubscribe.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Ok {
    ok: bool,
}

/// The answer of cancelling pending surveys: how many were cancelled.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Canceled {
    ok: bool,
    canceled: u32,
}

/// CSV text (UTF-8, a header row).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct CsvFile(String);

/// A spreadsheet: CSV (UTF-8 with a byte-order mark) or Excel (`.xlsx`), as `format` asks.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ExportFile(String);

/// JSON lines: one object a line.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct JsonLinesFile(String);

/// An HTML page.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Html(String);

/// A script (the website survey's widget).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct JavaScript(String);

/// The respondent's form: the score, the comment, `q_<id>` per additional question, and
/// `auto=1` when the page's script sent it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct AnswerForm {
    score: Option<u8>,
    comment: Option<String>,
    auto: Option<String>,
}

/// A SAML service provider's metadata (XML).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SamlMetadata(String);

/// The identity provider's answer, as its page posts it (HTTP-POST binding).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "PascalCase")]
struct SamlAnswer {
    /// The SAML Response, base64.
    saml_response: String,
    relay_state: Option<String>,
}

/// The media type of a body or answer schema.
fn media(schema: &str) -> &'static str {
    match schema {
        "CsvFile" => "text/csv",
        "Html" => "text/html",
        "JavaScript" => "text/javascript",
        "DecideRequest" | "AnswerRequest" | "CommentRequest" | "DismissRequest" => "text/plain",
        "JsonLinesFile" => "application/x-ndjson",
        "AnswerForm" | "TokenRequest" | "SamlAnswer" => "application/x-www-form-urlencoded",
        "SamlMetadata" => "application/samlmetadata+xml",
        name if name.starts_with("Scim") => "application/scim+json",
        _ => "application/json",
    }
}

/// The media types and schemas a success answers with: an export as CSV or Excel, as `format`
/// asks; anything else in its one media type.
fn answers(returns: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    match returns {
        None => vec![],
        Some("ExportFile") => vec![
            ("text/csv", "ExportFile"),
            (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "ExportFile",
            ),
        ],
        Some(returns) => vec![(media(returns), returns)],
    }
}

fn method(name: &str) -> HttpMethod {
    match name {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        _ => HttpMethod::Options,
    }
}

/// A schema reference, or an array of them for `[Name]`.
fn schema(name: &str) -> RefOr<Schema> {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(item) => RefOr::T(Schema::Array(utoipa::openapi::schema::Array::new(
            Ref::from_schema_name(item),
        ))),
        None => RefOr::Ref(Ref::from_schema_name(name)),
    }
}

fn security(access: Access) -> Vec<SecurityRequirement> {
    let none: [&str; 0] = [];
    match access {
        Access::Public | Access::Throttled | Access::Site => vec![],
        Access::Operator => vec![SecurityRequirement::new("operator", none)],
        Access::Scim => vec![SecurityRequirement::new("scim", none)],
        Access::Any | Access::User | Access::Tenant(_) => vec![
            SecurityRequirement::new("bearer", none),
            SecurityRequirement::new("basic", none),
        ],
    }
}

fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let mut op = OperationBuilder::new()
        .summary(Some(route.summary))
        .tag(route.function)
        .operation_id(Some(format!("{} {}", route.method.to_lowercase(), route.path)));
    for segment in route.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(utoipa::openapi::schema::Object::with_type(
                        utoipa::openapi::schema::Type::String,
                    ))),
            );
        }
    }
    for name in route.query {
        op = op.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .schema(Some(utoipa::openapi::schema::Object::with_type(
                    utoipa::openapi::schema::Type::String,
                ))),
        );
    }
    if let Some(body) = route.body {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .content(media(body), ContentBuilder::new().schema(Some(schema(body))).build())
                .required(Some(Required::True))
                .build(),
        ));
    }
    let mut ok = ResponseBuilder::new().description("Success");
    for (media, body) in answers(route.returns) {
        ok = ok.content(media, ContentBuilder::new().schema(Some(schema(body))).build());
    }
    let status = route.status.to_string();
    // Pages answer errors as pages; the token endpoint as RFC 6749 says; the rest as JSON.
    let (media, body, description) = match (route.returns, route.path) {
        (Some("Html"), _) => ("text/html", "Html", "An error page (invalid, expired or closed link)"),
        (_, "/oauth/token") => ("application/json", "OAuthErrorBody", "A refused grant (RFC 6749 §5.2)"),
        _ => (
            "application/json",
            "ErrorBody",
            "An error: status, code, message and the field at fault",
        ),
    };
    let error = ResponseBuilder::new()
        .description(description)
        .content(media, ContentBuilder::new().schema(Some(schema(body))).build());
    op.response(status, ok.build())
        .response("default", error.build())
        .securities(Some(security(route.access)))
        .build()
}

/// The document as JSON, made once per process.
pub fn json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| document().to_json().unwrap_or_default())
}

/// Request schemas whose fields are optional when changing but required when creating: the
/// schema a creation takes (named here) is the changing one with these fields required.
const REQUIRED_TO_CREATE: &[(&str, &str, &[&str])] = &[
    ("ResponseRequest", "NewResponseRequest", &["person", "score"]),
    ("EndpointRequest", "NewEndpointRequest", &["url"]),
    // Optional in the type only so that a missing one is RFC 6749's `invalid_request`.
    ("TokenRequest", "TokenRequest", &["grant_type"]),
];

/// Adds the creation schemas of `REQUIRED_TO_CREATE`.
fn require_to_create(components: &mut utoipa::openapi::Components) {
    for (base, name, fields) in REQUIRED_TO_CREATE {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get(*base) else {
            continue;
        };
        let mut object = object.clone();
        for field in *fields {
            if !object.required.iter().any(|r| r == field) {
                object.required.push((*field).to_owned());
            }
        }
        components
            .schemas
            .insert((*name).to_owned(), RefOr::T(Schema::Object(object)));
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Schemas::openapi();
    // The web app's pages are no part of the API.
    for route in ROUTES.iter().filter(|r| r.function != super::routes::WEB) {
        doc.paths
            .add_path_operation(route.path, vec![method(route.method)], operation(route));
    }
    let components = doc.components.get_or_insert_with(Default::default);
    require_to_create(components);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "scim",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The workspace's SCIM token (ovp_...), made by an owner (POST /v1/scim/token); it opens the \
                     /scim/v2 routes only.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "basic",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
    );
    components.add_security_scheme(
        "operator",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The operator key (ovo_...). On tenant routes, with the header `Ovation-Tenant: <slug>`, it acts as \
                     support staff while the tenant allows support access.",
                ))
                .build(),
        ),
    );
    doc
}
