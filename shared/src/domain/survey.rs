//! Surveys as data: the NPS score, additional questions and answers, and the checks of
//! every field a survey is made of. A survey's definition holds no personal data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::language::{LANGUAGES, Language};
use super::{Email, label};
use crate::error::{Error, Result};

/// A Net Promoter Score answer: 0 to 10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Score(u8);

impl Score {
    pub fn new(n: i64) -> Result<Score> {
        match u8::try_from(n) {
            Ok(n) if n <= 10 => Ok(Score(n)),
            _ => Err(Error::invalid("score", "must be a whole number from 0 to 10")),
        }
    }

    pub fn parse(text: &str) -> Result<Score> {
        text.trim()
            .parse::<i64>()
            .map_err(|_| Error::invalid("score", "must be a whole number from 0 to 10"))
            .and_then(Score::new)
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Score {
    type Error = Error;
    fn try_from(n: i64) -> Result<Score> {
        Score::new(n)
    }
}

impl From<Score> for i64 {
    fn from(s: Score) -> i64 {
        s.0 as i64
    }
}

/// Texts of one language in one survey; what is missing comes from the built-in texts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyTexts {
    /// The NPS question; `{{ sender }}`, `{{ product_name }}` and `{{ properties.<name> }}` (a
    /// person property) are filled in; any other placeholder is refused.
    pub question: Option<String>,
    /// The follow-up comment's prompt.
    pub comment: Option<String>,
    /// The thank-you page's heading.
    pub thanks: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// Customer satisfaction, 1 to 5.
    Csat,
    /// Customer effort, 1 to 7.
    Ces,
    Text,
    Single,
    Multiple,
}

/// An additional question after the NPS one. Texts are per language; the survey's default
/// language must be present.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Short and stable: `[a-z0-9_]`, 1 to 40 characters; answers are keyed by it.
    pub id: String,
    pub kind: QuestionKind,
    #[schema(value_type = Object)]
    pub text: BTreeMap<Language, String>,
    /// The options of a choice question, each with its texts.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub choices: Vec<BTreeMap<Language, String>>,
}

impl QuestionKind {
    /// The scale of a rating question.
    pub fn scale(self) -> Option<(u8, u8)> {
        match self {
            QuestionKind::Csat => Some((1, 5)),
            QuestionKind::Ces => Some((1, 7)),
            _ => None,
        }
    }
}

pub const MAX_QUESTIONS: usize = 10;
pub const MAX_CHOICES: usize = 20;
pub const MAX_TEXT: usize = 500;
/// The longest comment or free-text answer kept (characters).
pub const MAX_COMMENT: usize = 5000;

fn text(field: &'static str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_TEXT || value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(field, format!("must be 1 to {MAX_TEXT} characters")));
    }
    Ok(value.to_owned())
}

/// What a respondent typed, as kept: trimmed, line breaks as `\n`, no other control characters
/// (an escape sequence in a comment would reach every export and terminal that shows it).
pub fn free_text(typed: &str) -> String {
    typed
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A text in each of the survey's languages (one in the default at least), each a valid text
/// whose placeholders are known: filled alike on every page, never shown raw.
fn localised(
    field: &'static str,
    map: &BTreeMap<Language, String>,
    default: Language,
) -> Result<BTreeMap<Language, String>> {
    if !map.contains_key(&default) {
        return Err(Error::invalid(
            field,
            format!("needs a text in the default language `{}`", default.code()),
        ));
    }
    map.iter()
        .map(|(l, t)| {
            let t = text(field, t)?;
            super::texts::check_placeholders(&t).map_err(|why| Error::invalid(field, why))?;
            Ok((*l, t))
        })
        .collect()
}

impl Question {
    fn checked(&self, default: Language) -> Result<Question> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 40
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !id_ok {
            return Err(Error::invalid("questions.id", "must be 1 to 40 of a-z, 0-9 and _"));
        }
        let choices: Vec<_> = self
            .choices
            .iter()
            .map(|c| localised("questions.choices", c, default))
            .collect::<Result<_>>()?;
        let wants_choices = matches!(self.kind, QuestionKind::Single | QuestionKind::Multiple);
        if wants_choices && !(2..=MAX_CHOICES).contains(&choices.len()) {
            return Err(Error::invalid(
                "questions.choices",
                format!("a choice question has 2 to {MAX_CHOICES} choices"),
            ));
        }
        if !wants_choices && !choices.is_empty() {
            return Err(Error::invalid(
                "questions.choices",
                "only choice questions have choices",
            ));
        }
        Ok(Question {
            id: self.id.clone(),
            kind: self.kind,
            text: localised("questions.text", &self.text, default)?,
            choices,
        })
    }
}

