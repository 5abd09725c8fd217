//! A workspace's teams: named groups of its users, made by its admins or pushed by its identity
//! provider as SCIM groups (`scim_groups`). A team is one item (`T#{t}` `TEAM#{id}`) holding its
//! members' user ids, changed under its version; its name is the workspace's once, in any case
//! (`TEAMNAME#{hash}`). A deleted user leaves every team (`forget_user`; until then they are
//! left out of the members shown). Every change is audited (`team.created`, `team.changed`,
//! `team.deleted`).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Context;
use crate::auth::credential;
use crate::auth::{Actor, Principal, Role};
use crate::error::{Error, Result};
use crate::ids::{UserId, new_id};
use crate::services::accounts::users::{self, UserRecord};
use crate::services::audit::{self, Target};
use crate::services::{Caller, SurveyAccess};
use crate::store::{Condition, Item, Key, Query, TenantStore, TxOp, Value, keys, now_unix};

/// The most teams one workspace has.
pub const MAX_TEAMS: usize = 200;
/// The most members one team has.
pub const MAX_MEMBERS: usize = 5000;
/// How often a change is tried, from a fresh read, while other changes of the team land first.
const TRIES: u32 = 6;

const ID: &str = "id";
const NAME: &str = "name";
const MEMBERS: &str = "members";
const EXTERNAL_ID: &str = "external_id";
const CREATED_AT: &str = "created_at";
const UPDATED_AT: &str = "updated_at";
const VERSION: &str = "version";

/// A team as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamRecord {
    pub id: String,
    pub name: String,
    /// Its members' user ids (a deleted user's id until `forget_user` takes it out).
    pub members: BTreeSet<String>,
    /// The identity provider's own id for it (SCIM `externalId`).
    pub external_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    version: i64,
}

impl TeamRecord {
    fn from_item(item: &Item) -> TeamRecord {
        TeamRecord {
            id: item.str(ID).unwrap_or_default().to_owned(),
            name: item.str(NAME).unwrap_or_default().to_owned(),
            members: item.strings(MEMBERS).into_iter().collect(),
            external_id: item.str(EXTERNAL_ID).map(str::to_owned),
            created_at: item.num(CREATED_AT).unwrap_or_default(),
            updated_at: item.num(UPDATED_AT).unwrap_or_default(),
            version: item.num(VERSION).unwrap_or_default(),
        }
    }

    fn to_item(&self, store: &TenantStore) -> Result<Item> {
        let members = self.members.iter().cloned().map(Value::S).collect();
        let mut item = Item::new(keys::team(store.tenant(), &self.id)?)
            .with(ID, self.id.as_str())
            .with(NAME, self.name.as_str())
            .with(MEMBERS, Value::L(members))
            .with(CREATED_AT, self.created_at)
            .with(UPDATED_AT, self.updated_at)
            .with(VERSION, self.version);
        if let Some(external) = &self.external_id {
            item = item.with(EXTERNAL_ID, external.as_str());
        }
        Ok(item)
    }
}

/// A member as a team shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamMember {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
}

/// A team as shown: its members, users of the workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamView {
    pub id: String,
    pub name: String,
    pub members: Vec<TeamMember>,
    /// Set when the identity provider made it (SCIM `externalId`).
    pub external_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new team.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub name: String,
    /// User ids.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A change of a team: each part left out stays as it is.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    pub name: Option<String>,
    /// User ids to add.
    #[serde(default)]
    pub add_members: Vec<String>,
    /// User ids to remove (one who is not a member is no error).
    #[serde(default)]
    pub remove_members: Vec<String>,
}

/// What a change does to a team's members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Members {
    Add(Vec<String>),
    Remove(Vec<String>),
    /// Exactly these.
    Set(Vec<String>),
}

/// A change of a team, as the API and SCIM both make it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Change {
    pub name: Option<String>,
    /// `Some(None)` removes it.
    pub external_id: Option<Option<String>>,
    pub members: Vec<Members>,
}

fn team_name(text: &str) -> Result<String> {
    crate::domain::label(NAME, text)
}

/// The key that keeps a name the workspace's once: its lower case, hashed (a name may hold any
/// character, a key part may not).
fn name_key(store: &TenantStore, name: &str) -> Key {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.to_lowercase().as_bytes());
    keys::team_name(store.tenant(), &credential::hex(digest.as_ref()))
}

