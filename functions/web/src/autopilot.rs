//! Autopilot in a page: for each channel (email, SMS), whether it is on, how often a member is
//! asked, which survey, and its members (to whoever sees people): adding one by email or phone
//! number, removing one. Thin over `services::sending::autopilot`, as `/v1/autopilot/{platform}`
//! is: switched on, members without a next survey get one now; switched off, their pending next
//! surveys are canceled.

use axum::extract::{MatchedPath, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::auth::Permission;
use ovation::domain::survey::SurveyStatus;
use ovation::http::extract::{PathId, encode_component};
use ovation::services::Caller;
use ovation::services::accounts::tenants;
use ovation::services::sending::autopilot::{self, AutopilotPatch, MembershipRequest, Platform};
use ovation::services::surveys;
use ovation::{Context, Error};

use crate::filter;
use crate::page::{PageForm, after_form, in_layout, root_of, utc};

type Ctx = State<std::sync::Arc<Context>>;

/// Members a channel's section lists.
const MEMBERS: u32 = 50;
const DAY: i64 = 86_400;

const DONE: &[(&str, &str)] = &[
    ("saved", "Autopilot saved."),
    (
        "joined",
        "Member added: their first survey is scheduled while autopilot is on.",
    ),
    ("left", "Member removed: their next survey is canceled."),
];

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = async {
        let done = filter::said(DONE, &filter::pairs(raw.as_deref())?);
        let store = caller.store(&ctx);
        // Archived surveys only when one is a channel's (so the form shows what is set).
        let all = surveys::list_visible(&store, &caller, true).await?;
        let configs = [
            autopilot::config_for(&store, &caller, Platform::Email).await?,
            autopilot::config_for(&store, &caller, Platform::Sms).await?,
        ];
        let mut channels = Vec::new();
        for (platform, config) in [Platform::Email, Platform::Sms].into_iter().zip(&configs) {
            let members: Vec<_> = match caller.sees_people {
                true => autopilot::members(&store, &caller, platform, MEMBERS, None)
                    .await?
                    .members
                    .into_iter()
                    .map(|m| {
                        context! {
                            id => m.person.id, name => m.person.name, email => m.person.email,
                            phone => m.person.phone_number,
                            next => m.next_survey_request.and_then(|n| utc(n.survey_scheduled_at)),
                        }
                    })
                    .collect(),
                false => vec![],
            };
            channels.push(context! {
                platform => platform.as_str(),
                name => match platform { Platform::Email => "Email", Platform::Sms => "SMS" },
                active => config.active,
                // Whole days when it is some (the API may set any number of seconds).
                days => (config.frequency % DAY == 0).then_some(config.frequency / DAY),
                frequency => config.frequency,
                survey => &config.survey_id,
                // A survey of teams the caller is not in: named as such, kept when saved.
                survey_hidden => config.survey_hidden,
                members,
            });
        }
        let role = caller.principal.role;
        Ok(context! {
            channels, done,
            surveys => all
                .iter()
                .filter(|s| {
                    s.definition.status != SurveyStatus::Archived
                        || configs.iter().any(|c| c.survey_id.as_ref() == Some(&s.id))
                })
                .map(|s| context! {
                    id => &s.id, name => &s.definition.name, default => s.is_default,
                    archived => s.definition.status == SurveyStatus::Archived,
                })
                .collect::<Vec<_>>(),
            manage => role.allows(Permission::ManageSurveys),
            members_shown => caller.sees_people,
            manage_members => role.allows(Permission::ManagePeople),
            max_members => MEMBERS,
        })
    };
    in_layout(&ctx, &caller, &headers, ("autopilot", "autopilot.html", ""), values).await
}

/// The survey choice that keeps a channel's survey as it is (one of teams the caller is not in).
const KEPT: &str = "kept";

/// Switches a channel's autopilot on or off, with its frequency (days) and survey.
pub async fn configure(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(platform): PathId<Platform>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let saved = async {
        // Left blank, the frequency stays as it is (one the API set in hours, say).
        let frequency = match form.get("days").trim() {
            "" => None,
            days => Some(
                days.parse::<i64>()
                    .map_err(|_| Error::invalid("frequency", "must be a whole number of days"))?
                    .saturating_mul(DAY),
            ),
        };
        let patch = AutopilotPatch {
            active: Some(form.get("active") == "on"),
            frequency,
            survey_id: match form.get("survey_id") {
                KEPT => None,
                id => Some(Some(id.to_owned()).filter(|s| !s.is_empty())),
            },
        };
        autopilot::configure(&caller.store(&ctx), &caller, platform, patch).await
    };
    let to = saved.await.map(|_| "autopilot?done=saved".to_owned());
    after_form(&ctx, &caller, &headers, ("autopilot", root), to).await
}

/// Adds a member by email or phone number, or by `person_id` (`action=join`), or removes one
/// (`action=leave`, `person_id`); from a person's page (`back=person`) back to it.
pub async fn members(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(platform): PathId<Platform>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let text = |name: &str| Some(form.get(name).trim().to_owned()).filter(|t| !t.is_empty());
    let changed = async {
        let store = caller.store(&ctx);
        match form.get("action") {
            "join" if text("person_id").is_some() => {
                let request = MembershipRequest {
                    person_id: text("person_id"),
                    ..MembershipRequest::default()
                };
                autopilot::join(&store, &caller, platform, request, false).await?;
                Ok("joined")
            }
            "join" => {
                let hash_only = tenants::active(&ctx, &caller.principal.tenant)
                    .await?
                    .is_some_and(|t| t.settings.privacy.store_email_hash_only);
                let request = MembershipRequest {
                    person_email: text("email"),
                    person_phone_number: text("phone_number"),
                    ..MembershipRequest::default()
                };
                autopilot::join(&store, &caller, platform, request, hash_only).await?;
                Ok("joined")
            }
            "leave" => {
                let request = MembershipRequest {
                    person_id: text("person_id"),
                    ..MembershipRequest::default()
                };
                autopilot::leave(&store, &caller, platform, request).await?;
                Ok("left")
            }
            _ => Err(Error::invalid("action", "must be join or leave")),
        }
    };
    // From a person's page, back to it.
    let to = changed.await.map(|done| match (form.get("back"), text("person_id")) {
        ("person", Some(person)) => format!("people/{}?done=autopilot_{done}", encode_component(&person)),
        _ => format!("autopilot?done={done}"),
    });
    after_form(&ctx, &caller, &headers, ("autopilot", root), to).await
}