/// One answer to an additional question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Answer {
    /// A rating (CSAT, CES) or the index of a single choice.
    Number(u8),
    /// Free text.
    Text(String),
    /// The indexes of multiple choices.
    Choices(Vec<u8>),
}

impl Question {
    /// Parses a submitted answer (form values as text); `None` when left empty.
    pub fn answer(&self, values: &[&str]) -> Result<Option<Answer>> {
        let field = || format!("answers.{}", self.id);
        let values: Vec<&str> = values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()).collect();
        let Some(first) = values.first() else {
            return Ok(None);
        };
        let number = |text: &str, low: u8, high: u8| -> Result<u8> {
            text.parse::<u8>()
                .ok()
                .filter(|n| (low..=high).contains(n))
                .ok_or_else(|| Error::invalid(field(), format!("must be from {low} to {high}")))
        };
        Ok(Some(match self.kind {
            QuestionKind::Csat | QuestionKind::Ces => {
                let (low, high) = self.kind.scale().unwrap_or((1, 5));
                Answer::Number(number(first, low, high)?)
            }
            QuestionKind::Text => {
                let text = free_text(first);
                if text.is_empty() {
                    return Ok(None);
                }
                if text.chars().count() > MAX_COMMENT {
                    return Err(Error::invalid(field(), format!("at most {MAX_COMMENT} characters")));
                }
                Answer::Text(text)
            }
            QuestionKind::Single => Answer::Number(number(first, 0, self.choices.len() as u8 - 1)?),
            QuestionKind::Multiple => {
                let mut picked = values
                    .iter()
                    .map(|v| number(v, 0, self.choices.len() as u8 - 1))
                    .collect::<Result<Vec<u8>>>()?;
                picked.sort_unstable();
                picked.dedup();
                Answer::Choices(picked)
            }
        }))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SurveyStatus {
    Active,
    /// Takes no answers; its links show a closed page.
    Closed,
    /// Closed and left out of lists.
    Archived,
}

/// What a survey is made of. Everything but its name has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SurveyDefinition {
    pub name: String,
    pub status: SurveyStatus,
    /// Unix seconds after which the survey takes no more answers.
    pub close_at: Option<i64>,
    pub default_language: Language,
    /// The languages offered (by default every built-in one); invitations pick one by the
    /// person's `locale` property, the web link by the browser's.
    pub languages: Vec<Language>,
    #[schema(value_type = Object)]
    pub texts: BTreeMap<Language, SurveyTexts>,
    pub questions: Vec<Question>,
    pub sender_name: Option<String>,
    pub reply_to: Option<String>,
    /// `#rrggbb`.
    pub brand_color: String,
    /// An https URL of the logo shown on the survey page.
    pub logo_url: Option<String>,
    /// Days within which a person is not surveyed again; 0 for never held back.
    pub throttle_days: u32,
    /// Days after which a reminder goes out when there is no answer; none for no reminder.
    pub reminder_days: Option<u32>,
    /// Days an invitation's link stays open.
    pub link_days: u32,
    /// Person properties that results can be segmented by.
    pub segments: Vec<String>,
}

impl SurveyDefinition {
    /// The name surveys are sent as: the survey's sender name, else the tenant's display name.
    pub fn sender(&self, display_name: &str) -> String {
        self.sender_name.clone().unwrap_or_else(|| display_name.to_owned())
    }

    /// A text of this survey in `language` (its own, else the built-in `default`) with its
    /// placeholders filled: `sender`, then the person's properties, `product_name` falling back
    /// to the tenant's display name.
    pub fn filled(
        &self,
        own: impl Fn(&SurveyTexts) -> Option<&String>,
        default: &str,
        language: Language,
        properties: Option<&super::Properties>,
        display_name: &str,
    ) -> String {
        let text = self.texts.get(&language).and_then(own).map_or(default, String::as_str);
        self.fill(text, properties, display_name)
    }

    /// Any text of the survey (its own or an additional question's) with its placeholders filled:
    /// `sender`, `product_name` (the person's property, else the tenant's name) and
    /// `properties.<name>`.
    pub fn fill(&self, text: &str, properties: Option<&super::Properties>, display_name: &str) -> String {
        let sender = self.sender(display_name);
        let property = |name: &str| properties.and_then(|p| p.get(name));
        super::texts::fill(text, |name| match name {
            "sender" => Some(sender.as_str()),
            "product_name" => property(name).or(Some(display_name)),
            _ => name.strip_prefix(super::texts::PROPERTY_PLACEHOLDER).and_then(property),
        })
    }

