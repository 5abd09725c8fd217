//! Retention on every engine, with the job's clock moved: old responses are anonymised (or
//! deleted) while the results keep counting them, finished invitations, idle people, imports and
//! old audit months go, what must stay stays, and an audit entry gives the counts.

use std::time::Duration;

use ovation::ids::TenantId;
use ovation::store::{Query, keys, now_unix};
use serde_json::{Value, json};

use crate::api::Stack;
use crate::support::Engines;

on_every_engine!(
    retention_anonymises_then_deletes_what_is_past_its_period,
    retention_deletes_responses_when_the_workspace_chose_it
);

const DAY: i64 = 86_400;

async fn run(s: &Stack, now: i64) -> ovation::services::lifecycle::retention::RetentionReport {
    job_retention::handle(&s.ctx, now, Duration::from_secs(120))
        .await
        .unwrap()
}

async fn person(s: &Stack, key: &str, email: &str, plan: &str) -> String {
    let body = json!({"email": email, "name": "Ada Lovelace", "send": false,
                      "properties": {"plan": plan, "employee_id": "E-1"}});
    let made = s.send("POST", "/v1/people", key, body).await;
    assert_eq!(made.status, 200, "{made:?}");
    made.str("id")
}

async fn answer(s: &Stack, key: &str, person: &str, survey: &str, score: i64, at: i64) -> String {
    let body = json!({"person": person, "score": score, "survey_id": survey,
                      "comment": "Call me on +45 20 30 40 50", "created_at": at});
    let made = s.send("POST", "/v1/survey_responses", key, body).await;
    assert_eq!(made.status, 201, "{made:?}");
    made.str("id")
}

/// The invitations stored in all the tenant's surveys.
async fn invitations(s: &Stack, token: &str) -> usize {
    let tenant: TenantId = s.get("/v1/tenant", token).await.str("id").parse().unwrap();
    let surveys = Query::new(keys::tenant_partition(&tenant)).prefix(keys::SURVEY_PREFIX);
    let mut count = 0;
    for survey in s.ctx.store.query(&surveys).await.unwrap().items {
        let id = survey.key.sk.trim_start_matches(keys::SURVEY_PREFIX);
        let partition = keys::survey_partition(&tenant, id).unwrap();
        count += s
            .ctx
            .store
            .query(&Query::new(partition).prefix("INV#"))
            .await
            .unwrap()
            .items
            .len();
    }
    count
}

async fn figures(s: &Stack, key: &str, survey: &str) -> (Value, Value, Value) {
    let m = s
        .get(&format!("/v1/metrics?trend={survey}&since=0&segment=plan"), key)
        .await;
    assert_eq!(m.status, 200, "{m:?}");
    let mut segments = m.body["segments"].as_array().cloned().unwrap_or_default();
    segments.sort_by_key(|g| g["value"].as_str().map(str::to_owned));
    (m.body["nps"].clone(), m.body["response_count"].clone(), json!(segments))
}

