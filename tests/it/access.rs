//! Identity and access over real HTTP, on every engine: sign-in and sessions, passwords, MFA,
//! brute-force protection, API keys (Bearer and Basic, revocation), OAuth client credentials,
//! every route × every role against the permission table, tenant isolation, IP allow-lists,
//! throttling (per address, per tenant across instances), support access, audit, deletion.

use std::time::Instant;

use ovation::auth::Role;
use ovation::auth::roles::ROLES;
use ovation::http::routes::{Access, ROUTES};
use ovation::ids::new_id;
use serde_json::{Value, json};

use crate::api::{Auth, OPERATOR_KEY, PASSWORD, Stack};
use crate::support::Engines;

on_every_engine!(
    sessions_passwords_and_revocation,
    unknown_users_look_like_wrong_passwords,
    api_keys_by_bearer_and_basic_revoked_at_once,
    bad_credentials_get_clear_errors,
    oauth_client_credentials,
    every_route_and_role_against_the_permission_table,
    tenants_cannot_reach_each_other,
    totp_enrolment_sign_in_and_replay,
    brute_force_locks_the_attacker_not_the_owner,
    ip_allow_lists_hold_on_every_request,
    throttling_per_address_and_per_tenant_across_instances,
    support_access_only_while_allowed,
    audit_trail_lists_filters_and_exports,
    users_are_managed_within_the_rules,
    deleting_a_tenant_shreds_and_purges,
    authenticating_reads_the_store_once,
);

async fn stack(e: Engines) -> Stack {
    Stack::start(e, |_| {}).await
}

