//! Extractors that turn a request into domain inputs or a clear error: the caller the gate
//! admitted (with its tenant's store: `Scoped`), ids in paths (`PathId`), the client's address,
//! JSON bodies (unknown fields refused, the offending field named), query parameters, and pages of a list (a JSON array with a `Link: rel="next"` header,
//! as Delighted answers lists).

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::MAX_BODY_BYTES;
use super::throttle::ClientIp;
use crate::Context;
use crate::error::Error;
use crate::http::error::HttpError;
use crate::services::Caller;
use crate::store::TenantStore;

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

/// A tenant route's caller and their tenant's store, the start of most handlers: the store is
/// scoped to the tenant of the authenticated principal, never to one a request names.
pub struct Scoped {
    pub caller: Caller,
    pub store: TenantStore,
}

impl FromRequestParts<Arc<Context>> for Scoped {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &Arc<Context>) -> Result<Self, Error> {
        let caller = Caller::from_request_parts(parts, ctx).await?;
        let store = caller.store(ctx);
        Ok(Scoped { caller, store })
    }
}

/// A path's `{id}` parsed into its id type (without the `.json` Delighted's clients may add);
/// text that cannot be an id names nothing (404), as an unknown id does.
pub struct PathId<T>(pub T);

impl<S: Send + Sync, T: FromStr<Err = Error> + Send> FromRequestParts<S> for PathId<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| match e {
                PathRejection::FailedToDeserializePathParams(e)
                    if matches!(e.kind(), ErrorKind::InvalidUtf8InPathParam { .. }) =>
                {
                    Error::invalid("id", "must be text in the path")
                }
                // A route whose path has no single parameter: ours to mend.
                other => Error::internal(other),
            })?;
        text.strip_suffix(".json").unwrap_or(&text).parse().map(PathId)
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
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, HttpError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::trim_start)
            .is_some_and(|v| v.starts_with("application/json") || v.starts_with("application/scim+json"));
        if !json {
            return Err(Error::invalid("content-type", "send the body as application/json").into());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| HttpError::BodyTooLarge { limit: MAX_BODY_BYTES })?;
        Ok(parse_json(&bytes).map(JsonBody)?)
    }
}

/// A JSON document into `T`; an error names the field it is about, by its path
/// (`languages[1]`, `password_policy.min_length`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(path_error)?;
    reader.end().map_err(|e| body_error(&e, None))?;
    Ok(value)
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    body_error(e.inner(), (path != ".").then_some(path))
}

/// The field a serde error is about: its path, else the one the message names (`unknown field
/// `role``, `missing field `email``), else the body.
fn body_error(e: &serde_json::Error, path: Option<String>) -> Error {
    let text = e.to_string();
    let quoted = text.split('`').nth(1).filter(|_| text.contains("field `"));
    let field = path.or(quoted.map(str::to_owned)).unwrap_or_else(|| "body".to_owned());
    if e.is_syntax() || e.is_eof() {
        return Error::invalid(field, "is not valid JSON");
    }
    Error::invalid(field, without_value(strip_position(&text)))
}

fn strip_position(text: &str) -> &str {
    text.split(" at line ").next().unwrap_or(text)
}

/// serde's reason without the value it was given, which may be personal data or a password:
/// "invalid type: integer `4520123456`, expected a string" becomes "expected a string", "unknown
/// variant `x`, expected one of …" becomes "expected one of …".
fn without_value(reason: &str) -> String {
    const GIVEN: [&str; 4] = [
        "invalid type: ",
        "invalid value: ",
        "invalid length ",
        "unknown variant ",
    ];
    if GIVEN.iter().any(|p| reason.starts_with(p)) {
        // What follows the last ", expected " is serde's description of the type, never input.
        return match reason.rfind(", expected ") {
            Some(at) => reason[at + 2..].to_owned(),
            None => "has an unexpected value".to_owned(),
        };
    }
    if reason.starts_with("missing field ") {
        return "is required".to_owned();
    }
    reason.to_owned()
}

/// Query parameters parsed into `T` (with `#[serde(deny_unknown_fields)]`, an unknown one is
/// refused); a malformed or repeated one is a 422 naming the parameter.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Params)
    }
}

/// A query string parsed into `T`, a refusal naming the parameter. Array parameters, as
/// Delighted's clients send them (`expand[]=person&expand[]=notes`), arrive as one comma-joined
/// value (`expand=person,notes`; read with `query_value::list`).
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Error> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(array) = name.strip_suffix("[]") else {
            pairs.push((name.into_owned(), value.into_owned()));
            continue;
        };
        match pairs.iter_mut().find(|(seen, _)| seen == array) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            None => pairs.push((array.to_owned(), value.into_owned())),
        }
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let pairs = form_urlencoded::parse(query.as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
        .map_err(|e| query_error(&e.path().to_string(), &e.into_inner().to_string()))
}