/// Every team of the workspace, by name.
pub(crate) async fn all(store: &TenantStore) -> Result<Vec<TeamRecord>> {
    let query = Query::new(keys::tenant_partition(store.tenant())).prefix(keys::TEAM_PREFIX);
    let mut teams: Vec<TeamRecord> = store
        .query_all(query)
        .await?
        .iter()
        .map(TeamRecord::from_item)
        .collect();
    teams.sort_by_key(|t| t.name.to_lowercase());
    Ok(teams)
}

/// Which surveys `principal` sees: every one for owners, admins and credentials other than a
/// user's session; for an editor or analyst, those of the teams they are in (one read of the
/// workspace's teams' members).
pub async fn survey_access(store: &TenantStore, principal: &Principal) -> Result<SurveyAccess> {
    match &principal.actor {
        Actor::User { id, .. } => access_of(store, id, principal.role).await,
        _ => Ok(SurveyAccess::Every),
    }
}

/// Which surveys the user `user` with `role` sees (`survey_access`).
pub async fn access_of(store: &TenantStore, user: &str, role: Role) -> Result<SurveyAccess> {
    if matches!(role, Role::Owner | Role::Admin) {
        return Ok(SurveyAccess::Every);
    }
    let query = Query::new(keys::tenant_partition(store.tenant()))
        .prefix(keys::TEAM_PREFIX)
        .only([MEMBERS.to_owned()]);
    let teams = store
        .query_all(query)
        .await?
        .iter()
        .filter(|item| item.strings(MEMBERS).iter().any(|m| m == user))
        .map(|item| item.key.sk.trim_start_matches(keys::TEAM_PREFIX).to_owned())
        .collect();
    Ok(SurveyAccess::TeamsOf(teams))
}

/// The workspace's teams' ids and names, by name.
pub async fn names(store: &TenantStore) -> Result<Vec<(String, String)>> {
    let query = Query::new(keys::tenant_partition(store.tenant()))
        .prefix(keys::TEAM_PREFIX)
        .only([NAME.to_owned()]);
    let mut named: Vec<(String, String)> = store
        .query_all(query)
        .await?
        .iter()
        .map(|item| {
            let id = item.key.sk.trim_start_matches(keys::TEAM_PREFIX).to_owned();
            (id, item.str(NAME).unwrap_or_default().to_owned())
        })
        .collect();
    named.sort_by_key(|(_, name)| name.to_lowercase());
    Ok(named)
}

pub(crate) async fn load(store: &TenantStore, id: &str) -> Result<TeamRecord> {
    let key = keys::team(store.tenant(), id).map_err(|_| Error::NotFound("team"))?;
    let item = store.get(&key).await?.ok_or(Error::NotFound("team"))?;
    Ok(TeamRecord::from_item(&item))
}

/// The workspace's users by id (to show members, and to check the ids a change names).
pub async fn users_by_id(store: &TenantStore) -> Result<HashMap<String, UserRecord>> {
    Ok(users::all(store)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect())
}

/// A team as shown, its members those still users.
pub(crate) fn view(team: &TeamRecord, users: &HashMap<String, UserRecord>) -> TeamView {
    let mut members: Vec<TeamMember> = team
        .members
        .iter()
        .filter_map(|id| users.get(id))
        .map(|u| TeamMember {
            id: u.id.clone(),
            email: u.email.as_str().to_owned(),
            name: u.name.clone(),
        })
        .collect();
    members.sort_by(|a, b| a.email.cmp(&b.email));
    TeamView {
        id: team.id.clone(),
        name: team.name.clone(),
        members,
        external_id: team.external_id.clone(),
        created_at: team.created_at,
        updated_at: team.updated_at,
    }
}

pub async fn list(ctx: &Context, caller: &Caller) -> Result<Vec<TeamView>> {
    let store = caller.store(ctx);
    list_among(&store, &users_by_id(&store).await?).await
}

/// Every team, its members shown from `users` (the workspace's, as `users_by_id` reads them).
pub async fn list_among(store: &TenantStore, users: &HashMap<String, UserRecord>) -> Result<Vec<TeamView>> {
    Ok(all(store).await?.iter().map(|t| view(t, users)).collect())
}

