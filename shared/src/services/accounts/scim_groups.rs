//! SCIM 2.0 groups (RFC 7643 §4.2): the identity provider's groups pushed as the workspace's
//! teams (`teams`), with their members (users it provisioned, or any user of the workspace, by
//! id). Okta's and Entra ID's forms of PATCH are both taken: members added and removed by value
//! lists or by a `members[value eq "…"]` path, and a value object without a path.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use utoipa::ToSchema;

use crate::Context;
use crate::error::{Error, Result};
use crate::services::Caller;
use crate::services::accounts::scim::{self, ListQuery, Op, ScimMeta, ScimPatch};
use crate::services::accounts::teams::{self, Change, Members, TeamView};

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The most members one page of groups shows (about 1.5 MB of JSON).
const MAX_MEMBERS_A_PAGE: usize = 10_000;

/// A member as SCIM names one: the user's id (`value`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimMember {
    pub value: String,
    /// The user's email (shown; ignored when sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A group as an identity provider sends it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimGroupInput {
    pub display_name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub members: Vec<ScimMember>,
}

/// A group as SCIM shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimGroup {
    pub schemas: Vec<String>,
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Left out when `excludedAttributes=members` asks so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<ScimMember>>,
    pub meta: ScimMeta,
}

/// A page of groups (RFC 7644 §3.4.2).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimGroupList {
    pub schemas: Vec<String>,
    pub total_results: usize,
    pub start_index: usize,
    pub items_per_page: usize,
    #[serde(rename = "Resources")]
    pub resources: Vec<ScimGroup>,
}

/// Whether a query leaves the members out.
fn without_members(query: &ListQuery) -> bool {
    query
        .excluded_attributes
        .as_deref()
        .is_some_and(|a| a.split(',').any(|a| a.trim().eq_ignore_ascii_case("members")))
}

fn shown(team: &TeamView, base: &str, with_members: bool) -> ScimGroup {
    let users = scim::base_url(base);
    ScimGroup {
        schemas: vec![GROUP_SCHEMA.to_owned()],
        id: team.id.clone(),
        display_name: team.name.clone(),
        external_id: team.external_id.clone(),
        members: with_members.then(|| {
            team.members
                .iter()
                .map(|m| ScimMember {
                    value: m.id.clone(),
                    display: Some(m.email.clone()),
                    reference: Some(format!("{users}/Users/{}", m.id)),
                })
                .collect()
        }),
        meta: ScimMeta {
            resource_type: "Group".into(),
            created: scim::rfc3339(team.created_at),
            last_modified: scim::rfc3339(team.updated_at),
            location: format!("{users}/Groups/{}", team.id),
        },
    }
}

fn values(members: &[ScimMember]) -> Vec<String> {
    members.iter().map(|m| m.value.clone()).collect()
}

/// Makes a team of the group. A name the workspace has already is a conflict (409 `uniqueness`).
pub async fn create(ctx: &Context, caller: &Caller, input: ScimGroupInput, base: &str) -> Result<ScimGroup> {
    let members = values(&input.members);
    let team = teams::create_team(ctx, caller, &input.display_name, members, input.external_id).await?;
    Ok(shown(&team, base, true))
}

pub async fn get(ctx: &Context, caller: &Caller, id: &str, query: &ListQuery, base: &str) -> Result<ScimGroup> {
    Ok(shown(
        &teams::get(ctx, caller, id).await?,
        base,
        !without_members(query),
    ))
}

/// A page of groups (`startIndex` from 1, `count` up to 100), or those a filter finds
/// (`displayName eq "…"`, `externalId eq "…"`).
pub async fn list(ctx: &Context, caller: &Caller, query: ListQuery, base: &str) -> Result<ScimGroupList> {
    let start = scim::number("startIndex", query.start_index.as_deref(), 1)?.unwrap_or(1);
    let count = scim::number("count", query.count.as_deref(), 0)?
        .unwrap_or(scim::MAX_COUNT)
        .min(scim::MAX_COUNT);
    let mut found = teams::list(ctx, caller).await?;
    if let Some(filter) = query.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        let supported = "`displayName eq \"…\"` and `externalId eq \"…\"`";
        match scim::filter_eq(filter, supported)? {
            (attribute, value) if attribute == "displayname" => {
                found.retain(|t| t.name.to_lowercase() == value.to_lowercase());
            }
            (attribute, value) if attribute == "externalid" => {
                found.retain(|t| t.external_id.as_deref() == Some(value.as_str()));
            }
            _ => return Err(Error::invalid("filter", format!("only {supported} are supported"))),
        }
    }
    let with_members = !without_members(&query);
    // A page with members holds at most MAX_MEMBERS_A_PAGE of them (a group's whole at least):
    // a client reads on from `startIndex` + `itemsPerPage`.
    let mut members_shown = 0;
    let resources: Vec<ScimGroup> = found
        .iter()
        .skip(start - 1)
        .take(count)
        .take_while(|t| {
            let first = members_shown == 0;
            members_shown += if with_members { t.members.len().max(1) } else { 0 };
            first || members_shown <= MAX_MEMBERS_A_PAGE
        })
        .map(|t| shown(t, base, with_members))
        .collect();
    Ok(ScimGroupList {
        schemas: vec![scim::LIST_SCHEMA.to_owned()],
        total_results: found.len(),
        start_index: start,
        items_per_page: resources.len(),
        resources,
    })
}