async fn sessions_passwords_and_revocation(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    assert_eq!(s.get("/v1/users", &owner.token).await.status, 200);

    // A second session, then "sign out everywhere" ends both.
    let other = s.sign_in(1, "acme", "owner@acme.example", PASSWORD).await;
    assert_eq!(other.status, 200, "{other:?}");
    let other = other.str("token");
    assert_eq!(
        s.send("POST", "/v1/auth/sign_out_everywhere", &owner.token, json!({}))
            .await
            .status,
        204
    );
    for token in [&owner.token, &other] {
        let a = s.get("/v1/me", token).await;
        assert_eq!((a.status, a.code()), (401, "unauthorized"), "{a:?}");
        assert!(a.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")));
    }

    // Sign out ends one session.
    let token = s.sign_in(1, "acme", "owner@acme.example", PASSWORD).await.str("token");
    assert_eq!(s.get("/v1/me", &token).await.body["role"], "owner");
    assert_eq!(s.send("POST", "/v1/auth/sign_out", &token, json!({})).await.status, 204);
    assert_eq!(s.get("/v1/me", &token).await.status, 401);

    // A session unused for an hour has ended (its last use set back an hour in the store).
    let token = s.sign_in(1, "acme", "owner@acme.example", PASSWORD).await.str("token");
    let presented = ovation::auth::credential::parse(&token).unwrap();
    let key = ovation::store::keys::session(&presented.tenant, &presented.owner, &presented.digest).unwrap();
    let an_hour_ago = ovation::store::now_unix() - 3600;
    let set_back = [ovation::store::Update::Set("seen_at".into(), an_hour_ago.into())];
    s.ctx.store.update(&key, &set_back, None).await.unwrap();
    let a = s.get("/v1/me", &token).await;
    assert_eq!(a.status, 401, "{a:?}");
    assert!(a.str("message").contains("without use"), "{a:?}");

    // Password rules name the field; the history refuses the last five.
    let token = s.sign_in(1, "acme", "owner@acme.example", PASSWORD).await.str("token");
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    for (body, field, words) in [
        (change(PASSWORD, "short"), "new_password", "at least 12"),
        (change(PASSWORD, "1qaz2wsx3edc"), "new_password", "most common"),
        (change(PASSWORD, PASSWORD), "new_password", "last 5"),
        (
            change("wrong wrong wrong", "a fine new passphrase"),
            "current_password",
            "wrong",
        ),
    ] {
        let a = s.send("POST", "/v1/me/password", &token, body).await;
        assert_eq!((a.status, a.str("field").as_str()), (422, field), "{a:?}");
        assert!(a.str("message").contains(words), "{a:?}");
    }
    let changed = s
        .send(
            "POST",
            "/v1/me/password",
            &token,
            change(PASSWORD, "a fine new passphrase"),
        )
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(
        s.get("/v1/me", &token).await.status,
        401,
        "a password change ends every session"
    );
    assert_eq!(s.get("/v1/me", &changed.str("token")).await.status, 200);
    let back = s
        .send(
            "POST",
            "/v1/me/password",
            &changed.str("token"),
            change("a fine new passphrase", PASSWORD),
        )
        .await;
    assert_eq!(back.status, 422, "an earlier password is refused: {back:?}");
    // 64 characters are allowed.
    let long = "x1y2z3".repeat(10) + "abcd";
    let a = s
        .send(
            "POST",
            "/v1/me/password",
            &changed.str("token"),
            change("a fine new passphrase", &long),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
}

async fn unknown_users_look_like_wrong_passwords(e: Engines) {
    let s = stack(e).await;
    s.tenant("acme").await;
    let wrong_password = s
        .sign_in(1, "acme", "owner@acme.example", "not the password at all")
        .await;
    let unknown_user = s
        .sign_in(2, "acme", "nobody@acme.example", "not the password at all")
        .await;
    let unknown_tenant = s
        .sign_in(3, "nosuchtenant", "owner@acme.example", "not the password at all")
        .await;
    for a in [&wrong_password, &unknown_user, &unknown_tenant] {
        assert_eq!((a.status, a.body.clone()), (401, wrong_password.body.clone()), "{a:?}");
        assert_eq!(a.code(), "invalid_credentials");
    }
    // Similar timing: each refusal runs argon2 once. Medians of a few tries.
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let (mut known, mut unknown) = (vec![], vec![]);
    for i in 0..7u8 {
        let t = Instant::now();
        s.sign_in(10 + i, "acme", "owner@acme.example", "not the password at all")
            .await;
        known.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        s.sign_in(20 + i, "acme", "nobody@acme.example", "not the password at all")
            .await;
        unknown.push(t.elapsed().as_secs_f64());
    }
    let ratio = median(&mut known) / median(&mut unknown);
    assert!((0.33..3.0).contains(&ratio), "known/unknown sign-in time ratio {ratio}");
}

async fn api_keys_by_bearer_and_basic_revoked_at_once(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let (key, id) = s.api_key(&owner, "admin").await;
    assert!(key.starts_with("ovk_"));
    // Bearer, and Basic with the key as user name, with and without the colon (Delighted's clients).
    let with_colon = format!("{key}:");
    for auth in [Auth::Bearer(&key), Auth::Basic(&with_colon), Auth::Basic(&key)] {
        let a = s.call(1, "GET", "/v1/tenant", auth, None).await;
        assert_eq!((a.status, a.str("slug").as_str()), (200, "acme"), "{a:?}");
    }
    let with_password = format!("{key}:secret");
    let a = s.call(1, "GET", "/v1/tenant", Auth::Basic(&with_password), None).await;
    assert_eq!(a.status, 401, "a Basic password is not expected: {a:?}");

    // Listed with the last use, never with the key.
    let list = s.get("/v1/api_keys", &owner.token).await;
    assert_eq!(list.status, 200);
    assert!(!list.text.contains(&key));
    let listed = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap();
    assert!(listed["last_used_at"].as_i64().is_some(), "{listed}");
    assert_eq!(listed["hint"], key[key.len() - 4..]);

    // A read key reads but may not change settings.
    let (read, _) = s.api_key(&owner, "read").await;
    assert_eq!(s.get("/v1/tenant", &read).await.status, 200);
    let a = s.send("PATCH", "/v1/tenant", &read, json!({"display_name": "X"})).await;
    assert_eq!((a.status, a.code()), (403, "permission_denied"));

    // Revocation takes effect on the very next request.
    assert_eq!(
        s.send("DELETE", &format!("/v1/api_keys/{id}"), &owner.token, json!({}))
            .await
            .status,
        204
    );
    let a = s.get("/v1/tenant", &key).await;
    assert_eq!((a.status, a.code()), (401, "unauthorized"), "{a:?}");
    assert_eq!(
        s.send("DELETE", &format!("/v1/api_keys/{id}"), &owner.token, json!({}))
            .await
            .status,
        404
    );
}

async fn bad_credentials_get_clear_errors(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let long = format!("Bearer {}", "a".repeat(5000));
    let cases: Vec<(Auth, &str)> = vec![
        (Auth::None, "send a credential"),
        (Auth::Bearer("nonsense"), "malformed"),
        (Auth::Raw(b"Token abc"), "unsupported authorization scheme"),
        (Auth::Raw(b"Bearer"), "must be"),
        (Auth::Raw(b"Basic !!!"), "base64"),
        (Auth::Raw(b"Bearer \xff\xfe"), "ASCII"),
        (Auth::Raw(long.as_bytes()), "too long"),
    ];
    for (auth, words) in cases {
        let a = s.call(1, "GET", "/v1/tenant", auth, None).await;
        assert_eq!(a.status, 401, "{a:?}");
        assert!(a.str("message").contains(words), "{words}: {a:?}");
    }
    // A refusal before the body is read ends the connection and says so; one with no body keeps it.
    let big = json!({"email": "a@b.example", "properties": {"note": "x".repeat(100_000)}});
    for (method, path) in [("POST", "/v1/people"), ("PATCH", "/v1/people"), ("POST", "/v1/nowhere")] {
        let a = s.call(1, method, path, Auth::None, Some(big.clone())).await;
        assert_eq!(a.header("connection"), Some("close"), "{method} {path}: {a:?}");
    }
    let huge = json!({"email": "a@b.example", "name": "x".repeat(2 << 20)});
    let a = s.send("POST", "/v1/people", &owner.token, huge).await;
    assert_eq!((a.status, a.header("connection")), (413, Some("close")), "{a:?}");
    let a = s.call(1, "GET", "/v1/tenant", Auth::None, None).await;
    assert_eq!(a.header("connection"), None, "{a:?}");
    // A wrongly typed field is named, its value never repeated (it may be a password).
    let a = s
        .call(
            1,
            "POST",
            "/v1/auth/sign_in",
            Auth::None,
            Some(json!({"tenant": "acme", "email": "owner@acme.example", "password": 4520123456u64})),
        )
        .await;
    assert_eq!((a.status, a.str("field").as_str()), (422, "password"), "{a:?}");
    assert!(!a.text.contains("4520123456"), "{a:?}");
    // A forged session for a real tenant and user: the shape is right, the secret is not.
    let forged = format!("{}{}", &owner.token[..owner.token.len() - 43], "A".repeat(43));
    assert_eq!(s.get("/v1/me", &forged).await.status, 401);
    // Unknown fields are refused, not assigned: no role or tenant through a body.
    let a = s
        .send("PATCH", "/v1/tenant", &owner.token, json!({"tenant_id": new_id()}))
        .await;
    assert_eq!((a.status, a.str("field").as_str()), (422, "tenant_id"), "{a:?}");
    let a = s
        .send("POST", "/v1/me/password", &owner.token, json!({"role": "owner"}))
        .await;
    assert_eq!((a.status, a.str("field").as_str()), (422, "role"), "{a:?}");
    let a = s
        .call(
            1,
            "POST",
            "/v1/auth/sign_in",
            Auth::None,
            Some(json!({"tenant": "acme", "email": "x"})),
        )
        .await;
    assert_eq!((a.status, a.str("field").as_str()), (422, "password"), "{a:?}");
    // Oversized headers, whatever they are, get a JSON answer.
    let r = reqwest::Client::new()
        .get(format!("{}/v1/tenant", s.url))
        .bearer_auth(&owner.token)
        .header("x-padding", "p".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "headers_too_large");
    // HEAD is answered as GET, authentication included; an unlisted method is refused.
    let a = s.call(1, "HEAD", "/v1/platform/tenants/acme", Auth::None, None).await;
    assert_eq!(a.status, 401);
    let a = s.call(1, "HEAD", "/v1/tenant", Auth::Bearer(&owner.token), None).await;
    assert_eq!((a.status, a.text.as_str()), (200, ""));
    let a = s.call(1, "PUT", "/v1/tenant", Auth::Bearer(&owner.token), None).await;
    assert_eq!((a.status, a.code()), (405, "method_not_allowed"));
    let a = s.call(1, "POST", "/v1/auth/sign_in", Auth::None, None).await;
    assert_eq!((a.status, a.str("field").as_str()), (422, "content-type"), "{a:?}");
}

async fn oauth_client_credentials(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let made = s
        .send(
            "POST",
            "/v1/oauth_clients",
            &owner.token,
            json!({"name": "warehouse", "scope": "write"}),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    let (id, secret) = (made.str("client_id"), made.str("client_secret"));
    let client = reqwest::Client::new();
    let form = |body: &str| {
        client
            .post(format!("{}/oauth/token", s.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    };
    // Credentials in the body.
    let r = form(&format!(
        "grant_type=client_credentials&client_id={id}&client_secret={secret}"
    ))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    assert_eq!(
        (token["token_type"].as_str(), token["expires_in"].as_i64()),
        (Some("Bearer"), Some(3600))
    );
    let access = token["access_token"].as_str().unwrap().to_owned();
    let me = s.get("/v1/me", &access).await;
    assert_eq!(
        (me.status, me.body["actor_type"].as_str(), me.body["role"].as_str()),
        (200, Some("oauth_client"), Some("editor"))
    );
    assert_eq!(
        s.send("PATCH", "/v1/tenant", &access, json!({})).await.status,
        403,
        "write scope is an editor"
    );

    // Credentials by Basic, and a narrower scope.
    let r = form("grant_type=client_credentials&scope=read")
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    let narrow: Value = r.json().await.unwrap();
    assert_eq!(narrow["scope"], "read");

    // The standard errors, in the RFC's shape.
    for (body, basic, status, error) in [
        ("grant_type=password", None, 400, "unsupported_grant_type"),
        ("client_id=x", None, 400, "invalid_request"),
        (
            &*format!("grant_type=client_credentials&client_id={id}&client_secret=wrong"),
            None,
            401,
            "invalid_client",
        ),
        (
            "grant_type=client_credentials&client_id=ovc_x_y&client_secret=z",
            None,
            401,
            "invalid_client",
        ),
        (
            &*format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
            Some(()),
            400,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&scope=admin",
            Some(()),
            400,
            "invalid_scope",
        ),
    ] {
        let mut r = form(body);
        if basic.is_some() {
            r = r.basic_auth(&id, Some(&secret));
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"], error, "{body}: {b}");
        assert!(b["error_description"].is_string());
    }

    // Deleting the client ends its tokens at once.
    assert_eq!(
        s.send("DELETE", &format!("/v1/oauth_clients/{id}"), &owner.token, json!({}))
            .await
            .status,
        204
    );
    assert_eq!(s.get("/v1/me", &access).await.status, 401);
}

/// A path of the route with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", &new_id())
        .replace("{slug}", "nosuch")
        .replace("{domain}", "nosuch.example")
}

async fn every_route_and_role_against_the_permission_table(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let mut principals: Vec<(Role, String)> = vec![(Role::Owner, owner.token.clone())];
    for (i, role) in ROLES.into_iter().filter(|r| *r != Role::Owner).enumerate() {
        let m = s.member(&owner, role.as_str(), &format!("user{i}@acme.example")).await;
        principals.push((role, m.token));
    }
    // API keys act with their scope's role.
    for scope in ["read", "write", "admin"] {
        let (key, _) = s.api_key(&owner, scope).await;
        let role = ovation::auth::Scope::parse(scope).unwrap().role();
        principals.push((role, key));
    }
    let mut checked = 0;
    // The web app's pages take a session cookie, not a credential header (`web.rs` walks them).
    for route in ROUTES.iter().filter(|r| !r.page) {
        let Access::Tenant(permission) = route.access else {
            continue;
        };
        for (role, token) in &principals {
            let body = (route.method != "GET").then(|| json!({}));
            let a = s
                .call(1, route.method, &concrete(route.path), Auth::Bearer(token), body)
                .await;
            let allowed = role.allows(permission);
            if allowed {
                assert_ne!(a.status, 403, "{role:?} {} {}: {a:?}", route.method, route.path);
                assert_ne!(a.status, 401, "{role:?} {} {}: {a:?}", route.method, route.path);
            } else {
                assert_eq!(
                    (a.status, a.code()),
                    (403, "permission_denied"),
                    "{role:?} {} {}",
                    route.method,
                    route.path
                );
            }
            checked += 1;
        }
    }
    let tenant_routes = ROUTES
        .iter()
        .filter(|r| !r.page && matches!(r.access, Access::Tenant(_)))
        .count();
    assert_eq!(checked, tenant_routes * principals.len());
    assert!(tenant_routes >= 14);
    // The SCIM routes take the workspace's SCIM token alone, and it opens no other route.
    let scim = s.send("POST", "/v1/scim/token", &owner.token, json!({})).await;
    assert_eq!(scim.status, 201, "{scim:?}");
    let scim = scim.str("token");
    let mut scim_routes = 0;
    for route in ROUTES.iter().filter(|r| !r.page) {
        let body = (route.method != "GET").then(|| json!({}));
        let path = concrete(route.path);
        match route.access {
            Access::Scim => {
                for (role, token) in &principals {
                    let a = s.call(1, route.method, &path, Auth::Bearer(token), body.clone()).await;
                    assert_eq!(
                        (a.status, a.code()),
                        (403, "scim_token_required"),
                        "{role:?} {} {}",
                        route.method,
                        route.path
                    );
                }
                scim_routes += 1;
            }
            Access::Tenant(_) | Access::Any | Access::User => {
                let a = s.call(1, route.method, &path, Auth::Bearer(&scim), body).await;
                assert_eq!(
                    (a.status, a.code()),
                    (403, "permission_denied"),
                    "the SCIM token on {} {}",
                    route.method,
                    route.path
                );
            }
            _ => {}
        }
    }
    assert_eq!(scim_routes, 13);
    // Every protected route refuses an anonymous caller; the operator's refuse tenant tokens.
    for route in ROUTES {
        let a = s.call(1, route.method, &concrete(route.path), Auth::None, None).await;
        match route.access {
            Access::Public | Access::Throttled | Access::Site => {
                assert_ne!(a.status, 401, "{} {}", route.method, route.path)
            }
            // A page sends whoever is not signed in to sign in (the client follows).
            _ if route.page => assert!(
                a.status == 200 && a.text.contains("action=\"sign-in\""),
                "{} {}: {a:?}",
                route.method,
                route.path
            ),
            _ => assert_eq!(a.status, 401, "{} {}: {a:?}", route.method, route.path),
        }
        if route.access == Access::Operator {
            let a = s
                .call(1, route.method, &concrete(route.path), Auth::Bearer(&owner.token), None)
                .await;
            assert_eq!(a.status, 401, "{} {}", route.method, route.path);
        }
    }
}

async fn tenants_cannot_reach_each_other(e: Engines) {
    let s = stack(e).await;
    let a = s.tenant("alpha").await;
    let b = s.tenant("bravo").await;
    let a_user = s.member(&a, "analyst", "ann@alpha.example").await;
    let (_, a_key) = s.api_key(&a, "read").await;
    let a_client = s
        .send(
            "POST",
            "/v1/oauth_clients",
            &a.token,
            json!({"name": "x", "scope": "read"}),
        )
        .await
        .str("client_id");
    let survey = s
        .send("POST", "/v1/surveys", &a.token, json!({"name": "A's"}))
        .await
        .str("id");
    let person = s
        .send(
            "POST",
            "/v1/people",
            &a.token,
            json!({"email": "p@alpha.example", "delay": 3600}),
        )
        .await
        .str("id");
    let response = s
        .send(
            "POST",
            "/v1/survey_responses",
            &a.token,
            json!({"person": person, "score": 9}),
        )
        .await
        .str("id");
    let import = s
        .call(1, "POST", "/v1/people/imports", Auth::Bearer(&a.token), None)
        .await;
    assert_eq!(import.status, 422, "an import needs a CSV body");
    let (a_key_full, _) = s.api_key(&a, "write").await;
    let import = reqwest::Client::new()
        .post(format!("{}/v1/people/imports", s.url))
        .bearer_auth(&a_key_full)
        .header("content-type", "text/csv")
        .body("email\nq@alpha.example\nbad\n")
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook = s
        .send(
            "POST",
            "/v1/webhooks",
            &a.token,
            json!({"url": "https://hooks.example.com/alpha"}),
        )
        .await
        .str("id");
    let export = s
        .send("POST", "/v1/exports/responses", &a.token, json!({}))
        .await
        .str("id");
    let site_key = s
        .send(
            "POST",
            "/v1/site_keys",
            &a.token,
            json!({"name": "Shop", "survey_id": survey, "origins": ["https://shop.alpha.example"]}),
        )
        .await
        .str("id");
    let team = s
        .send("POST", "/v1/teams", &a.token, json!({"name": "Alpha team"}))
        .await
        .str("id");
    // Every route that takes an id, with A's ids, by B's owner: 404, and A's things stay.
    let role = json!({"role": "owner"});
    let ids = [
        ("GET", format!("/v1/teams/{team}")),
        ("PATCH", format!("/v1/teams/{team}")),
        ("DELETE", format!("/v1/teams/{team}")),
        ("GET", format!("/v1/users/{}", a_user.user_id)),
        ("PATCH", format!("/v1/users/{}", a_user.user_id)),
        ("DELETE", format!("/v1/users/{}", a_user.user_id)),
        ("POST", format!("/v1/users/{}/invitation", a_user.user_id)),
        ("DELETE", format!("/v1/api_keys/{a_key}")),
        ("DELETE", format!("/v1/oauth_clients/{a_client}")),
        ("GET", format!("/v1/site_keys/{site_key}")),
        ("PATCH", format!("/v1/site_keys/{site_key}")),
        ("DELETE", format!("/v1/site_keys/{site_key}")),
        ("GET", format!("/v1/surveys/{survey}")),
        ("PATCH", format!("/v1/surveys/{survey}")),
        ("DELETE", format!("/v1/surveys/{survey}")),
        ("DELETE", format!("/v1/people/{person}")),
        ("DELETE", format!("/v1/people/{person}/survey_requests/pending")),
        ("GET", format!("/v1/people/imports/{import}")),
        ("GET", format!("/v1/people/imports/{import}/errors")),
        ("GET", format!("/v1/survey_responses/{response}")),
        ("PUT", format!("/v1/survey_responses/{response}")),
        ("GET", format!("/v1/webhooks/{webhook}")),
        ("PATCH", format!("/v1/webhooks/{webhook}")),
        ("DELETE", format!("/v1/webhooks/{webhook}")),
        ("POST", format!("/v1/webhooks/{webhook}/secret")),
        ("POST", format!("/v1/webhooks/{webhook}/test")),
        ("GET", format!("/v1/webhooks/{webhook}/deliveries")),
        ("GET", format!("/v1/exports/{export}")),
        ("GET", format!("/v1/exports/{export}/file")),
    ];
    // Pages with an id: `web.rs` tries them with the other workspace's session; the SCIM routes,
    // `scim.rs` with the other workspace's SCIM token.
    let with_id: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.path.contains("{id}") && !r.page && r.access != Access::Scim)
        .collect();
    assert_eq!(with_id.len(), ids.len(), "every route with an id is tried");
    for (method, path) in &ids {
        let body = if path.starts_with("/v1/users") {
            role.clone()
        } else {
            json!({})
        };
        let r = s.send(method, path, &b.token, body).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{method} {path}: {r:?}");
    }
    assert_eq!(
        s.get(&format!("/v1/survey_responses/{response}"), &a.token)
            .await
            .status,
        200
    );
    assert_eq!(s.get(&format!("/v1/surveys/{survey}"), &a.token).await.status, 200);
    assert_eq!(s.get(&format!("/v1/webhooks/{webhook}"), &a.token).await.status, 200);
    assert_eq!(s.get(&format!("/v1/teams/{team}"), &a.token).await.status, 200);
    assert_eq!(s.get(&format!("/v1/exports/{export}"), &a.token).await.status, 200);
    let kept = s.get(&format!("/v1/site_keys/{site_key}"), &a.token).await;
    assert!(kept.body["revoked_at"].is_null(), "{kept:?}");
    assert_eq!(
        s.get(&format!("/v1/users/{}", a_user.user_id), &a.token).await.status,
        200
    );
    assert_eq!(s.get("/v1/me", &a_user.token).await.status, 200);
    // A tenant id in the query is ignored: B sees B.
    let tenant_a = s.get("/v1/me", &a.token).await.str("tenant_id");
    let users = s.get(&format!("/v1/users?tenant_id={tenant_a}"), &b.token).await;
    let emails: Vec<&str> = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["owner@bravo.example"]);
    // A's credential with B's tenant id glued in is nothing.
    let swapped = a
        .token
        .replace(&tenant_a, &s.get("/v1/me", &b.token).await.str("tenant_id"));
    assert_eq!(s.get("/v1/me", &swapped).await.status, 401);
}

pub(crate) fn totp_code(uri: &str, offset_steps: i64) -> String {
    let totp = totp_rs::TOTP::from_url(uri).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp.generate((now + offset_steps * 30) as u64)
}

async fn totp_enrolment_sign_in_and_replay(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let enrol = s.send("POST", "/v1/me/mfa/totp", &owner.token, json!({})).await;
    assert_eq!(enrol.status, 200, "{enrol:?}");
    let uri = enrol.str("provisioning_uri");
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&enrol.str("secret")),
        "{uri}"
    );
    let wrong = s
        .send(
            "POST",
            "/v1/me/mfa/totp/confirm",
            &owner.token,
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.str("field").as_str()), (422, "code"));
    // The wrong code used up the pending secret: enrol again.
    let enrol = s.send("POST", "/v1/me/mfa/totp", &owner.token, json!({})).await;
    let uri = enrol.str("provisioning_uri");
    // Computed once: recomputed after a 30 s boundary it would be the next step's, no replay.
    let enrolment_code = totp_code(&uri, 0);
    let confirmed = s
        .send(
            "POST",
            "/v1/me/mfa/totp/confirm",
            &owner.token,
            json!({"code": enrolment_code}),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let recovery: Vec<String> = serde_json::from_value(confirmed.body["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);

    // The password alone is not enough now.
    let first = s.sign_in(1, "acme", "owner@acme.example", PASSWORD).await;
    assert_eq!(
        (first.status, first.str("status").as_str()),
        (200, "mfa_required"),
        "{first:?}"
    );
    assert!(first.body.get("token").is_none());
    let mfa = |token: &str, body: Value| {
        let mut body = body;
        body["mfa_token"] = token.into();
        s.call(1, "POST", "/v1/auth/mfa", Auth::None, Some(body))
    };
    let sign_in_again = || async {
        s.sign_in(1, "acme", "owner@acme.example", PASSWORD)
            .await
            .str("mfa_token")
    };
    // The code used at enrolment is refused (never twice); the next step's works, once.
    let challenge = first.str("mfa_token");
    let replay = mfa(&challenge, json!({"code": enrolment_code})).await;
    assert_eq!(replay.status, 401, "replay: {replay:?}");
    // One code, computed once: recomputed after a 30 s boundary it would be the next step's.
    let next_step = totp_code(&uri, 1);
    let ok = mfa(&challenge, json!({"code": next_step})).await;
    assert_eq!((ok.status, ok.str("status").as_str()), (200, "signed_in"), "{ok:?}");
    let challenge = sign_in_again().await;
    let again = mfa(&challenge, json!({"code": next_step})).await;
    assert_eq!(again.status, 401, "the same step twice");
    // A recovery code works once.
    let ok = mfa(&challenge, json!({"recovery_code": recovery[0].to_uppercase()})).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let challenge = sign_in_again().await;
    assert_eq!(mfa(&challenge, json!({"recovery_code": recovery[0]})).await.status, 401);
    // Five wrong codes end the challenge...
    for _ in 0..4 {
        assert_eq!(mfa(&challenge, json!({"code": "123456"})).await.status, 401);
    }
    let dead = mfa(&challenge, json!({"code": totp_code(&uri, 0)})).await;
    assert_eq!(dead.status, 401, "a sixth try on a used-up challenge: {dead:?}");
    assert!(dead.str("message").contains("sign in again"), "{dead:?}");
    // ...and hold the user's codes back: a fresh challenge (the password again) does not reset it.
    let challenge = sign_in_again().await;
    let held = mfa(&challenge, json!({"code": totp_code(&uri, 0)})).await;
    assert_eq!((held.status, held.code()), (429, "too_many_attempts"), "{held:?}");

    // A tenant that requires MFA restricts a member without it to enrolment.
    let ann = s.member(&owner, "analyst", "ann@acme.example").await;
    assert_eq!(s.get("/v1/tenant", &ann.token).await.status, 200);
    assert_eq!(
        s.send("PATCH", "/v1/tenant", &ok.str("token"), json!({"require_mfa": true}))
            .await
            .status,
        200
    );
    // A session opened before the policy is held to it from its next request.
    let a = s.get("/v1/tenant", &ann.token).await;
    assert_eq!((a.status, a.code()), (403, "mfa_enrolment_required"), "{a:?}");
    let signed = s.sign_in(1, "acme", "ann@acme.example", PASSWORD).await;
    assert_eq!(signed.body["required_action"], "mfa_enrolment", "{signed:?}");
    let restricted = signed.str("token");
    let a = s.get("/v1/tenant", &restricted).await;
    assert_eq!((a.status, a.code()), (403, "mfa_enrolment_required"));
    let uri = s
        .send("POST", "/v1/me/mfa/totp", &restricted, json!({}))
        .await
        .str("provisioning_uri");
    let done = s
        .send(
            "POST",
            "/v1/me/mfa/totp/confirm",
            &restricted,
            json!({"code": totp_code(&uri, 0)}),
        )
        .await;
    assert_eq!(done.status, 200);
    assert_eq!(
        s.get("/v1/tenant", &restricted).await.status,
        200,
        "enrolled: the restriction is lifted"
    );
    // An admin resets a lost device: the user enrols again.
    let reset = s
        .send(
            "PATCH",
            &format!("/v1/users/{}", ann.user_id),
            &ok.str("token"),
            json!({"reset_mfa": true}),
        )
        .await;
    assert_eq!(
        (reset.status, reset.body["mfa_enabled"].as_bool()),
        (200, Some(false)),
        "{reset:?}"
    );
}

async fn brute_force_locks_the_attacker_not_the_owner(e: Engines) {
    let s = stack(e).await;
    s.tenant("acme").await;
    // The owner signs in from 127.0.0.2 once: a known address.
    assert_eq!(s.sign_in(2, "acme", "owner@acme.example", PASSWORD).await.status, 200);
    // From one address: five free failures, then a doubling wait, even for the right password.
    for _ in 0..5 {
        assert_eq!(
            s.sign_in(9, "acme", "owner@acme.example", "guess guess guess")
                .await
                .status,
            401
        );
    }
    let locked = s.sign_in(9, "acme", "owner@acme.example", PASSWORD).await;
    assert_eq!((locked.status, locked.code()), (429, "too_many_attempts"), "{locked:?}");
    let retry: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    // A refused try is not counted: asking again does not lengthen the wait.
    let again = s.sign_in(9, "acme", "owner@acme.example", PASSWORD).await;
    let retry_again: u64 = again.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_again <= retry, "{retry_again} > {retry}");
    // Guesses sent at once see each other: of twelve, the five free ones are judged.
    let burst = (0..12).map(|_| s.sign_in(40, "acme", "owner@acme.example", "guess guess guess"));
    let mut statuses: Vec<u16> = futures_util::future::join_all(burst)
        .await
        .iter()
        .map(|a| a.status)
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [[401; 5].as_slice(), [429; 7].as_slice()].concat(),
        "{statuses:?}"
    );
    // An unknown email is locked alike: nothing tells them apart.
    for _ in 0..5 {
        s.sign_in(9, "acme", "nobody@acme.example", "guess guess guess").await;
    }
    let a = s.sign_in(9, "acme", "nobody@acme.example", "guess guess guess").await;
    assert_eq!((a.status, a.code()), (429, "too_many_attempts"));
    // So is a workspace that does not exist: its tries lock as a known one's do.
    let mut unknown = vec![];
    for _ in 0..6 {
        unknown.push(
            s.sign_in(9, "no-such-place", "owner@acme.example", "guess guess guess")
                .await,
        );
    }
    let statuses: Vec<u16> = unknown.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429], "{unknown:?}");
    assert!(unknown[5].header("retry-after").is_some());
    // Failures from many addresses lock the account for new addresses...
    for host in 10..14u8 {
        for _ in 0..5 {
            s.sign_in(host, "acme", "owner@acme.example", "guess guess guess").await;
        }
    }
    let a = s.sign_in(30, "acme", "owner@acme.example", PASSWORD).await;
    assert_eq!(a.status, 429, "{a:?}");
    // ...but not for the owner's known address.
    let owner = s.sign_in(2, "acme", "owner@acme.example", PASSWORD).await;
    assert_eq!(owner.status, 200, "{owner:?}");
    // The failures and the locks are audited.
    for (action, at_least) in [("sign_in.failed", 15), ("sign_in.locked", 3)] {
        let path = format!("/v1/audit_events?action={action}&per_page=100");
        let audit = s.get(&path, &owner.str("token")).await;
        assert!(
            audit.body.as_array().unwrap().len() >= at_least,
            "{action}: {}",
            audit.text
        );
    }
}