pub async fn get(ctx: &Context, caller: &Caller, id: &str) -> Result<TeamView> {
    let store = caller.store(ctx);
    let team = load(&store, id).await?;
    Ok(view(&team, &users_by_id(&store).await?))
}

/// User ids a change adds: each a user of the workspace (else the change is refused, naming
/// the first unknown), at most a team's worth.
fn known_members(ids: &[String], users: &HashMap<String, UserRecord>) -> Result<()> {
    if ids.len() > MAX_MEMBERS {
        return Err(Error::invalid(
            MEMBERS,
            format!("a team has at most {MAX_MEMBERS} members"),
        ));
    }
    match ids.iter().find(|id| !users.contains_key(id.trim())) {
        Some(unknown) => Err(Error::invalid(
            MEMBERS,
            format!(
                "{:?} is not a user of this workspace",
                unknown.chars().take(64).collect::<String>()
            ),
        )),
        None => Ok(()),
    }
}

/// Makes a team (`external_id`: the identity provider's id for it). A name the workspace has
/// already, in any case, is a conflict (409).
pub(crate) async fn create_team(
    ctx: &Context,
    caller: &Caller,
    name: &str,
    members: Vec<String>,
    external: Option<String>,
) -> Result<TeamView> {
    let store = caller.store(ctx);
    let name = team_name(name)?;
    let external = crate::domain::external_id(external)?;
    let users = users_by_id(&store).await?;
    known_members(&members, &users)?;
    if all(&store).await?.len() >= MAX_TEAMS {
        return Err(Error::invalid(
            NAME,
            format!("a workspace has at most {MAX_TEAMS} teams"),
        ));
    }
    let now = now_unix();
    let team = TeamRecord {
        id: new_id(),
        name,
        members: members.iter().map(|m| m.trim().to_owned()).collect(),
        external_id: external,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let ops = vec![
        TxOp::Put {
            item: Item::new(name_key(&store, &team.name)).with(ID, team.id.as_str()),
            condition: Some(Condition::NotExists),
        },
        TxOp::Put {
            item: team.to_item(&store)?,
            condition: Some(Condition::NotExists),
        },
    ];
    match audit::commit(&store, caller, ops, "team.created", Target::Team(team.id.clone())).await {
        Err(Error::TransactionCanceled(f)) if f.iter().any(|f| f.index == 0) => Err(name_taken()),
        other => other,
    }?;
    Ok(view(&team, &users))
}

fn name_taken() -> Error {
    Error::Conflict("the workspace has a team of this name")
}

pub async fn create(ctx: &Context, caller: &Caller, input: NewTeam) -> Result<TeamView> {
    create_team(ctx, caller, &input.name, input.members, None).await
}

pub async fn update(ctx: &Context, caller: &Caller, id: &str, patch: TeamPatch) -> Result<TeamView> {
    let mut members = Vec::new();
    if !patch.add_members.is_empty() {
        members.push(Members::Add(patch.add_members));
    }
    if !patch.remove_members.is_empty() {
        members.push(Members::Remove(patch.remove_members));
    }
    let change = Change {
        name: patch.name,
        external_id: None,
        members,
    };
    change_team(ctx, caller, id, change).await
}

/// Applies a change to a team under its version (tried again, from a fresh read, while other
/// changes of it land first); one that changes nothing writes nothing.
pub(crate) async fn change_team(ctx: &Context, caller: &Caller, id: &str, change: Change) -> Result<TeamView> {
    let store = caller.store(ctx);
    let name = change.name.as_deref().map(team_name).transpose()?;
    let external = change.external_id.clone().map(crate::domain::external_id).transpose()?;
    // Another workspace's team is not found before the ids a change names are looked at.
    let mut team = load(&store, id).await?;
    let users = users_by_id(&store).await?;
    for members in &change.members {
        match members {
            Members::Add(ids) | Members::Set(ids) => known_members(ids, &users)?,
            Members::Remove(ids) if ids.len() > MAX_MEMBERS => {
                return Err(Error::invalid(MEMBERS, format!("at most {MAX_MEMBERS} a change")));
            }
            Members::Remove(_) => {}
        }
    }
    for attempt in 0..TRIES {
        if attempt > 0 {
            settle(attempt).await;
            team = load(&store, id).await?;
        }
        let mut changed = team.clone();
        if let Some(name) = &name {
            changed.name = name.clone();
        }
        if let Some(external) = &external {
            changed.external_id = external.clone();
        }
        for members in &change.members {
            match members {
                Members::Add(ids) => changed.members.extend(ids.iter().map(|m| m.trim().to_owned())),
                Members::Remove(ids) => {
                    for m in ids {
                        changed.members.remove(m.trim());
                    }
                }
                Members::Set(ids) => changed.members = ids.iter().map(|m| m.trim().to_owned()).collect(),
            }
        }
        if changed.members.len() > MAX_MEMBERS {
            return Err(Error::invalid(
                MEMBERS,
                format!("a team has at most {MAX_MEMBERS} members"),
            ));
        }
        if changed == team {
            return Ok(view(&team, &users));
        }
        changed.updated_at = now_unix();
        changed.version = team.version + 1;
        let mut ops = vec![TxOp::Put {
            item: changed.to_item(&store)?,
            condition: Some(Condition::eq(VERSION, team.version)),
        }];
        let renamed = changed.name.to_lowercase() != team.name.to_lowercase();
        if renamed {
            ops.push(TxOp::Put {
                item: Item::new(name_key(&store, &changed.name)).with(ID, team.id.as_str()),
                condition: Some(Condition::NotExists),
            });
            ops.push(TxOp::Delete {
                key: name_key(&store, &team.name),
                condition: None,
            });
        }
        match audit::commit(&store, caller, ops, "team.changed", Target::Team(team.id.clone())).await {
            Err(Error::TransactionCanceled(f)) if renamed && f.iter().any(|f| f.index == 1) => return Err(name_taken()),
            Err(Error::TransactionCanceled(_) | Error::ConditionFailed) => continue,
            Err(e) => return Err(e),
            Ok(()) => return Ok(view(&changed, &users)),
        }
    }
    Err(busy())
}

/// A short wait, longer with each try and jittered, before trying a change again.
async fn settle(attempt: u32) {
    let mut jitter = [0u8; 1];
    let _ = crate::crypto::fill_random(&mut jitter);
    let ms = 10 * u64::from(attempt) + u64::from(jitter[0] % 20);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// A team changed by so many requests at once that this one could not land: try again.
fn busy() -> Error {
    Error::Unavailable {
        service: "teams",
        reason: "the team is being changed by other requests at this moment; try again".into(),
    }
}

/// Deletes a user (`users::delete`'s rules) and takes them out of every team.
pub async fn delete_user(ctx: &Context, caller: &Caller, id: &UserId) -> Result<()> {
    users::delete(ctx, caller, id).await?;
    // The members shown leave a deleted user out anyway: a failure here costs nothing seen.
    if let Err(e) = forget_user(ctx, caller, id.as_str()).await {
        tracing::warn!(error = %e, "a deleted user was not taken out of their teams");
    }
    Ok(())
}

/// Takes a deleted user out of every team.
async fn forget_user(ctx: &Context, caller: &Caller, user: &str) -> Result<()> {
    let store = caller.store(ctx);
    for team in all(&store).await?.into_iter().filter(|t| t.members.contains(user)) {
        let change = Change {
            members: vec![Members::Remove(vec![user.to_owned()])],
            ..Change::default()
        };
        change_team(ctx, caller, &team.id, change).await?;
    }
    Ok(())
}

/// Deletes a team (its members stay users).
pub async fn delete(ctx: &Context, caller: &Caller, id: &str) -> Result<()> {
    let store = caller.store(ctx);
    for attempt in 0..TRIES {
        if attempt > 0 {
            settle(attempt).await;
        }
        let team = load(&store, id).await?;
        let ops = vec![
            TxOp::Delete {
                key: keys::team(store.tenant(), &team.id)?,
                condition: Some(Condition::eq(VERSION, team.version)),
            },
            TxOp::Delete {
                key: name_key(&store, &team.name),
                condition: None,
            },
        ];
        match audit::commit(&store, caller, ops, "team.deleted", Target::Team(team.id.clone())).await {
            Err(Error::TransactionCanceled(_)) => continue,
            other => return other,
        }
    }
    Err(busy())
}