    pub fn new(name: String) -> SurveyDefinition {
        SurveyDefinition {
            name,
            status: SurveyStatus::Active,
            close_at: None,
            default_language: Language::En,
            languages: super::language::LANGUAGES.to_vec(),
            texts: BTreeMap::new(),
            questions: vec![],
            sender_name: None,
            reply_to: None,
            brand_color: "#1d4ed8".to_owned(),
            logo_url: None,
            throttle_days: 30,
            reminder_days: Some(7),
            link_days: 90,
            segments: vec![],
        }
    }

    /// True while the survey takes answers.
    pub fn is_open(&self, now: i64) -> bool {
        self.status == SurveyStatus::Active && self.close_at.is_none_or(|t| now < t)
    }

    /// The language to use for a person's `locale`, else the default.
    pub fn language_for(&self, locale: Option<&str>) -> Language {
        locale
            .and_then(Language::from_locale)
            .filter(|l| self.speaks(*l))
            .unwrap_or(self.default_language)
    }

    /// Whether a person may be asked in `language`: one of the survey's languages, with each of
    /// the question, comment prompt and thank-you heading the survey customised in its default
    /// language customised in this one too (else they would read a different question), and
    /// every additional question and choice written in it (else the page is half in another).
    pub fn speaks(&self, language: Language) -> bool {
        if !self.languages.contains(&language) {
            return false;
        }
        if language == self.default_language {
            return true;
        }
        let own = self.texts.get(&language);
        let has = |field: fn(&SurveyTexts) -> &Option<String>| {
            self.texts
                .get(&self.default_language)
                .is_none_or(|base| field(base).is_none() || own.is_some_and(|o| field(o).is_some()))
        };
        let questions = self
            .questions
            .iter()
            .all(|q| q.text.contains_key(&language) && q.choices.iter().all(|c| c.contains_key(&language)));
        has(|t| &t.question) && has(|t| &t.comment) && has(|t| &t.thanks) && questions
    }

    /// The languages a person may be asked in.
    pub fn spoken(&self) -> Vec<Language> {
        self.languages.iter().copied().filter(|l| self.speaks(*l)).collect()
    }

    /// The definition with `patch` applied, every value checked.
    pub fn patched(&self, patch: SurveyPatch) -> Result<SurveyDefinition> {
        let mut next = self.clone();
        if let Some(name) = patch.name {
            next.name = label("name", &name)?;
        }
        if let Some(status) = patch.status {
            next.status = status;
        }
        if let Some(close_at) = patch.close_at {
            next.close_at = close_at
                .map(|t| super::time::within_bounds("close_at", t))
                .transpose()?;
        }
        if let Some(l) = patch.default_language {
            next.default_language = l;
        }
        if let Some(languages) = patch.languages {
            next.languages = languages;
        }
        if let Some(texts) = patch.texts {
            next.texts = texts;
        }
        if let Some(questions) = patch.questions {
            next.questions = questions;
        }
        if let Some(sender) = patch.sender_name {
            next.sender_name = sender.map(|s| label("sender_name", &s)).transpose()?;
        }
        if let Some(reply_to) = patch.reply_to {
            next.reply_to = reply_to
                .map(|r| Email::parse_field("reply_to", &r).map(|e| e.as_str().to_owned()))
                .transpose()?;
        }
        if let Some(color) = patch.brand_color {
            next.brand_color = super::brand::brand_color(&color)?;
        }
        if let Some(url) = patch.logo_url {
            next.logo_url = url.map(|u| logo_url(&u)).transpose()?;
        }
        if let Some(days) = patch.throttle_days {
            next.throttle_days = days_within("throttle_days", days, 0, 3650)?;
        }
        if let Some(days) = patch.reminder_days {
            next.reminder_days = days.map(|d| days_within("reminder_days", d, 1, 60)).transpose()?;
        }
        if let Some(days) = patch.link_days {
            next.link_days = days_within("link_days", days, 1, 3650)?;
        }
        if let Some(segments) = patch.segments {
            next.segments = segments;
        }
        next.check_whole()?;
        Ok(next)
    }

