//! Delighted's autopilot: members of a platform (email or SMS) are surveyed again every
//! `frequency` seconds. Per platform the tenant keeps a configuration (active, frequency, the
//! survey) and its members, each with their next invitation. A member's first invitation is
//! scheduled when they join (or when autopilot is switched on); each next one in the same write
//! that records the previous one sent or skipped, so a crash never loses the recurrence.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Channel, Email, Phone, Properties};
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::audit::{self, Target};
use crate::services::people::person::{self, Person, PersonInput, PersonView};
use crate::services::people::upsert;
use crate::services::sending::invitations;
use crate::services::surveys;
use crate::store::{Condition, Item, Key, Query, TenantStore, TxOp, Update, keys, now_unix};

/// Delighted's default frequency: 90 days.
pub const DEFAULT_FREQUENCY: i64 = 90 * 86_400;
const MIN_FREQUENCY: i64 = 86_400;
const MAX_FREQUENCY: i64 = 3 * 365 * 86_400;
/// The invitation attribute naming the platform an invitation recurs on.
pub const AUTOPILOT: &str = "autopilot";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Email,
    Sms,
}

/// The platform of a path (`email`, `sms`; `PathId` strips Delighted's `.json`).
impl std::str::FromStr for Platform {
    type Err = Error;

    fn from_str(text: &str) -> Result<Platform> {
        match text {
            "email" => Ok(Platform::Email),
            "sms" => Ok(Platform::Sms),
            _ => Err(Error::NotFound("autopilot platform")),
        }
    }
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Email => "email",
            Platform::Sms => "sms",
        }
    }

    fn channel(self) -> Channel {
        match self {
            Platform::Email => Channel::Email,
            Platform::Sms => Channel::Sms,
        }
    }

    fn config_key(self, store: &TenantStore) -> Key {
        Key::new(
            keys::tenant_partition(store.tenant()),
            format!("AUTOPILOT#{}", self.as_str()),
        )
    }

    fn members(self, store: &TenantStore) -> Result<String> {
        self.members_partition(store.tenant())
    }

    /// The partition of the platform's members.
    pub fn members_partition(self, tenant: &crate::ids::TenantId) -> Result<String> {
        keys::tenant_sub_partition(tenant, &["AUTOPILOT", self.as_str()])
    }

    fn member_key(self, store: &TenantStore, person: &str) -> Result<Key> {
        Ok(Key::new(self.members(store)?, keys::sort_key(&[person])?))
    }
}

/// A platform's autopilot, as Delighted's `GET /v1/autopilot/{platform}` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AutopilotView {
    pub platform_id: String,
    pub active: bool,
    /// Seconds between a member's surveys.
    pub frequency: i64,
    /// Ovation's: the survey sent (the default survey when none; none too when `survey_hidden`).
    pub survey_id: Option<String>,
    /// Ovation's: the survey sent is limited to teams you are not in (its id is not shown).
    pub survey_hidden: bool,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// Ovation's change of a platform's autopilot.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutopilotPatch {
    pub active: Option<bool>,
    /// Seconds between a member's surveys: 1 day to 3 years.
    pub frequency: Option<i64>,
    /// The survey to send; `null` for the default survey.
    #[schema(value_type = Option<String>)]
    pub survey_id: Option<Option<String>>,
}

fn view(platform: Platform, item: Option<&Item>) -> AutopilotView {
    AutopilotView {
        platform_id: platform.as_str().to_owned(),
        active: item.is_some_and(|i| matches!(i.get("active"), Some(crate::store::Value::Bool(true)))),
        frequency: item.and_then(|i| i.num("frequency")).unwrap_or(DEFAULT_FREQUENCY),
        survey_id: item.and_then(|i| i.str("survey")).map(str::to_owned),
        survey_hidden: false,
        created_at: item.and_then(|i| i.num("created_at")),
        updated_at: item.and_then(|i| i.num("updated_at")),
    }
}

pub async fn config(store: &TenantStore, platform: Platform) -> Result<AutopilotView> {
    Ok(view(platform, store.get(&platform.config_key(store)).await?.as_ref()))
}

/// A platform's autopilot as `caller` sees it: the survey it sends named only when they see it.
pub async fn config_for(store: &TenantStore, caller: &Caller, platform: Platform) -> Result<AutopilotView> {
    let mut view = config(store, platform).await?;
    if let Some(id) = &view.survey_id {
        match surveys::visible(store, caller, id).await {
            Err(Error::NotFound(_)) => {
                view.survey_id = None;
                view.survey_hidden = true;
            }
            other => drop(other?),
        }
    }
    Ok(view)
}

