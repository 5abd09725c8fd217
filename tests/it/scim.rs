//! SCIM 2.0 provisioning as Okta and Microsoft Entra ID drive it: the workspace's token (owners
//! make, replace and revoke it; it opens only `/scim/v2`), a user found by `userName`, created,
//! renamed, deactivated (their live session ends at once) and deleted; owners out of its reach;
//! another workspace's token reaching nothing; SCIM's error shapes for bad input.

use serde_json::{Value, json};

use crate::api::{Answer, Auth, Stack};
use crate::support::Engines;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

async fn scim(s: &Stack, token: &str, method: &str, path: &str, body: Option<Value>) -> Answer {
    s.call(1, method, &format!("/scim/v2{path}"), Auth::Bearer(token), body)
        .await
}

/// The user with `email`, found as an identity provider finds one.
async fn find(s: &Stack, token: &str, email: &str) -> Value {
    let filter = format!("userName eq \"{email}\"")
        .replace(' ', "%20")
        .replace('"', "%22");
    let found = scim(s, token, "GET", &format!("/Users?filter={filter}"), None).await;
    assert_eq!(found.status, 200, "{found:?}");
    found.body
}

fn patch(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// SCIM's error shape: its schema, the status as text, and the `scimType` when one applies.
fn assert_scim_error(answer: &Answer, status: u16, scim_type: Option<&str>) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.body["schemas"], json!([ERROR]), "{answer:?}");
    assert_eq!(answer.body["status"], json!(status.to_string()));
    assert_eq!(answer.body["scimType"].as_str(), scim_type, "{answer:?}");
    assert!(answer.body["detail"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_provider_provisions_and_deprovisions_users() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let admin = s.member(&owner, "admin", "admin@acme.example").await;
    let editor = s.member(&owner, "editor", "ed@acme.example").await;

    // The token: owners only, shown once, its base URL said.
    let refused = s.send("POST", "/v1/scim/token", &admin.token, json!({})).await;
    assert_eq!(refused.status, 403);
    let made = s.send("POST", "/v1/scim/token", &owner.token, json!({})).await;
    assert_eq!(made.status, 201, "{made:?}");
    let token = made.str("token");
    assert!(token.starts_with("ovp_"), "{token}");
    assert_eq!(made.str("base_url"), format!("{}/scim/v2", s.url));
    let info = s.get("/v1/scim/token", &owner.token).await;
    assert_eq!(info.status, 200);
    assert!(!info.text.contains(&token), "never shown again");
    let config = scim(&s, &token, "GET", "/ServiceProviderConfig", None).await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body["patch"]["supported"], json!(true));

    // Okta's way: look the user up by userName, create them when not found.
    let none = find(&s, &token, "kim@acme.example").await;
    assert_eq!(none["totalResults"], json!(0));
    let kim = json!({
        "schemas": [USER], "userName": "kim@acme.example", "active": true,
        "name": {"givenName": "Kim", "familyName": "Lee"},
        "emails": [{"value": "kim@acme.example", "primary": true, "type": "work"}],
        "title": "Analyst", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "CX"},
    });
    let created = scim(&s, &token, "POST", "/Users", Some(kim.clone())).await;
    assert_eq!(created.status, 201, "{created:?}");
    let kim_id = created.str("id");
    assert_eq!(
        (
            created.str("userName"),
            &created.body["active"],
            &created.body["name"]["formatted"]
        ),
        ("kim@acme.example".to_owned(), &json!(true), &json!("Kim Lee"))
    );
    let location = format!("{}/scim/v2/Users/{kim_id}", s.url);
    assert_eq!(created.body["meta"]["location"], json!(location));
    assert_eq!(
        created.headers.get("location").map(|v| v.to_str().unwrap()),
        Some(location.as_str())
    );
    let listed = s.get(&format!("/v1/users/{kim_id}"), &owner.token).await;
    assert_eq!(
        (listed.str("role"), listed.str("status")),
        ("analyst".to_owned(), "active".to_owned()),
        "no single sign-on: the analyst role"
    );
    let events = s.get("/v1/audit_events?action=user.provisioned", &owner.token).await;
    assert_eq!(events.body[0]["actor_type"], json!("scim"), "{:?}", events.body);
    // The same userName again is a conflict, in SCIM's shape.
    assert_scim_error(
        &scim(&s, &token, "POST", "/Users", Some(kim)).await,
        409,
        Some("uniqueness"),
    );
    assert_eq!(
        find(&s, &token, "kim@acme.example").await["Resources"][0]["id"],
        json!(kim_id)
    );

    // Entra ID's way of deprovisioning: `active` replaced by "False". The user's live session
    // ends at once, and their password no longer signs in.
    assert_eq!(s.get("/v1/me", &editor.token).await.status, 200);
    let ed_id = find(&s, &token, "ed@acme.example").await["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let off = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let deactivated = scim(&s, &token, "PATCH", &format!("/Users/{ed_id}"), Some(off)).await;
    assert_eq!((deactivated.status, &deactivated.body["active"]), (200, &json!(false)));
    assert_eq!(s.get("/v1/me", &editor.token).await.status, 401, "the session ended");
    let again = s.sign_in(1, "acme", "ed@acme.example", crate::api::PASSWORD).await;
    assert_eq!(again.status, 401);
    let on = patch(
        json!([{"op": "replace", "value": {"active": true, "name": {"givenName": "Edd", "familyName": "Ward"}}}]),
    );
    let back = scim(&s, &token, "PATCH", &format!("/Users/{ed_id}"), Some(on)).await;
    assert_eq!(
        (back.status, &back.body["active"], &back.body["name"]["formatted"]),
        (200, &json!(true), &json!("Edd Ward")),
        "{back:?}"
    );
    assert_eq!(
        s.sign_in(1, "acme", "ed@acme.example", crate::api::PASSWORD)
            .await
            .status,
        200
    );
    // A replacement keeps the email; another email is refused (an email is the sign-in).
    let replace = |email: &str| json!({"schemas": [USER], "userName": email, "displayName": "Ed", "active": true});
    let replaced = scim(
        &s,
        &token,
        "PUT",
        &format!("/Users/{ed_id}"),
        Some(replace("ed@acme.example")),
    )
    .await;
    assert_eq!((replaced.status, replaced.str("displayName")), (200, "Ed".to_owned()));
    assert_scim_error(
        &scim(
            &s,
            &token,
            "PUT",
            &format!("/Users/{ed_id}"),
            Some(replace("other@acme.example")),
        )
        .await,
        400,
        Some("mutability"),
    );

    // Owners are out of its reach.
    let owner_off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    let own = format!("/Users/{}", owner.user_id);
    assert_scim_error(&scim(&s, &token, "PATCH", &own, Some(owner_off)).await, 403, None);
    assert_scim_error(&scim(&s, &token, "DELETE", &own, None).await, 403, None);
    assert_eq!(s.get("/v1/me", &owner.token).await.status, 200);
    let left_alone = s
        .get("/v1/audit_events?action=scim.owner_left_alone", &owner.token)
        .await;
    assert_eq!(
        left_alone.body.as_array().map(Vec::len),
        Some(2),
        "{:?}",
        left_alone.body
    );

    // A user a person disabled stays disabled whatever the identity provider sends; a
    // replacement that leaves `active` out leaves it as it is.
    let disabled = s
        .send(
            "PATCH",
            &format!("/v1/users/{}", admin.user_id),
            &owner.token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(disabled.status, 200);
    let admin_path = format!("/Users/{}", admin.user_id);
    let on = patch(json!([{"op": "replace", "path": "active", "value": true}]));
    let refused = scim(&s, &token, "PATCH", &admin_path, Some(on)).await;
    assert_scim_error(&refused, 403, None);
    assert!(refused.str("detail").contains("a person disabled"), "{refused:?}");
    let resync = json!({"schemas": [USER], "userName": "admin@acme.example", "displayName": "Ada Min"});
    let resynced = scim(&s, &token, "PUT", &admin_path, Some(resync)).await;
    assert_eq!(
        (resynced.status, &resynced.body["active"]),
        (200, &json!(false)),
        "{resynced:?}"
    );
    // Found by the filter Entra ID may send.
    let entra = "emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22admin%40acme.example%22";
    let found = scim(&s, &token, "GET", &format!("/Users?filter={entra}"), None).await;
    assert_eq!(found.body["Resources"][0]["id"], json!(admin.user_id), "{found:?}");

    // A page at a time, from `startIndex`.
    let first = scim(&s, &token, "GET", "/Users?startIndex=0&count=1", None).await;
    assert_eq!(first.body["startIndex"], json!(1), "below 1 counts as 1");
    let page = scim(&s, &token, "GET", "/Users?startIndex=2&count=1", None).await;
    assert_eq!(
        (
            &page.body["totalResults"],
            &page.body["itemsPerPage"],
            &page.body["startIndex"]
        ),
        (&json!(4), &json!(1), &json!(2)),
        "{page:?}"
    );

    // Bad input, each in SCIM's shape.
    assert_scim_error(
        &scim(&s, &token, "GET", "/Users?filter=title%20eq%20%22x%22", None).await,
        400,
        Some("invalidFilter"),
    );
    assert_scim_error(
        &scim(&s, &token, "GET", "/Users?count=many", None).await,
        400,
        Some("invalidValue"),
    );
    let moved = patch(json!([{"op": "move", "path": "active", "value": true}]));
    assert_scim_error(
        &scim(&s, &token, "PATCH", &format!("/Users/{ed_id}"), Some(moved)).await,
        400,
        Some("invalidValue"),
    );
    let no_email = json!({"schemas": [USER], "userName": "no-email-here"});
    assert_scim_error(
        &scim(&s, &token, "POST", "/Users", Some(no_email)).await,
        400,
        Some("invalidValue"),
    );

    // Another workspace's token reaches none of this one's users.
    let globex = s.tenant("globex").await;
    let theirs = s
        .send("POST", "/v1/scim/token", &globex.token, json!({}))
        .await
        .str("token");
    for method in ["GET", "PATCH", "DELETE"] {
        let body = (method == "PATCH").then(|| patch(json!([{"op": "replace", "path": "active", "value": false}])));
        let answer = scim(&s, &theirs, method, &format!("/Users/{ed_id}"), body).await;
        assert_scim_error(&answer, 404, None);
    }
    let seen = scim(&s, &theirs, "GET", "/Users", None).await;
    assert_eq!(seen.body["totalResults"], json!(1), "globex's owner alone: {seen:?}");
    assert_eq!(find(&s, &theirs, "ed@acme.example").await["totalResults"], json!(0));
    assert_eq!(s.get("/v1/me", &owner.token).await.status, 200);

    // Deleted: gone, in SCIM's 404.
    assert_eq!(
        scim(&s, &token, "DELETE", &format!("/Users/{kim_id}"), None)
            .await
            .status,
        204
    );
    assert_scim_error(
        &scim(&s, &token, "GET", &format!("/Users/{kim_id}"), None).await,
        404,
        None,
    );

    // A new token replaces the old at once; a revoked one stops at once.
    let replaced = s
        .send("POST", "/v1/scim/token", &owner.token, json!({}))
        .await
        .str("token");
    assert_eq!(scim(&s, &token, "GET", "/Users", None).await.status, 401);
    assert_eq!(scim(&s, &replaced, "GET", "/Users", None).await.status, 200);
    let revoked = s
        .call(1, "DELETE", "/v1/scim/token", Auth::Bearer(&owner.token), None)
        .await;
    assert_eq!(revoked.status, 204);
    assert_eq!(scim(&s, &replaced, "GET", "/Users", None).await.status, 401);
    assert_eq!(s.get("/v1/scim/token", &owner.token).await.status, 404);
}

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The ids of a group's members, sorted.
fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| m.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Groups pushed as the workspace's teams, as Okta and Entra ID push them: created with
/// members, found by `displayName`, members added and removed in both providers' forms, renamed,
/// replaced and deleted; the same teams made and changed by an admin through `/v1/teams`; a
/// deleted user dropping out of a team; bad input in SCIM's shape; another workspace's token
/// reaching none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_provider_pushes_groups_as_teams() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let admin = s.member(&owner, "admin", "admin@acme.example").await;
    let analyst = s.member(&owner, "analyst", "ann@acme.example").await;
    let token = s
        .send("POST", "/v1/scim/token", &owner.token, json!({}))
        .await
        .str("token");
    let user = |email: &str| {
        let body = json!({"schemas": [USER], "userName": email, "active": true});
        let (s, token) = (&s, token.clone());
        async move { scim(s, &token, "POST", "/Users", Some(body)).await.str("id") }
    };
    let (kim, lee, max) = (
        user("kim@acme.example").await,
        user("lee@acme.example").await,
        user("max@acme.example").await,
    );

    // A user's externalId is kept, found, changed and removed.
    let with_external = json!({"schemas": [USER], "userName": "eli@acme.example", "externalId": "00u-eli"});
    let eli = scim(&s, &token, "POST", "/Users", Some(with_external)).await;
    assert_eq!(
        (eli.status, eli.str("externalId")),
        (201, "00u-eli".to_owned()),
        "{eli:?}"
    );
    let eli_path = format!("/Users/{}", eli.str("id"));
    let found = scim(&s, &token, "GET", "/Users?filter=externalId%20eq%20%2200u-eli%22", None).await;
    assert_eq!(found.body["Resources"][0]["id"], eli.body["id"], "{found:?}");
    let renamed = patch(json!([{"op": "replace", "path": "externalId", "value": "00u-eli-2"}]));
    assert_eq!(
        scim(&s, &token, "PATCH", &eli_path, Some(renamed))
            .await
            .str("externalId"),
        "00u-eli-2"
    );
    let put = json!({"schemas": [USER], "userName": "eli@acme.example"});
    let put = scim(&s, &token, "PUT", &eli_path, Some(put)).await;
    assert!(
        put.body.get("externalId").is_none(),
        "a PUT without it removes it: {put:?}"
    );
    let too_long = patch(json!([{"op": "replace", "path": "externalId", "value": "x".repeat(256)}]));
    assert_scim_error(
        &scim(&s, &token, "PATCH", &eli_path, Some(too_long)).await,
        400,
        Some("invalidValue"),
    );

    // Okta: looks the group up by name, creates it with its members.
    let by_name = |name: &str| format!("/Groups?filter=displayName%20eq%20%22{name}%22");
    let none = scim(&s, &token, "GET", &by_name("Support"), None).await;
    assert_eq!(none.body["totalResults"], json!(0), "{none:?}");
    let support = json!({"schemas": [GROUP], "displayName": "Support", "externalId": "okta-00g1",
        "members": [{"value": kim, "display": "kim@acme.example"}]});
    let created = scim(&s, &token, "POST", "/Groups", Some(support.clone())).await;
    assert_eq!(created.status, 201, "{created:?}");
    let group = created.str("id");
    assert_eq!(
        created.header("location"),
        Some(format!("{}/scim/v2/Groups/{group}", s.url).as_str())
    );
    assert_eq!(created.header("content-type"), Some("application/scim+json"));
    assert_eq!(
        (&created.body["schemas"], &created.body["externalId"]),
        (&json!([GROUP]), &json!("okta-00g1"))
    );
    assert_eq!(member_ids(&created.body), std::slice::from_ref(&kim));
    assert_eq!(created.body["members"][0]["display"], json!("kim@acme.example"));
    // A name the workspace has, in any case: 409 uniqueness.
    let again = json!({"schemas": [GROUP], "displayName": "SUPPORT"});
    assert_scim_error(
        &scim(&s, &token, "POST", "/Groups", Some(again)).await,
        409,
        Some("uniqueness"),
    );
    let found = scim(&s, &token, "GET", &by_name("support"), None).await;
    assert_eq!(found.body["totalResults"], json!(1));
    assert_eq!(found.body["Resources"][0]["id"], json!(group));
    let slim = scim(&s, &token, "GET", "/Groups?excludedAttributes=members", None).await;
    assert!(slim.body["Resources"][0].get("members").is_none(), "{slim:?}");
    let by_external = scim(
        &s,
        &token,
        "GET",
        "/Groups?filter=externalId%20eq%20%22okta-00g1%22",
        None,
    )
    .await;
    assert_eq!(by_external.body["totalResults"], json!(1));

    // Okta's PATCH: members added by value list, one removed by path; renamed by value object.
    let path = format!("/Groups/{group}");
    let okta = patch(json!([
        {"op": "add", "path": "members", "value": [{"value": lee, "display": "lee@acme.example"}, {"value": max}]},
        {"op": "remove", "path": format!("members[value eq \"{kim}\"]")},
        {"op": "replace", "value": {"id": group, "displayName": "Customer support"}},
    ]));
    let changed = scim(&s, &token, "PATCH", &path, Some(okta)).await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.str("displayName"), "Customer support");
    let mut expected = vec![lee.clone(), max.clone()];
    expected.sort();
    assert_eq!(member_ids(&changed.body), expected);
    // Entra ID's PATCH: capitalised ops, members removed by value list, displayName by path.
    let entra = patch(json!([
        {"op": "Remove", "path": "members", "value": [{"value": max}]},
        {"op": "Add", "path": "members", "value": [{"value": kim}]},
        {"op": "Replace", "path": "displayName", "value": "Support EMEA"},
    ]));
    let changed = scim(&s, &token, "PATCH", &path, Some(entra)).await;
    let mut expected = vec![kim.clone(), lee.clone()];
    expected.sort();
    assert_eq!(
        (changed.str("displayName"), member_ids(&changed.body)),
        ("Support EMEA".to_owned(), expected)
    );
    let get = scim(&s, &token, "GET", &format!("{path}?excludedAttributes=members"), None).await;
    assert!(get.body.get("members").is_none() && get.str("displayName") == "Support EMEA");

    // Bad input, in SCIM's shape: an unknown member, an unknown op, a bad member path.
    let unknown = patch(json!([{"op": "add", "path": "members", "value": [{"value": "01NOSUCHUSER"}]}]));
    assert_scim_error(
        &scim(&s, &token, "PATCH", &path, Some(unknown)).await,
        400,
        Some("invalidValue"),
    );
    let bad_op = patch(json!([{"op": "move", "path": "members"}]));
    assert_scim_error(
        &scim(&s, &token, "PATCH", &path, Some(bad_op)).await,
        400,
        Some("invalidValue"),
    );
    let bad_path = patch(json!([{"op": "remove", "path": "members[display eq \"x\"]"}]));
    assert_scim_error(
        &scim(&s, &token, "PATCH", &path, Some(bad_path)).await,
        400,
        Some("invalidPath"),
    );
    let bad_filter = scim(&s, &token, "GET", "/Groups?filter=members%20eq%20%22x%22", None).await;
    assert_scim_error(&bad_filter, 400, Some("invalidFilter"));
    assert_scim_error(&scim(&s, &token, "GET", "/Groups/01NOSUCHGROUP", None).await, 404, None);

    // The same team through the API: listed for admins, its members named; analysts may not
    // change it; an admin's change is seen by the provider.
    let teams = s.get("/v1/teams", &admin.token).await;
    assert_eq!(teams.status, 200, "{teams:?}");
    assert_eq!(teams.body[0]["name"], json!("Support EMEA"));
    assert_eq!(teams.body[0]["external_id"], json!("okta-00g1"));
    let emails: Vec<&str> = teams.body[0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["kim@acme.example", "lee@acme.example"]);
    let team_path = format!("/v1/teams/{group}");
    let add_analyst = json!({"add_members": [analyst.user_id]});
    assert_eq!(
        s.send("PATCH", &team_path, &analyst.token, add_analyst.clone())
            .await
            .status,
        403
    );
    let added = s.send("PATCH", &team_path, &admin.token, add_analyst).await;
    assert_eq!(added.status, 200, "{added:?}");
    assert_eq!(added.body["members"].as_array().unwrap().len(), 3);
    let seen = scim(&s, &token, "GET", &path, None).await;
    assert!(member_ids(&seen.body).contains(&analyst.user_id));
    // A team made by hand; names stay the workspace's once.
    let made = s
        .send(
            "POST",
            "/v1/teams",
            &admin.token,
            json!({"name": "Sales", "members": [lee]}),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    let taken = s
        .send("POST", "/v1/teams", &admin.token, json!({"name": "support emea"}))
        .await;
    assert_eq!(taken.status, 409, "{taken:?}");
    let renamed_onto = s
        .send(
            "PATCH",
            &format!("/v1/teams/{}", made.str("id")),
            &admin.token,
            json!({"name": "SUPPORT EMEA"}),
        )
        .await;
    assert_eq!(renamed_onto.status, 409, "{renamed_onto:?}");
    let unknown = s
        .send(
            "POST",
            "/v1/teams",
            &admin.token,
            json!({"name": "X", "members": ["01NOSUCH"]}),
        )
        .await;
    assert_eq!((unknown.status, unknown.str("field")), (422, "members".to_owned()));
    for (event, count) in [("team.created", 2), ("team.changed", 3)] {
        let events = s.get(&format!("/v1/audit_events?action={event}"), &owner.token).await;
        assert_eq!(events.body.as_array().unwrap().len(), count, "{event}: {events:?}");
    }

    // Two changes at once both land (Entra ID sends a group's changes in parallel).
    let (one, two) = tokio::join!(
        scim(
            &s,
            &token,
            "PATCH",
            &path,
            Some(patch(
                json!([{"op": "add", "path": "members", "value": [{"value": max}]}])
            ))
        ),
        s.send(
            "PATCH",
            &team_path,
            &admin.token,
            json!({"remove_members": [analyst.user_id]})
        ),
    );
    assert_eq!((one.status, two.status), (200, 200), "{one:?} {two:?}");
    let both = member_ids(&scim(&s, &token, "GET", &path, None).await.body);
    assert!(both.contains(&max) && !both.contains(&analyst.user_id), "{both:?}");
    // A name in a value path with its schema's URN; an unknown path is said.
    let urn = patch(json!([{"op": "replace", "path": format!("{GROUP}:displayName"), "value": "Support EMEA"}]));
    assert_eq!(
        scim(&s, &token, "PATCH", &path, Some(urn)).await.str("displayName"),
        "Support EMEA"
    );
    let unknown_path = patch(json!([{"op": "replace", "path": "description", "value": "x"}]));
    assert_scim_error(
        &scim(&s, &token, "PATCH", &path, Some(unknown_path)).await,
        400,
        Some("invalidPath"),
    );
    // A name holding " eq " is found.
    let odd = json!({"schemas": [GROUP], "displayName": "R eq D"});
    assert_eq!(scim(&s, &token, "POST", "/Groups", Some(odd)).await.status, 201);
    let found = scim(
        &s,
        &token,
        "GET",
        "/Groups?filter=displayName%20eq%20%22R%20eq%20D%22",
        None,
    )
    .await;
    assert_eq!(found.body["totalResults"], json!(1), "{found:?}");
    let odd_id = found.body["Resources"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        scim(&s, &token, "DELETE", &format!("/Groups/{odd_id}"), None)
            .await
            .status,
        204
    );
    // A deleted team's name is free again.
    let again = json!({"schemas": [GROUP], "displayName": "R eq D"});
    assert_eq!(scim(&s, &token, "POST", "/Groups", Some(again)).await.status, 201);

    // A user deleted (deprovisioned) drops out of every team.
    assert_eq!(
        scim(&s, &token, "DELETE", &format!("/Users/{lee}"), None).await.status,
        204
    );
    let seen = scim(&s, &token, "GET", &path, None).await;
    assert!(!member_ids(&seen.body).contains(&lee), "{seen:?}");
    let sales = s.get(&format!("/v1/teams/{}", made.str("id")), &admin.token).await;
    assert_eq!(sales.body["members"], json!([]));

    // Removing `members` without a value empties the group.
    let emptied = scim(
        &s,
        &token,
        "PATCH",
        &format!("/Groups/{}", made.str("id")),
        Some(patch(json!([{"op": "remove", "path": "members"}]))),
    )
    .await;
    assert_eq!(emptied.body["members"], json!([]), "{emptied:?}");

    // PUT replaces name and members (Entra ID's full update).
    let replaced = json!({"schemas": [GROUP], "displayName": "Support", "members": [{"value": max}]});
    let put = scim(&s, &token, "PUT", &path, Some(replaced)).await;
    assert_eq!(
        (put.str("displayName"), member_ids(&put.body)),
        ("Support".to_owned(), vec![max.clone()])
    );
    assert!(
        put.body.get("externalId").is_none(),
        "a PUT without it removes it: {put:?}"
    );

    // Another workspace's token reaches none of it.
    let other = s.tenant("umbrella").await;
    let theirs = s
        .send("POST", "/v1/scim/token", &other.token, json!({}))
        .await
        .str("token");
    for (method, body) in [
        ("GET", None),
        (
            "PATCH",
            Some(patch(
                json!([{"op": "add", "path": "members", "value": [{"value": max}]}]),
            )),
        ),
        ("PUT", Some(json!({"schemas": [GROUP], "displayName": "Mine"}))),
        ("DELETE", None),
    ] {
        assert_scim_error(&scim(&s, &theirs, method, &path, body).await, 404, None);
    }
    let listed = scim(&s, &theirs, "GET", "/Groups", None).await;
    assert_eq!(listed.body["totalResults"], json!(0));
    assert_eq!(s.get(&team_path, &other.token).await.status, 404);
    // Nor can the other workspace put acme's users in a team of its own.
    let mine = json!({"schemas": [GROUP], "displayName": "Mine", "members": [{"value": max}]});
    assert_scim_error(
        &scim(&s, &theirs, "POST", "/Groups", Some(mine)).await,
        400,
        Some("invalidValue"),
    );
    let mine = s
        .send(
            "POST",
            "/v1/teams",
            &other.token,
            json!({"name": "Mine", "members": [max]}),
        )
        .await;
    assert_eq!((mine.status, mine.str("field")), (422, "members".to_owned()));

    // Deleted: gone for both; its members stay users.
    assert_eq!(scim(&s, &token, "DELETE", &path, None).await.status, 204);
    assert_scim_error(&scim(&s, &token, "GET", &path, None).await, 404, None);
    assert_eq!(s.get(&team_path, &admin.token).await.status, 404);
    assert_eq!(
        scim(&s, &token, "GET", &format!("/Users/{max}"), None).await.status,
        200
    );
}
