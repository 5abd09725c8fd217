//! The survey form as typed: every field as text (`Draft`), made from a stored survey, read from a
//! posted form, changed by the form's buttons (add, move, remove a question) and turned into the
//! `SurveyPatch` the API takes, whose checks are the services' own. Nothing here is a rule of its
//! own: a draft that does not make a valid patch is refused by the same checks as the API's.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use ovation::domain::language::{LANGUAGES, Language};
use ovation::domain::survey::{
    MAX_QUESTIONS, Question, QuestionKind, SurveyDefinition, SurveyPatch, SurveyStatus, SurveyTexts,
};
use ovation::domain::texts::texts;
use ovation::{Error, Result};
use serde::Serialize;

use crate::page::PageForm;

/// How `close_at` is typed: a `datetime-local` in UTC, to the second.
const CLOSE_AT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// One additional question as typed: its texts by language, its choices one per line.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftQuestion {
    pub id: String,
    pub kind: QuestionKind,
    pub text: BTreeMap<Language, String>,
    pub choices: BTreeMap<Language, String>,
}

/// A survey as its form holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub name: String,
    pub status: SurveyStatus,
    pub close_at: String,
    pub default_language: Language,
    /// The languages offered, in `LANGUAGES`' order.
    pub languages: Vec<Language>,
    /// The question, comment prompt and thanks by language; blank is the built-in text.
    pub texts: BTreeMap<Language, [String; 3]>,
    pub questions: Vec<DraftQuestion>,
    pub sender_name: String,
    pub reply_to: String,
    pub brand_color: String,
    pub logo_url: String,
    pub throttle_days: String,
    pub reminder_days: String,
    pub link_days: String,
    pub segments: String,
    /// The teams (ids) ticked, when the form shows them (`teams_shown`); `None` leaves the
    /// survey's as they are.
    pub teams: Option<BTreeSet<String>>,
}

/// A change the form's buttons make without saving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    Add(QuestionKind),
    Up(usize),
    Down(usize),
    Remove(usize),
    /// Show the fields of the languages ticked.
    Languages,
}

impl Edit {
    /// The edit a form's `op` names (`add`, `up:2`, `down:0`, `remove:1`, `languages`), if any;
    /// `save` and nothing are none.
    pub fn of(form: &PageForm) -> Result<Option<Edit>> {
        let op = form.get("op");
        let index = |n: &str| {
            n.parse::<usize>()
                .map_err(|_| Error::invalid("op", "names no question"))
        };
        Ok(Some(match op.split_once(':') {
            _ if op.is_empty() || op == "save" => return Ok(None),
            None if op == "add" => Edit::Add(kind_of(form.get("add_kind"))?),
            None if op == "languages" => Edit::Languages,
            Some(("up", n)) => Edit::Up(index(n)?),
            Some(("down", n)) => Edit::Down(index(n)?),
            Some(("remove", n)) => Edit::Remove(index(n)?),
            _ => return Err(Error::invalid("op", "must be save, add, up, down, remove or languages")),
        }))
    }
}

/// The kinds of additional questions, as the form names them.
pub const KINDS: [(QuestionKind, &str, &str); 5] = [
    (QuestionKind::Csat, "csat", "Satisfaction, 1 to 5 (CSAT)"),
    (QuestionKind::Ces, "ces", "Effort, 1 to 7 (CES)"),
    (QuestionKind::Text, "text", "Free text"),
    (QuestionKind::Single, "single", "One choice"),
    (QuestionKind::Multiple, "multiple", "Several choices"),
];

fn kind_of(code: &str) -> Result<QuestionKind> {
    KINDS
        .iter()
        .find(|(_, c, _)| *c == code)
        .map(|(k, _, _)| *k)
        .ok_or_else(|| Error::invalid("questions.kind", "must be csat, ces, text, single or multiple"))
}

fn kind_code(kind: QuestionKind) -> &'static str {
    KINDS.iter().find(|(k, _, _)| *k == kind).map_or("text", |(_, c, _)| c)
}

fn status_code(status: SurveyStatus) -> &'static str {
    match status {
        SurveyStatus::Active => "active",
        SurveyStatus::Closed => "closed",
        SurveyStatus::Archived => "archived",
    }
}