/// Replaces a group's name, external id and members (`PUT`).
pub async fn replace(ctx: &Context, caller: &Caller, id: &str, input: ScimGroupInput, base: &str) -> Result<ScimGroup> {
    let change = Change {
        name: Some(input.display_name),
        external_id: Some(input.external_id),
        members: vec![Members::Set(values(&input.members))],
    };
    Ok(shown(&teams::change_team(ctx, caller, id, change).await?, base, true))
}

/// The user ids of a PATCH's member list (`[{"value": "…"}]`, or one such object).
fn member_values(value: Json) -> Result<Vec<String>> {
    let list = match value {
        Json::Array(list) => list,
        Json::Null => vec![],
        one => vec![one],
    };
    list.into_iter()
        .map(|m| match m.get("value") {
            Some(Json::String(id)) => Ok(id.clone()),
            _ => Err(Error::invalid("members", "each member is {\"value\": \"<user id>\"}")),
        })
        .collect()
}

/// The user id of a `members[value eq "…"]` path, if it is one.
fn member_path(path: &str) -> Result<Option<String>> {
    let lower = path.to_ascii_lowercase();
    let Some(inner) = lower.strip_prefix("members[").and_then(|p| p.strip_suffix(']')) else {
        return Ok(None);
    };
    let (attribute, value) = scim::filter_eq(&path[8..8 + inner.len()], "`members[value eq \"…\"]`")?;
    match attribute == "value" {
        true => Ok(Some(value)),
        false => Err(Error::invalid("path", "only members[value eq \"…\"] is supported")),
    }
}

/// Applies a PATCH's operations: `displayName`, `externalId` and `members` (added, removed,
/// replaced), by path or by a value object without one; other attributes are left aside.
pub async fn patch(ctx: &Context, caller: &Caller, id: &str, patch: ScimPatch, base: &str) -> Result<ScimGroup> {
    let mut change = Change::default();
    for (op, path, value) in scim::operations(patch)? {
        if let Some(member) = member_path(&path)? {
            match op {
                Op::Remove => change.members.push(Members::Remove(vec![member])),
                _ => return Err(Error::invalid("op", "a member path is only removed")),
            }
            continue;
        }
        // A path may name the attribute with its schema's URN before it.
        let path = path.to_ascii_lowercase();
        let attribute = path
            .strip_prefix(&format!("{}:", GROUP_SCHEMA.to_ascii_lowercase()))
            .unwrap_or(&path);
        match (attribute, op) {
            ("displayname", Op::Remove) => return Err(Error::invalid("displayName", "is required")),
            ("displayname", _) => match value {
                Json::String(name) => change.name = Some(name),
                other => return Err(Error::invalid("displayName", format!("{other} is not text"))),
            },
            ("externalid", Op::Remove) => change.external_id = Some(None),
            ("externalid", _) => match value {
                Json::String(external) => change.external_id = Some(Some(external)),
                Json::Null => change.external_id = Some(None),
                other => return Err(Error::invalid("externalId", format!("{other} is not text"))),
            },
            ("members", Op::Add) => change.members.push(Members::Add(member_values(value)?)),
            // Entra ID names the members to remove in the value; no value removes them all.
            ("members", Op::Remove) => match value {
                Json::Null => change.members.push(Members::Set(vec![])),
                value => change.members.push(Members::Remove(member_values(value)?)),
            },
            ("members", Op::Replace) => change.members.push(Members::Set(member_values(value)?)),
            // Read-only, or said by the value object as it is (Okta's `id`).
            ("id" | "schemas" | "meta", _) => {}
            _ => {
                return Err(Error::invalid(
                    "path",
                    "a group's displayName, externalId and members can change; nothing else",
                ));
            }
        }
    }
    Ok(shown(&teams::change_team(ctx, caller, id, change).await?, base, true))
}

pub async fn delete(ctx: &Context, caller: &Caller, id: &str) -> Result<()> {
    teams::delete(ctx, caller, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_and_values() {
        assert_eq!(
            member_path(r#"members[value eq "01ABC"]"#).unwrap().as_deref(),
            Some("01ABC")
        );
        assert_eq!(
            member_path(r#"Members[Value EQ "01abc"]"#).unwrap().as_deref(),
            Some("01abc")
        );
        assert_eq!(member_path("members").unwrap(), None);
        assert!(member_path(r#"members[display eq "x"]"#).is_err());
        let listed = serde_json::json!([{"value": "a", "display": "x"}, {"value": "b"}]);
        assert_eq!(member_values(listed).unwrap(), ["a", "b"]);
        assert_eq!(member_values(serde_json::json!({"value": "c"})).unwrap(), ["c"]);
        assert!(member_values(serde_json::json!([{"id": "a"}])).is_err());
    }
}
