//! The full tenant export on every engine: the owner only, audited; every family of items a
//! tenant has (settings, users' sessions, surveys with invitations and counters, people with
//! their pointers, responses, suppression lists, autopilot members, webhooks with their events,
//! the audit trail) is in it, sealed fields decrypted; and the purge of a deleted tenant removes
//! every item the export found.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::api::{Auth, OPERATOR_KEY, Stack};
use crate::support::Engines;

on_every_engine!(the_tenant_export_has_every_item_and_the_purge_takes_them);

async fn the_tenant_export_has_every_item_and_the_purge_takes_them(e: Engines) {
    let s = Stack::start(e, |_| {}).await;
    let owner = s.tenant("porta").await;
    let admin = s.member(&owner, "admin", "ada@porta.example").await;
    let (key, _) = s.api_key(&owner, "admin").await;
    let tenant: ovation::ids::TenantId = s.get("/v1/me", &owner.token).await.str("tenant_id").parse().unwrap();

    // One of each family.
    let person = s
        .send(
            "POST",
            "/v1/people",
            &key,
            json!({"email": "ann@example.com", "name": "Ann Lee", "delay": 3600}),
        )
        .await;
    assert_eq!(person.status, 200, "{person:?}");
    let person = person.str("id");
    let response = s
        .send(
            "POST",
            "/v1/survey_responses",
            &key,
            json!({"person": person, "score": 9, "comment": "Lovely support"}),
        )
        .await;
    assert_eq!(response.status, 201, "{response:?}");
    let hook = s
        .send(
            "POST",
            "/v1/webhooks",
            &key,
            json!({"url": "https://hooks.example.com/porta?token=abc"}),
        )
        .await;
    assert_eq!(hook.status, 201, "{hook:?}");
    let unsubscribed = s
        .send(
            "POST",
            "/v1/unsubscribes",
            &key,
            json!({"person_email": "bob@example.com"}),
        )
        .await;
    assert_eq!(unsubscribed.status, 200, "{unsubscribed:?}");
    let joined = s
        .send(
            "POST",
            "/v1/autopilot/email/memberships",
            &key,
            json!({"person_email": "cat@example.com"}),
        )
        .await;
    assert!(joined.status < 300, "{joined:?}");
    let survey = s.get("/v1/surveys", &key).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let site_key = s
        .send(
            "POST",
            "/v1/site_keys",
            &key,
            json!({"name": "Shop", "survey_id": survey, "origins": ["https://shop.example.com"]}),
        )
        .await;
    assert_eq!(site_key.status, 201, "{site_key:?}");
    let decided = reqwest::Client::new()
        .post(format!("{}/w/v1/decide", s.url))
        .header("origin", "https://shop.example.com")
        .body(json!({"key": site_key.str("key"), "visitor": {"email": "dan@example.com"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 200);
    let me = owner.owner_of(&tenant);
    let choice = ovation::services::notifications::subscriptions::Choice {
        survey,
        answers: Some(ovation::services::notifications::subscriptions::Answers::Detractors),
        digest: true,
    };
    ovation::services::notifications::subscriptions::choose(&s.ctx, &s.ctx.tenant_store(&tenant), &me, &[choice])
        .await
        .unwrap();

    // The owner only.
    for token in [&key, &admin.token] {
        let refused = s.get("/v1/exports/tenant", token).await;
        assert_eq!(refused.status, 403, "{refused:?}");
    }
    let export = s.get("/v1/exports/tenant", &owner.token).await;
    assert_eq!(export.status, 200, "{export:?}");
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = export.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let own = format!("T#{tenant}");
    assert!(lines.iter().all(|l| {
        let pk = l["partition"].as_str().unwrap();
        pk == own || pk.starts_with(&format!("{own}#"))
    }));
    // Every family, by where it lives.
    let families: BTreeSet<String> = lines
        .iter()
        .map(|l| {
            let pk = l["partition"].as_str().unwrap().trim_start_matches(&own);
            let sk = l["sort"].as_str().unwrap();
            let part = pk.split('#').nth(1).unwrap_or("");
            match part {
                "" => sk.split('#').next().unwrap().to_owned(),
                "S" if pk.contains("#AGG#") => "S/AGG".into(),
                other => other.to_owned(),
            }
        })
        .collect();
    for family in [
        "TENANT",
        "USER",
        "APIKEY",
        "SURVEY",
        "DEK",
        "PEOPLE",
        "P",
        "R",
        "S",
        "S/AGG",
        "UNSUB",
        "AUTOPILOT",
        "WH",
        "WHE",
        "AUDIT",
        "U",
        "NOTIFY",
        "NOTIFIER",
        "SITE",
        "WV",
    ] {
        assert!(families.contains(family), "{family} missing from {families:?}");
    }
    // Sealed fields are opened.
    let text = export.text.as_str();
    for plain in [
        "ann@example.com",
        "Ann Lee",
        "Lovely support",
        "https://hooks.example.com/porta?token=abc",
    ] {
        assert!(
            text.contains(&format!("{{\"decrypted\":\"{plain}\"}}")),
            "{plain} not decrypted"
        );
    }
    // Secrets never leave: password hashes, second-factor seeds, webhook signing secrets.
    assert!(
        text.contains("\"secrets\":{\"redacted\":true}"),
        "users' secrets redacted"
    );
    assert!(
        text.contains("\"secret\":{\"redacted\":true}"),
        "the webhook secret redacted"
    );
    assert!(!text.contains("$argon2"), "no password hash");
    assert!(!text.contains(&hook.str("secret")), "no signing secret");
    let audit = s.get("/v1/audit_events?action=tenant.exported", &owner.token).await;
    assert_eq!(audit.body.as_array().map(Vec::len), Some(1), "{audit:?}");

    // The purge of the deleted tenant leaves none of what the export found.
    let deleted = s
        .call(
            1,
            "DELETE",
            "/v1/platform/tenants/porta",
            Auth::Bearer(OPERATOR_KEY),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    let later = ovation::store::now_unix() + 31 * 86_400;
    assert_eq!(
        ovation::services::lifecycle::tenants::purge_due(&s.ctx, later)
            .await
            .unwrap(),
        1
    );
    let mut left = Vec::new();
    for line in &lines {
        let key = ovation::store::Key::new(line["partition"].as_str().unwrap(), line["sort"].as_str().unwrap());
        if s.ctx.store.get(&key).await.unwrap().is_some() {
            left.push(key);
        }
    }
    assert!(left.is_empty(), "left after the purge: {left:?}");
}
