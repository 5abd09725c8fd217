//! Surveys of a tenant: create, read, change, archive, list, and the tenant's default survey
//! (made on first use), which Delighted-style calls that name no survey use. A definition is not
//! personal data and is stored as one JSON attribute, versioned against lost updates.
//!
//! A survey may be limited to teams (`teams`, an attribute of its own so lists of who sees what
//! read only it): editors and analysts see it, its results, responses and exports only when
//! they are in one of them (`crate::services::SurveyAccess`); every read a caller makes goes
//! through `visible`, `list_visible` or `visible_ids`, and a survey they do not see is not found.

use std::collections::BTreeSet;

use serde::Serialize;
use utoipa::ToSchema;

use crate::crypto::links::{Link, LinkKind};
use crate::domain::language::{LANGUAGES, Language};
use crate::domain::survey::{SurveyDefinition, SurveyPatch, SurveyStatus};
use crate::error::{Error, Result};
use crate::ids::{SurveyId, new_id};
use crate::services::accounts::tenants;
use crate::services::audit::{self, Target};
use crate::services::{Caller, SurveyAccess};
use crate::store::{Condition, Item, Query, TenantStore, TxOp, Value, keys, now_unix};

/// Surveys a tenant may have (archived ones included).
pub const MAX_SURVEYS: usize = 500;
/// Teams one survey may be limited to.
pub const MAX_TEAMS: usize = 20;
const DEFINITION: &str = "definition";
const TEAMS: &str = "teams";

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Survey {
    pub id: String,
    #[serde(flatten)]
    pub definition: SurveyDefinition,
    /// The survey used when a call names none.
    pub is_default: bool,
    /// The teams (ids) it is limited to: editors and analysts outside them do not see it.
    /// Empty: the whole workspace's.
    pub teams: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip)]
    version: i64,
}

impl Survey {
    fn to_item(&self, store: &TenantStore) -> Result<Item> {
        let doc = serde_json::to_string(&self.definition).map_err(Error::internal)?;
        let item = Item::new(keys::survey(store.tenant(), &self.id)?)
            .with(DEFINITION, doc)
            .with("is_default", self.is_default)
            .with("created_at", self.created_at)
            .with("updated_at", self.updated_at)
            .with("version", self.version + 1);
        Ok(match self.teams.is_empty() {
            true => item,
            false => item.with(TEAMS, Value::L(self.teams.iter().cloned().map(Value::S).collect())),
        })
    }

    pub(crate) fn from_item(item: &Item) -> Result<Survey> {
        let definition = serde_json::from_str(item.str(DEFINITION).unwrap_or_default()).map_err(Error::internal)?;
        Ok(Survey {
            id: item.key.sk.trim_start_matches(keys::SURVEY_PREFIX).to_owned(),
            definition,
            is_default: matches!(item.get("is_default"), Some(Value::Bool(true))),
            teams: teams_of(item)?,
            created_at: item.num("created_at").unwrap_or_default(),
            updated_at: item.num("updated_at").unwrap_or_default(),
            version: item.num("version").unwrap_or_default(),
        })
    }

    /// Whether `caller` sees it.
    pub fn seen_by(&self, caller: &Caller) -> bool {
        caller.surveys.sees(&self.teams)
    }

    /// The stored version: a change made from a form of this version is refused once another
    /// change came first.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// A survey made of `definition` and never stored: what a preview renders.
    pub(crate) fn unsaved(definition: SurveyDefinition) -> Survey {
        fresh(definition, false)
    }

    /// The token of the survey's shareable web link (`/s/{token}`).
    pub async fn web_link(&self, store: &TenantStore) -> Result<String> {
        Link {
            kind: LinkKind::Survey,
            tenant: store.tenant().clone(),
            survey: self.id.clone(),
            subject: self.id.clone(),
        }
        .token(store.crypto())
        .await
    }
}

/// The teams an item says its survey is limited to; an attribute that is not a list of ids is
/// an error, never read as none (which would open the survey to everyone).
fn teams_of(item: &Item) -> Result<Vec<String>> {
    match item.get(TEAMS) {
        None => Ok(Vec::new()),
        Some(Value::L(list)) => list
            .iter()
            .map(|v| match v {
                Value::S(id) => Ok(id.clone()),
                _ => Err(Error::internal("a survey's teams are not a list of ids")),
            })
            .collect(),
        Some(_) => Err(Error::internal("a survey's teams are not a list of ids")),
    }
}

