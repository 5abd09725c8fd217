//! Responses as the API shows and takes them: Delighted's shapes (the view, with its person and
//! additional answers when asked; the body of `POST` and `PUT`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::survey::{Answer, QuestionKind};
use crate::domain::{Channel, Language, Properties, Score};
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::people::person::{self, Person, PersonView};
use crate::services::results::response_record::{COMMENT, NOTES, Note, PROPERTIES, ResponseRecord, comment};
use crate::services::results::responses::{NewResponse, ResponseChange};
use crate::services::surveys::{self, Survey};
use crate::store::TenantStore;

/// An answer to an additional question, as Delighted shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AdditionalAnswer {
    pub id: String,
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    #[schema(value_type = Object)]
    pub question: serde_json::Value,
}

/// A response as Delighted's API shows one.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ResponseView {
    pub id: String,
    /// The person's id, or the person when `expand[]=person`; null once the person was deleted.
    #[schema(value_type = Object)]
    pub person: serde_json::Value,
    pub survey_type: &'static str,
    pub survey_id: String,
    pub score: u8,
    pub comment: Option<String>,
    pub permalink: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[schema(value_type = Object)]
    pub person_properties: Option<Properties>,
    pub notes: Vec<Note>,
    pub tags: Vec<String>,
    pub additional_answers: Vec<AdditionalAnswer>,
    pub channel: Channel,
    pub language: Language,
}

impl ResponseRecord {
    /// The API's view; `survey` gives the questions' texts, `person` the expanded person.
    pub fn view(&self, base: &str, survey: Option<&Survey>, person: Option<PersonView>) -> ResponseView {
        let person_json = match (person, &self.person) {
            (Some(p), _) => serde_json::to_value(p).unwrap_or_default(),
            (None, Some(id)) => serde_json::Value::String(id.clone()),
            (None, None) => serde_json::Value::Null,
        };
        ResponseView {
            id: self.id.clone(),
            person: person_json,
            survey_type: "nps",
            survey_id: self.survey.clone(),
            score: self.score.value(),
            comment: self.comment.clone(),
            // The response's page in the web app.
            permalink: format!("{base}/responses/{}", self.id),
            created_at: self.created_at,
            updated_at: self.updated_at,
            person_properties: (!self.person_properties.is_empty()).then(|| self.person_properties.clone()),
            notes: self.notes.clone(),
            tags: self.tags.clone(),
            additional_answers: self.additional_answers(survey),
            channel: self.channel,
            language: self.language,
        }
    }

    fn additional_answers(&self, survey: Option<&Survey>) -> Vec<AdditionalAnswer> {
        use serde_json::json;
        let questions = survey.map(|s| s.definition.questions.as_slice()).unwrap_or_default();
        let default = survey.map_or(Language::En, |s| s.definition.default_language);
        let text = |m: &BTreeMap<Language, String>| m.get(&default).cloned().unwrap_or_default();
        self.answers
            .iter()
            .map(|(id, answer)| {
                let q = questions.iter().find(|q| q.id == *id);
                let choice = |i: &u8| {
                    let t = q.and_then(|q| q.choices.get(*i as usize)).map(text);
                    json!({"id": i.to_string(), "text": t})
                };
                let value = match (q.map(|q| q.kind), answer) {
                    (_, Answer::Text(t)) => json!({"free_response": t}),
                    (Some(QuestionKind::Single), Answer::Number(i)) => json!({"select_one": choice(i)}),
                    (_, Answer::Number(n)) => json!({"scale": n}),
                    (_, Answer::Choices(list)) => json!({"select_many": list.iter().map(choice).collect::<Vec<_>>()}),
                };
                let question = q.map_or(
                    serde_json::Value::Null,
                    |q| json!({"id": q.id, "type": q.kind, "text": text(&q.text)}),
                );
                AdditionalAnswer {
                    id: id.clone(),
                    value,
                    question,
                }
            })
            .collect()
    }
}

