//! A person's contact points and properties, parsed at the edge: E.164 phone numbers, the custom
//! properties map (bounded, string values as Delighted keeps them), and the channels a survey
//! reaches people on.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Email;
use crate::error::{Error, Result};
use crate::ids::PersonId;

/// A phone number in E.164 form: `+`, a country code that does not start with 0, 7 to 15 digits in
/// all. Spaces, dashes, dots and parentheses that people type are removed first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse_field(field: &'static str, text: &str) -> Result<Phone> {
        let compact: String = text
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or("");
        let ok = digits.len() >= 7
            && digits.len() <= 15
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !ok {
            return Err(Error::invalid(
                field,
                "must be an E.164 phone number: + and 7 to 15 digits, e.g. +4520123456",
            ));
        }
        Ok(Phone(compact))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person as Delighted's paths name one: `id` (or `id:…`), `email:addr`, `phone_number:+45…`, or
/// a bare address (as in `/people/{email}/survey_requests/pending`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersonRef {
    Id(PersonId),
    Email(Email),
    Phone(Phone),
}

impl FromStr for PersonRef {
    type Err = Error;

    fn from_str(text: &str) -> Result<PersonRef> {
        Ok(if let Some(email) = text.strip_prefix("email:") {
            PersonRef::Email(Email::parse(email)?)
        } else if let Some(phone) = text.strip_prefix("phone_number:") {
            PersonRef::Phone(Phone::parse_field("phone_number", phone)?)
        } else if text.contains('@') {
            PersonRef::Email(Email::parse(text)?)
        } else {
            PersonRef::Id(text.strip_prefix("id:").unwrap_or(text).parse()?)
        })
    }
}

/// How a survey reached a person (or a response reached us).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Email,
    Sms,
    /// The survey's shareable web link.
    Web,
    /// Recorded through the API.
    Api,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Web => "web",
            Channel::Api => "api",
        }
    }

    /// A channel by the name it is stored under; an unknown name is refused, never read as email.
    pub fn parse(text: &str) -> Result<Channel> {
        match text {
            "email" => Ok(Channel::Email),
            "sms" => Ok(Channel::Sms),
            "web" => Ok(Channel::Web),
            "api" => Ok(Channel::Api),
            other => Err(Error::internal(format!("a stored channel `{other}` is no channel"))),
        }
    }

    /// The channels a survey can be sent on (`email`, `sms`).
    pub fn parse_send(field: &'static str, text: &str) -> Result<Channel> {
        match text {
            "email" => Ok(Channel::Email),
            "sms" => Ok(Channel::Sms),
            _ => Err(Error::invalid(field, "must be email or sms")),
        }
    }
}

pub const MAX_PROPERTIES: usize = 50;
pub const MAX_PROPERTY_NAME: usize = 100;
pub const MAX_PROPERTY_VALUE: usize = 1000;

/// Custom properties of a person (segments, the product a question names, the locale). Values
/// are kept as text, as Delighted does; numbers and booleans sent as JSON become their text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct Properties(pub BTreeMap<String, String>);

impl Properties {
    /// Parses a JSON object of properties; `null` values are left out.
    pub fn from_json(field: &'static str, value: &serde_json::Value) -> Result<Properties> {
        let serde_json::Value::Object(map) = value else {
            return Err(Error::invalid(field, "must be an object of names to values"));
        };
        let mut out = BTreeMap::new();
        for (name, value) in map {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(Error::invalid(
                        field,
                        format!("`{name}` must be text, a number or a boolean"),
                    ));
                }
            };
            out.insert(name.clone(), text);
        }
        Properties::checked(field, out)
    }

    /// Checks the bounds of every name and value.
    pub fn checked(field: &'static str, map: BTreeMap<String, String>) -> Result<Properties> {
        if map.len() > MAX_PROPERTIES {
            return Err(Error::invalid(field, format!("at most {MAX_PROPERTIES} properties")));
        }
        for (name, value) in &map {
            let bad_name = name.trim().is_empty()
                || name.chars().count() > MAX_PROPERTY_NAME
                || name.chars().any(char::is_control);
            if bad_name {
                return Err(Error::invalid(
                    field,
                    format!("property names are 1 to {MAX_PROPERTY_NAME} characters without control characters"),
                ));
            }
            if value.chars().count() > MAX_PROPERTY_VALUE {
                return Err(Error::invalid(
                    field,
                    format!("`{name}` is longer than {MAX_PROPERTY_VALUE} characters"),
                ));
            }
        }
        Ok(Properties(map))
    }

    /// These properties with `other`'s laid over them (a person's update merges, as Delighted).
    pub fn merged(&self, other: &Properties) -> Result<Properties> {
        let mut map = self.0.clone();
        map.extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        Properties::checked("properties", map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_channel_is_read_back_or_refused() {
        for channel in [Channel::Email, Channel::Sms, Channel::Web, Channel::Api] {
            assert_eq!(Channel::parse(channel.as_str()).unwrap(), channel);
        }
        assert!(Channel::parse("fax").is_err(), "never read as email");
        assert!(Channel::parse("").is_err());
    }

    #[test]
    fn phones_are_e164() {
        assert_eq!(
            Phone::parse_field("p", " +45 20 12-34 56 ").unwrap().as_str(),
            "+4520123456"
        );
        assert_eq!(
            Phone::parse_field("p", "+1 (415) 555-0100").unwrap().as_str(),
            "+14155550100"
        );
        for bad in [
            "4520123456",
            "+0452012345",
            "+45",
            "+452012345678901234",
            "+45abc12345",
            "",
            "++4520123456",
        ] {
            assert!(Phone::parse_field("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn properties_are_bounded_text() {
        let p = Properties::from_json(
            "properties",
            &serde_json::json!({"plan": "pro", "seats": 5, "vip": true, "x": null}),
        )
        .unwrap();
        assert_eq!(p.get("seats"), Some("5"));
        assert_eq!(p.get("vip"), Some("true"));
        assert_eq!(p.get("x"), None);
        assert!(Properties::from_json("properties", &serde_json::json!({"a": {"b": 1}})).is_err());
        assert!(Properties::from_json("properties", &serde_json::json!([1])).is_err());
        let long = "x".repeat(MAX_PROPERTY_VALUE + 1);
        assert!(Properties::from_json("properties", &serde_json::json!({"a": long})).is_err());
        let many: serde_json::Map<_, _> = (0..=MAX_PROPERTIES).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(Properties::from_json("properties", &serde_json::Value::Object(many)).is_err());
    }
}