fn fresh(definition: SurveyDefinition, is_default: bool) -> Survey {
    let now = now_unix();
    Survey {
        id: new_id(),
        definition,
        is_default,
        teams: Vec::new(),
        created_at: now,
        updated_at: now,
        version: 0,
    }
}

pub async fn get(store: &TenantStore, id: &str) -> Result<Option<Survey>> {
    let Ok(key) = keys::survey(store.tenant(), id) else {
        return Ok(None);
    };
    store.get(&key).await?.map(|i| Survey::from_item(&i)).transpose()
}

/// A survey as this process read it lately (`TenantStore::get_recent`): for what every visitor's
/// request of a website reads.
pub async fn get_recent(store: &TenantStore, id: &str) -> Result<Option<Survey>> {
    let Ok(key) = keys::survey(store.tenant(), id) else {
        return Ok(None);
    };
    store.get_recent(&key).await?.map(|i| Survey::from_item(&i)).transpose()
}

/// A survey `caller` sees, by id: one limited to teams they are not in is not found, as one
/// that does not exist.
pub async fn visible(store: &TenantStore, caller: &Caller, id: &str) -> Result<Survey> {
    get(store, id)
        .await?
        .filter(|s| s.seen_by(caller))
        .ok_or(Error::NotFound("survey"))
}

/// A survey `caller` sees by id, or the default survey (the whole workspace's) when `id` is
/// `None`.
pub async fn resolve_visible(store: &TenantStore, caller: &Caller, id: Option<&str>) -> Result<Survey> {
    match id {
        Some(id) => visible(store, caller, id).await,
        None => default(store).await,
    }
}

/// The ids of the surveys `caller` sees, archived ones too; `None` when they see every one.
/// One read of the surveys' teams only.
pub async fn visible_ids(store: &TenantStore, caller: &Caller) -> Result<Option<BTreeSet<String>>> {
    if caller.surveys == SurveyAccess::Every {
        return Ok(None);
    }
    let query = Query::new(keys::tenant_partition(store.tenant()))
        .prefix(keys::SURVEY_PREFIX)
        .only([TEAMS.to_owned()]);
    let items = store.query_all(query).await?;
    Ok(Some(
        items
            .iter()
            .filter(|item| teams_of(item).is_ok_and(|teams| caller.surveys.sees(&teams)))
            .map(|item| item.key.sk.trim_start_matches(keys::SURVEY_PREFIX).to_owned())
            .collect(),
    ))
}

/// A survey by id, or the default survey when `id` is `None`.
pub(crate) async fn resolve(store: &TenantStore, id: Option<&str>) -> Result<Survey> {
    match id {
        Some(id) => get(store, id).await?.ok_or(Error::NotFound("survey")),
        None => default(store).await,
    }
}