async fn ip_allow_lists_hold_on_every_request(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let patch = |host: u8, list: Value| {
        s.call(
            host,
            "PATCH",
            "/v1/tenant",
            Auth::Bearer(&owner.token),
            Some(json!({"ip_allow_list": list})),
        )
    };
    let a = patch(1, json!(["10.0.0.0/33"])).await;
    assert_eq!((a.status, a.str("field").as_str()), (422, "ip_allow_list"), "{a:?}");
    assert!(a.str("message").contains("10.0.0.0/33"));
    let a = patch(1, json!(["203.0.113.0/24"])).await;
    assert!(a.str("message").contains("lock yourself out"), "{a:?}");
    let a = patch(2, json!(["127.0.0.2", "2001:db8::/32"])).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        a.body["settings"]["ip_allow_list"],
        json!(["127.0.0.2/32", "2001:db8::/32"])
    );
    // Every authenticated request from elsewhere is refused, whatever the credential.
    let (key, _) = s.api_key_from(2, &owner, "read").await;
    for token in [&owner.token, &key] {
        let a = s.call(1, "GET", "/v1/me", Auth::Bearer(token), None).await;
        assert_eq!((a.status, a.code()), (403, "ip_not_allowed"), "{a:?}");
        assert_eq!(s.call(2, "GET", "/v1/me", Auth::Bearer(token), None).await.status, 200);
    }
    // Signing in from elsewhere fails like a wrong password (the tenant is not revealed).
    let a = s.sign_in(1, "acme", "owner@acme.example", PASSWORD).await;
    assert_eq!((a.status, a.code()), (401, "invalid_credentials"));
    assert_eq!(s.sign_in(2, "acme", "owner@acme.example", PASSWORD).await.status, 200);
    // X-Forwarded-For changes nothing.
    let r = reqwest::Client::new()
        .get(format!("{}/v1/me", s.url))
        .bearer_auth(&owner.token)
        .header("x-forwarded-for", "127.0.0.2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn throttling_per_address_and_per_tenant_across_instances(e: Engines) {
    let store = e.store.clone();
    let keyring = e.keyring.clone();
    let s = Stack::start(e, |settings| {
        settings.login_rate_per_ip.per_second = 1;
        settings.login_rate_per_ip.burst = 3;
        settings.rate_per_tenant_minute = 12;
    })
    .await;
    // The sign-in budget per address: 3 at once, then 1 a second, from 127.0.0.1 only (a slow
    // run sees a token come back each second since the first).
    let started = std::time::Instant::now();
    let mut admitted = 0;
    let a = loop {
        let a = s.sign_in(1, "nosuch", "a@b.example", "whatever whatever").await;
        if a.status == 429 {
            break a;
        }
        admitted += 1;
        let refilled = started.elapsed().as_secs();
        assert!(admitted <= 3 + refilled, "{admitted} admitted in {refilled} s: {a:?}");
    };
    assert!(admitted >= 3, "the burst is 3: {admitted}");
    assert_eq!((a.status, a.code()), (429, "rate_limited"), "{a:?}");
    assert!(a.header("retry-after").is_some() && a.header("x-ratelimit-limit").is_some());
    // Tenants and keys by the operator (not sign-in routes).
    s.create_tenant("acme").await;
    let acme = s.tenant_key("acme").await;
    s.create_tenant("other").await;
    let other_key = s.tenant_key("other").await;

    // The budget is a minute's: start well inside one.
    while ovation::store::now_unix() % 60 > 45 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    // A second instance over the same store: the tenant's budget is shared.
    let mut settings = s.ctx.settings.clone();
    settings.rate_per_tenant_minute = 12;
    let second = ovation::Context::with_adapters(settings, store, keyring);
    let second_url = crate::api::serve(second).await;
    let mut statuses = vec![];
    for i in 0..16 {
        let url = if i % 2 == 0 { &s.url } else { &second_url };
        let a = crate::api::call(url, 4, "GET", "/v1/tenant", Auth::Bearer(&acme), None).await;
        statuses.push(a.status);
        if a.status == 429 {
            assert_eq!(a.code(), "rate_limited");
            assert!(a.header("retry-after").is_some());
        }
    }
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        (10..=12).contains(&served),
        "12 a minute across both instances: {statuses:?}"
    );
    // Another tenant has its own budget.
    assert_eq!(s.get("/v1/tenant", &other_key).await.status, 200);
}

