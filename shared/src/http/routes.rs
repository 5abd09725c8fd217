//! The route table: every HTTP route, the function (Lambda) that serves it, who may call it, and
//! what it takes and returns. It is the source of truth that the gate enforces, the OpenAPI
//! document describes, and the local server, the functions' routers and `template.yaml` are
//! checked against.

use crate::auth::Permission;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (`/health`, `/openapi.json`).
    Public,
    /// Anyone, under the tighter per-address budget: sign-in, tokens, anonymous web-link answers.
    Throttled,
    /// A website's visitor: the site key in the body is checked by the handler (its origins, its
    /// budget), under the website surveys' per-address budget.
    Site,
    /// The platform operator's key.
    Operator,
    /// Any principal of a tenant, even a session that must first change its password.
    Any,
    /// A signed-in user's session (not an API key or client), even a restricted one.
    User,
    /// A principal whose role holds the permission, on an unrestricted credential.
    Tenant(Permission),
    /// The workspace's SCIM token (its identity provider provisioning users), and nothing else;
    /// the token opens no other route.
    Scim,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// The path in axum's syntax (`/v1/people/{id}`).
    pub path: &'static str,
    /// The function crate (and SAM resource) that serves it.
    pub function: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// The schema of the request body, when it takes one.
    pub body: Option<&'static str>,
    /// The schema of a successful answer (`[Name]` for a JSON array of them).
    pub returns: Option<&'static str>,
    /// The success status: 201 for routes that create, 204 for those that answer nothing, 200.
    pub status: u16,
    /// The query parameters it reads.
    pub query: &'static [&'static str],
    /// The largest request body it takes.
    pub max_body: usize,
    /// A page of the web app: its credential is the session cookie, its forms must come from
    /// the app, and a refusal answers as a page.
    pub page: bool,
}

/// The largest request body accepted (1 MiB); imports and uploads raise it on their routes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const fn route(
    method: &'static str,
    path: &'static str,
    function: &'static str,
    access: Access,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        function,
        access,
        summary,
        body: None,
        returns: None,
        // A GET answers something; other methods answer nothing unless they say what.
        status: if method.as_bytes()[0] == b'G' { 200 } else { 204 },
        query: &[],
        max_body: MAX_BODY_BYTES,
        page: false,
    }
}

impl Route {
    const fn body(mut self, schema: &'static str) -> Route {
        self.body = Some(schema);
        self
    }

    const fn returns(mut self, schema: &'static str) -> Route {
        self.returns = Some(schema);
        self.status = 200;
        self
    }

    const fn created(mut self) -> Route {
        self.status = 201;
        self
    }

    /// Answers 202: the work goes on after the answer.
    const fn accepted(mut self) -> Route {
        self.status = 202;
        self
    }

    const fn max_body(mut self, bytes: usize) -> Route {
        self.max_body = bytes;
        self
    }

    const fn query(mut self, names: &'static [&'static str]) -> Route {
        self.query = names;
        self
    }

    /// A page of the web app (HTML, session cookie, same-origin forms).
    const fn page(mut self) -> Route {
        self.page = true;
        self.returns = Some("Html");
        self.status = if self.method.as_bytes()[0] == b'G' { 200 } else { 303 };
        self
    }
}

const ADMIN: &str = "api-admin";
const AUTH: &str = "api-auth";
const SURVEYS: &str = "api-surveys";
const PEOPLE: &str = "api-people";
const RESPONSES: &str = "api-responses";
const RESPOND: &str = "respond";
const WEBHOOKS: &str = "api-webhooks";
/// The web app's pages (not part of the API's OpenAPI document).
pub const WEB: &str = "web";

use Access::{Any, Operator, Public, Scim, Site, Tenant, Throttled, User};
use Permission::{
    DeleteTenant, ExportTenant, ManageCredentials, ManagePeople, ManageResponses, ManageSignOn, ManageSurveys,
    ManageTenant, ManageUsers, ManageWebhooks, ReadAudit, ReadPeople, ReadResponses, ReadSurveys, ReadTenant,
    ReadUsers,
};

/// Query parameters of Delighted's people list.
const PEOPLE_QUERY: &[&str] = &["per_page", "since", "until", "email", "phone_number", "cursor"];
/// Query parameters of Delighted's unsubscribes and bounces lists.
const SUPPRESSED_QUERY: &[&str] = &["per_page", "since", "until", "cursor"];
/// Query parameters of Delighted's survey responses list.
const RESPONSES_QUERY: &[&str] = &[
    "per_page",
    "page",
    "since",
    "until",
    "updated_since",
    "updated_until",
    "trend",
    "survey_id",
    "person_id",
    "person_email",
    "order",
    "expand[]",
    "cursor",
];
/// Query parameters that name an autopilot member (a `DELETE` without a body).
const MEMBER_QUERY: &[&str] = &["person_email", "person_phone_number", "phone_number", "person_id"];

/// Query parameters of the responses exports.
const EXPORT_QUERY: &[&str] = &[
    "format",
    "since",
    "until",
    "updated_since",
    "updated_until",
    "trend",
    "survey_id",
];
/// Query parameters of the metrics (Delighted's, then Ovation's).
const METRICS_QUERY: &[&str] = &[
    "since",
    "until",
    "trend",
    "survey_id",
    "channel",
    "segment",
    "group_by",
    "by_channel",
    "time_zone",
];
/// The largest CSV body an import takes (API Gateway passes 10 MB, Lambda 6 MB); the CLI splits
/// larger files.
pub const IMPORT_BODY_BYTES: usize = crate::services::people::imports::MAX_FILE_BYTES;
/// The largest body a website visitor sends (a comment of 5,000 characters, 50 properties).
pub const SITE_BODY_BYTES: usize = 64 * 1024;
/// Query parameters of a people import.
const IMPORT_QUERY: &[&str] = &["map", "send", "channel", "delay", "survey_id", "first_row"];

