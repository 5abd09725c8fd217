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
    /// Anyone, under the tighter per-address budget of sign-in and token endpoints.
    SignIn,
    /// The platform operator's key.
    Operator,
    /// Any principal of a tenant, even a session that must first change its password.
    Any,
    /// A signed-in user's session (not an API key or client), even a restricted one.
    User,
    /// A principal whose role holds the permission, on an unrestricted credential.
    Tenant(Permission),
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
}

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

    const fn query(mut self, names: &'static [&'static str]) -> Route {
        self.query = names;
        self
    }
}

const ADMIN: &str = "api-admin";
const AUTH: &str = "api-auth";

use Access::{Any, Operator, Public, SignIn, Tenant, User};
use Permission::{ManageCredentials, ManageTenant, ManageUsers, ReadAudit, ReadTenant, ReadUsers};

pub const ROUTES: &[Route] = &[
    route("GET", "/health", ADMIN, Public, "Liveness and the engines in use"),
    route("GET", "/openapi.json", ADMIN, Public, "This API's OpenAPI document"),
    // Tenant settings, users, credentials and audit: api-admin.
    route(
        "GET",
        "/v1/tenant",
        ADMIN,
        Tenant(ReadTenant),
        "The tenant and its settings",
    )
    .returns("Tenant"),
    route(
        "PATCH",
        "/v1/tenant",
        ADMIN,
        Tenant(ManageTenant),
        "Change the tenant's settings",
    )
    .body("SettingsPatch")
    .returns("Tenant"),
    route("GET", "/v1/users", ADMIN, Tenant(ReadUsers), "List users")
        .returns("[UserView]")
        .query(&["per_page", "cursor"]),
    route("POST", "/v1/users", ADMIN, Tenant(ManageUsers), "Invite a user")
        .body("Invite")
        .returns("Invited")
        .created(),
    route("GET", "/v1/users/{id}", ADMIN, Tenant(ReadUsers), "One user").returns("UserView"),
    route(
        "PATCH",
        "/v1/users/{id}",
        ADMIN,
        Tenant(ManageUsers),
        "Change a user's role, name or status",
    )
    .body("UserPatch")
    .returns("UserView"),
    route("DELETE", "/v1/users/{id}", ADMIN, Tenant(ManageUsers), "Delete a user"),
    route("GET", "/v1/api_keys", ADMIN, Tenant(ManageCredentials), "List API keys").returns("[ApiKeyView]"),
    route(
        "POST",
        "/v1/api_keys",
        ADMIN,
        Tenant(ManageCredentials),
        "Create an API key (shown once)",
    )
    .body("NewCredential")
    .returns("ApiKeyCreated")
    .created(),
    route(
        "DELETE",
        "/v1/api_keys/{id}",
        ADMIN,
        Tenant(ManageCredentials),
        "Revoke an API key at once",
    ),
    route(
        "GET",
        "/v1/oauth_clients",
        ADMIN,
        Tenant(ManageCredentials),
        "List OAuth clients",
    )
    .returns("[OAuthClientView]"),
    route(
        "POST",
        "/v1/oauth_clients",
        ADMIN,
        Tenant(ManageCredentials),
        "Create an OAuth client (secret shown once)",
    )
    .body("NewCredential")
    .returns("OAuthClientCreated")
    .created(),
    route(
        "DELETE",
        "/v1/oauth_clients/{id}",
        ADMIN,
        Tenant(ManageCredentials),
        "Delete an OAuth client and its tokens",
    ),
    route(
        "GET",
        "/v1/audit_events",
        ADMIN,
        Tenant(ReadAudit),
        "List audit events (or export them as JSON lines)",
    )
    .returns("[AuditEvent]")
    .query(&["since", "until", "action", "actor_id", "per_page", "cursor", "format"]),
    route(
        "POST",
        "/v1/platform/tenants",
        ADMIN,
        Operator,
        "Create a tenant and its owner",
    )
    .body("NewTenant")
    .returns("TenantCreated")
    .created(),
    route("GET", "/v1/platform/tenants/{slug}", ADMIN, Operator, "One tenant").returns("Tenant"),
    route(
        "DELETE",
        "/v1/platform/tenants/{slug}",
        ADMIN,
        Operator,
        "Delete a tenant: crypto-shred, then purge",
    ),
    route(
        "POST",
        "/v1/platform/tenants/{slug}/api_keys",
        ADMIN,
        Operator,
        "Create an API key in a tenant",
    )
    .body("NewCredential")
    .returns("ApiKeyCreated")
    .created(),
    // Signing in, sessions and tokens: api-auth.
    route(
        "POST",
        "/v1/auth/sign_in",
        AUTH,
        SignIn,
        "Sign in with tenant, email and password",
    )
    .body("SignInRequest")
    .returns("SignInResult"),
    route(
        "POST",
        "/v1/auth/mfa",
        AUTH,
        SignIn,
        "Second step of a sign-in: a TOTP or recovery code",
    )
    .body("MfaRequest")
    .returns("SignInResult"),
    route(
        "POST",
        "/v1/auth/accept_invite",
        AUTH,
        SignIn,
        "Accept an invitation and set a password",
    )
    .body("AcceptInvite")
    .returns("SignInResult"),
    route(
        "POST",
        "/oauth/token",
        AUTH,
        SignIn,
        "OAuth 2.0 client credentials grant (form-encoded)",
    )
    .body("TokenRequest")
    .returns("TokenResponse"),
    route("POST", "/v1/auth/sign_out", AUTH, User, "End this session"),
    route(
        "POST",
        "/v1/auth/sign_out_everywhere",
        AUTH,
        User,
        "End every session of this user",
    ),
    route("GET", "/v1/me", AUTH, Any, "Who the caller is").returns("Me"),
    route(
        "POST",
        "/v1/me/password",
        AUTH,
        User,
        "Change the password (ends every session, returns a new one)",
    )
    .body("ChangePassword")
    .returns("SignInResult"),
    route("POST", "/v1/me/mfa/totp", AUTH, User, "Start TOTP enrolment").returns("TotpEnrolment"),
    route(
        "POST",
        "/v1/me/mfa/totp/confirm",
        AUTH,
        User,
        "Confirm TOTP enrolment; returns recovery codes",
    )
    .body("TotpCode")
    .returns("RecoveryCodes"),
    route(
        "POST",
        "/v1/me/mfa/totp/disable",
        AUTH,
        User,
        "Turn TOTP off (password and a code)",
    )
    .body("DisableTotp"),
];

/// The route of a method and matched path template.
pub fn find(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}