/// A query refusal, named by the path serde reached.
fn query_error(path: &str, reason: &str) -> Error {
    // serde's words: "unknown field `colour`, expected one of …", "duplicate field `since`".
    let named = |prefix: &str| {
        reason
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').nth(1))
            .map(str::to_owned)
    };
    if let Some(name) = named("unknown field ") {
        return Error::invalid("query", format!("unknown parameter `{name}`"));
    }
    if let Some(name) = named("duplicate field ") {
        return Error::invalid(name, "is given more than once");
    }
    let reason = without_value(reason);
    match path {
        "" | "." | "?" => Error::invalid("query", reason),
        name => Error::invalid(name.to_owned(), reason),
    }
}

/// Readers of query values (`#[serde(default, deserialize_with = "…")]`), whose refusals say what
/// the value must be.
pub mod query_value {
    use std::str::FromStr;

    use serde::de::{Deserialize, Deserializer, Error as _};

    use crate::error::Error;

    /// A value read by its type's `FromStr` (its refusal's reason kept).
    pub fn parsed<'de, D: Deserializer<'de>, T: FromStr<Err = Error>>(d: D) -> Result<Option<T>, D::Error> {
        from_text(String::deserialize(d)?.trim()).map(Some)
    }

    /// A comma-separated list (an array parameter), each item read by its type's `FromStr`.
    pub fn list<'de, D: Deserializer<'de>, T: FromStr<Err = Error>>(d: D) -> Result<Vec<T>, D::Error> {
        let text = String::deserialize(d)?;
        text.split(',').map(|item| from_text(item.trim())).collect()
    }

