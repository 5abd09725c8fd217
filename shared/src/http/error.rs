//! The one place where an error becomes a response: a status, a machine-readable code, a message
//! and, where one is at fault, the field. `HttpError` adds to the domain's `Error` what only HTTP
//! refuses (a body too large, a method not allowed). Server faults are logged with their detail
//! and answered with a generic message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::{Error, GrantRefusal};

/// The JSON body of every error response. `status` and `message` are where Delighted's clients
/// look for them.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorBody {
    pub status: u16,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
}

/// What the HTTP layer refuses: the domain's `Error`, or a refusal only HTTP knows of.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    App(#[from] Error),
    /// A request body over the route's limit.
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// Request headers over the limit.
    #[error("the request headers are larger than {limit} bytes")]
    HeadersTooLarge { limit: usize },
    #[error("this method is not allowed here")]
    MethodNotAllowed,
}

impl HttpError {
    /// The status and code of this error.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        let app = match self {
            HttpError::BodyTooLarge { .. } => return (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            HttpError::HeadersTooLarge { .. } => {
                return (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large");
            }
            HttpError::MethodNotAllowed => return (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            HttpError::App(app) => app,
        };
        match app {
            Error::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            Error::InvalidCursor => (StatusCode::BAD_REQUEST, "invalid_cursor"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::ConditionFailed | Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::TransactionCanceled(_) => (StatusCode::CONFLICT, "transaction_canceled"),
            Error::ItemTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "item_too_large"),
            Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Error::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            Error::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            Error::GrantRefused(refusal) => {
                let (code, _) = oauth_code(*refusal);
                let status = match refusal {
                    GrantRefusal::InvalidClient(_) => StatusCode::UNAUTHORIZED,
                    _ => StatusCode::BAD_REQUEST,
                };
                (status, code)
            }
            Error::OutsideTenant => (StatusCode::FORBIDDEN, "forbidden"),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::Throttled { .. } => (StatusCode::SERVICE_UNAVAILABLE, "throttled"),
            Error::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::Undecryptable | Error::Config { .. } | Error::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        }
    }
}

/// RFC 6749 §5.2's code of a refused grant, and its description.
fn oauth_code(refusal: GrantRefusal) -> (&'static str, &'static str) {
    match refusal {
        GrantRefusal::InvalidRequest(why) => ("invalid_request", why),
        GrantRefusal::InvalidClient(why) => ("invalid_client", why),
        GrantRefusal::InvalidGrant(why) => ("invalid_grant", why),
        GrantRefusal::UnsupportedGrantType(why) => ("unsupported_grant_type", why),
        GrantRefusal::InvalidScope(why) => ("invalid_scope", why),
    }
}

/// The error body of the OAuth token endpoint (RFC 6749 §5.2).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        HttpError::App(self).into_response()
    }
}

impl HttpError {
    /// The status and body this error answers with (as JSON, or on an app page). A fault is
    /// logged here, once, with its whole chain of causes; a refusal by its code and field.
    pub fn answer(&self) -> (StatusCode, ErrorBody) {
        let (status, code) = self.status_and_code();
        // The client hears only that a fault happened.
        let message = if status.is_server_error() {
            tracing::error!(error = %self, code, "request failed");
            match self {
                HttpError::App(Error::Throttled { .. } | Error::Unavailable { .. }) => {
                    "a service we depend on is unavailable; try again shortly".to_owned()
                }
                _ => "an internal error occurred; it has been logged".to_owned(),
            }
        } else {
            self.to_string()
        };
        let field = match self {
            HttpError::App(Error::Invalid { field, .. }) => Some(field.to_string()),
            HttpError::App(Error::InvalidCursor) => Some("cursor".to_owned()),
            _ => None,
        };
        // A refusal is logged by its code and field, never its message: input may be personal.
        if !status.is_server_error() {
            tracing::info!(code, field = field.as_deref().unwrap_or_default(), "request refused");
        }
        let body = ErrorBody {
            status: status.as_u16(),
            code: code.to_owned(),
            message,
            field,
        };
        (status, body)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        if let HttpError::App(Error::GrantRefused(refusal)) = &self {
            let (status, _) = self.status_and_code();
            let (error, description) = oauth_code(*refusal);
            tracing::info!(code = error, "token request refused");
            let body = OAuthErrorBody {
                error: error.to_owned(),
                error_description: description.to_owned(),
            };
            let mut response = (status, Json(body)).into_response();
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"ovation\""),
                );
            }
            return response;
        }
        let (status, body) = self.answer();
        let mut response = (status, Json(body)).into_response();
        if matches!(self, HttpError::App(Error::Unauthenticated(_))) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ovation\""),
            );
        }
        if let HttpError::App(
            Error::Throttled { retry_after, .. }
            | Error::RateLimited { retry_after }
            | Error::TooManyAttempts { retry_after },
        ) = &self
        {
            let seconds = retry_after.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// SCIM's media type (RFC 7644 §3.1).
pub const SCIM_MEDIA_TYPE: &str = "application/scim+json";

/// An answer of the `/scim/v2` routes, in SCIM's media type.
pub struct Scim<T>(pub T);

impl<T: Serialize> IntoResponse for Scim<T> {
    fn into_response(self) -> Response {
        let mut response = Json(self.0).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_MEDIA_TYPE));
        response
    }
}

/// An error of the `/scim/v2` routes in SCIM's shape (RFC 7644 §3.12): the status and message
/// every route answers, but a bad value is a 400 with its `scimType`, as identity providers
/// expect.
pub struct ScimError(pub Error);

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        ScimError(e)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let scim_type = match &self.0 {
            Error::Invalid { field, .. } if field == "filter" => Some("invalidFilter"),
            Error::Invalid { field, .. } if field == "path" => Some("invalidPath"),
            Error::Invalid { field, .. } if field == "userName" => Some("mutability"),
            Error::Invalid { .. } => Some("invalidValue"),
            Error::Conflict(_) => Some("uniqueness"),
            _ => None,
        };
        let (status, body) = HttpError::App(self.0).answer();
        let status = match status {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            status => status,
        };
        let mut scim = serde_json::json!({
            "schemas": [crate::services::accounts::scim::ERROR_SCHEMA],
            "status": status.as_u16().to_string(),
            "detail": body.message,
        });
        if let Some(kind) = scim_type {
            scim["scimType"] = kind.into();
        }
        Scim(scim).with_status(status)
    }
}

impl<T: Serialize> Scim<T> {
    fn with_status(self, status: StatusCode) -> Response {
        let mut response = self.into_response();
        *response.status_mut() = status;
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn body(e: Error) -> (StatusCode, ErrorBody, Option<String>) {
        let r = e.into_response();
        let status = r.status();
        let retry = r
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    #[tokio::test]
    async fn bad_input_names_the_field() {
        let (status, b, _) = body(Error::invalid("email", "must contain @")).await;
        assert_eq!(status, 422);
        assert_eq!(
            b,
            ErrorBody {
                status: 422,
                code: "invalid_field".into(),
                message: "email: must contain @".into(),
                field: Some("email".into())
            }
        );
    }

    #[tokio::test]
    async fn server_faults_hide_their_detail() {
        let (status, b, _) = body(Error::internal("secret table name xyz")).await;
        assert_eq!(status, 500);
        assert!(!b.message.contains("xyz"));
        let (status, b, retry) = body(Error::Throttled {
            service: "KMS",
            retry_after: Duration::from_secs(2),
        })
        .await;
        assert_eq!(
            (status.as_u16(), b.code.as_str(), retry.as_deref()),
            (503, "throttled", Some("2"))
        );
    }
}