/// The tenant's default survey, made on first use (two first uses at once make one).
pub async fn default(store: &TenantStore) -> Result<Survey> {
    let pointer = keys::default_survey(store.tenant());
    for _ in 0..3 {
        if let Some(item) = store.get(&pointer).await?
            && let Some(survey) = get(store, item.str("survey").unwrap_or_default()).await?
        {
            return Ok(survey);
        }
        let offered = workspace_languages(store).await?;
        let survey = fresh(offering("Net Promoter Score".to_owned(), &offered), true);
        let ops = vec![
            TxOp::Put {
                item: Item::new(pointer.clone()).with("survey", survey.id.as_str()),
                condition: Some(Condition::NotExists),
            },
            TxOp::Put {
                item: survey.to_item(store)?,
                condition: Some(Condition::NotExists),
            },
        ];
        match store.transact(ops).await {
            Ok(()) => return Ok(survey),
            Err(Error::TransactionCanceled(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::internal("the default survey could not be made"))
}

/// A new survey offering `languages` (a workspace's), in English by default when it is one of
/// them, else in the first.
fn offering(name: String, languages: &[Language]) -> SurveyDefinition {
    let mut survey = SurveyDefinition::new(name);
    if let Some(first) = languages.first() {
        survey.languages = languages.to_vec();
        if !languages.contains(&Language::En) {
            survey.default_language = *first;
        }
    }
    survey
}

/// The languages the workspace's new surveys offer (its settings).
async fn workspace_languages(store: &TenantStore) -> Result<Vec<Language>> {
    let item = store.get(&keys::tenant(store.tenant())).await?;
    let tenant = item
        .map(|i| tenants::from_item(store.tenant().clone(), &i))
        .transpose()?;
    Ok(tenant.map_or_else(|| LANGUAGES.to_vec(), |t| t.settings.languages))
}

/// The surveys `caller` sees, oldest first; archived ones only when asked.
pub async fn list_visible(store: &TenantStore, caller: &Caller, archived: bool) -> Result<Vec<Survey>> {
    let mut surveys = list(store, archived).await?;
    surveys.retain(|s| s.seen_by(caller));
    Ok(surveys)
}

/// Every survey of the tenant, oldest first; archived ones only when asked.
pub(crate) async fn list(store: &TenantStore, archived: bool) -> Result<Vec<Survey>> {
    default(store).await?;
    let query = Query::new(keys::tenant_partition(store.tenant())).prefix(keys::SURVEY_PREFIX);
    let items = store.query_all(query).await?;
    items
        .iter()
        .map(Survey::from_item)
        .filter(|s| {
            s.as_ref()
                .map_or(true, |s| archived || s.definition.status != SurveyStatus::Archived)
        })
        .collect()
}

/// What creating (`id` none) or changing a survey with `patch` would make, its fields checked as
/// `create` and `update` check them (not the name's presence, nor archiving the default survey),
/// and not stored: what a preview shows.
pub async fn checked(
    store: &TenantStore,
    caller: &Caller,
    id: Option<&SurveyId>,
    patch: SurveyPatch,
) -> Result<SurveyDefinition> {
    match id {
        Some(id) => visible(store, caller, id.as_str()).await?.definition.patched(patch),
        None => offering(String::new(), &workspace_languages(store).await?).patched(patch),
    }
}

/// Makes a survey; one an editor in teams makes is limited to their teams unless they name
/// others of theirs, or none.
pub async fn create(store: &TenantStore, caller: &Caller, mut patch: SurveyPatch) -> Result<Survey> {
    if patch.name.is_none() {
        return Err(Error::invalid("name", "is required"));
    }
    let asked = match (patch.teams.take(), &caller.surveys) {
        (Some(asked), _) => Some(asked),
        (None, SurveyAccess::TeamsOf(mine)) if mine.len() > MAX_TEAMS => {
            return Err(Error::invalid(
                TEAMS,
                format!("you are in more than {MAX_TEAMS} teams: name those (at most {MAX_TEAMS}) to limit it to"),
            ));
        }
        (None, SurveyAccess::TeamsOf(mine)) => Some(mine.iter().cloned().collect()),
        (None, SurveyAccess::Every) => None,
    };
    let teams = limited_to(store, caller, &[], asked, false).await?;
    let definition = checked(store, caller, None, patch).await?;
    let count = store
        .query_all(Query::new(keys::tenant_partition(store.tenant())).prefix(keys::SURVEY_PREFIX))
        .await?
        .len();
    if count >= MAX_SURVEYS {
        return Err(Error::invalid(
            "name",
            format!("a tenant has at most {MAX_SURVEYS} surveys"),
        ));
    }
    let survey = Survey {
        teams,
        ..fresh(definition, false)
    };
    let change = vec![TxOp::Put {
        item: survey.to_item(store)?,
        condition: Some(Condition::NotExists),
    }];
    audit::commit(
        store,
        caller,
        change,
        "survey.created",
        Target::Survey(survey.id.clone()),
    )
    .await?;
    Ok(survey)
}

/// Applies a change, refusing (409) when the survey changed since it was read, and (422) when it
/// is no longer the version `seen` the change was made from (a form's).
pub async fn update(
    store: &TenantStore,
    caller: &Caller,
    id: &SurveyId,
    patch: SurveyPatch,
    seen: Option<i64>,
) -> Result<Survey> {
    let mut patch = patch;
    let mut survey = visible(store, caller, id.as_str()).await?;
    if seen.is_some_and(|v| v != survey.version) {
        return Err(Error::invalid(
            "version",
            "the survey was changed by someone else since this form was opened; open it again to see their change",
        ));
    }
    let asked = patch.teams.take();
    survey.teams = limited_to(store, caller, &survey.teams, asked, survey.is_default).await?;
    let next = survey.definition.patched(patch)?;
    if survey.is_default && next.status == SurveyStatus::Archived {
        return Err(Error::invalid(
            "status",
            "the default survey cannot be archived; close it instead",
        ));
    }
    survey.definition = next;
    survey.updated_at = now_unix();
    let condition = Condition::eq("version", survey.version);
    let action = if survey.definition.status == SurveyStatus::Archived {
        "survey.archived"
    } else {
        "survey.updated"
    };
    // A lost race is a 409: the caller reads the survey again.
    let change = vec![TxOp::Put {
        item: survey.to_item(store)?,
        condition: Some(condition),
    }];
    audit::commit(store, caller, change, action, Target::Survey(survey.id.clone())).await?;
    survey.version += 1;
    Ok(survey)
}

/// The teams a survey is limited to after a change asking for `asked` (`None`: as they are):
/// at most `MAX_TEAMS`, each one added a team of the workspace, none for the default survey.
/// A caller who sees surveys by their teams adds and removes only teams they are in, and does
/// not open a limited survey to the whole workspace.
async fn limited_to(
    store: &TenantStore,
    caller: &Caller,
    current: &[String],
    asked: Option<Vec<String>>,
    is_default: bool,
) -> Result<Vec<String>> {
    let Some(asked) = asked else {
        return Ok(current.to_vec());
    };
    let asked: BTreeSet<String> = asked.into_iter().map(|t| t.trim().to_owned()).collect();
    let current: BTreeSet<String> = current.iter().cloned().collect();
    if asked == current {
        return Ok(asked.into_iter().collect());
    }
    if is_default && !asked.is_empty() {
        return Err(Error::invalid(
            TEAMS,
            "the default survey answers the calls that name no survey: it stays the whole workspace's",
        ));
    }
    if asked.len() > MAX_TEAMS {
        return Err(Error::invalid(
            TEAMS,
            format!("a survey is limited to at most {MAX_TEAMS} teams"),
        ));
    }
    let added: Vec<&String> = asked.difference(&current).collect();
    let known = team_ids(store).await?;
    if let Some(unknown) = added.iter().find(|t| !known.contains(**t)) {
        return Err(Error::invalid(
            TEAMS,
            format!(
                "{:?} is not a team of this workspace",
                unknown.chars().take(64).collect::<String>()
            ),
        ));
    }
    if let SurveyAccess::TeamsOf(mine) = &caller.surveys {
        // A team since deleted may go by anyone's hand.
        let changed_others = added
            .iter()
            .copied()
            .chain(current.difference(&asked).filter(|t| known.contains(*t)))
            .any(|t| !mine.contains(t));
        if changed_others {
            return Err(Error::Forbidden {
                code: "team_not_yours",
                reason: "you may only add or remove the teams you are in; an admin can change the others",
            });
        }
        if asked.is_empty() && !current.is_empty() {
            return Err(Error::Forbidden {
                code: "team_not_yours",
                reason: "only an admin or owner can open a survey limited to teams to the whole workspace",
            });
        }
    }
    Ok(asked.into_iter().collect())
}

/// The ids of the workspace's teams (`accounts::teams` keeps them; read here by their keys
/// alone, so that surveys need nothing of users).
async fn team_ids(store: &TenantStore) -> Result<BTreeSet<String>> {
    let query = Query::new(keys::tenant_partition(store.tenant()))
        .prefix(keys::TEAM_PREFIX)
        .only(["id".to_owned()]);
    Ok(store
        .query_all(query)
        .await?
        .iter()
        .map(|item| item.key.sk.trim_start_matches(keys::TEAM_PREFIX).to_owned())
        .collect())
}

/// Archives a survey: it takes no answers and leaves lists; its responses stay.
pub async fn archive(store: &TenantStore, caller: &Caller, id: &SurveyId) -> Result<Survey> {
    let patch = SurveyPatch {
        status: Some(SurveyStatus::Archived),
        ..SurveyPatch::default()
    };
    update(store, caller, id, patch, None).await
}