/// Changes a platform's autopilot (audited): switched on, members without a next survey get one
/// now; switched off, their pending next surveys are canceled.
pub async fn configure(
    store: &TenantStore,
    caller: &Caller,
    platform: Platform,
    patch: AutopilotPatch,
) -> Result<AutopilotView> {
    let before = config(store, platform).await?;
    let mut next = before.clone();
    if let Some(frequency) = patch.frequency {
        if !(MIN_FREQUENCY..=MAX_FREQUENCY).contains(&frequency) {
            return Err(Error::invalid(
                "frequency",
                format!("must be 1 day to 3 years ({MIN_FREQUENCY} to {MAX_FREQUENCY} seconds)"),
            ));
        }
        next.frequency = frequency;
    }
    if let Some(survey) = patch.survey_id {
        if let Some(id) = &survey {
            surveys::visible(store, caller, id).await?;
        }
        next.survey_id = survey;
    }
    if let Some(active) = patch.active {
        next.active = active;
    }
    let now = now_unix();
    let mut item = Item::new(platform.config_key(store))
        .with("active", crate::store::Value::Bool(next.active))
        .with("frequency", next.frequency)
        .with("created_at", before.created_at.unwrap_or(now))
        .with("updated_at", now);
    if let Some(survey) = &next.survey_id {
        item = item.with("survey", survey.as_str());
    }
    let saved = view(platform, Some(&item));
    let change = vec![TxOp::Put { item, condition: None }];
    let target = Target::Autopilot(platform.as_str().to_owned());
    audit::commit(store, caller, change, "autopilot.updated", target).await?;
    if next.active != before.active {
        let members = store.query_all(Query::new(platform.members(store)?)).await?;
        for member in &members {
            match (next.active, member.str("next"), member.str("next_survey")) {
                // Switched on: members waiting get their first survey now.
                (true, None, _) => {
                    if let Some(person) = person::load(store, &member.key.sk).await? {
                        let ops = next_ops(store, platform, &next, &person, now, None).await?;
                        match store.transact(ops).await {
                            Ok(()) => invitations::renew_next(store, &person.id).await,
                            Err(Error::TransactionCanceled(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                // Switched off: pending next surveys are canceled.
                (false, Some(invitation), Some(survey)) => {
                    if invitations::cancel_one(store, survey, invitation, &member.key.sk).await? {
                        invitations::renew_next(store, &member.key.sk).await;
                    }
                    let stop = [Update::Remove("next".into())];
                    match store
                        .update(&member.key, &stop, Some(Condition::eq("next", invitation)))
                        .await
                    {
                        Ok(_) | Err(Error::ConditionFailed) => {}
                        Err(e) => return Err(e),
                    }
                }
                _ => {}
            }
        }
    }
    Ok(saved)
}

/// The writes that schedule a member's next invitation at `at` and name it on the membership;
/// `after` is the invitation it follows (the membership must still name it), none when joining
/// or switching on. Nothing when autopilot is off.
async fn next_ops(
    store: &TenantStore,
    platform: Platform,
    config: &AutopilotView,
    person: &Person,
    at: i64,
    after: Option<&str>,
) -> Result<Vec<TxOp>> {
    let member = platform.member_key(store, &person.id)?;
    let still = match after {
        Some(previous) => Condition::eq("next", previous),
        None => Condition::AttrNotExists("next".into()),
    };
    if !config.active {
        return Ok(match after {
            Some(_) => vec![TxOp::Update {
                key: member,
                updates: vec![Update::Remove("next".into())],
                condition: Some(still),
            }],
            None => vec![],
        });
    }
    // The configured survey, or the default one if it was deleted.
    let survey = match surveys::resolve(store, config.survey_id.as_deref()).await {
        Err(Error::NotFound(_)) => surveys::default(store).await?,
        other => other?,
    };
    let (invitation, mut ops) = invitations::schedule_ops(store, &survey, person, platform.channel(), at).await?;
    if let Some(TxOp::Put { item, .. }) = ops.first_mut() {
        item.attrs.insert(AUTOPILOT.into(), platform.as_str().into());
    }
    ops.push(TxOp::Update {
        key: member,
        updates: vec![
            Update::Set("next".into(), invitation.id.as_str().into()),
            Update::Set("next_survey".into(), survey.id.as_str().into()),
            Update::Set("next_at".into(), at.into()),
        ],
        condition: Some(Condition::And(vec![Condition::Exists, still])),
    });
    Ok(ops)
}

/// The writes that schedule the next survey of an autopilot invitation that was just sent or
/// skipped (for the transaction recording that): none for other invitations, or when the
/// person left autopilot.
pub async fn follow_up_ops(store: &TenantStore, invitation: &Item, person: &Person, now: i64) -> Result<Vec<TxOp>> {
    let Some(platform) = invitation.str(AUTOPILOT).and_then(|p| p.parse::<Platform>().ok()) else {
        return Ok(vec![]);
    };
    if store.get(&platform.member_key(store, &person.id)?).await?.is_none() {
        return Ok(vec![]);
    }
    let config = config(store, platform).await?;
    let previous = invitation.key.sk.trim_start_matches("INV#");
    match next_ops(store, platform, &config, person, now + config.frequency, Some(previous)).await {
        // No address to send to any more (removed, or kept only as a hash): the recurrence
        // stops, with the membership showing no next survey.
        Err(Error::Invalid { .. }) => {
            let stopped = AutopilotView {
                active: false,
                ..config
            };
            next_ops(store, platform, &stopped, person, now, Some(previous)).await
        }
        other => other,
    }
}

/// Delighted's membership call body: the person by email, phone number or id.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipRequest {
    pub person_email: Option<String>,
    /// Also `phone_number`, as Delighted's client README writes it.
    #[serde(alias = "phone_number")]
    pub person_phone_number: Option<String>,
    pub person_id: Option<String>,
    pub person_name: Option<String>,
    /// Properties of the person (merged, as `POST /v1/people` does).
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
}

/// A member's next survey, as Delighted shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NextSurveyRequest {
    pub id: String,
    pub survey_scheduled_at: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub created_at: i64,
    pub person: PersonView,
    #[schema(value_type = Object)]
    pub properties: Properties,
    pub next_survey_request: Option<NextSurveyRequest>,
}

/// A member as `caller` sees them: their next survey only when they see the survey it is
/// (`survey_hidden`: the platform's survey is limited to teams they are not in).
fn membership_view(member: &Item, person: &Person, caller: &Caller, survey_hidden: bool) -> MembershipView {
    MembershipView {
        created_at: member.num("created_at").unwrap_or_default(),
        person: person.view().seen_by(caller),
        properties: person.properties.clone(),
        next_survey_request: member
            .str("next")
            .filter(|_| !survey_hidden)
            .map(|id| NextSurveyRequest {
                id: id.to_owned(),
                survey_scheduled_at: member.num("next_at").unwrap_or_default(),
            }),
    }
}

/// The person a membership call names.
async fn named_person(store: &TenantStore, request: &MembershipRequest) -> Result<Option<Person>> {
    match (&request.person_email, &request.person_phone_number, &request.person_id) {
        (Some(email), _, _) => person::load_by_email(store, &Email::parse_field("person_email", email)?).await,
        (None, Some(phone), _) => {
            person::load_by_phone(store, &Phone::parse_field("person_phone_number", phone)?).await
        }
        (None, None, Some(id)) => person::load(store, id).await,
        (None, None, None) => Err(Error::invalid(
            "person_email",
            "person_email, person_phone_number or person_id is required",
        )),
    }
}

/// Adds a person to a platform's autopilot (created or updated by email or phone number, as
/// `POST /v1/people` does); their first survey is scheduled now when autopilot is on. Adding a
/// member again changes nothing but their person.
pub async fn join(
    store: &TenantStore,
    caller: &Caller,
    platform: Platform,
    request: MembershipRequest,
    hash_only: bool,
) -> Result<MembershipView> {
    // A member is sent the platform's survey: one the caller sees.
    if let Some(survey) = config(store, platform).await?.survey_id {
        surveys::visible(store, caller, &survey).await?;
    }
    let person = if request.person_email.is_some() || request.person_phone_number.is_some() {
        let input = PersonInput {
            email: request
                .person_email
                .as_deref()
                .map(|e| Email::parse_field("person_email", e))
                .transpose()?,
            phone: request
                .person_phone_number
                .as_deref()
                .map(|p| Phone::parse_field("person_phone_number", p))
                .transpose()?,
            name: request
                .person_name
                .as_deref()
                .map(|n| crate::domain::label("person_name", n))
                .transpose()?,
            properties: match &request.properties {
                Some(v) => Properties::from_json("properties", v)?,
                None => Properties::default(),
            },
            ..PersonInput::default()
        };
        upsert::upsert(store, &input, hash_only).await?.person
    } else if request.properties.is_some() || request.person_name.is_some() {
        return Err(Error::invalid(
            "properties",
            "name the person by person_email or person_phone_number to set their name or properties",
        ));
    } else {
        named_person(store, &request).await?.ok_or(Error::NotFound("person"))?
    };
    let member_key = platform.member_key(store, &person.id)?;
    if let Some(member) = store.get(&member_key).await? {
        return Ok(membership_view(&member, &person, caller, false));
    }
    let now = now_unix();
    let config = config(store, platform).await?;
    // The membership first, with its event: the scheduling's condition needs it (two joins at
    // once make one; the second changes nothing).
    let membership = TxOp::Put {
        item: Item::new(member_key.clone()).with("created_at", now),
        condition: Some(Condition::NotExists),
    };
    let target = Target::Person(person.id.clone());
    match audit::commit(store, caller, vec![membership], "autopilot.member_added", target).await {
        Ok(()) | Err(Error::ConditionFailed) => {}
        Err(e) => return Err(e),
    }
    let first = next_ops(store, platform, &config, &person, now, None).await?;
    if !first.is_empty() {
        match store.transact(first).await {
            Ok(()) => invitations::renew_next(store, &person.id).await,
            Err(Error::TransactionCanceled(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let member = store
        .get(&member_key)
        .await?
        .ok_or(Error::NotFound("autopilot membership"))?;
    // As they are now: their next survey set.
    let person = person::load(store, &person.id).await?.unwrap_or(person);
    Ok(membership_view(&member, &person, caller, false))
}

pub struct MembersPage {
    pub members: Vec<MembershipView>,
    pub cursor: Option<String>,
}

/// A page of a platform's members, by person id (ULIDs: oldest person first).
pub async fn members(
    store: &TenantStore,
    caller: &Caller,
    platform: Platform,
    per_page: u32,
    cursor: Option<&str>,
) -> Result<MembersPage> {
    let hidden = config_for(store, caller, platform).await?.survey_hidden;
    let page = store
        .query(Query::new(platform.members(store)?).limit(per_page), cursor)
        .await?;
    let mut members = Vec::with_capacity(page.items.len());
    for member in &page.items {
        if let Some(person) = person::load(store, &member.key.sk).await? {
            members.push(membership_view(member, &person, caller, hidden));
        }
    }
    Ok(MembersPage {
        members,
        cursor: page.cursor,
    })
}

/// Removes a person from a platform's autopilot and cancels their next survey if it is still
/// pending (audited); the person stays.
pub async fn leave(
    store: &TenantStore,
    caller: &Caller,
    platform: Platform,
    request: MembershipRequest,
) -> Result<PersonView> {
    let person = named_person(store, &request).await?.ok_or(Error::NotFound("person"))?;
    let member_key = platform.member_key(store, &person.id)?;
    let member = store
        .get(&member_key)
        .await?
        .ok_or(Error::NotFound("autopilot membership"))?;
    let removal = TxOp::Delete {
        key: member_key,
        condition: None,
    };
    let target = Target::Person(person.id.clone());
    audit::commit(store, caller, vec![removal], "autopilot.member_removed", target).await?;
    if let (Some(next), Some(survey)) = (member.str("next"), member.str("next_survey")) {
        invitations::cancel_one(store, survey, next, &person.id).await?;
    }
    invitations::renew_next(store, &person.id).await;
    // As they are now: their next survey renewed.
    let person = person::load(store, &person.id).await?.unwrap_or(person);
    Ok(person.view().seen_by(caller))
}

/// The platforms whose autopilot the person is a member of.
pub async fn memberships(store: &TenantStore, person: &str) -> Result<Vec<Platform>> {
    let mut of = Vec::new();
    for platform in [Platform::Email, Platform::Sms] {
        if store.get(&platform.member_key(store, person)?).await?.is_some() {
            of.push(platform);
        }
    }
    Ok(of)
}

/// Whether the person is a member of either platform's autopilot.
pub(crate) async fn is_member(store: &TenantStore, person: &str) -> Result<bool> {
    Ok(!memberships(store, person).await?.is_empty())
}

/// The deletions of a person's memberships (when the person goes).
pub fn membership_deletions(store: &TenantStore, person: &str) -> Result<Vec<TxOp>> {
    [Platform::Email, Platform::Sms]
        .into_iter()
        .map(|platform| {
            Ok(TxOp::Delete {
                key: platform.member_key(store, person)?,
                condition: None,
            })
        })
        .collect()
}