    /// A whole number.
    pub fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        integer(d, "must be a whole number")
    }

    /// A Unix time in seconds.
    pub fn unix_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        integer(d, "must be a Unix time in seconds")
    }

    /// `text` through `T`'s `FromStr`, a refusal keeping only its reason (serde names the field).
    fn from_text<T: FromStr<Err = Error>, E: serde::de::Error>(text: &str) -> Result<T, E> {
        text.parse().map_err(|e| match e {
            Error::Invalid { reason, .. } => E::custom(reason),
            other => E::custom(other),
        })
    }

    /// An integer, or `refusal`.
    fn integer<'de, D: Deserializer<'de>>(d: D, refusal: &str) -> Result<Option<i64>, D::Error> {
        let text = String::deserialize(d)?;
        text.trim().parse().map(Some).map_err(|_| D::Error::custom(refusal))
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
pub fn next_page(base: &PublicBase, path: &str, params: &[(&str, String)], cursor: Option<String>) -> Option<String> {
    cursor.map(|c| {
        let mut link = format!("{}{path}?", base.0);
        for (name, value) in params {
            link.push_str(&format!("{name}={}&", encode_component(value)));
        }
        link.push_str(&format!("cursor={}", encode_component(&c)));
        link
    })
}

pub fn encode_component(text: &str) -> String {
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
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Query {
        #[serde(default, deserialize_with = "query_value::whole")]
        per_page: Option<i64>,
        #[serde(default, deserialize_with = "query_value::unix_time")]
        since: Option<i64>,
        #[serde(default, deserialize_with = "query_value::list")]
        expand: Vec<crate::ids::SurveyId>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let refusal = |query: &str| match parse_query::<Query>(query).unwrap_err() {
            Error::Invalid { field, reason } => (field.into_owned(), reason.into_owned()),
            e => panic!("{e}"),
        };
        assert_eq!(
            refusal("per_page=ten"),
            ("per_page".into(), "must be a whole number".into())
        );
        assert_eq!(
            refusal("per_page=5&since=soon"),
            ("since".into(), "must be a Unix time in seconds".into())
        );
        assert_eq!(refusal("expand[]=x"), ("expand".into(), "survey not found".into()));
        assert_eq!(
            refusal("colour=red"),
            ("query".into(), "unknown parameter `colour`".into())
        );
        assert_eq!(
            refusal("since=1&since=2"),
            ("since".into(), "is given more than once".into())
        );
        let parsed = parse_query::<Query>("per_page=%205&since=10").unwrap();
        assert_eq!(
            (parsed.per_page, parsed.since, parsed.expand.len()),
            (Some(5), Some(10), 0)
        );
        let ids = ["01JDQ6Y3T1V0Z8K4M2N5P7R9S0", "01JDQ7Z8K9M0N1P2Q3R4S5T6V7"];
        let both = parse_query::<Query>(&format!("expand[]={}&expand%5B%5D={}", ids[0], ids[1])).unwrap();
        assert_eq!(both.expand.iter().map(|id| id.as_str()).collect::<Vec<_>>(), ids);
    }

    #[test]
    fn body_errors_name_the_field() {
        let field = |json: &str| match parse_json::<Body>(json.as_bytes()).unwrap_err() {
            Error::Invalid { field, .. } => field.into_owned(),
            e => panic!("{e}"),
        };
        assert_eq!(field(r#"{"email": "a@b.c", "role": "owner"}"#), "role");
        assert_eq!(field(r#"{}"#), "email");
        assert_eq!(field(r#"{"email": 5}"#), "email");
        assert_eq!(field(r#"{"email": "a@b.c", "tags": ["x", 5]}"#), "tags[1]");
        assert_eq!(field(r#"{"email": "a@b.c"} trailing"#), "body");
        assert_eq!(field("not json"), "body");
        assert_eq!(encode_component("a b/c~"), "a%20b%2Fc~");
    }
}

/// The base URL this deployment is reached at (no trailing slash): the configured public URL,
/// else API Gateway's domain and stage, else the Host header (local).
#[derive(Clone, Debug)]
pub struct PublicBase(pub String);

impl FromRequestParts<std::sync::Arc<crate::Context>> for PublicBase {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &std::sync::Arc<crate::Context>) -> Result<Self, Error> {
        use lambda_http::request::RequestContext;
        if let Some(url) = &ctx.settings.public_url {
            return Ok(PublicBase(url.clone()));
        }
        if let Some(RequestContext::ApiGatewayV1(c)) = parts.extensions.get::<RequestContext>()
            && let (Some(domain), Some(stage)) = (&c.domain_name, &c.stage)
        {
            return Ok(PublicBase(format!("https://{domain}/{stage}")));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| !h.is_empty() && h.len() <= 255)
            .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)))
            .unwrap_or("127.0.0.1:8080");
        Ok(PublicBase(format!("http://{host}")))
    }
}

/// A Delighted-style request body: JSON, or a form (`-d email=… -d properties[plan]=pro`, as
/// Delighted's curl examples send it), read as JSON values (form values are text) and then into
/// `T`, whose errors name the field. A `DELETE` without a body is read from its query string, as
/// Delighted's Node client sends one (`?person_email=…`).
pub struct DelightedBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for DelightedBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, HttpError> {
        // A DELETE may name what it removes in its query instead of a body.
        let query = (req.method() == Method::DELETE).then(|| req.uri().query().unwrap_or_default().to_owned());
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim_start()
            .to_ascii_lowercase();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| HttpError::BodyTooLarge { limit: MAX_BODY_BYTES })?;
        let value = if let Some(query) = query.filter(|_| bytes.iter().all(u8::is_ascii_whitespace)) {
            form_to_json(query.as_bytes())?
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            form_to_json(&bytes)?
        } else if content_type.starts_with("application/json") || bytes.iter().all(u8::is_ascii_whitespace) {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                serde_json::Value::Object(Default::default())
            } else {
                parse_json(&bytes)?
            }
        } else {
            return Err(Error::invalid(
                "content-type",
                "send the body as application/json or application/x-www-form-urlencoded",
            )
            .into());
        };
        Ok(serde_path_to_error::deserialize(value)
            .map(DelightedBody)
            .map_err(path_error)?)
    }
}

/// The name-value pairs of a form or query string, decoded; a name or value that is not UTF-8
/// once decoded is refused (naming the field), never stored with replacement characters.
pub fn form_to_pairs(body: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let decoded = |part: &[u8]| {
        let spaced: Vec<u8> = part.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        String::from_utf8(percent_encoding::percent_decode(&spaced).collect())
    };
    let mut pairs = Vec::new();
    for piece in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(at) => (&piece[..at], &piece[at + 1..]),
            None => (piece, &[][..]),
        };
        let name = decoded(name).map_err(|_| Error::invalid("body", "a field name is not valid UTF-8"))?;
        let value = decoded(value).map_err(|_| Error::invalid(name.clone(), "is not valid UTF-8"))?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// A form as JSON: `a=1` → `{"a": "1"}`, `a[b]=1` → `{"a": {"b": "1"}}`, `a[]=1&a[]=2` →
/// `{"a": ["1", "2"]}`.
pub fn form_to_json(body: &[u8]) -> Result<serde_json::Value, Error> {
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    for (name, value) in form_to_pairs(body)? {
        let value = Value::String(value);
        match name.split_once('[') {
            Some((base, rest)) if rest.ends_with(']') => {
                let inner = &rest[..rest.len() - 1];
                let slot = out.entry(base.to_owned());
                if inner.is_empty() {
                    let list = slot.or_insert_with(|| Value::Array(vec![]));
                    if let Value::Array(list) = list {
                        list.push(value);
                    }
                } else {
                    let map = slot.or_insert_with(|| Value::Object(Default::default()));
                    if let Value::Object(map) = map {
                        map.insert(inner.to_owned(), value);
                    }
                }
            }
            _ => {
                out.insert(name, value);
            }
        }
    }
    Ok(Value::Object(out))
}