/// The body of Delighted's `POST` and `PUT /v1/survey_responses` (JSON or form). A `PUT` from
/// Delighted's clients sends the whole response back: its read-only fields are accepted and
/// ignored.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseRequest {
    /// The person's id (or the person object, as `save()` sends it).
    #[schema(value_type = Option<String>)]
    pub person: Option<serde_json::Value>,
    #[schema(value_type = Option<i64>)]
    pub score: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    pub comment: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub person_properties: Option<serde_json::Value>,
    /// Unix time of the answer (POST only; default now).
    #[schema(value_type = Option<i64>)]
    pub created_at: Option<serde_json::Value>,
    /// Ovation's survey id (`trend` is Delighted's name for it); the default survey when absent.
    pub survey_id: Option<String>,
    pub trend: Option<String>,
    /// Notes: text, or `{id, text}` to keep (and edit) an existing one; the list replaces.
    #[schema(value_type = Option<Vec<Object>>)]
    pub notes: Option<serde_json::Value>,
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub id: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub survey_type: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub permalink: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub updated_at: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub additional_answers: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub channel: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub language: Option<serde_json::Value>,
}

fn score_of(value: &serde_json::Value) -> Result<Score> {
    Score::new(crate::domain::loose::int("score", value)?)
}

impl ResponseRequest {
    pub fn into_new(self) -> Result<NewResponse> {
        let person = match self.person.as_ref() {
            Some(serde_json::Value::Object(p)) => p.get("id").and_then(|v| v.as_str()).map(str::to_owned),
            Some(v) => crate::domain::loose::text("person", v)?,
            None => None,
        }
        .ok_or_else(|| Error::invalid("person", "is required (the person's id)"))?;
        let score = score_of(
            self.score
                .as_ref()
                .ok_or_else(|| Error::invalid("score", "is required"))?,
        )?;
        let comment = match &self.comment {
            Some(v) => comment(crate::domain::loose::text(COMMENT, v)?.as_deref())?,
            None => None,
        };
        Ok(NewResponse {
            person,
            score,
            comment,
            person_properties: self
                .person_properties
                .as_ref()
                .map(|v| Properties::from_json(PROPERTIES, v))
                .transpose()?,
            created_at: self
                .created_at
                .as_ref()
                .map(|v| crate::domain::loose::unix_time("created_at", v))
                .transpose()?,
            survey: self.survey_id.or(self.trend),
        })
    }

    pub fn into_change(self) -> Result<ResponseChange> {
        let notes = match &self.notes {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(list)) => Some(
                list.iter()
                    .map(|n| match n {
                        serde_json::Value::String(t) => Ok((None, t.clone())),
                        serde_json::Value::Object(o) => Ok((
                            o.get("id").and_then(|v| v.as_str()).map(str::to_owned),
                            o.get("text").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
                        )),
                        _ => Err(Error::invalid(NOTES, "each note is text or {id, text}")),
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(Error::invalid(NOTES, "must be a list")),
        };
        let tags = match &self.tags {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(list)) => Some(
                list.iter()
                    .map(|t| {
                        t.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| Error::invalid("tags", "each tag is text"))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(Error::invalid("tags", "must be a list of text")),
        };
        Ok(ResponseChange {
            score: self.score.as_ref().map(score_of).transpose()?,
            comment: self
                .comment
                .as_ref()
                .map(|v| comment(crate::domain::loose::text(COMMENT, v)?.as_deref()))
                .transpose()?,
            person_properties: match &self.person_properties {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(Properties::from_json(PROPERTIES, v)?),
            },
            notes,
            tags,
        })
    }
}

/// The API's view of responses: each with its survey's questions and, when asked, its person
/// as `caller` sees them (each survey and person read once per page).
pub async fn views(
    store: &TenantStore,
    caller: &Caller,
    base: &str,
    records: &[ResponseRecord],
    expand_person: bool,
) -> Result<Vec<ResponseView>> {
    let mut surveys: BTreeMap<String, Option<Survey>> = BTreeMap::new();
    let mut persons: BTreeMap<String, Option<Person>> = BTreeMap::new();
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if !surveys.contains_key(&r.survey) {
            surveys.insert(r.survey.clone(), surveys::get(store, &r.survey).await?);
        }
        if expand_person
            && let Some(p) = &r.person
            && !persons.contains_key(p)
        {
            persons.insert(p.clone(), person::load(store, p).await?);
        }
        let survey = surveys.get(&r.survey).and_then(Option::as_ref);
        let person = r.person.as_ref().and_then(|p| persons.get(p)).and_then(Option::as_ref);
        out.push(r.view(base, survey, person.map(|p| p.view().seen_by(caller))));
    }
    Ok(out)
}