fn language_of(code: &str) -> Result<Language> {
    LANGUAGES
        .into_iter()
        .find(|l| l.code() == code)
        .ok_or_else(|| Error::invalid("default_language", "must be one of the languages offered"))
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

fn days(field: &'static str, text: &str) -> Result<u32> {
    text.trim()
        .parse::<u32>()
        .map_err(|_| Error::invalid(field, "must be a whole number of days"))
}

impl Draft {
    /// The form of a stored (or new) survey.
    pub fn of(survey: &SurveyDefinition) -> Draft {
        let choices = |q: &Question, l: Language| {
            q.choices
                .iter()
                .map(|c| c.get(&l).cloned().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
                .trim_end()
                .to_owned()
        };
        Draft {
            name: survey.name.clone(),
            status: survey.status,
            close_at: survey
                .close_at
                .and_then(|t| Timestamp::from_second(t).ok())
                .map(|t| t.strftime(CLOSE_AT_FORMAT).to_string())
                .unwrap_or_default(),
            default_language: survey.default_language,
            languages: survey.languages.clone(),
            texts: survey
                .texts
                .iter()
                .map(|(l, t)| {
                    let own = |t: &Option<String>| t.clone().unwrap_or_default();
                    (*l, [own(&t.question), own(&t.comment), own(&t.thanks)])
                })
                .collect(),
            questions: survey
                .questions
                .iter()
                .map(|q| DraftQuestion {
                    id: q.id.clone(),
                    kind: q.kind,
                    text: q.text.clone(),
                    choices: survey.languages.iter().map(|l| (*l, choices(q, *l))).collect(),
                })
                .collect(),
            sender_name: survey.sender_name.clone().unwrap_or_default(),
            reply_to: survey.reply_to.clone().unwrap_or_default(),
            brand_color: survey.brand_color.clone(),
            logo_url: survey.logo_url.clone().unwrap_or_default(),
            throttle_days: survey.throttle_days.to_string(),
            reminder_days: survey.reminder_days.map(|d| d.to_string()).unwrap_or_default(),
            link_days: survey.link_days.to_string(),
            segments: survey.segments.join(", "),
            teams: None,
        }
    }

    /// The form as posted. Texts are read for the languages ticked; the questions are those the
    /// form numbered (`question_count`), at most `MAX_QUESTIONS` and one more being refused.
    pub fn from_form(form: &PageForm) -> Result<Draft> {
        let default_language = language_of(form.get("default_language"))?;
        let languages: Vec<Language> = LANGUAGES
            .into_iter()
            .filter(|l| !form.get(&format!("lang_{}", l.code())).is_empty() || *l == default_language)
            .collect();
        let count: usize = form
            .get("question_count")
            .parse()
            .map_err(|_| Error::invalid("question_count", "must be the number of questions in the form"))?;
        if count > MAX_QUESTIONS {
            return Err(Error::invalid(
                "questions",
                format!("at most {MAX_QUESTIONS} questions"),
            ));
        }
        let by_language = |name: &dyn Fn(Language) -> String| -> BTreeMap<Language, String> {
            languages.iter().map(|l| (*l, form.get(&name(*l)).to_owned())).collect()
        };
        let questions = (0..count)
            .map(|i| {
                Ok(DraftQuestion {
                    id: form.get(&format!("q{i}_id")).trim().to_owned(),
                    kind: kind_of(form.get(&format!("q{i}_kind")))?,
                    text: by_language(&|l| format!("q{i}_text_{}", l.code())),
                    choices: by_language(&|l| format!("q{i}_choices_{}", l.code())),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let status = match form.get("status") {
            "closed" => SurveyStatus::Closed,
            "archived" => SurveyStatus::Archived,
            "active" => SurveyStatus::Active,
            _ => return Err(Error::invalid("status", "must be active, closed or archived")),
        };
        Ok(Draft {
            name: form.get("name").to_owned(),
            status,
            close_at: form.get("close_at").trim().to_owned(),
            default_language,
            texts: languages
                .iter()
                .map(|l| {
                    let field = |name: &str| form.get(&format!("{name}_{}", l.code())).to_owned();
                    (*l, [field("question"), field("comment"), field("thanks")])
                })
                .collect(),
            languages,
            questions,
            sender_name: form.get("sender_name").to_owned(),
            reply_to: form.get("reply_to").to_owned(),
            brand_color: form.get("brand_color").to_owned(),
            logo_url: form.get("logo_url").to_owned(),
            throttle_days: form.get("throttle_days").to_owned(),
            reminder_days: form.get("reminder_days").to_owned(),
            link_days: form.get("link_days").to_owned(),
            segments: form.get("segments").to_owned(),
            teams: (form.get("teams_shown") == "1").then(|| {
                form.0
                    .iter()
                    .filter(|(_, ticked)| !ticked.is_empty())
                    .filter_map(|(name, _)| name.strip_prefix("team_"))
                    .map(str::to_owned)
                    .collect()
            }),
        })
    }

    /// Applies a button's change; one that names no question changes nothing.
    pub fn edit(&mut self, edit: Edit) -> Result<()> {
        let last = self.questions.len().saturating_sub(1);
        match edit {
            Edit::Add(_) if self.questions.len() >= MAX_QUESTIONS => {
                return Err(Error::invalid(
                    "questions",
                    format!("at most {MAX_QUESTIONS} questions"),
                ));
            }
            Edit::Add(kind) => {
                let base = kind_code(kind);
                let taken = |id: &str| self.questions.iter().any(|q| q.id == id);
                // At most ten questions: one of the first eleven ids is free.
                let id = (1..=MAX_QUESTIONS + 1)
                    .map(|n| if n == 1 { base.to_owned() } else { format!("{base}_{n}") })
                    .find(|id| !taken(id))
                    .unwrap_or_else(|| base.to_owned());
                self.questions.push(DraftQuestion {
                    id,
                    kind,
                    text: BTreeMap::new(),
                    choices: BTreeMap::new(),
                });
            }
            Edit::Up(i) if i > 0 && i <= last => self.questions.swap(i - 1, i),
            Edit::Down(i) if i < last => self.questions.swap(i, i + 1),
            Edit::Remove(i) if i <= last && !self.questions.is_empty() => {
                self.questions.remove(i);
            }
            Edit::Up(_) | Edit::Down(_) | Edit::Remove(_) | Edit::Languages => {}
        }
        Ok(())
    }

    /// The change the draft asks for, every field set: what `PATCH /v1/surveys/{id}` would get.
    pub fn patch(&self) -> Result<SurveyPatch> {
        let texts = self
            .texts
            .iter()
            .map(|(l, [question, comment, thanks])| {
                let own = SurveyTexts {
                    question: optional(question),
                    comment: optional(comment),
                    thanks: optional(thanks),
                };
                (*l, own)
            })
            .filter(|(_, t)| *t != SurveyTexts::default())
            .collect();
        let close_at = optional(&self.close_at)
            .map(|t| {
                t.parse::<DateTime>()
                    .ok()
                    .and_then(|d| d.to_zoned(TimeZone::UTC).ok())
                    .map(|z| z.timestamp().as_second())
                    .ok_or_else(|| Error::invalid("close_at", "must be a date and time (UTC)"))
            })
            .transpose()?;
        let reminder_days = optional(&self.reminder_days)
            .map(|d| days("reminder_days", &d))
            .transpose()?;
        Ok(SurveyPatch {
            name: Some(self.name.clone()),
            status: Some(self.status),
            close_at: Some(close_at),
            default_language: Some(self.default_language),
            languages: Some(self.languages.clone()),
            texts: Some(texts),
            questions: Some(self.questions.iter().map(DraftQuestion::question).collect()),
            sender_name: Some(optional(&self.sender_name)),
            reply_to: Some(optional(&self.reply_to)),
            brand_color: Some(self.brand_color.clone()),
            logo_url: Some(optional(&self.logo_url)),
            throttle_days: Some(days("throttle_days", &self.throttle_days)?),
            reminder_days: Some(reminder_days),
            link_days: Some(days("link_days", &self.link_days)?),
            segments: Some(self.segments.split([',', '\n']).filter_map(optional).collect()),
            teams: self.teams.as_ref().map(|t| t.iter().cloned().collect()),
        })
    }

    /// What the template shows: every field, the languages with their built-in texts as
    /// placeholders, each question with its texts in each language.
    pub fn view(&self) -> DraftView {
        let chosen = || self.languages.iter().map(|l| LanguageName::of(*l));
        DraftView {
            name: self.name.clone(),
            status: status_code(self.status),
            close_at: self.close_at.clone(),
            default_language: self.default_language.code(),
            offered: LANGUAGES
                .into_iter()
                .map(|l| Offered {
                    language: LanguageName::of(l),
                    checked: self.languages.contains(&l),
                    default: l == self.default_language,
                })
                .collect(),
            texts: self
                .languages
                .iter()
                .map(|l| {
                    let own = self.texts.get(l).cloned().unwrap_or_default();
                    let built_in = texts(*l);
                    TextsView {
                        language: LanguageName::of(*l),
                        question: own[0].clone(),
                        comment: own[1].clone(),
                        thanks: own[2].clone(),
                        built_in: [built_in.question, built_in.comment, built_in.thanks],
                    }
                })
                .collect(),
            questions: self
                .questions
                .iter()
                .enumerate()
                .map(|(index, q)| QuestionView {
                    index,
                    id: q.id.clone(),
                    kind: kind_code(q.kind),
                    has_choices: matches!(q.kind, QuestionKind::Single | QuestionKind::Multiple),
                    last: index + 1 == self.questions.len(),
                    texts: chosen()
                        .map(|language| QuestionTexts {
                            text: q.text.get(&language.language).cloned().unwrap_or_default(),
                            choices: q.choices.get(&language.language).cloned().unwrap_or_default(),
                            language,
                        })
                        .collect(),
                })
                .collect(),
            sender_name: self.sender_name.clone(),
            reply_to: self.reply_to.clone(),
            brand_color: self.brand_color.clone(),
            logo_url: self.logo_url.clone(),
            throttle_days: self.throttle_days.clone(),
            reminder_days: self.reminder_days.clone(),
            link_days: self.link_days.clone(),
            segments: self.segments.clone(),
            room: self.questions.len() < MAX_QUESTIONS,
        }
    }
}

impl DraftQuestion {
    /// The question the API takes: its choices split into lines, the n-th line of each language
    /// being the n-th choice (a blank line: no text in that language; blank lines at the end
    /// are no choices).
    fn question(&self) -> Question {
        let lines: BTreeMap<Language, Vec<&str>> = self
            .choices
            .iter()
            .map(|(l, text)| (*l, text.trim_end().lines().map(str::trim).collect()))
            .collect();
        let count = lines.values().map(Vec::len).max().unwrap_or(0);
        let choices = (0..count)
            .map(|n| {
                lines
                    .iter()
                    .filter_map(|(l, texts)| texts.get(n).filter(|t| !t.is_empty()).map(|t| (*l, (*t).to_owned())))
                    .collect()
            })
            .collect();
        Question {
            id: self.id.clone(),
            kind: self.kind,
            text: self
                .text
                .iter()
                .filter(|(_, t)| !t.trim().is_empty())
                .map(|(l, t)| (*l, t.clone()))
                .collect(),
            choices,
        }
    }
}

#[derive(Serialize)]
pub struct LanguageName {
    #[serde(rename = "code", serialize_with = "code")]
    pub language: Language,
    pub name: &'static str,
}

fn code<S: serde::Serializer>(l: &Language, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(l.code())
}

impl LanguageName {
    pub fn of(language: Language) -> LanguageName {
        LanguageName {
            language,
            name: language.name(),
        }
    }
}

#[derive(Serialize)]
pub struct Offered {
    #[serde(flatten)]
    language: LanguageName,
    checked: bool,
    default: bool,
}

#[derive(Serialize)]
pub struct TextsView {
    #[serde(flatten)]
    language: LanguageName,
    question: String,
    comment: String,
    thanks: String,
    built_in: [&'static str; 3],
}

#[derive(Serialize)]
pub struct QuestionTexts {
    #[serde(flatten)]
    language: LanguageName,
    text: String,
    choices: String,
}

#[derive(Serialize)]
pub struct QuestionView {
    index: usize,
    id: String,
    kind: &'static str,
    has_choices: bool,
    last: bool,
    texts: Vec<QuestionTexts>,
}

#[derive(Serialize)]
pub struct DraftView {
    name: String,
    status: &'static str,
    close_at: String,
    default_language: &'static str,
    offered: Vec<Offered>,
    texts: Vec<TextsView>,
    questions: Vec<QuestionView>,
    sender_name: String,
    reply_to: String,
    brand_color: String,
    logo_url: String,
    throttle_days: String,
    reminder_days: String,
    link_days: String,
    segments: String,
    /// Whether another question fits.
    room: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> PageForm {
        PageForm(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn a_stored_survey_comes_back_the_same_through_its_form() {
        let mut survey = SurveyDefinition::new("Onboarding".into());
        let patch: SurveyPatch = serde_json::from_value(serde_json::json!({
            "languages": ["en", "fr"],
            "texts": {"fr": {"question": "Recommanderiez-vous {{ product_name }} ?"}},
            "questions": [{"id": "plan", "kind": "single",
                "text": {"en": "Your plan?", "fr": "Votre offre ?"},
                "choices": [{"en": "Free"}, {"en": "Paid", "fr": "Payante"}, {"en": "Team", "fr": "Équipe"}]}],
            "close_at": 1_900_000_050, "reminder_days": null, "segments": ["plan", "region"],
            "sender_name": "Acme", "logo_url": "https://cdn.example/logo.png"
        }))
        .unwrap();
        survey = survey.patched(patch).unwrap();
        let draft = Draft::of(&survey);
        assert_eq!(
            draft.questions[0].choices[&Language::Fr],
            "\nPayante\nÉquipe",
            "each in its place"
        );
        let again = SurveyDefinition::new("x".into())
            .patched(draft.patch().unwrap())
            .unwrap();
        assert_eq!(again, survey, "the same survey");
    }

    #[test]
    fn the_buttons_add_move_and_remove_questions() {
        let mut draft = Draft::of(&SurveyDefinition::new("S".into()));
        draft.edit(Edit::Add(QuestionKind::Csat)).unwrap();
        draft.edit(Edit::Add(QuestionKind::Csat)).unwrap();
        draft.edit(Edit::Add(QuestionKind::Text)).unwrap();
        let ids = |d: &Draft| d.questions.iter().map(|q| q.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&draft), ["csat", "csat_2", "text"]);
        draft.edit(Edit::Up(2)).unwrap();
        draft.edit(Edit::Up(0)).unwrap();
        draft.edit(Edit::Down(2)).unwrap();
        assert_eq!(ids(&draft), ["csat", "text", "csat_2"]);
        draft.edit(Edit::Remove(0)).unwrap();
        draft.edit(Edit::Remove(7)).unwrap();
        assert_eq!(ids(&draft), ["text", "csat_2"]);
        for _ in 0..8 {
            draft.edit(Edit::Add(QuestionKind::Ces)).unwrap();
        }
        assert!(draft.edit(Edit::Add(QuestionKind::Ces)).is_err(), "ten at most");
    }

    #[test]
    fn a_posted_form_reads_the_ticked_languages_and_numbered_questions() {
        let posted = form(&[
            ("name", "NPS"),
            ("status", "active"),
            ("default_language", "fr"),
            ("lang_de", "on"),
            ("question_fr", "Q?"),
            ("question_nl", "not offered, not read"),
            ("question_count", "1"),
            ("q0_id", "why"),
            ("q0_kind", "multiple"),
            ("q0_text_fr", "Pourquoi ?"),
            ("q0_choices_fr", "Prix\n Service \n\n"),
            ("q0_choices_de", "Preis"),
            ("brand_color", "#112233"),
            ("throttle_days", "30"),
            ("link_days", "90"),
            ("segments", "plan, region\nteam"),
            ("teams_shown", "1"),
            ("team_t1", "on"),
            ("team_t2", ""),
            ("op", "down:0"),
        ]);
        let draft = Draft::from_form(&posted).unwrap();
        assert_eq!(draft.languages, [Language::De, Language::Fr]);
        assert_eq!(Edit::of(&posted).unwrap(), Some(Edit::Down(0)));
        let patch = draft.patch().unwrap();
        let question = &patch.questions.as_ref().unwrap()[0];
        assert_eq!(question.choices.len(), 2);
        assert_eq!(
            question.choices[1],
            BTreeMap::from([(Language::Fr, "Service".to_owned())])
        );
        assert_eq!(patch.segments.unwrap(), ["plan", "region", "team"]);
        assert_eq!(patch.teams.unwrap(), ["t1"], "the teams ticked");
        assert_eq!(patch.reminder_days, Some(None), "blank is no reminder");
        let wrong = form(&[("default_language", "xx")]);
        assert!(Draft::from_form(&wrong).is_err());
        let many = form(&[
            ("default_language", "en"),
            ("status", "active"),
            ("question_count", "11"),
        ]);
        assert!(Draft::from_form(&many).is_err(), "no more questions than a survey has");
        let without_teams = form(&[
            ("default_language", "en"),
            ("status", "active"),
            ("question_count", "0"),
        ]);
        assert_eq!(
            Draft::from_form(&without_teams).unwrap().teams,
            None,
            "a form without teams keeps them"
        );
        let mut days = draft.clone();
        days.throttle_days = "soon".into();
        assert_eq!(
            days.patch().unwrap_err().to_string(),
            Error::invalid("throttle_days", "must be a whole number of days").to_string()
        );
    }
}