async fn support_access_only_while_allowed(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let as_operator = |method: &'static str, path: &'static str, tenant: Option<&'static str>| {
        let url = s.url.clone();
        async move {
            let mut r = reqwest::Client::new()
                .request(method.parse().unwrap(), format!("{url}{path}"))
                .bearer_auth(OPERATOR_KEY);
            if let Some(t) = tenant {
                r = r.header("ovation-tenant", t);
            }
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = as_operator("GET", "/v1/users", Some("acme")).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("support_access_disabled")));
    assert_eq!(as_operator("GET", "/v1/users", None).await.0, 401);
    let a = s
        .send("PATCH", "/v1/tenant", &owner.token, json!({"support_access": true}))
        .await;
    assert_eq!(a.status, 200);
    let (status, body) = as_operator("GET", "/v1/users", Some("acme")).await;
    assert_eq!(status, 200, "{body}");
    // The operator acts as an admin, but makes no user or credential that would outlast the
    // switch; every request is audited as the operator.
    let (status, body) = as_operator("GET", "/v1/tenant", Some("acme")).await;
    assert_eq!(status, 200, "{body}");
    for (method, path) in [
        ("POST", "/v1/api_keys"),
        ("POST", "/v1/users"),
        ("DELETE", "/v1/users/01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        ("PATCH", "/v1/tenant"),
    ] {
        let (status, body) = as_operator(method, path, Some("acme")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("permission_denied")),
            "{method} {path}"
        );
    }
    let (status, me) = as_operator("GET", "/v1/me", Some("acme")).await;
    assert_eq!(
        (status, me["actor_type"].as_str(), me["role"].as_str()),
        (200, Some("operator"), Some("admin"))
    );
    let audit = s
        .get("/v1/audit_events?actor_id=operator&per_page=100", &owner.token)
        .await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.iter().filter(|a| **a == "support.request").count() >= 3,
        "{actions:?}"
    );
    assert!(actions.contains(&"access.denied"), "{actions:?}");
    let switched = s
        .get("/v1/audit_events?action=tenant.support_access_enabled", &owner.token)
        .await;
    assert_eq!(switched.body.as_array().unwrap().len(), 1);
    let a = s
        .send("PATCH", "/v1/tenant", &owner.token, json!({"support_access": false}))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        as_operator("GET", "/v1/users", Some("acme")).await.0,
        403,
        "switched off: at once"
    );
    // A wrong operator key opens nothing.
    let a = s
        .call(1, "GET", "/v1/platform/tenants/acme", Auth::Bearer("ovo_wrong"), None)
        .await;
    assert_eq!(a.status, 401);
    let a = s
        .call(1, "GET", "/v1/platform/tenants/acme", Auth::Bearer(OPERATOR_KEY), None)
        .await;
    assert_eq!((a.status, a.str("slug").as_str()), (200, "acme"));
    // Once the owner has taken the tenant over, the operator makes no API key in it (not even
    // with support access: a key would outlast the switch); a new tenant's first key, it may.
    let key = json!({"name": "ops", "scope": "admin"});
    let path = "/v1/platform/tenants/acme/api_keys";
    let a = s
        .call(1, "POST", path, Auth::Bearer(OPERATOR_KEY), Some(key.clone()))
        .await;
    assert_eq!((a.status, a.code()), (403, "tenant_claimed"), "{a:?}");
    s.create_tenant("fresh").await;
    let path = "/v1/platform/tenants/fresh/api_keys";
    let a = s.call(1, "POST", path, Auth::Bearer(OPERATOR_KEY), Some(key)).await;
    assert_eq!(a.status, 201, "a new tenant nobody has taken over: {a:?}");
}

