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