#[rustfmt::skip] // One route a line: the table reads as a table.
pub const ROUTES: &[Route] = &[
    route("GET", "/health", ADMIN, Public, "Liveness and the engines in use"),
    route("GET", "/openapi.json", ADMIN, Public, "This API's OpenAPI document"),
    // Tenant settings, users, credentials and audit: api-admin.
    route("GET", "/v1/tenant", ADMIN, Tenant(ReadTenant), "The tenant and its settings").returns("Tenant"),
    route("DELETE", "/v1/tenant", ADMIN, Tenant(DeleteTenant),
        "Delete this workspace (its owner: its slug and their password): keys destroyed at once, items purged in 30 days")
        .body("TenantDeletion"),
    route("PATCH", "/v1/tenant", ADMIN, Tenant(ManageTenant), "Change the tenant's settings")
        .body("SettingsPatch").returns("Tenant"),
    route("GET", "/v1/sso/oidc", AUTH, Tenant(ManageSignOn), "The workspace's OpenID Connect provider (single sign-on)")
        .returns("OidcSettings"),
    route("PUT", "/v1/sso/oidc", AUTH, Tenant(ManageSignOn),
        "Set the workspace's OpenID Connect provider (its discovery document is read first; the secret is sealed)")
        .body("OidcInput").returns("OidcSettings"),
    route("DELETE", "/v1/sso/oidc", AUTH, Tenant(ManageSignOn), "Remove the workspace's OpenID Connect provider"),
    route("GET", "/v1/sso/saml", AUTH, Tenant(ManageSignOn), "The workspace's SAML 2.0 identity provider (single sign-on), and what to give it")
        .returns("SamlSettings"),
    route("PUT", "/v1/sso/saml", AUTH, Tenant(ManageSignOn),
        "Set the workspace's SAML 2.0 identity provider from its metadata XML (replaces an OpenID Connect one)")
        .body("SamlInput").returns("SamlSettings"),
    route("DELETE", "/v1/sso/saml", AUTH, Tenant(ManageSignOn), "Remove the workspace's SAML identity provider"),
    route("GET", "/v1/sso/domains", AUTH, Tenant(ManageSignOn),
        "The workspace's email domains (the sign-in page finds its single sign-on from a verified one's emails)")
        .returns("[EmailDomain]"),
    route("POST", "/v1/sso/domains", AUTH, Tenant(ManageSignOn),
        "List an email domain: pending until the TXT record in the answer is found in its DNS")
        .body("NewEmailDomain").returns("EmailDomain").created(),
    route("POST", "/v1/sso/domains/{domain}/verify", AUTH, Tenant(ManageSignOn),
        "Look for the domain's TXT record now: found, the domain is verified for this workspace")
        .returns("EmailDomain"),
    route("DELETE", "/v1/sso/domains/{domain}", AUTH, Tenant(ManageSignOn), "Remove an email domain"),
    route("GET", "/v1/users", ADMIN, Tenant(ReadUsers), "List users")
        .returns("[UserView]").query(&["per_page", "cursor"]),
    route("POST", "/v1/users", ADMIN, Tenant(ManageUsers), "Invite a user (the invitation is mailed)")
        .body("Invite").returns("Invited").created(),
    route("GET", "/v1/users/{id}", ADMIN, Tenant(ReadUsers), "One user").returns("UserView"),
    route("PATCH", "/v1/users/{id}", ADMIN, Tenant(ManageUsers), "Change a user's role, name or status")
        .body("UserPatch").returns("UserView"),
    route("DELETE", "/v1/users/{id}", ADMIN, Tenant(ManageUsers), "Delete a user"),
    route("POST", "/v1/users/{id}/invitation", ADMIN, Tenant(ManageUsers),
        "Mail an invited user a new invitation (earlier links stop working)").returns("Invited"),
    route("GET", "/v1/teams", ADMIN, Tenant(ReadUsers), "List teams, with their members").returns("[TeamView]"),
    route("POST", "/v1/teams", ADMIN, Tenant(ManageUsers), "Make a team").body("NewTeam").returns("TeamView").created(),
    route("GET", "/v1/teams/{id}", ADMIN, Tenant(ReadUsers), "One team").returns("TeamView"),
    route("PATCH", "/v1/teams/{id}", ADMIN, Tenant(ManageUsers), "Rename a team, add or remove members")
        .body("TeamPatch").returns("TeamView"),
    route("DELETE", "/v1/teams/{id}", ADMIN, Tenant(ManageUsers), "Delete a team (its members stay users)"),
    route("GET", "/v1/api_keys", ADMIN, Tenant(ManageCredentials), "List API keys").returns("[ApiKeyView]"),
    route("POST", "/v1/api_keys", ADMIN, Tenant(ManageCredentials), "Create an API key (shown once)")
        .body("NewCredential").returns("ApiKeyCreated").created(),
    route("DELETE", "/v1/api_keys/{id}", ADMIN, Tenant(ManageCredentials), "Revoke an API key at once"),
    route("GET", "/v1/site_keys", ADMIN, Tenant(ManageCredentials), "List site keys (website surveys), revoked ones too")
        .returns("[SiteKeyView]"),
    route("POST", "/v1/site_keys", ADMIN, Tenant(ManageCredentials),
        "Make a site key: the survey a website shows and the origins allowed to show it")
        .body("NewSiteKey").returns("SiteKeyView").created(),
    route("GET", "/v1/site_keys/{id}", ADMIN, Tenant(ManageCredentials), "One site key").returns("SiteKeyView"),
    route("PATCH", "/v1/site_keys/{id}", ADMIN, Tenant(ManageCredentials), "Change a site key's name, survey or origins")
        .body("SiteKeyPatch").returns("SiteKeyView"),
    route("DELETE", "/v1/site_keys/{id}", ADMIN, Tenant(ManageCredentials),
        "Revoke a site key at once: its widget shows nothing from its next request"),
    route("GET", "/v1/oauth_clients", ADMIN, Tenant(ManageCredentials), "List OAuth clients")
        .returns("[OAuthClientView]"),
    route("POST", "/v1/oauth_clients", ADMIN, Tenant(ManageCredentials), "Create an OAuth client (secret shown once)")
        .body("NewCredential").returns("OAuthClientCreated").created(),
    route("DELETE", "/v1/oauth_clients/{id}", ADMIN, Tenant(ManageCredentials),
        "Delete an OAuth client and its tokens"),
    route("GET", "/v1/notifications", ADMIN, Tenant(ReadUsers), "Who is mailed about which survey's answers")
        .returns("[Subscription]"),
    route("GET", "/v1/audit_events", ADMIN, Tenant(ReadAudit), "List audit events (or export them as JSON lines)")
        .returns("[AuditEvent]").query(&["since", "until", "action", "actor_id", "per_page", "cursor", "format"]),
    route("GET", "/v1/exports/tenant", ADMIN, Tenant(ExportTenant),
        "Every item of the tenant, decrypted, as JSON lines (the owner only; audited; up to 4.4 MB, else `ovation export-tenant`)")
        .returns("JsonLinesFile"),
    route("POST", "/v1/exports/tenant", ADMIN, Tenant(ExportTenant),
        "The full export as a job, any size (the owner only): poll `/v1/exports/{id}` for its download link")
        .returns("ExportJob").accepted(),
    route("POST", "/v1/platform/tenants", ADMIN, Operator, "Create a tenant and its owner")
        .body("NewTenant").returns("TenantCreated").created(),
    route("GET", "/v1/platform/tenants/{slug}", ADMIN, Operator, "One tenant").returns("Tenant"),
    route("DELETE", "/v1/platform/tenants/{slug}", ADMIN, Operator, "Delete a tenant: crypto-shred, then purge"),
    route("POST", "/v1/platform/tenants/{slug}/api_keys", ADMIN, Operator, "Create an API key in a tenant")
        .body("NewCredential").returns("ApiKeyCreated").created(),
    // Signing in, sessions and tokens: api-auth.
    route("POST", "/v1/auth/sign_in", AUTH, Throttled, "Sign in with tenant, email and password")
        .body("SignInRequest").returns("SignInResult"),
    route("POST", "/v1/auth/mfa", AUTH, Throttled, "Second step of a sign-in: a TOTP or recovery code")
        .body("MfaRequest").returns("SignInResult"),
    route("POST", "/v1/auth/accept_invite", AUTH, Throttled, "Accept an invitation and set a password")
        .body("AcceptInvite").returns("SignInResult"),
    route("POST", "/oauth/token", AUTH, Throttled, "OAuth 2.0 client credentials grant (form-encoded)")
        .body("TokenRequest").returns("TokenResponse"),
    route("POST", "/v1/auth/sign_out", AUTH, User, "End this session"),
    route("POST", "/v1/auth/sign_out_everywhere", AUTH, User, "End every session of this user"),
    route("GET", "/v1/me", AUTH, Any, "Who the caller is").returns("Me"),
    route("GET", "/v1/me/notifications", AUTH, User, "Your notifications: the answers and digests mailed to you, per survey")
        .returns("[Subscription]"),
    route("PUT", "/v1/me/notifications", AUTH, User, "Choose your notifications for the surveys named (others stay)")
        .body("[Choice]").returns("[Subscription]"),
    route("POST", "/v1/me/password", AUTH, User, "Change the password (ends every session, returns a new one)")
        .body("ChangePassword").returns("SignInResult"),
    // SCIM 2.0 provisioning by the workspace's identity provider: api-auth.
    route("POST", "/v1/scim/token", AUTH, Tenant(ManageSignOn),
        "Make the workspace's SCIM token (shown once; one made before stops working at once)")
        .returns("ProvisioningToken").created(),
    route("GET", "/v1/scim/token", AUTH, Tenant(ManageSignOn), "The workspace's SCIM token: when made and last used")
        .returns("ProvisioningTokenInfo"),
    route("DELETE", "/v1/scim/token", AUTH, Tenant(ManageSignOn), "Revoke the workspace's SCIM token at once"),
    route("GET", "/scim/v2/ServiceProviderConfig", AUTH, Scim, "What this SCIM service supports (RFC 7643 §5)"),
    route("GET", "/scim/v2/Users", AUTH, Scim, "SCIM: list users, or find one (`userName eq \"…\"`)")
        .returns("ScimUserList").query(&["filter", "startIndex", "count"]),
    route("POST", "/scim/v2/Users", AUTH, Scim, "SCIM: create a user (active, no password; single sign-on's default role)")
        .body("ScimUserInput").returns("ScimUser").created(),
    route("GET", "/scim/v2/Users/{id}", AUTH, Scim, "SCIM: one user").returns("ScimUser"),
    route("PUT", "/scim/v2/Users/{id}", AUTH, Scim, "SCIM: replace a user's name and state (inactive ends their sessions)")
        .body("ScimUserInput").returns("ScimUser"),
    route("PATCH", "/scim/v2/Users/{id}", AUTH, Scim, "SCIM: change a user (`active: false` ends their sessions at once)")
        .body("ScimPatch").returns("ScimUser"),
    route("DELETE", "/scim/v2/Users/{id}", AUTH, Scim, "SCIM: delete a user (their sessions end with them)"),
    route("GET", "/scim/v2/Groups", AUTH, Scim, "SCIM: list groups (the workspace's teams), or find one (`displayName eq \"…\"`)")
        .returns("ScimGroupList").query(&["filter", "startIndex", "count", "excludedAttributes"]),
    route("POST", "/scim/v2/Groups", AUTH, Scim, "SCIM: create a group (a team) with its members")
        .body("ScimGroupInput").returns("ScimGroup").created(),
    route("GET", "/scim/v2/Groups/{id}", AUTH, Scim, "SCIM: one group").returns("ScimGroup").query(&["excludedAttributes"]),
    route("PUT", "/scim/v2/Groups/{id}", AUTH, Scim, "SCIM: replace a group's name and members")
        .body("ScimGroupInput").returns("ScimGroup"),
    route("PATCH", "/scim/v2/Groups/{id}", AUTH, Scim, "SCIM: rename a group, add or remove members")
        .body("ScimPatch").returns("ScimGroup"),
    route("DELETE", "/scim/v2/Groups/{id}", AUTH, Scim, "SCIM: delete a group (its members stay users)"),
    route("POST", "/v1/me/mfa/totp", AUTH, User, "Start TOTP enrolment").returns("TotpEnrolment"),
    route("POST", "/v1/me/mfa/totp/confirm", AUTH, User, "Confirm TOTP enrolment; returns recovery codes")
        .body("TotpCode").returns("RecoveryCodes"),
    route("POST", "/v1/me/mfa/totp/disable", AUTH, User, "Turn TOTP off (password and a code)").body("DisableTotp"),
    // Surveys: api-surveys.
    route("GET", "/v1/surveys", SURVEYS, Tenant(ReadSurveys), "List surveys").returns("[Survey]").query(&["archived"]),
    route("POST", "/v1/surveys", SURVEYS, Tenant(ManageSurveys), "Create a survey")
        .body("SurveyPatch").returns("Survey").created(),
    route("GET", "/v1/surveys/{id}", SURVEYS, Tenant(ReadSurveys), "One survey").returns("Survey"),
    route("PATCH", "/v1/surveys/{id}", SURVEYS, Tenant(ManageSurveys), "Change a survey")
        .body("SurveyPatch").returns("Survey"),
    route("DELETE", "/v1/surveys/{id}", SURVEYS, Tenant(ManageSurveys), "Archive a survey (its responses stay)"),
    // People, Delighted-compatible (also at `.json` paths): api-people.
    route("POST", "/v1/people", PEOPLE, Tenant(ManagePeople),
        "Create or update a person and schedule a survey (JSON or form body)")
        .body("PersonRequest").returns("PersonView"),
    route("POST", "/v1/people.json", PEOPLE, Tenant(ManagePeople), "Create or update a person (Delighted's path)")
        .body("PersonRequest").returns("PersonView"),
    route("GET", "/v1/people", PEOPLE, Tenant(ReadPeople), "List people, oldest first")
        .returns("[PersonView]").query(PEOPLE_QUERY),
    route("GET", "/v1/people.json", PEOPLE, Tenant(ReadPeople), "List people (Delighted's path)")
        .returns("[PersonView]").query(PEOPLE_QUERY),
    route("DELETE", "/v1/people/{id}", PEOPLE, Tenant(ManagePeople),
        "Delete a person and all their data (by id, email:… or phone_number:…)")
        .returns("Ok"),
    route("DELETE", "/v1/people/{id}/survey_requests/pending", PEOPLE, Tenant(ManagePeople),
        "Cancel a person's pending surveys (by email)")
        .returns("Canceled"),
    route("POST", "/v1/people/imports", PEOPLE, Tenant(ManagePeople),
        "Import people from a CSV body (text/csv, up to 4 MiB)")
        .body("CsvFile").returns("ImportSummary").created().query(IMPORT_QUERY).max_body(IMPORT_BODY_BYTES),
    route("GET", "/v1/people/imports/{id}", PEOPLE, Tenant(ManagePeople), "An import's counts")
        .returns("ImportSummary"),
    route("GET", "/v1/people/imports/{id}/errors", PEOPLE, Tenant(ManagePeople),
        "An import's error report (CSV: row, field, reason)")
        .returns("CsvFile"),
    route("GET", "/v1/unsubscribes", PEOPLE, Tenant(ReadPeople), "People unsubscribed, oldest first")
        .returns("[SuppressedView]").query(SUPPRESSED_QUERY),
    route("GET", "/v1/unsubscribes.json", PEOPLE, Tenant(ReadPeople),
        "People unsubscribed, oldest first (Delighted's path)")
        .returns("[SuppressedView]").query(SUPPRESSED_QUERY),
    route("POST", "/v1/unsubscribes", PEOPLE, Tenant(ManagePeople),
        "Unsubscribe a person by email (created when unknown, so they are never surveyed)")
        .body("UnsubscribeRequest").returns("Ok"),
    route("POST", "/v1/unsubscribes.json", PEOPLE, Tenant(ManagePeople),
        "Unsubscribe a person by email (created when unknown, so they are never surveyed) (Delighted's path)")
        .body("UnsubscribeRequest").returns("Ok"),
    route("GET", "/v1/bounces", PEOPLE, Tenant(ReadPeople), "People whose email bounced, oldest first")
        .returns("[SuppressedView]").query(SUPPRESSED_QUERY),
    route("GET", "/v1/bounces.json", PEOPLE, Tenant(ReadPeople),
        "People whose email bounced, oldest first (Delighted's path)")
        .returns("[SuppressedView]").query(SUPPRESSED_QUERY),
    route("GET", "/v1/autopilot/{platform}", PEOPLE, Tenant(ReadSurveys),
        "A platform's autopilot (`email`, `sms`; `.json` too): active, frequency in seconds")
        .returns("AutopilotView"),
    route("PATCH", "/v1/autopilot/{platform}", PEOPLE, Tenant(ManageSurveys),
        "Switch a platform's autopilot on or off, set its frequency (seconds) and survey")
        .body("AutopilotPatch").returns("AutopilotView"),
    route("GET", "/v1/autopilot/{platform}/memberships", PEOPLE, Tenant(ReadPeople),
        "A platform's autopilot members, with their next survey")
        .returns("[MembershipView]").query(&["per_page", "cursor"]),
    route("POST", "/v1/autopilot/{platform}/memberships", PEOPLE, Tenant(ManagePeople),
        "Add a person to autopilot (by person_email, person_phone_number or person_id)")
        .body("MembershipRequest").returns("MembershipView"),
    route("DELETE", "/v1/autopilot/{platform}/memberships", PEOPLE, Tenant(ManagePeople),
        "Remove a person from autopilot (named in the body, or in the query as Delighted's Node client does); their pending next survey is canceled")
        .body("MembershipRequest").returns("PersonView").query(MEMBER_QUERY),
    route("GET", "/v1/autopilot/{platform}/memberships.json", PEOPLE, Tenant(ReadPeople),
        "A platform's autopilot members, with their next survey (Delighted's path)")
        .returns("[MembershipView]").query(&["per_page", "cursor"]),
    route("POST", "/v1/autopilot/{platform}/memberships.json", PEOPLE, Tenant(ManagePeople),
        "Add a person to autopilot (by person_email, person_phone_number or person_id) (Delighted's path)")
        .body("MembershipRequest").returns("MembershipView"),
    route("DELETE", "/v1/autopilot/{platform}/memberships.json", PEOPLE, Tenant(ManagePeople),
        "Remove a person from autopilot (named in the body, or in the query as Delighted's Node client does); their pending next survey is canceled (Delighted's path)")
        .body("MembershipRequest").returns("PersonView").query(MEMBER_QUERY),
    // Survey responses, Delighted-compatible: api-responses.
    route("GET", "/v1/survey_responses", RESPONSES, Tenant(ReadResponses), "List survey responses")
        .returns("[ResponseView]").query(RESPONSES_QUERY),
    route("GET", "/v1/survey_responses.json", RESPONSES, Tenant(ReadResponses),
        "List survey responses (Delighted's path)")
        .returns("[ResponseView]").query(RESPONSES_QUERY),
    route("POST", "/v1/survey_responses", RESPONSES, Tenant(ManageResponses), "Record a response for a person")
        .body("NewResponseRequest").returns("ResponseView").created(),
    route("POST", "/v1/survey_responses.json", RESPONSES, Tenant(ManageResponses),
        "Record a response (Delighted's path)")
        .body("NewResponseRequest").returns("ResponseView").created(),
    route("GET", "/v1/survey_responses/{id}", RESPONSES, Tenant(ReadResponses), "One survey response (`{id}.json` too)")
        .returns("ResponseView").query(&["expand[]"]),
    route("PUT", "/v1/survey_responses/{id}", RESPONSES, Tenant(ManageResponses),
        "Change a response's score, comment, notes or tags")
        .body("ResponseRequest").returns("ResponseView").query(&["expand[]"]),
    route("PUT", "/v1/survey_responses", RESPONSES, Tenant(ManageResponses),
        "Change a response named by `id` in the body (as Delighted's Node client saves one)")
        .body("ResponseRequest").returns("ResponseView").query(&["expand[]"]),
    route("GET", "/v1/exports/responses", RESPONSES, Tenant(ReadResponses),
        "Survey responses as CSV or Excel (up to 10,000; filtered like the list; audited)")
        .returns("ExportFile").query(EXPORT_QUERY),
    route("POST", "/v1/exports/responses", RESPONSES, Tenant(ReadResponses),
        "A large export as a job (any size; filtered like the list): poll `/v1/exports/{id}` for its download link")
        .returns("ExportJob").accepted().query(EXPORT_QUERY),
    route("GET", "/v1/exports/{id}", RESPONSES, Tenant(ReadResponses),
        "An export job: its status and, when done, a download link (15 minutes; kept 7 days)")
        .returns("ExportJob"),
    route("GET", "/v1/exports/{id}/file", RESPONSES, Tenant(ReadResponses),
        "A finished export's file (on AWS a redirect to its presigned URL)")
        .returns("ExportFile"),
    route("GET", "/v1/metrics", RESPONSES, Tenant(ReadResponses),
        "NPS and response counts, a series, a segment breakdown")
        .returns("Metrics").query(METRICS_QUERY),
    route("GET", "/v1/metrics.json", RESPONSES, Tenant(ReadResponses), "NPS and response counts (Delighted's path)")
        .returns("Metrics").query(METRICS_QUERY),
    // Webhook endpoints: api-webhooks.
    route("GET", "/v1/webhooks", WEBHOOKS, Tenant(ManageWebhooks), "The webhook endpoints").returns("[Endpoint]"),
    route("POST", "/v1/webhooks", WEBHOOKS, Tenant(ManageWebhooks),
        "Add an endpoint (https, public): its signing secret is shown this once")
        .body("NewEndpointRequest").returns("EndpointWithSecret").created(),
    route("GET", "/v1/webhooks/{id}", WEBHOOKS, Tenant(ManageWebhooks), "One endpoint").returns("Endpoint"),
    route("PATCH", "/v1/webhooks/{id}", WEBHOOKS, Tenant(ManageWebhooks),
        "Change an endpoint's URL or events, pause it, or enable it again after it was disabled")
        .body("EndpointRequest").returns("Endpoint"),
    route("DELETE", "/v1/webhooks/{id}", WEBHOOKS, Tenant(ManageWebhooks), "Delete an endpoint"),
    route("POST", "/v1/webhooks/{id}/secret", WEBHOOKS, Tenant(ManageWebhooks),
        "A new signing secret, shown this once; the old one stops at once")
        .returns("EndpointWithSecret"),
    route("POST", "/v1/webhooks/{id}/test", WEBHOOKS, Tenant(ManageWebhooks),
        "Send a sample event now (`event_type` to choose) and answer how it went")
        .body("TestEventRequest").returns("Attempt"),
    route("GET", "/v1/webhooks/{id}/deliveries", WEBHOOKS, Tenant(ManageWebhooks),
        "The endpoint's deliveries of the last 30 days, newest first")
        .returns("[DeliveryLogEntry]").query(&["per_page"]),
    // The respondent's pages (HTML, public, signed links): respond.
    route("GET", "/r/{token}", RESPOND, Public, "An invitation's survey page (never records)")
        .returns("Html").query(&["score"]),
    route("POST", "/r/{token}", RESPOND, Public, "Record or change the invitation's answer (form)")
        .body("AnswerForm").returns("Html"),
    route("GET", "/s/{token}", RESPOND, Public, "A survey's shareable web link").returns("Html"),
    route("POST", "/s/{token}", RESPOND, Throttled, "Answer through the web link (form; per-address budget)")
        .body("AnswerForm").returns("Html"),
    route("GET", "/u/{token}", RESPOND, Public, "The unsubscribe page").returns("Html"),
    route("POST", "/u/{token}", RESPOND, Public, "Unsubscribe (one click, RFC 8058)").returns("Html"),
    route("GET", "/n/{token}", RESPOND, Public, "A staff notification's page to stop it").returns("Html"),
    route("POST", "/n/{token}", RESPOND, Public, "Stop a staff notification (one click, RFC 8058)").returns("Html"),
    route("GET", "/l/{code}", RESPOND, Public, "An SMS's short link: redirects to its invitation's page (303)")
        .returns("Html"),
    // Website surveys: the widget's script and what it asks, each with a site key (CORS for its origins).
    route("GET", "/w/v1/{key}/{file}", RESPOND, Public,
        "The website survey's script (`{file}` is `{global}.js`; the same for every key, cached for an hour)")
        .returns("JavaScript"),
    route("POST", "/w/v1/decide", RESPOND, Site, "Should this visitor see the survey now? (text/plain JSON, no preflight)")
        .body("DecideRequest").returns("Decision").max_body(SITE_BODY_BYTES),
    route("POST", "/w/v1/answers", RESPOND, Site, "Record a visitor's score for a showing (once)")
        .body("AnswerRequest").returns("AnswerReceipt").created().max_body(SITE_BODY_BYTES),
    route("POST", "/w/v1/comments", RESPOND, Site, "Add or change the comment and additional answers of an answer")
        .body("CommentRequest").returns("Ok").max_body(SITE_BODY_BYTES),
    route("POST", "/w/v1/dismissals", RESPOND, Site, "Remember that the visitor closed the survey unanswered")
        .body("DismissRequest").max_body(SITE_BODY_BYTES),
    // The web app's pages (HTML, the session in a cookie): web.
    route("GET", "/", WEB, Public, "The web app: to the overview (or to sign in)").page(),
    route("GET", "/sign-in", WEB, Public, "Sign in: workspace, email and password").page().query(&["done"]),
    route("POST", "/sso", WEB, Throttled, "Single sign-on: on to the workspace's identity provider (form)").page(),
    route("GET", "/sso/{slug}/callback", WEB, Throttled,
        "Single sign-on: the identity provider's answer at the workspace's own callback (a session)")
        .page().query(&["code", "state", "error", "error_description", "iss"]),
    route("GET", "/sso/{slug}/saml", WEB, Public, "The workspace's SAML service provider metadata (its entity ID and assertion consumer service)")
        .returns("SamlMetadata"),
    route("POST", "/sso/{slug}/saml/acs", WEB, Throttled,
        "SAML single sign-on: the identity provider's answer, posted from its page (HTTP-POST binding), to a session")
        .body("SamlAnswer").returns("Html"),
    route("POST", "/sign-in", WEB, Throttled, "Sign in (form; per-address budget)").page(),
    route("GET", "/second-factor", WEB, Public, "Sign in: the second factor").page(),
    route("POST", "/second-factor", WEB, Throttled, "Finish signing in with a TOTP or recovery code").page(),
    route("GET", "/accept", WEB, Public, "Accept a mailed invitation: choose a password").page().query(&["token"]),
    route("POST", "/accept", WEB, Throttled, "Accept an invitation (form; per-address budget)").page(),
    route("GET", "/forgot", WEB, Public, "Ask for a link to set a new password").page(),
    route("POST", "/forgot", WEB, Throttled, "Mail a link to set a new password (form; per-address budget)").page(),
    route("GET", "/reset", WEB, Public, "Set a new password through a mailed link").page().query(&["token"]),
    route("POST", "/reset", WEB, Throttled, "Set a new password (form; per-address budget)").page(),
    route("GET", "/password", WEB, User, "Change your password").page(),
    route("POST", "/password", WEB, User, "Change your password (form)").page(),
    route("POST", "/sign-out", WEB, User, "Sign out, here or everywhere (form)").page(),
    route("GET", "/notifications", WEB, Tenant(ReadResponses), "Your notifications: answers and digests mailed, per survey")
        .page().query(&["done"]),
    route("POST", "/notifications", WEB, Tenant(ReadResponses), "Choose your notifications (form)").page(),
    route("GET", "/security", WEB, User, "Your second factor: on or off").page(),
    route("POST", "/security/totp", WEB, User, "Start turning on a second factor: a QR code to scan").page(),
    route("POST", "/security/totp/confirm", WEB, User, "Turn on the second factor with a code; the recovery codes, once").page(),
    route("POST", "/security/totp/disable", WEB, User, "Turn off the second factor (password and a code)").page(),
    route("GET", "/overview", WEB, Tenant(ReadResponses), "NPS of a period, its trend, split and channels")
        .page().query(&["survey", "period", "from", "to", "by", "zone"]),
    route("GET", "/segments", WEB, Tenant(ReadResponses), "NPS by the values of a segment property")
        .page().query(&["survey", "period", "from", "to", "zone", "property"]),
    route("GET", "/responses", WEB, Tenant(ReadResponses), "The responses, newest first, with their filters")
        .page().query(&["survey", "period", "from", "to", "zone", "group", "channel", "tag", "comment", "property", "value", "q", "at", "cursor"]),
    route("GET", "/responses/export", WEB, Tenant(ReadResponses), "The feed's responses as CSV or Excel (up to 10,000)")
        .page().query(&["format", "survey", "period", "from", "to", "zone", "group", "channel", "tag", "comment", "property", "value", "q", "at"]),
    route("POST", "/responses/export", WEB, Tenant(ReadResponses), "Start an export job of the feed's survey and period (form)")
        .page(),
    route("GET", "/exports/{id}", WEB, Tenant(ReadResponses), "An export job: its progress, its file once done").page(),
    route("GET", "/exports/{id}/file", WEB, Tenant(ReadResponses), "A finished export's file").page(),
    route("GET", "/responses/{id}", WEB, Tenant(ReadResponses), "A response: its answers, notes, tags, its person's history")
        .page().query(&["zone"]),
    route("POST", "/responses/{id}", WEB, Tenant(ManageResponses), "Change a response's tags, add a note (form)").page(),
    route("GET", "/surveys", WEB, Tenant(ReadSurveys), "The surveys: status, languages, responses and NPS").page().query(&["archived"]),
    route("GET", "/surveys/new", WEB, Tenant(ManageSurveys), "A new survey's form").page(),
    route("POST", "/surveys/new", WEB, Tenant(ManageSurveys), "Create a survey, or change the form unsaved (add, move, remove a question)").page(),
    route("GET", "/surveys/new/preview", WEB, Tenant(ManageSurveys), "A new survey's preview: email, SMS, survey page (framed)")
        .page().query(&["language", "device"]),
    route("POST", "/surveys/new/preview", WEB, Tenant(ManageSurveys), "The preview of a new survey's form as typed (framed)").page(),
    route("GET", "/surveys/{id}", WEB, Tenant(ReadSurveys), "A survey's form (read only without ManageSurveys) and web link")
        .page().query(&["done"]),
    route("POST", "/surveys/{id}", WEB, Tenant(ManageSurveys), "Save a survey, or change the form unsaved").page(),
    route("GET", "/surveys/{id}/preview", WEB, Tenant(ReadSurveys), "A survey's preview: email, SMS, survey page (framed)")
        .page().query(&["language", "device"]),
    route("POST", "/surveys/{id}/preview", WEB, Tenant(ManageSurveys), "The preview of a survey's form as typed (framed)").page(),
    route("GET", "/settings/sign-on", WEB, Tenant(ManageSignOn), "Settings: single sign-on (the OpenID Connect provider)")
        .page().query(&["done"]),
    route("POST", "/settings/sign-on", WEB, Tenant(ManageSignOn), "Save or remove single sign-on (form; PUT /v1/sso/oidc's rules)").page(),
    route("GET", "/settings/workspace", WEB, Tenant(ManageTenant), "Settings: name, languages, sign-in rules, privacy, retention")
        .page().query(&["done"]),
    route("POST", "/settings/workspace", WEB, Tenant(ManageTenant), "Save the workspace's settings (form; PATCH /v1/tenant's rules)")
        .page(),
    route("GET", "/settings/webhooks", WEB, Tenant(ManageWebhooks), "Settings: webhook endpoints, their events and state")
        .page().query(&["done"]),
    route("POST", "/settings/webhooks", WEB, Tenant(ManageWebhooks), "Add a webhook endpoint (form; its secret shown once)").page(),
    route("GET", "/settings/webhooks/{id}", WEB, Tenant(ManageWebhooks), "A webhook endpoint's delivery log").page(),
    route("POST", "/settings/webhooks/{id}", WEB, Tenant(ManageWebhooks),
        "Change, pause, enable, test, give a new secret to, or delete an endpoint (form)").page(),
    route("GET", "/settings/audit", WEB, Tenant(ReadAudit), "Settings: the audit log, by period, action and person")
        .page().query(&["period", "action", "actor", "since", "until", "cursor"]),
    route("GET", "/settings/audit/export", WEB, Tenant(ReadAudit), "The audit log's events as JSON lines (up to 10,000)")
        .page().query(&["period", "action", "actor"]),
    route("GET", "/settings/data", WEB, Tenant(ExportTenant), "Settings: the workspace's data, to export (the owner)").page(),
    route("POST", "/settings/data/export", WEB, Tenant(ExportTenant), "Export every item of the workspace as a job (form)").page(),
    route("POST", "/settings/data/delete", WEB, Tenant(DeleteTenant), "Delete the workspace, its name typed to confirm (form)").page(),
    route("GET", "/settings/keys", WEB, Tenant(ManageCredentials), "Settings: API keys and OAuth clients").page().query(&["done"]),
    route("POST", "/settings/keys", WEB, Tenant(ManageCredentials), "Make an API key or an OAuth client (form; its secret shown once)")
        .page(),
    route("POST", "/settings/keys/{id}", WEB, Tenant(ManageCredentials), "Revoke an API key at once (form)").page(),
    route("POST", "/settings/clients/{id}", WEB, Tenant(ManageCredentials), "Delete an OAuth client and its tokens (form)").page(),
    route("GET", "/settings/website", WEB, Tenant(ManageCredentials), "Settings: website surveys, their site keys and snippets")
        .page().query(&["done"]),
    route("POST", "/settings/website", WEB, Tenant(ManageCredentials), "Make a site key: a survey and the origins that show it (form)")
        .page(),
    route("POST", "/settings/website/{id}", WEB, Tenant(ManageCredentials),
        "Save a site key's name, survey and origins, or revoke it at once (form: action)").page(),
    route("GET", "/people", WEB, Tenant(ReadPeople), "People: one found by exact email or phone, the people added last")
        .page().query(&["q", "zone", "done"]),
    route("POST", "/people", WEB, Tenant(ManagePeople), "Add or change a person, and send a survey (form; POST /v1/people's rules)")
        .page(),
    route("GET", "/people/imports", WEB, Tenant(ManagePeople), "Imports of people: the latest, and a CSV file to upload").page(),
    route("POST", "/people/imports", WEB, Tenant(ManagePeople), "Upload a CSV file of people to map its columns (multipart form)")
        .page().max_body(IMPORT_BODY_BYTES + 64 * 1024),
    route("GET", "/people/imports/{id}", WEB, Tenant(ManagePeople), "An import: its columns to map, its progress, its outcome").page(),
    route("POST", "/people/imports/{id}", WEB, Tenant(ManagePeople), "Start an import with its columns mapped (form)").page(),
    route("GET", "/people/imports/{id}/errors", WEB, Tenant(ManagePeople), "The rows an import refused (CSV: row, field, reason)").page(),
    route("GET", "/people/suppressed", WEB, Tenant(ReadPeople), "People who unsubscribed, or whose email bounced")
        .page().query(&["kind", "cursor", "done"]),
    route("POST", "/people/unsubscribe", WEB, Tenant(ManagePeople), "Unsubscribe someone by email (form)").page(),
    route("GET", "/people/{id}", WEB, Tenant(ReadPeople), "A person: contact, properties, sends with their status, answers")
        .page().query(&["zone", "done"]),
    route("POST", "/people/{id}/cancel", WEB, Tenant(ManagePeople), "Cancel a person's pending surveys (form)").page(),
    route("POST", "/people/{id}/erase", WEB, Tenant(ManagePeople), "Erase a person and every item naming them (form, typed confirmation)")
        .page(),
    route("GET", "/autopilot", WEB, Tenant(ReadSurveys), "Autopilot by channel: on or off, frequency, survey, members")
        .page().query(&["done"]),
    route("POST", "/autopilot/{platform}", WEB, Tenant(ManageSurveys), "Switch a channel's autopilot, its frequency and survey (form)")
        .page(),
    route("POST", "/autopilot/{platform}/members", WEB, Tenant(ManagePeople), "Add or remove an autopilot member (form)").page(),
    route("GET", "/team", WEB, Tenant(ReadUsers), "The team: users, roles, second factors, invitations; teams").page().query(&["done"]),
    route("POST", "/team/invite", WEB, Tenant(ManageUsers), "Invite a colleague (form; the invitation is mailed)").page(),
    route("POST", "/team/{id}", WEB, Tenant(ManageUsers), "Change a user: role, disable, enable, second factor, single sign-on binding, invitation (form)").page(),
    route("POST", "/team/{id}/delete", WEB, Tenant(ManageUsers), "Delete a user, their email typed to confirm (form)").page(),
    route("POST", "/teams", WEB, Tenant(ManageUsers), "Make a team (form)").page(),
    route("POST", "/teams/{id}", WEB, Tenant(ManageUsers), "Change a team: rename, add or remove a member, delete (form)").page(),
    route("GET", "/assets/{name}", WEB, Public, "The app's stylesheet (content-hashed, cached for good)"),
];

/// The route of a method and matched path template.
pub fn find(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}
