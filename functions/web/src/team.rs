//! The team (owners and admins): the workspace's users with their role, status, second factor
//! and last sign-in; inviting a colleague (mailed), changing a role, disabling and enabling,
//! resetting a lost second factor, mailing an invitation again, deleting (the email typed to
//! confirm), resetting a user's single sign-on binding; the workspace's teams (made, renamed,
//! members added and removed, deleted; `services::accounts::teams`). Thin over `services::accounts::users`, whose rules hold here as in the API: only
//! owners touch owners, a workspace keeps an active owner, every change is audited. The page
//! offers no changes of the viewer themselves (their own settings are under Security), and shows
//! who is mailed about which survey's answers (each user chooses under Notifications).

use std::collections::BTreeMap;

use axum::extract::{MatchedPath, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;
use ovation::auth::{Permission, Role};
use ovation::domain::Email;
use ovation::http::extract::{PathId, PublicBase};
use ovation::ids::UserId;
use ovation::services::Caller;
use ovation::services::accounts::teams::{self, NewTeam, TeamPatch};
use ovation::services::accounts::users::{self, Invite, UserPatch, UserView};
use ovation::services::notifications::subscriptions::{self, Answers};
use ovation::services::surveys;
use ovation::store::TenantStore;
use ovation::{Context, Error, Result};

use crate::filter;
use crate::page::{PageForm, after_form, in_layout, root_of, utc};

type Ctx = State<std::sync::Arc<Context>>;

/// What the page says after a change (`done=` of the redirect).
const DONE: &[(&str, &str)] = &[
    ("invited", "Invitation sent."),
    ("resent", "A new invitation was sent; the earlier link no longer works."),
    ("role", "Role saved; a changed role signs them out everywhere."),
    ("disabled", "User disabled: they are signed out everywhere."),
    ("enabled", "User enabled again."),
    (
        "reset_mfa",
        "Second factor removed, and signed out everywhere: they sign in with their password and set up a new one under Security.",
    ),
    ("deleted", "User deleted."),
    (
        "reset_sso",
        "Single sign-on binding reset: their next single sign-on binds them to the account of your identity provider it comes from.",
    ),
    ("team_created", "Team made."),
    ("team_changed", "Team saved."),
    ("team_deleted", "Team deleted; its members stay users."),
];

/// A user as the page lists them.
#[derive(serde::Serialize)]
struct Row {
    #[serde(flatten)]
    user: UserView,
    last_sign_in: Option<String>,
    /// The viewer themselves (who changes their own settings under Security, not here).
    me: bool,
    /// Whether the page offers changes of this user: only owners change owners, and one's own
    /// password and second factor are under Security (the services' rules decide either way).
    changeable: bool,
}

pub async fn page(State(ctx): Ctx, headers: HeaderMap, caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let values = listed(&ctx, &caller, raw.as_deref());
    in_layout(&ctx, &caller, &headers, ("team", "team.html", ""), values).await
}

async fn listed(ctx: &Context, caller: &Caller, raw: Option<&str>) -> Result<minijinja::Value> {
    let pairs = filter::pairs(raw)?;
    let done = filter::said(DONE, &pairs);
    let store = caller.store(ctx);
    let (users, more) = users::list(&store, users::MAX_PER_PAGE, None).await?;
    let notified = who_receives_what(&store, caller, &users).await?;
    // Every user, read once: the teams' members and the emails the team forms offer.
    let everyone = teams::users_by_id(&store).await?;
    let teams = teams::list_among(&store, &everyone).await?;
    let mut emails: Vec<String> = everyone.values().map(|u| u.email.to_string()).collect();
    emails.sort();
    let viewer = caller.principal.role;
    let rows: Vec<Row> = users
        .into_iter()
        .map(|user| {
            let me = caller.principal.actor.id() == user.id;
            Row {
                last_sign_in: user.last_sign_in_at.and_then(utc),
                me,
                changeable: !me && (viewer == Role::Owner || user.role != Role::Owner),
                user,
            }
        })
        .collect();
    let roles: Vec<&str> = [Role::Owner, Role::Admin, Role::Editor, Role::Analyst]
        .into_iter()
        .filter(|r| viewer == Role::Owner || *r != Role::Owner)
        .map(Role::as_str)
        .collect();
    Ok(context! {
        rows,
        more => more.is_some(),
        roles,
        manage => viewer.allows(Permission::ManageUsers),
        invite_days => users::INVITE_SECONDS / 86_400,
        done,
        notified,
        teams,
        emails,
    })
}

/// Makes a team (`POST /v1/teams`'s rules).
pub async fn create_team(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let input = NewTeam {
        name: form.get("name").to_owned(),
        members: vec![],
    };
    let to = teams::create(&ctx, &caller, input)
        .await
        .map(|_| "team?done=team_created#teams".to_owned());
    after_form(&ctx, &caller, &headers, ("team", root), to).await
}

/// One change of a team (`action`): its name, a member added or removed, or its deletion.
pub async fn change_team(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    Path(id): Path<String>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let changed = async {
        // A member by their email (the page offers the workspace's users' emails to choose from).
        let member = || async {
            let email = Email::parse_field("member", form.get("member"))?;
            let user = users::load_by_email(&caller.store(&ctx), &email)
                .await?
                .ok_or_else(|| Error::invalid("member", "no user of this workspace has this email"))?;
            Result::Ok(vec![user.id])
        };
        let patch = match form.get("action") {
            "rename" => TeamPatch {
                name: Some(form.get("name").to_owned()),
                ..TeamPatch::default()
            },
            "add" => TeamPatch {
                add_members: member().await?,
                ..TeamPatch::default()
            },
            "remove" => TeamPatch {
                remove_members: member().await?,
                ..TeamPatch::default()
            },
            "delete" => {
                teams::delete(&ctx, &caller, &id).await?;
                return Ok("team_deleted");
            }
            _ => return Err(Error::invalid("action", "must be rename, add, remove or delete")),
        };
        teams::update(&ctx, &caller, &id, patch).await?;
        Ok("team_changed")
    };
    let to = changed.await.map(|done| format!("team?done={done}#teams"));
    after_form(&ctx, &caller, &headers, ("team", root), to).await
}

/// Who is mailed about which survey: each user's choices, by user then survey.
async fn who_receives_what(store: &TenantStore, caller: &Caller, users: &[UserView]) -> Result<Vec<minijinja::Value>> {
    let names: BTreeMap<String, String> = surveys::list_visible(store, caller, true)
        .await?
        .into_iter()
        .map(|s| (s.id, s.definition.name))
        .collect();
    let mut chosen = subscriptions::all(store).await?;
    chosen.sort_by(|a, b| (&a.user, &a.survey).cmp(&(&b.user, &b.survey)));
    Ok(chosen
        .into_iter()
        .filter_map(|s| {
            let user = users.iter().find(|u| u.id == s.user)?;
            Some(context! {
                who => user.name.as_deref().unwrap_or(&user.email),
                survey => names.get(&s.survey),
                answers => s.answers.map(Answers::describe),
                digest => s.digest,
            })
        })
        .collect())
}

/// Invites a colleague: the invitation is mailed, as by `POST /v1/users`.
pub async fn invite(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    base: PublicBase,
    caller: Caller,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let invited = async {
        let request = Invite {
            email: form.get("email").trim().to_owned(),
            role: Role::parse(form.get("role"))?,
            name: Some(form.get("name").trim().to_owned()).filter(|n| !n.is_empty()),
        };
        users::invite(&ctx, &caller, request, &base.0).await
    };
    let to = invited.await.map(|_| "team?done=invited".to_owned());
    after_form(&ctx, &caller, &headers, ("team", root), to).await
}

/// One change of a user (`action`): their role, disabling or enabling them, removing their second
/// factor, or mailing their invitation again.
pub async fn change(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    base: PublicBase,
    caller: Caller,
    PathId(id): PathId<UserId>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let changed = async {
        let action = form.get("action");
        let patch = match action {
            "role" => UserPatch {
                role: Some(Role::parse(form.get("role"))?),
                ..UserPatch::default()
            },
            "disabled" | "enabled" => UserPatch {
                disabled: Some(action == "disabled"),
                ..UserPatch::default()
            },
            "reset_mfa" => UserPatch {
                reset_mfa: Some(true),
                ..UserPatch::default()
            },
            "reset_sso" => UserPatch {
                reset_sso: Some(true),
                ..UserPatch::default()
            },
            "resent" => {
                users::resend_invitation(&ctx, &caller, &id, &base.0).await?;
                return Ok(action);
            }
            _ => {
                return Err(Error::invalid(
                    "action",
                    "must be role, disabled, enabled, reset_mfa, reset_sso or resent",
                ));
            }
        };
        users::update(&ctx, &caller, &id, patch).await?;
        Ok(action)
    };
    let to = changed.await.map(|action| format!("team?done={action}"));
    after_form(&ctx, &caller, &headers, ("team", root), to).await
}

/// Deletes a user once their email is typed to confirm.
pub async fn delete(
    State(ctx): Ctx,
    headers: HeaderMap,
    path: Option<MatchedPath>,
    caller: Caller,
    PathId(id): PathId<UserId>,
    form: PageForm,
) -> Response {
    let root = root_of(path.as_ref());
    let deleted = async {
        let user = users::get(&caller.store(&ctx), &id).await?;
        if !form.get("confirm").trim().eq_ignore_ascii_case(&user.email) {
            return Err(Error::invalid("confirm", "type the user's email to delete them"));
        }
        teams::delete_user(&ctx, &caller, &id).await
    };
    let to = deleted.await.map(|()| "team?done=deleted".to_owned());
    after_form(&ctx, &caller, &headers, ("team", root), to).await
}