    /// The checks across fields: languages, texts, questions, segments.
    fn check_whole(&mut self) -> Result<()> {
        self.languages.sort();
        self.languages.dedup();
        if !self.languages.contains(&self.default_language) {
            self.languages.push(self.default_language);
            self.languages.sort();
        }
        for (language, texts) in &mut self.texts {
            if !self.languages.contains(language) {
                return Err(Error::invalid(
                    "texts",
                    format!("`{}` is not one of the survey's languages", language.code()),
                ));
            }
            let check = |field, t: &Option<String>| {
                t.as_deref()
                    .map(|t| {
                        let t = text(field, t)?;
                        super::texts::check_placeholders(&t).map_err(|why| Error::invalid(field, why))?;
                        Ok(t)
                    })
                    .transpose()
            };
            texts.question = check("texts.question", &texts.question)?;
            texts.comment = check("texts.comment", &texts.comment)?;
            texts.thanks = check("texts.thanks", &texts.thanks)?;
        }
        if self.questions.len() > MAX_QUESTIONS {
            return Err(Error::invalid(
                "questions",
                format!("at most {MAX_QUESTIONS} questions"),
            ));
        }
        let default = self.default_language;
        self.questions = self
            .questions
            .iter()
            .map(|q| q.checked(default))
            .collect::<Result<_>>()?;
        let mut ids: Vec<&str> = self.questions.iter().map(|q| q.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::invalid("questions.id", "each question needs its own id"));
        }
        // Each counts in three items per response: ten keep a response's write (with its
        // invitation's answered count) within a transaction's 100 items.
        if self.segments.len() > MAX_SEGMENTS {
            return Err(Error::invalid(
                "segments",
                format!("at most {MAX_SEGMENTS} segment properties"),
            ));
        }
        self.segments = self
            .segments
            .iter()
            .map(|s| label("segments", s))
            .collect::<Result<_>>()?;
        let mut unique = self.segments.clone();
        unique.sort_unstable();
        if unique.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::invalid("segments", "each segment property once"));
        }
        Ok(())
    }
}

/// Segment properties a survey's results are broken down by, at most.
pub const MAX_SEGMENTS: usize = 10;

fn days_within(field: &'static str, days: u32, low: u32, high: u32) -> Result<u32> {
    if (low..=high).contains(&days) {
        Ok(days)
    } else {
        Err(Error::invalid(field, format!("must be from {low} to {high} days")))
    }
}

/// An https URL without credentials, quotes or spaces (it goes into a page's `img` and its CSP).
fn logo_url(text: &str) -> Result<String> {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("https://") else {
        return Err(Error::invalid("logo_url", "must be an https:// URL"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || "\"'<>\\`;".contains(c);
    if t.len() > 500 || host.is_empty() || host.contains('@') || t.chars().any(bad_char) {
        return Err(Error::invalid(
            "logo_url",
            "must be an https:// URL of at most 500 characters",
        ));
    }
    Ok(t.to_owned())
}

/// The origin (`https://host[:port]`) of a logo URL, for the page's CSP.
pub fn origin_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..8 + end])
}

/// A change of a survey (or, on creation, everything but the defaults). Absent fields stay;
/// `null` clears the optional ones.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyPatch {
    pub name: Option<String>,
    pub status: Option<SurveyStatus>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub close_at: Option<Option<i64>>,
    pub default_language: Option<Language>,
    pub languages: Option<Vec<Language>>,
    #[schema(value_type = Option<Object>)]
    pub texts: Option<BTreeMap<Language, SurveyTexts>>,
    pub questions: Option<Vec<Question>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub sender_name: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub reply_to: Option<Option<String>>,
    pub brand_color: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub logo_url: Option<Option<String>>,
    pub throttle_days: Option<u32>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub reminder_days: Option<Option<u32>>,
    pub link_days: Option<u32>,
    pub segments: Option<Vec<String>>,
    /// The teams (ids) it is limited to; `[]` for the whole workspace. Editors may only add or
    /// remove teams they are in, and not open a limited survey to everyone.
    pub teams: Option<Vec<String>>,
}