async fn retention_anonymises_then_deletes_what_is_past_its_period(e: Engines) {
    let s = Stack::start(e, |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Kept", "segments": ["plan"]}),
        )
        .await
        .str("id");
    let now = now_unix();
    let (a, b, c) = (
        person(&s, &key, "a@example.com", "pro").await,
        person(&s, &key, "b@example.com", "free").await,
        person(&s, &key, "c@example.com", "pro").await,
    );
    let old_promoter = answer(&s, &key, &a, &survey, 10, now - 10 * DAY).await;
    let old_detractor = answer(&s, &key, &b, &survey, 0, now - 9 * DAY).await;
    let recent = answer(&s, &key, &c, &survey, 9, now - 3600).await;
    let before = figures(&s, &key, &survey).await;
    assert_eq!(
        (before.0.clone(), before.1.clone()),
        (json!(33), json!(3)),
        "{before:?}"
    );

    // Nothing happens without a period; with one, a response dated before it is refused.
    assert_eq!(run(&s, now).await.workspaces, 0);
    let set = s
        .send("PATCH", "/v1/tenant", &owner.token, json!({"retention_days": 1}))
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.body["settings"]["retention_action"], "anonymize", "{set:?}");
    let late = json!({"person": c, "score": 5, "survey_id": survey, "created_at": now - 2 * DAY});
    let refused = s.send("POST", "/v1/survey_responses", &key, late).await;
    assert_eq!(
        (refused.status, refused.body["field"].clone()),
        (422, json!("created_at")),
        "{refused:?}"
    );

    let report = run(&s, now).await;
    assert_eq!((report.workspaces, report.more), (1, false), "{report:?}");
    assert_eq!(report.removed.responses_anonymized, 2, "{report:?}");
    for id in [&old_promoter, &old_detractor] {
        let got = s.get(&format!("/v1/survey_responses/{id}?expand[]=person"), &key).await;
        assert_eq!(got.status, 200, "{got:?}");
        for gone in ["person", "comment"] {
            assert_eq!(got.body[gone], Value::Null, "{gone} of {got:?}");
        }
        assert!(
            !got.text.contains("Lovelace") && !got.text.contains("E-1") && !got.text.contains("+45"),
            "{got:?}"
        );
    }
    let old = s.get(&format!("/v1/survey_responses/{old_promoter}"), &key).await;
    assert_eq!(old.body["score"], 10, "{old:?}");
    assert_eq!(old.body["person_properties"], json!({"plan": "pro"}), "{old:?}");
    let kept = s.get(&format!("/v1/survey_responses/{recent}"), &key).await;
    assert_eq!(
        (kept.body["person"].as_str(), kept.body["comment"].as_str()),
        (Some(c.as_str()), Some("Call me on +45 20 30 40 50")),
        "{kept:?}"
    );
    // The results count them as before, by segment too, and erasing their people moves nothing.
    assert_eq!(figures(&s, &key, &survey).await, before);
    let erased = s
        .call(
            1,
            "DELETE",
            &format!("/v1/people/{a}"),
            crate::api::Auth::Bearer(&key),
            None,
        )
        .await;
    assert_eq!(erased.status, 200, "{erased:?}");
    assert_eq!(figures(&s, &key, &survey).await, before);

    // Once a day: the same day passes by; the next day finds the answer of an hour ago past it.
    assert_eq!(run(&s, now).await.workspaces, 0);
    let next_day = run(&s, now + DAY).await;
    assert_eq!(
        (next_day.workspaces, next_day.removed.responses_anonymized),
        (1, 1),
        "{next_day:?}"
    );
    let audit = s.get("/v1/audit_events?action=retention.applied", &owner.token).await;
    let events = audit.body.as_array().cloned().unwrap_or_default();
    let counts: Vec<&Value> = events.iter().map(|e| &e["details"]["responses_anonymized"]).collect();
    assert_eq!(counts, [&json!(1), &json!(2)], "newest first: {audit:?}");
    assert_eq!(events[0]["actor_type"], "system", "{audit:?}");

    // A year and more later: idle people, finished invitations, imports and old audit months go;
    // an unsubscribed person (remembered so as not to be asked again) stays.
    let unsubscribed = person(&s, &key, "u@example.com", "free").await;
    let unsub = s
        .send(
            "POST",
            "/v1/unsubscribes",
            &key,
            json!({"person_email": "u@example.com"}),
        )
        .await;
    assert_eq!(unsub.status, 200, "{unsub:?}");
    let pending = s
        .send(
            "POST",
            "/v1/people",
            &key,
            json!({"email": "d@example.com", "delay": 3600}),
        )
        .await;
    assert!(pending.body["survey_scheduled_at"].is_i64(), "{pending:?}");
    let canceled = s
        .call(
            1,
            "DELETE",
            "/v1/people/d%40example.com/survey_requests/pending",
            crate::api::Auth::Bearer(&key),
            None,
        )
        .await;
    assert_eq!(canceled.status, 200, "{canceled:?}");
    let import = reqwest::Client::new()
        .post(format!("{}/v1/people/imports", s.url))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body("email\ni@example.com\nbad\n")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(invitations(&s, &owner.token).await, 1);
    let later = run(&s, now + 400 * DAY).await;
    assert_eq!(later.workspaces, 1, "{later:?}");
    let removed = later.removed;
    assert!(
        removed.invitations_deleted >= 1 && removed.imports_deleted == 1 && removed.audit_months_deleted >= 1,
        "{later:?}"
    );
    // b, c, d and the imported person were idle; a was erased before.
    assert_eq!(removed.people_deleted, 4, "{later:?}");
    let people = s.get("/v1/people", &owner.token).await;
    let ids: Vec<&str> = people
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, [unsubscribed.as_str()], "{people:?}");
    assert_eq!(invitations(&s, &owner.token).await, 0);
    let gone = s.get(&format!("/v1/people/imports/{import}"), &key).await;
    assert_eq!(gone.status, 404, "{gone:?}");
    // The anonymised answers stay, counted as before; the old audit months are gone.
    assert_eq!(figures(&s, &key, &survey).await, before);
    let audit = s.get("/v1/audit_events?since=0", &owner.token).await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["retention.applied"], "{audit:?}");
}

