//! Values of Delighted-style bodies, which arrive as JSON or as form text: a number may be
//! `5` or `"5"`, a boolean `true` or `"true"`.

use crate::error::{Error, Result};

/// A whole number sent as JSON or as form text.
pub fn int(field: &'static str, value: &serde_json::Value) -> Result<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| Error::invalid(field, "must be a whole number"))
}

/// A Unix time sent as a JSON number or as form text, within 1970 to 2100.
pub fn unix_time(field: &'static str, value: &serde_json::Value) -> Result<i64> {
    super::time::within_bounds(field, int(field, value)?)
}

/// A boolean sent as JSON or as form text (`true`/`false`, `1`/`0`).
pub fn boolean(field: &'static str, value: &serde_json::Value) -> Result<bool> {
    match value {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| Error::invalid(field, "must be true or false"))
}

/// Text sent as JSON or form text; numbers are taken as their text.
pub fn text(field: &'static str, value: &serde_json::Value) -> Result<Option<String>> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s.clone())),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(Error::invalid(field, "must be text")),
    }
}