async fn audit_trail_lists_filters_and_exports(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    s.sign_in(1, "acme", "owner@acme.example", "wrong password here").await;
    let (_, key_id) = s.api_key(&owner, "read").await;
    let analyst = s.member(&owner, "analyst", "ann@acme.example").await;
    // A refused change is audited too.
    s.send("PATCH", "/v1/tenant", &analyst.token, json!({"display_name": "X"}))
        .await;
    let all = s.get("/v1/audit_events?per_page=100", &owner.token).await;
    assert_eq!(all.status, 200);
    let events = all.body.as_array().unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for wanted in [
        "tenant.created",
        "sign_in.succeeded",
        "user.password_changed",
        "sign_in.failed",
        "api_key.created",
        "user.invited",
        "user.invite_accepted",
        "access.denied",
    ] {
        assert!(actions.contains(&wanted), "{wanted} in {actions:?}");
    }
    let created = events.iter().find(|e| e["action"] == "api_key.created").unwrap();
    assert_eq!(created["target_id"], key_id.as_str());
    assert_eq!(
        (created["actor_type"].as_str(), created["role"].as_str()),
        (Some("user"), Some("owner"))
    );
    assert_eq!(created["source_ip"], "127.0.0.1");
    assert_eq!(created["outcome"], "success");
    let denied = events.iter().find(|e| e["action"] == "access.denied").unwrap();
    assert_eq!(
        (denied["actor_id"].as_str(), denied["outcome"].as_str()),
        (Some(analyst.user_id.as_str()), Some("failure"))
    );
    // Newest first, pages linked.
    let first = s.get("/v1/audit_events?per_page=2", &owner.token).await;
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    let next = first
        .header("link")
        .unwrap()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    assert!(next.starts_with(&s.url), "an absolute link: {next}");
    let next = next.replacen(&s.url, "", 1);
    // The next page is the same window, even asked for a second later.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = s.get(&next, &owner.token).await;
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(second.body[0], events[2]);
    // Filters carry over to the next page.
    let failed = s
        .get("/v1/audit_events?action=user.invited&per_page=1", &owner.token)
        .await;
    let link = failed.header("link").unwrap_or_default().to_owned();
    assert!(
        link.contains("action=user.invited") && link.contains("until="),
        "{link}"
    );
    // Filter and JSON-lines export.
    let only = s.get("/v1/audit_events?action=sign_in.failed", &owner.token).await;
    assert!(
        only.body
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] == "sign_in.failed")
    );
    let export = s.get("/v1/audit_events?format=jsonl", &owner.token).await;
    assert_eq!(export.status, 200, "{export:?}");
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = export.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), events.len());
    // Append-only: no route changes an event.
    assert_eq!(
        s.send("DELETE", "/v1/audit_events", &owner.token, json!({}))
            .await
            .status,
        405
    );
    let a = s.get("/v1/audit_events?cursor=2026-11~forged", &owner.token).await;
    assert_eq!((a.status, a.code()), (400, "invalid_cursor"));
}

