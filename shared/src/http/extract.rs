//! Extractors that turn a request into domain inputs or a clear error: the caller the gate
//! admitted, the client's address, JSON bodies (unknown fields refused, the offending field
//! named), query parameters, and pages of a list (a JSON array with a `Link: rel="next"` header,
//! as Delighted answers lists).

use std::net::IpAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::MAX_BODY_BYTES;
use super::throttle::ClientIp;
use crate::error::Error;
use crate::services::Caller;

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Error::internal("a handler that needs a caller on a route the gate does not authenticate"))
    }
}

/// The client's address as the platform saw it (none in in-process tests).
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Ok(ClientAddress(ClientIp::of(&parts.extensions).map(|c| c.0)))
    }
}

/// A JSON body parsed into `T`; a malformed one is a 422 naming the field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if !json {
            return Err(Error::invalid("content-type", "send the body as application/json"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| Error::BodyTooLarge { limit: MAX_BODY_BYTES })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| body_error(&e))
    }
}

/// The field a serde error is about (`unknown field `role``, `missing field `email``).
fn body_error(e: &serde_json::Error) -> Error {
    let text = e.to_string();
    let quoted = text.split('`').nth(1).filter(|_| text.contains("field `"));
    match quoted {
        Some(field) => Error::invalid(field.to_owned(), strip_position(&text)),
        None => Error::invalid("body", strip_position(&text)),
    }
}

fn strip_position(text: &str) -> String {
    text.split(" at line ").next().unwrap_or(text).to_owned()
}

/// Query parameters parsed into `T` (unknown ones ignored); a malformed one is a 422.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Params(t))
            .map_err(|e| Error::invalid("query", e.body_text()))
    }
}

/// A page of a list: the items as a JSON array, and where the next page is.
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// The path and query of the next page, when there is one.
    pub next: Option<String>,
}

impl<T: Serialize> IntoResponse for ListPage<T> {
    fn into_response(self) -> Response {
        linked(Json(self.items).into_response(), self.next)
    }
}

impl<T: Serialize> ListPage<T> {
    /// The page as JSON lines (an export page), linked to the next alike.
    pub fn into_json_lines(self) -> Response {
        let mut body = String::new();
        for item in &self.items {
            match serde_json::to_string(item) {
                Ok(line) => body.push_str(&line),
                Err(e) => return Error::internal(e).into_response(),
            }
            body.push('\n');
        }
        let response = ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response();
        linked(response, self.next)
    }
}

fn linked(mut response: Response, next: Option<String>) -> Response {
    if let Some(next) = next
        && let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
    {
        response.headers_mut().insert(header::LINK, v);
    }
    response
}

/// `path?name=value&...&cursor=C`: the next page with the same parameters, each percent-encoded.
pub fn next_page(path: &str, params: &[(&str, String)], cursor: Option<String>) -> Option<String> {
    cursor.map(|c| {
        let mut link = format!("{path}?");
        for (name, value) in params {
            link.push_str(&format!("{name}={}&", encode_component(value)));
        }
        link.push_str(&format!("cursor={}", encode_component(&c)));
        link
    })
}

fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
    }

    #[test]
    fn body_errors_name_the_field() {
        let field = |json: &str| match body_error(&serde_json::from_str::<Body>(json).unwrap_err()) {
            Error::Invalid { field, .. } => field.into_owned(),
            e => panic!("{e}"),
        };
        assert_eq!(field(r#"{"email": "a@b.c", "role": "owner"}"#), "role");
        assert_eq!(field(r#"{}"#), "email");
        assert_eq!(field(r#"{"email": 5}"#), "body");
        assert_eq!(field("not json"), "body");
        assert_eq!(encode_component("a b/c~"), "a%20b%2Fc~");
    }
}
