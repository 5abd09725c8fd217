//! The languages of surveys and their pages, and how a locale picks one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Da,
    Nl,
    De,
    Fr,
    Es,
    Sv,
    Nb,
}

pub const LANGUAGES: [Language; 8] = [
    Language::En,
    Language::Da,
    Language::Nl,
    Language::De,
    Language::Fr,
    Language::Es,
    Language::Sv,
    Language::Nb,
];

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Da => "da",
            Language::Nl => "nl",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Es => "es",
            Language::Sv => "sv",
            Language::Nb => "nb",
        }
    }

    /// The language's name in English, as staff pick it.
    pub fn name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::Da => "Danish",
            Language::Nl => "Dutch",
            Language::De => "German",
            Language::Fr => "French",
            Language::Es => "Spanish",
            Language::Sv => "Swedish",
            Language::Nb => "Norwegian (Bokmål)",
        }
    }

    /// A language from a locale as people and browsers write it (`da`, `da-DK`, `nb_NO`, `no`).
    pub fn from_locale(locale: &str) -> Option<Language> {
        let primary = locale.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        let primary = if primary == "no" || primary == "nn" {
            "nb".to_owned()
        } else {
            primary
        };
        LANGUAGES.into_iter().find(|l| l.code() == primary)
    }
}