/// `Option<Option<T>>` from JSON: absent is `None`, `null` is `Some(None)`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_keeps_lines_and_tabs_only() {
        assert_eq!(free_text(" a\u{1b}[31mb\r\nc\rd\te\u{7} "), "a[31mb\nc\nd\te");
    }

    #[test]
    fn scores_are_zero_to_ten() {
        assert_eq!(Score::parse("10").unwrap().value(), 10);
        assert_eq!(Score::new(0).unwrap().value(), 0);
        for bad in ["11", "-1", "9.5", "", "nine", "256"] {
            assert!(Score::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Score>("11").is_err());
    }

    #[test]
    fn locales_pick_languages() {
        assert_eq!(Language::from_locale("da-DK"), Some(Language::Da));
        assert_eq!(Language::from_locale("nb_NO"), Some(Language::Nb));
        assert_eq!(Language::from_locale("no"), Some(Language::Nb));
        assert_eq!(Language::from_locale("pt-BR"), None);
        let mut survey = SurveyDefinition::new("s".into());
        assert_eq!(
            survey.language_for(Some("de-AT")),
            Language::De,
            "every built-in language"
        );
        survey.languages = vec![Language::En, Language::Da];
        assert_eq!(survey.language_for(Some("da")), Language::Da);
        assert_eq!(survey.language_for(Some("de")), Language::En, "not offered: default");
        // A question customised in English only is not asked in Danish (it would be another).
        survey.texts.insert(
            Language::En,
            SurveyTexts {
                question: Some("How likely are you to recommend our clinic?".into()),
                ..SurveyTexts::default()
            },
        );
        assert_eq!(survey.language_for(Some("da")), Language::En);
        survey.texts.insert(
            Language::Da,
            SurveyTexts {
                question: Some("Hvor sandsynligt er det, at du vil anbefale vores klinik?".into()),
                ..SurveyTexts::default()
            },
        );
        assert_eq!(survey.language_for(Some("da")), Language::Da);
        assert_eq!(survey.spoken(), [Language::En, Language::Da]);
    }

    #[test]
    fn definitions_are_checked_whole() {
        let base = SurveyDefinition {
            languages: vec![Language::En],
            ..SurveyDefinition::new("s".into())
        };
        let patch = |json: serde_json::Value| base.patched(serde_json::from_value(json).unwrap());
        assert!(patch(serde_json::json!({"logo_url": "http://x.example/l.png"})).is_err());
        assert!(patch(serde_json::json!({"logo_url": "https://a@x.example/l.png"})).is_err());
        assert!(patch(serde_json::json!({"logo_url": "https://x.example/l\".png"})).is_err());
        assert!(patch(serde_json::json!({"brand_color": "red"})).is_err());
        assert!(
            patch(serde_json::json!({"texts": {"da": {"question": "Hej?"}}})).is_err(),
            "da not offered"
        );
        assert!(patch(serde_json::json!({"languages": ["da"], "texts": {"da": {"question": "Hej?"}}})).is_ok());
        let q = |kind: &str, choices: serde_json::Value| {
            patch(
                serde_json::json!({"questions": [{"id": "q1", "kind": kind, "text": {"en": "?"}, "choices": choices}]}),
            )
        };
        assert!(q("single", serde_json::json!([{"en": "a"}])).is_err(), "one choice");
        assert!(q("single", serde_json::json!([{"en": "a"}, {"en": "b"}])).is_ok());
        assert!(q("csat", serde_json::json!([{"en": "a"}, {"en": "b"}])).is_err());
        assert!(q("text", serde_json::json!([{"da": "a"}])).is_err());
        let done = patch(serde_json::json!({"close_at": 100, "reminder_days": null})).unwrap();
        assert!(!done.is_open(100) && done.is_open(99));
        assert_eq!(done.reminder_days, None);
        assert_eq!(
            origin_of("https://cdn.example:8443/a/b.png?x"),
            Some("https://cdn.example:8443")
        );
    }

    #[test]
    fn answers_are_parsed_by_kind() {
        let question = |kind, choices: usize| Question {
            id: "q".into(),
            kind,
            text: BTreeMap::from([(Language::En, "?".into())]),
            choices: (0..choices)
                .map(|i| BTreeMap::from([(Language::En, i.to_string())]))
                .collect(),
        };
        assert_eq!(
            question(QuestionKind::Csat, 0).answer(&["5"]).unwrap(),
            Some(Answer::Number(5))
        );
        assert!(question(QuestionKind::Csat, 0).answer(&["6"]).is_err());
        assert!(question(QuestionKind::Ces, 0).answer(&["7"]).is_ok());
        assert_eq!(question(QuestionKind::Text, 0).answer(&["  "]).unwrap(), None);
        assert_eq!(
            question(QuestionKind::Multiple, 3).answer(&["2", "0", "2"]).unwrap(),
            Some(Answer::Choices(vec![0, 2]))
        );
        assert!(question(QuestionKind::Single, 3).answer(&["3"]).is_err());
    }
}