async fn retention_deletes_responses_when_the_workspace_chose_it(e: Engines) {
    let s = Stack::start(e, |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Gone", "segments": ["plan"]}),
        )
        .await
        .str("id");
    let now = now_unix();
    let a = person(&s, &key, "a@example.com", "pro").await;
    let old = answer(&s, &key, &a, &survey, 0, now - 40 * DAY).await;
    let kept = answer(&s, &key, &a, &survey, 10, now - 5 * DAY).await;
    let before = figures(&s, &key, &survey).await;
    // Anonymised first; then the workspace chooses to delete: what was anonymised goes too.
    let set = s
        .send("PATCH", "/v1/tenant", &owner.token, json!({"retention_days": 30}))
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(run(&s, now - DAY).await.removed.responses_anonymized, 1);
    // An anonymised response takes no personal data again.
    let refilled = s
        .send(
            "PUT",
            &format!("/v1/survey_responses/{old}"),
            &key,
            json!({"comment": "It's Ada again"}),
        )
        .await;
    assert_eq!(
        (refilled.status, refilled.str("field").as_str()),
        (422, "comment"),
        "{refilled:?}"
    );
    let retagged = s
        .send(
            "PUT",
            &format!("/v1/survey_responses/{old}"),
            &key,
            json!({"tags": ["billing"]}),
        )
        .await;
    assert_eq!(retagged.status, 200, "{retagged:?}");
    let set = json!({"retention_action": "delete"});
    let set = s.send("PATCH", "/v1/tenant", &owner.token, set).await;
    assert_eq!(set.status, 200, "{set:?}");
    let report = run(&s, now).await;
    assert_eq!(
        (report.removed.responses_deleted, report.removed.responses_anonymized),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(s.get(&format!("/v1/survey_responses/{old}"), &key).await.status, 404);
    let listed = s.get("/v1/survey_responses", &key).await;
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [kept.as_str()], "{listed:?}");
    // The results keep the period's figures; erasing the person later takes only what is left.
    assert_eq!(figures(&s, &key, &survey).await, before);
    let erased = s
        .call(
            1,
            "DELETE",
            &format!("/v1/people/{a}"),
            crate::api::Auth::Bearer(&key),
            None,
        )
        .await;
    assert_eq!(erased.status, 200, "{erased:?}");
    let (nps, count, _) = figures(&s, &key, &survey).await;
    assert_eq!(
        (nps, count),
        (json!(-100), json!(1)),
        "the deleted detractor is still counted"
    );
    // A bad action is refused, naming the field.
    let bad = s
        .send(
            "PATCH",
            "/v1/tenant",
            &owner.token,
            json!({"retention_action": "shred"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["field"].clone()),
        (422, json!("retention_action")),
        "{bad:?}"
    );
}