async fn users_are_managed_within_the_rules(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let admin = s.member(&owner, "admin", "adam@acme.example").await;
    // One user per email.
    let a = s
        .send(
            "POST",
            "/v1/users",
            &owner.token,
            json!({"email": "ADAM@acme.example", "role": "editor"}),
        )
        .await;
    assert_eq!((a.status, a.str("field").as_str()), (422, "email"), "{a:?}");
    // Admins do not touch owners.
    let a = s
        .send(
            "POST",
            "/v1/users",
            &admin.token,
            json!({"email": "o2@acme.example", "role": "owner"}),
        )
        .await;
    assert_eq!(a.status, 403);
    let a = s
        .send(
            "PATCH",
            &format!("/v1/users/{}", owner.user_id),
            &admin.token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(a.status, 403);
    // The last owner stays an owner.
    let a = s
        .send(
            "PATCH",
            &format!("/v1/users/{}", owner.user_id),
            &owner.token,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!((a.status, a.str("field").as_str()), (422, "role"), "{a:?}");
    // Disabling ends the user's sessions and sign-ins; a role change ends sessions too.
    let editor = s.member(&owner, "editor", "eve@acme.example").await;
    let a = s
        .send(
            "PATCH",
            &format!("/v1/users/{}", editor.user_id),
            &admin.token,
            json!({"role": "analyst"}),
        )
        .await;
    assert_eq!((a.status, a.body["role"].as_str()), (200, Some("analyst")));
    assert_eq!(s.get("/v1/me", &editor.token).await.status, 401);
    let token = s.sign_in(1, "acme", "eve@acme.example", PASSWORD).await.str("token");
    assert_eq!(s.get("/v1/me", &token).await.body["role"], "analyst");
    let a = s
        .send(
            "PATCH",
            &format!("/v1/users/{}", editor.user_id),
            &admin.token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(a.body["status"], "disabled");
    assert_eq!(s.get("/v1/me", &token).await.status, 401);
    assert_eq!(
        s.sign_in(1, "acme", "eve@acme.example", PASSWORD).await.code(),
        "invalid_credentials"
    );
    // Deleted users are gone, with their sessions.
    assert_eq!(
        s.send(
            "DELETE",
            &format!("/v1/users/{}", admin.user_id),
            &owner.token,
            json!({})
        )
        .await
        .status,
        204
    );
    assert_eq!(s.get("/v1/me", &admin.token).await.status, 401);
    assert_eq!(
        s.get(&format!("/v1/users/{}", admin.user_id), &owner.token)
            .await
            .status,
        404
    );
    // Invitations are used once.
    let invited = s
        .send(
            "POST",
            "/v1/users",
            &owner.token,
            json!({"email": "ivy@acme.example", "role": "analyst"}),
        )
        .await;
    let accept = json!({"invite_token": invited.str("invite_token"), "password": PASSWORD});
    assert_eq!(
        s.call(1, "POST", "/v1/auth/accept_invite", Auth::None, Some(accept.clone()))
            .await
            .status,
        200
    );
    assert_eq!(
        s.call(1, "POST", "/v1/auth/accept_invite", Auth::None, Some(accept))
            .await
            .status,
        401
    );
    // Two owners demoting each other at once: one wins, the tenant keeps an owner.
    let second = s.member(&owner, "owner", "olga@acme.example").await;
    let (path_second, path_first) = (
        format!("/v1/users/{}", second.user_id),
        format!("/v1/users/{}", owner.user_id),
    );
    let demote = json!({"role": "admin"});
    let (a, b) = tokio::join!(
        s.send("PATCH", &path_second, &owner.token, demote.clone()),
        s.send("PATCH", &path_first, &second.token, demote.clone()),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    // The loser is refused (422), or its session already ended with its role (401).
    assert!(matches!(statuses, [200, 422] | [200, 401]), "{a:?} {b:?}");
    // The winner is the one left an owner. (Sessions end before a role change is written, so a
    // change that then loses the race has signed its target out: safe, if abrupt.)
    let winner = if a.status == 200 {
        "owner@acme.example"
    } else {
        "olga@acme.example"
    };
    let token = s.sign_in(1, "acme", winner, PASSWORD).await.str("token");
    let users = s.get("/v1/users?per_page=100", &token).await;
    let owners = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "owner")
        .count();
    assert_eq!(owners, 1, "{users:?}");

    // Pages of users are linked.
    let page = s.get("/v1/users?per_page=2", &token).await;
    assert_eq!(page.body.as_array().unwrap().len(), 2);
    assert!(page.header("link").is_some_and(|l| l.contains("rel=\"next\"")));
    assert_eq!(s.get("/v1/users?per_page=0", &token).await.str("field"), "per_page");
}

async fn deleting_a_tenant_shreds_and_purges(e: Engines) {
    let s = stack(e).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "read").await;
    let tenant: ovation::ids::TenantId = s.get("/v1/me", &owner.token).await.str("tenant_id").parse().unwrap();
    let a = s
        .call(
            1,
            "DELETE",
            "/v1/platform/tenants/acme",
            Auth::Bearer(OPERATOR_KEY),
            None,
        )
        .await;
    assert_eq!(a.status, 204, "{a:?}");
    for token in [&owner.token, &key] {
        assert_eq!(s.get("/v1/me", token).await.status, 401);
    }
    assert_eq!(
        s.sign_in(1, "acme", "owner@acme.example", PASSWORD).await.code(),
        "invalid_credentials"
    );
    // The keys are shredded: the user's encrypted email cannot be read any more.
    let store = s.ctx.tenant_store(&tenant);
    assert!(
        ovation::services::accounts::users::load(&store, &owner.user_id)
            .await
            .is_err()
    );
    // The purge, when due, removes the tenant's items and frees the slug.
    let now = ovation::store::now_unix();
    assert_eq!(
        ovation::services::lifecycle::tenants::purge_due(&s.ctx, now)
            .await
            .unwrap(),
        0,
        "not yet due"
    );
    let later = now + 31 * 86_400;
    assert_eq!(
        ovation::services::lifecycle::tenants::purge_due(&s.ctx, later)
            .await
            .unwrap(),
        1
    );
    let left = s
        .ctx
        .store
        .query(&ovation::store::Query::new(ovation::store::keys::tenant_partition(
            &tenant,
        )))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "{:?}", left.items);
    s.tenant("acme").await;
}

/// Authenticating a request (credential and permission) costs one store read: the credential's
/// item. The tenant's settings come from the short cache, the keys from the key cache.
async fn authenticating_reads_the_store_once(e: Engines) {
    use std::sync::Arc;

    use ovation::auth::credential;
    use ovation::services::accounts::sessions::authenticate;

    let counting = Arc::new(ovation::store::metered::MeteredStore::new(e.store.clone()));
    let mut settings = ovation::config::Settings::local(e.dir.path().to_owned());
    // The tenant stays cached for the whole test, however slow the emulator (5 s by default).
    settings.tenant_cache = std::time::Duration::from_secs(600);
    let ctx = ovation::Context::with_adapters(settings, counting.clone(), e.keyring.clone());
    let url = crate::api::serve(ctx.clone()).await;
    let created = crate::api::call(
        &url,
        1,
        "POST",
        "/v1/platform/tenants",
        Auth::Bearer(OPERATOR_KEY),
        Some(json!({"slug": "acme", "owner_email": "o@acme.example"})),
    )
    .await;
    assert_eq!(created.status, 401, "this stack has no operator key");
    let made = ovation::services::lifecycle::tenants::create(
        &ctx,
        ovation::services::lifecycle::tenants::NewTenant {
            slug: "acme".into(),
            owner_email: "o@acme.example".into(),
            display_name: None,
        },
    )
    .await
    .unwrap();
    let store = ctx.tenant_store(&made.tenant.id);
    let request = ovation::services::accounts::credentials::NewCredential {
        name: "x".into(),
        scope: ovation::auth::Scope::Read,
    };
    let key = ovation::services::accounts::credentials::create_api_key(&store, None, request)
        .await
        .unwrap()
        .key;
    let presented = credential::parse(&key).unwrap();
    authenticate(&ctx, &presented, None).await.unwrap();
    let before = counting.calls().reads();
    for _ in 0..10 {
        authenticate(&ctx, &presented, None).await.unwrap();
    }
    assert_eq!(counting.calls().reads() - before, 10, "one read per authentication");
}

/// One rule for who sees people's contact details: the roles that manage people, and analysts
/// (and `read` keys) only when the workspace allows it. Off, every way to them is closed: the
/// people lists, a response expanded with its person, a filter by email, the export's contact
/// columns and an export job's file made with them. On, a read key lists people as a Delighted
/// integration does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rule_for_who_sees_people() {
    let s = stack(Engines::embedded()).await;
    let owner = s.tenant("acme").await;
    let (writer, _) = s.api_key(&owner, "write").await;
    let (reader, _) = s.api_key(&owner, "read").await;
    let person = s
        .send(
            "POST",
            "/v1/people",
            &writer,
            json!({"email": "ann@example.com", "name": "Ann", "send": false}),
        )
        .await
        .str("id");
    let response = s
        .send(
            "POST",
            "/v1/survey_responses",
            &writer,
            json!({"person": person, "score": 9}),
        )
        .await
        .str("id");
    let admin_job = s
        .call(
            1,
            "POST",
            "/v1/exports/responses?format=csv",
            Auth::Bearer(&owner.token),
            None,
        )
        .await
        .str("id");
    let contact_routes = [
        "/v1/people".to_owned(),
        "/v1/unsubscribes".to_owned(),
        "/v1/bounces".to_owned(),
        "/v1/autopilot/email/memberships".to_owned(),
        "/v1/survey_responses?expand[]=person".to_owned(),
        format!("/v1/survey_responses/{response}?expand[]=person"),
        "/v1/survey_responses?person_email=ann%40example.com".to_owned(),
    ];
    let export = |key: &str| {
        let key = key.to_owned();
        let s = &s;
        async move {
            let a = s
                .call(1, "GET", "/v1/exports/responses?format=csv", Auth::Bearer(&key), None)
                .await;
            assert_eq!(a.status, 200, "{a:?}");
            a.text.lines().next().unwrap_or_default().to_owned()
        }
    };
    // Off (the default): closed to the read key, open to the write key.
    for path in &contact_routes {
        let a = s.call(1, "GET", path, Auth::Bearer(&reader), None).await;
        assert_eq!((a.status, a.code()), (403, "permission_denied"), "{path}: {a:?}");
        let a = s.call(1, "GET", path, Auth::Bearer(&writer), None).await;
        assert_eq!(a.status, 200, "{path}: {a:?}");
    }
    let header = export(&reader).await;
    assert!(header.contains("Person ID") && !header.contains("Email"), "{header}");
    assert!(export(&writer).await.contains("\"Email\",\"Name\",\"Phone\""));
    // The admin's export job (made with contacts) is not the read key's to see or fetch.
    for path in [
        format!("/v1/exports/{admin_job}"),
        format!("/v1/exports/{admin_job}/file"),
    ] {
        let a = s.call(1, "GET", &path, Auth::Bearer(&reader), None).await;
        assert_eq!((a.status, a.code()), (403, "permission_denied"), "{path}: {a:?}");
    }
    // On: the read key sees them everywhere.
    let on = s
        .send(
            "PATCH",
            "/v1/tenant",
            &owner.token,
            json!({"privacy": {"store_respondent_ip": false, "store_email_hash_only": false, "analysts_see_people": true}}),
        )
        .await;
    assert_eq!(on.status, 200, "{on:?}");
    for path in &contact_routes {
        let a = s.call(1, "GET", path, Auth::Bearer(&reader), None).await;
        assert_eq!(a.status, 200, "{path}: {a:?}");
    }
    let listed = s.get("/v1/people", &reader).await;
    assert_eq!(listed.body[0]["email"], "ann@example.com");
    assert!(export(&reader).await.contains("\"Email\",\"Name\",\"Phone\""));
}
