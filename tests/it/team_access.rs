//! Surveys limited to teams, over real HTTP: an editor or analyst outside a survey's teams finds
//! none of its ids on any route or page (answered as an id that does not exist), nor its
//! responses in lists, metrics, exports, people's answers or notifications; admins, owners and
//! API keys see every survey; editors add and remove only their own teams; a change of a team
//! holds at the next request.

use std::collections::BTreeSet;

use ovation::http::routes::ROUTES;
use ovation::ids::new_id;
use serde_json::{Value, json};

use crate::api::{Answer, Auth, Member, PASSWORD, Stack};
use crate::support::Engines;
use crate::web::{Browser, csrf};

on_every_engine!(surveys_limited_to_teams_over_the_api);

/// A team of `members` (user ids), made by `by`: its id.
async fn team(s: &Stack, by: &Member, name: &str, members: &[&str]) -> String {
    let made = s
        .send(
            "POST",
            "/v1/teams",
            &by.token,
            json!({"name": name, "members": members}),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    made.str("id")
}

/// The ids of a list's items.
fn ids(a: &Answer) -> BTreeSet<String> {
    a.body
        .as_array()
        .unwrap_or_else(|| panic!("a list: {a:?}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A CSV import that sends `survey` to its people, by `token`.
async fn import_sending(s: &Stack, token: &str, survey: &str) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/v1/people/imports?send=true&delay=3600&survey_id={survey}",
            s.url
        ))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body("email\nimported@example.com\n")
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or_default())
}

async fn surveys_limited_to_teams_over_the_api(e: Engines) {
    let s = Stack::start(e, |_| {}).await;
    let owner = s.tenant("acme").await;
    let analyst = s.member(&owner, "analyst", "ann@acme.example").await;
    let editor = s.member(&owner, "editor", "ed@acme.example").await;
    let seller = s.member(&owner, "editor", "sal@acme.example").await;
    let loner = s.member(&owner, "analyst", "lone@acme.example").await;
    let admin = s.member(&owner, "admin", "adm@acme.example").await;
    let (read_key, _) = s.api_key(&owner, "read").await;
    let support = team(&s, &owner, "Support", &[&analyst.user_id, &editor.user_id]).await;
    let sales = team(&s, &owner, "Sales", &[&seller.user_id]).await;

    // The owner limits a survey to Sales; an editor in Support makes one: Support's unless said.
    let made = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Sales NPS", "teams": [sales]}),
        )
        .await;
    assert_eq!((made.status, &made.body["teams"]), (201, &json!([sales])), "{made:?}");
    let sales_survey = made.str("id");
    let made = s
        .send("POST", "/v1/surveys", &editor.token, json!({"name": "Support CSAT"}))
        .await;
    assert_eq!(
        made.body["teams"],
        json!([support]),
        "an editor's survey is their teams': {made:?}"
    );
    let support_survey = made.str("id");
    let open = s
        .send("POST", "/v1/surveys", &owner.token, json!({"name": "Everyone's"}))
        .await
        .str("id");
    assert_eq!(s.get("/v1/me", &analyst.token).await.body["teams"], json!([support]));
    assert!(s.get("/v1/me", &owner.token).await.body["teams"].is_null());

    // An answer to each, and export jobs of every survey and of Sales' survey, by the owner.
    let person = s
        .send(
            "POST",
            "/v1/people",
            &owner.token,
            json!({"email": "p@example.com", "send": false}),
        )
        .await
        .str("id");
    let mut answered = Vec::new();
    for survey in [&sales_survey, &support_survey, &open] {
        let body = json!({"person": person, "score": 9, "survey_id": survey, "comment": format!("About {survey}")});
        let r = s.send("POST", "/v1/survey_responses", &owner.token, body).await;
        assert_eq!(r.status, 201, "{r:?}");
        answered.push(r.str("id"));
    }
    let [sales_response, support_response, open_response] = [0, 1, 2].map(|i| answered[i].clone());
    let everything = s.send("POST", "/v1/exports/responses", &owner.token, json!({})).await;
    assert_eq!(everything.status, 202, "{everything:?}");
    let everything = everything.str("id");
    let sales_export = s
        .send(
            "POST",
            &format!("/v1/exports/responses?survey_id={sales_survey}"),
            &owner.token,
            json!({}),
        )
        .await
        .str("id");

    // Every route naming Sales' survey, its response or an export holding it, for Support's
    // analyst (reads) and editor (reads and writes): the answer to an id that does not exist.
    let unknown = new_id();
    let reads = |survey: &str, response: &str, export: &str| {
        vec![
            ("GET", "/v1/surveys/{id}", format!("/v1/surveys/{survey}"), None),
            (
                "GET",
                "/v1/survey_responses/{id}",
                format!("/v1/survey_responses/{response}"),
                None,
            ),
            (
                "GET",
                "/v1/survey_responses/{id}",
                format!("/v1/survey_responses/{response}.json"),
                None,
            ),
            (
                "GET",
                "/v1/survey_responses",
                format!("/v1/survey_responses?survey_id={survey}"),
                None,
            ),
            (
                "GET",
                "/v1/survey_responses.json",
                format!("/v1/survey_responses.json?trend={survey}"),
                None,
            ),
            ("GET", "/v1/metrics", format!("/v1/metrics?survey_id={survey}"), None),
            (
                "GET",
                "/v1/metrics.json",
                format!("/v1/metrics.json?trend={survey}"),
                None,
            ),
            (
                "GET",
                "/v1/exports/responses",
                format!("/v1/exports/responses?survey_id={survey}"),
                None,
            ),
            (
                "POST",
                "/v1/exports/responses",
                format!("/v1/exports/responses?survey_id={survey}"),
                Some(json!({})),
            ),
            ("GET", "/v1/exports/{id}", format!("/v1/exports/{export}"), None),
            (
                "GET",
                "/v1/exports/{id}/file",
                format!("/v1/exports/{export}/file"),
                None,
            ),
        ]
    };
    let writes = |survey: &str, response: &str| {
        let answer = json!({"person": person, "score": 1, "survey_id": survey});
        vec![
            (
                "PATCH",
                "/v1/surveys/{id}",
                format!("/v1/surveys/{survey}"),
                Some(json!({"name": "Taken"})),
            ),
            (
                "DELETE",
                "/v1/surveys/{id}",
                format!("/v1/surveys/{survey}"),
                Some(json!({})),
            ),
            (
                "PUT",
                "/v1/survey_responses/{id}",
                format!("/v1/survey_responses/{response}"),
                Some(json!({"score": 0})),
            ),
            (
                "PUT",
                "/v1/survey_responses",
                "/v1/survey_responses".to_owned(),
                Some(json!({"id": response, "score": 0})),
            ),
            (
                "POST",
                "/v1/survey_responses",
                "/v1/survey_responses".to_owned(),
                Some(answer.clone()),
            ),
            (
                "POST",
                "/v1/survey_responses.json",
                "/v1/survey_responses.json".to_owned(),
                Some(answer),
            ),
            (
                "POST",
                "/v1/people",
                "/v1/people".to_owned(),
                Some(json!({"email": "q@example.com", "survey_id": survey})),
            ),
            (
                "PATCH",
                "/v1/autopilot/{platform}",
                "/v1/autopilot/email".to_owned(),
                Some(json!({"survey_id": survey})),
            ),
        ]
    };
    let mut tried = BTreeSet::new();
    for (who, routes, unknowns) in [
        (
            &analyst,
            reads(&sales_survey, &sales_response, &everything),
            reads(&unknown, &unknown, &unknown),
        ),
        (
            &editor,
            [
                reads(&sales_survey, &sales_response, &sales_export),
                writes(&sales_survey, &sales_response),
            ]
            .concat(),
            [reads(&unknown, &unknown, &unknown), writes(&unknown, &unknown)].concat(),
        ),
    ] {
        for ((method, template, path, body), (_, _, unknown_path, _)) in routes.into_iter().zip(unknowns) {
            let hidden = s.call(1, method, &path, Auth::Bearer(&who.token), body.clone()).await;
            let missing = s.call(1, method, &unknown_path, Auth::Bearer(&who.token), body).await;
            assert_eq!(
                (hidden.status, hidden.code()),
                (404, "not_found"),
                "{method} {path}: {hidden:?}"
            );
            assert_eq!(hidden.body, missing.body, "{method} {path}: as an unknown id");
            tried.insert((method, template));
        }
    }
    // Every route of the surveys' and responses' functions is tried (their lists and the
    // creation of a survey below).
    tried.extend([("GET", "/v1/surveys"), ("POST", "/v1/surveys")]);
    for route in ROUTES
        .iter()
        .filter(|r| ["api-surveys", "api-responses"].contains(&r.function))
    {
        assert!(
            tried.contains(&(route.method, route.path)),
            "{} {} is tried",
            route.method,
            route.path
        );
    }
    let (status, refused) = import_sending(&s, &editor.token, &sales_survey).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (404, Some("not_found")),
        "{refused}"
    );
    let (status, _) = import_sending(&s, &editor.token, &unknown).await;
    assert_eq!(status, 404);
    // Notifications for it: refused as for a survey the workspace does not have.
    let choose = |survey: &str| json!([{"survey_id": survey, "answers": "every", "digest": true}]);
    let hidden = s
        .send("PUT", "/v1/me/notifications", &editor.token, choose(&sales_survey))
        .await;
    let missing = s
        .send("PUT", "/v1/me/notifications", &editor.token, choose(&unknown))
        .await;
    assert_eq!((hidden.status, &hidden.body), (422, &missing.body), "{hidden:?}");
    // Nothing was changed by those calls.
    let kept = s.get(&format!("/v1/surveys/{sales_survey}"), &owner.token).await;
    assert_eq!(
        (kept.str("name"), kept.str("status")),
        ("Sales NPS".into(), "active".into())
    );
    let kept = s
        .get(&format!("/v1/survey_responses/{sales_response}"), &owner.token)
        .await;
    assert_eq!(kept.body["score"], 9);

    // A person's pending send of Sales' survey: not cancelled by Support's editor, not seen in
    // their times; the owner sees and cancels it. Autopilot sending it: named to neither
    // Support's analyst nor editor, who may not add members to it.
    let pat = s
        .send(
            "POST",
            "/v1/people",
            &owner.token,
            json!({"email": "pat@example.com", "survey_id": sales_survey, "delay": 3600}),
        )
        .await;
    assert_eq!(pat.status, 200, "{pat:?}");
    let pending = format!("/v1/people/{}/survey_requests/pending", pat.str("id"));
    let theirs = s.send("DELETE", &pending, &editor.token, json!({})).await;
    assert_eq!(theirs.body["canceled"], 0, "{theirs:?}");
    let lookup = "/v1/people?email=pat@example.com";
    let seen = s.get(lookup, &editor.token).await;
    assert!(seen.body[0]["next_survey_scheduled_at"].is_null(), "{seen:?}");
    assert!(s.get(lookup, &owner.token).await.body[0]["next_survey_scheduled_at"].is_i64());
    let configured = s
        .send(
            "PATCH",
            "/v1/autopilot/email",
            &owner.token,
            json!({"survey_id": sales_survey, "active": true}),
        )
        .await;
    assert_eq!(configured.status, 200, "{configured:?}");
    let hidden = s.get("/v1/autopilot/email", &analyst.token).await;
    assert_eq!(
        (&hidden.body["survey_id"], &hidden.body["survey_hidden"]),
        (&Value::Null, &json!(true)),
        "{hidden:?}"
    );
    let shown = s.get("/v1/autopilot/email", &owner.token).await;
    assert_eq!(shown.body["survey_id"], json!(sales_survey));
    let join = json!({"person_email": "pat@example.com"});
    let refused = s
        .send("POST", "/v1/autopilot/email/memberships", &editor.token, join.clone())
        .await;
    assert_eq!((refused.status, refused.code()), (404, "not_found"), "{refused:?}");
    let joined = s
        .send("POST", "/v1/autopilot/email/memberships", &owner.token, join)
        .await;
    assert!(joined.status < 300, "{joined:?}");
    let members = s.get("/v1/autopilot/email/memberships", &editor.token).await;
    assert_eq!(members.body.as_array().map(Vec::len), Some(1), "{members:?}");
    assert!(
        members.body[0]["person"]["next_survey_scheduled_at"].is_null(),
        "{members:?}"
    );
    assert!(members.body[0]["next_survey_request"].is_null(), "{members:?}");
    let owners = s.get("/v1/autopilot/email/memberships", &owner.token).await;
    assert!(owners.body[0]["next_survey_request"]["id"].is_string(), "{owners:?}");
    let unset = json!({"active": false, "survey_id": null});
    assert_eq!(
        s.send("PATCH", "/v1/autopilot/email", &owner.token, unset).await.status,
        200
    );
    let canceled = s.send("DELETE", &pending, &owner.token, json!({})).await;
    assert!(
        canceled.body["canceled"].as_i64().unwrap_or_default() >= 1,
        "{canceled:?}"
    );

    // Lists, metrics and exports hold the surveys each caller sees: their teams' and those
    // limited to none; admins, owners and API keys see all.
    let default = s
        .get("/v1/surveys", &owner.token)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["is_default"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let all = BTreeSet::from([sales_response.clone(), support_response.clone(), open_response.clone()]);
    for (who, token, surveys, responses) in [
        (
            "owner",
            &owner.token,
            vec![&sales_survey, &support_survey, &open],
            all.clone(),
        ),
        (
            "admin",
            &admin.token,
            vec![&sales_survey, &support_survey, &open],
            all.clone(),
        ),
        (
            "read key",
            &read_key,
            vec![&sales_survey, &support_survey, &open],
            all.clone(),
        ),
        (
            "support's analyst",
            &analyst.token,
            vec![&support_survey, &open],
            BTreeSet::from([support_response.clone(), open_response.clone()]),
        ),
        (
            "sales' editor",
            &seller.token,
            vec![&sales_survey, &open],
            BTreeSet::from([sales_response.clone(), open_response.clone()]),
        ),
        (
            "an analyst in no team",
            &loner.token,
            vec![&open],
            BTreeSet::from([open_response.clone()]),
        ),
    ] {
        let mut expected: BTreeSet<String> = surveys.into_iter().cloned().collect();
        expected.insert(default.clone());
        assert_eq!(ids(&s.get("/v1/surveys", token).await), expected, "{who}: surveys");
        let listed = ids(&s.get("/v1/survey_responses?per_page=100", token).await);
        assert_eq!(listed, responses, "{who}: responses");
        let theirs = ids(&s.get(&format!("/v1/survey_responses?person_id={person}"), token).await);
        assert_eq!(theirs, responses, "{who}: a person's answers");
        let metrics = s.get("/v1/metrics", token).await;
        assert_eq!(metrics.body["response_count"], responses.len(), "{who}: {metrics:?}");
        let csv = s.get("/v1/exports/responses?format=csv", token).await;
        assert_eq!(csv.status, 200, "{who}: {csv:?}");
        for r in &all {
            assert_eq!(
                csv.text.contains(r.as_str()),
                responses.contains(r),
                "{who}: export of {r}"
            );
        }
    }
    // A job made by Support's analyst holds what they see: others who do not see it all find it
    // not; its maker, and the owner, do.
    let theirs = s.send("POST", "/v1/exports/responses", &analyst.token, json!({})).await;
    assert_eq!(theirs.status, 202, "{theirs:?}");
    let path = format!("/v1/exports/{}", theirs.str("id"));
    assert_eq!(s.get(&path, &analyst.token).await.status, 200);
    assert_eq!(s.get(&path, &owner.token).await.status, 200);
    assert_eq!(s.get(&path, &loner.token).await.status, 404);
    assert_eq!(s.get(&path, &seller.token).await.status, 404);

    // Editors add and remove only their own teams, and do not open a limited survey to all;
    // nobody limits the default survey, nor to teams that are not the workspace's.
    let path = format!("/v1/surveys/{support_survey}");
    for teams in [json!([support, sales]), json!([])] {
        let refused = s.send("PATCH", &path, &editor.token, json!({"teams": teams})).await;
        assert_eq!((refused.status, refused.code()), (403, "team_not_yours"), "{refused:?}");
    }
    let unlimited = s
        .send(
            "POST",
            "/v1/surveys",
            &editor.token,
            json!({"name": "For all", "teams": []}),
        )
        .await;
    assert_eq!(
        (unlimited.status, &unlimited.body["teams"]),
        (201, &json!([])),
        "{unlimited:?}"
    );
    let cases = [
        (format!("/v1/surveys/{default}"), json!([support])),
        (format!("/v1/surveys/{open}"), json!(["nosuch"])),
        (
            format!("/v1/surveys/{open}"),
            json!((0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()),
        ),
    ];
    for (path, teams) in cases {
        let refused = s.send("PATCH", &path, &owner.token, json!({"teams": teams})).await;
        assert_eq!(
            (refused.status, refused.body["field"].as_str()),
            (422, Some("teams")),
            "{refused:?}"
        );
    }
    let widened = s
        .send("PATCH", &path, &owner.token, json!({"teams": [support, sales]}))
        .await;
    assert_eq!(widened.body["teams"].as_array().map(Vec::len), Some(2), "{widened:?}");
    assert_eq!(s.get(&path, &seller.token).await.status, 200, "Sales sees it now");
    let swapped = s.send("PATCH", &path, &seller.token, json!({"teams": [sales]})).await;
    assert_eq!(swapped.status, 403, "Sales' editor may not take Support's team away");
    let narrowed = s.send("PATCH", &path, &seller.token, json!({"teams": [support]})).await;
    assert_eq!(narrowed.status, 200, "Sales' editor removes Sales: {narrowed:?}");
    assert_eq!(s.get(&path, &seller.token).await.status, 404, "and sees it no more");

    // A change of a team holds at the next request; a survey of a deleted team is the admins'.
    let out = json!({"remove_members": [analyst.user_id]});
    let changed = s
        .send("PATCH", &format!("/v1/teams/{support}"), &owner.token, out)
        .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(s.get(&path, &analyst.token).await.status, 404);
    assert_eq!(s.get("/v1/me", &analyst.token).await.body["teams"], json!([]));
    let gone = s
        .send("DELETE", &format!("/v1/teams/{sales}"), &owner.token, json!({}))
        .await;
    assert_eq!(gone.status, 204, "{gone:?}");
    let sales_path = format!("/v1/surveys/{sales_survey}");
    assert_eq!(s.get(&sales_path, &seller.token).await.status, 404);
    let kept = s.get(&sales_path, &admin.token).await;
    assert_eq!((kept.status, &kept.body["teams"]), (200, &json!([sales])), "{kept:?}");
}

/// The pages: Support's people find Sales' survey on none of its pages, see its answers in no
/// list, are not mailed about it; the survey form limits to teams, an editor only to theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surveys_limited_to_teams_in_pages_and_mail() {
    use ovation::services::notifications::notifier;
    let (s, send, data_dir) =
        crate::sending::sending_stack(Engines::embedded(), "surveys@notify.example", true, |_| {}).await;
    let owner = s.tenant("acme").await;
    let editor = s.member(&owner, "editor", "ed@acme.example").await;
    let seller = s.member(&owner, "editor", "sal@acme.example").await;
    let support = team(&s, &owner, "Support", &[&editor.user_id]).await;
    let sales = team(&s, &owner, "Sales", &[&seller.user_id]).await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Sales NPS", "teams": [sales]}),
        )
        .await
        .str("id");
    let person = s
        .send(
            "POST",
            "/v1/people",
            &owner.token,
            json!({"email": "p@example.com", "name": "Pat", "send": false}),
        )
        .await
        .str("id");
    let body = json!({"person": person, "score": 2, "survey_id": survey, "comment": "Sales were pushy"});
    let response = s
        .send("POST", "/v1/survey_responses", &owner.token, body)
        .await
        .str("id");
    let export = s
        .send("POST", "/v1/exports/responses", &owner.token, json!({}))
        .await
        .str("id");

    let mut b = Browser::new(&s);
    b.sign_in("acme", "ed@acme.example", PASSWORD).await;
    let unknown = new_id();
    let pages = |survey: &str, response: &str, export: &str| {
        [
            format!("/surveys/{survey}"),
            format!("/surveys/{survey}/preview"),
            format!("/responses/{response}"),
            format!("/exports/{export}"),
            format!("/exports/{export}/file"),
            format!("/responses?survey={survey}"),
            format!("/responses/export?survey={survey}&format=csv"),
            format!("/overview?survey={survey}"),
            format!("/segments?survey={survey}"),
        ]
    };
    for (hidden, missing) in pages(&survey, &response, &export)
        .iter()
        .zip(pages(&unknown, &unknown, &unknown))
    {
        let seen = b.get(hidden).await;
        assert_eq!(seen.status, 404, "{hidden}: {}", seen.text);
        assert!(
            !seen.text.contains("Sales NPS") && !seen.text.contains("pushy"),
            "{hidden}"
        );
        assert_eq!(b.get(&missing).await.status, 404, "{missing}");
    }
    let token = csrf(&b.get("/surveys/new").await.text);
    let form = [
        ("csrf", token.as_str()),
        ("name", "Taken"),
        ("status", "active"),
        ("default_language", "en"),
        ("question_count", "0"),
        ("brand_color", "#112233"),
        ("throttle_days", "0"),
        ("link_days", "30"),
        ("op", "save"),
    ];
    let answers = format!("answers.{survey}");
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("/surveys/{survey}"), form.to_vec()),
        (format!("/surveys/{survey}/preview"), form.to_vec()),
        (format!("/responses/{response}"), vec![("csrf", &token), ("tags", "x")]),
        (
            "/responses/export".to_owned(),
            vec![("csrf", &token), ("survey", &survey), ("format", "csv")],
        ),
        (
            "/autopilot/email".to_owned(),
            vec![("csrf", &token), ("survey_id", &survey), ("days", "30")],
        ),
        (
            "/people".to_owned(),
            vec![
                ("csrf", &token),
                ("email", "q@example.com"),
                ("send", "on"),
                ("when", "now"),
                ("survey_id", &survey),
            ],
        ),
    ];
    for (path, fields) in &posts {
        let seen = b.post(path, fields, None).await;
        assert_eq!(seen.status, 404, "{path}: {}", seen.text);
    }
    // A send of it pending for the person: not shown in their times, not cancelled by the editor.
    let scheduled = json!({"email": "p@example.com", "survey_id": survey, "delay": 3600});
    assert!(s.send("POST", "/v1/people", &owner.token, scheduled).await.status < 300);
    let page = b.get(&format!("/people/{person}")).await.text;
    assert!(page.contains("<dt>Next survey</dt><dd>none scheduled</dd>"), "{page}");
    let cancel = b
        .post(&format!("/people/{person}/cancel"), &[("csrf", &token)], None)
        .await;
    assert!(
        cancel
            .location
            .as_deref()
            .is_some_and(|l| l.contains("done=none_pending")),
        "{:?}",
        cancel.location
    );
    let pending = format!("/v1/people/{person}/survey_requests/pending");
    assert_eq!(
        s.send("DELETE", &pending, &owner.token, json!({})).await.body["canceled"],
        1
    );
    // An import that would send it is not started.
    let uploaded = b
        .upload("/people/imports", Some(&token), "email\nimported@example.com\n")
        .await;
    let import = uploaded.location.unwrap_or_else(|| panic!("{}", uploaded.text))[2..].to_owned();
    let start = [
        ("csrf", token.as_str()),
        ("map.0", "email"),
        ("send", "on"),
        ("survey_id", survey.as_str()),
        ("channel", "email"),
        ("delay_hours", "1"),
    ];
    let refused = b.post(&import, &start, None).await;
    assert_eq!(refused.status, 404, "{}", refused.text);
    let mut unknown_start = start.to_vec();
    unknown_start[3] = ("survey_id", unknown.as_str());
    assert_eq!(b.post(&import, &unknown_start, None).await.status, 404);
    let refused = b
        .post("/notifications", &[("csrf", &token), (&answers, "every")], None)
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    // Every page naming a survey, a response or an export by id, or taking a survey, is tried.
    let tried = [
        ("GET", "/surveys/{id}"),
        ("GET", "/surveys/{id}/preview"),
        ("GET", "/responses/{id}"),
        ("GET", "/exports/{id}"),
        ("GET", "/exports/{id}/file"),
        ("GET", "/responses"),
        ("GET", "/responses/export"),
        ("GET", "/overview"),
        ("GET", "/segments"),
        ("POST", "/surveys/{id}"),
        ("POST", "/surveys/{id}/preview"),
        ("POST", "/responses/{id}"),
        ("POST", "/responses/export"),
        ("POST", "/autopilot/{platform}"),
        ("POST", "/people"),
        ("POST", "/notifications"),
        ("POST", "/people/{id}/cancel"),
        ("POST", "/people/imports/{id}"),
    ];
    let naming = ROUTES.iter().filter(|r| {
        r.page
            && (r.query.contains(&"survey")
                || ["/surveys/{id}", "/responses/{id}", "/exports/{id}"]
                    .iter()
                    .any(|p| r.path.starts_with(p)))
    });
    for route in naming {
        assert!(
            tried.contains(&(route.method, route.path)),
            "{} {} is tried",
            route.method,
            route.path
        );
    }
    // Lists name it nowhere: the surveys, the feed, the person's answers, the notifications.
    for path in [
        "/surveys",
        "/responses",
        &format!("/people/{person}"),
        "/notifications",
        "/overview",
    ] {
        let seen = b.get(path).await;
        assert_eq!(seen.status, 200, "{path}: {}", seen.text);
        assert!(
            !seen.text.contains("Sales NPS") && !seen.text.contains("pushy"),
            "{path}: {}",
            seen.text
        );
    }
    let mut owners = Browser::new(&s);
    owners.sign_in("acme", "owner@acme.example", PASSWORD).await;
    let theirs = owners.get(&format!("/people/{person}")).await;
    assert!(theirs.text.contains("Sales NPS"), "the owner sees it: {}", theirs.text);
    let listed = owners.get("/surveys").await.text;
    assert!(
        listed.contains("title=\"Limited to these teams\">Sales</span>"),
        "{listed}"
    );

    // The form: an editor's new survey has their teams ticked, others' not theirs to tick.
    let new = b.get("/surveys/new").await.text;
    assert!(new.contains("Who sees it"), "{new}");
    assert!(
        new.contains(&format!("name=\"team_{support}\" value=\"on\" checked>")),
        "{new}"
    );
    assert!(
        !new.contains(&format!("team_{sales}")) && !new.contains(">Sales<"),
        "{new}"
    );
    let token = csrf(&new);
    let mut made = form.to_vec();
    made[0] = ("csrf", &token);
    made[1] = ("name", "Support's own");
    let support_field = format!("team_{support}");
    made.extend([("teams_shown", "1"), (support_field.as_str(), "on")]);
    let created = b.post("/surveys/new", &made, None).await;
    let id = created
        .location
        .as_deref()
        .and_then(|l| l.strip_prefix("../surveys/"))
        .and_then(|l| l.split('?').next())
        .unwrap_or_else(|| panic!("{}", created.text))
        .to_owned();
    let stored = s.get(&format!("/v1/surveys/{id}"), &owner.token).await;
    assert_eq!(stored.body["teams"], json!([support]), "{stored:?}");
    // Ticking Sales by hand is refused; the owner's form may tick any team.
    let sales_field = format!("team_{sales}");
    let mut widened = made.clone();
    widened.push((sales_field.as_str(), "on"));
    let token = csrf(&b.get(&format!("/surveys/{id}")).await.text);
    widened[0] = ("csrf", &token);
    let refused = b.post(&format!("/surveys/{id}"), &widened, None).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let page = owners.get(&format!("/surveys/{id}")).await.text;
    assert!(page.contains(&format!("name=\"team_{sales}\" value=\"on\">")), "{page}");

    // Mail about its answers goes to its teams' people only, checked when it is sent.
    let choice = json!([{"survey_id": survey, "answers": "every", "digest": false}]);
    let chosen = s.send("PUT", "/v1/me/notifications", &seller.token, choice).await;
    assert_eq!(chosen.status, 200, "{chosen:?}");
    let tenant = s.get("/v1/tenant", &owner.token).await.str("id");
    let now = ovation::store::now_unix();
    let mail = |until: i64| {
        serde_json::to_string(&notifier::StaffMail::Answers(notifier::AnswersMail {
            notify: tenant.clone(),
            survey: survey.clone(),
            user: seller.user_id.clone(),
            since: now - 600,
            until,
        }))
        .unwrap()
    };
    let queue = send.messaging.queue.as_ref();
    let about = |mails: &[ovation::messaging::mime::Parsed]| {
        mails
            .iter()
            .filter(|m| m.header("Subject").is_some_and(|s| s.contains("Sales NPS")))
            .count()
    };
    queue.send_batch(&[mail(now + 1)]).await.unwrap();
    crate::web::deliver_queued(&s, &send).await;
    let mailed = crate::web::mailed_to(&send, &data_dir, "sal@acme.example").await;
    assert_eq!(about(&mailed), 1, "Sales' editor is mailed while in Sales");
    let out = json!({"remove_members": [seller.user_id]});
    assert_eq!(
        s.send("PATCH", &format!("/v1/teams/{sales}"), &owner.token, out)
            .await
            .status,
        200
    );
    queue.send_batch(&[mail(now + 2)]).await.unwrap();
    crate::web::deliver_queued(&s, &send).await;
    let mailed = crate::web::mailed_to(&send, &data_dir, "sal@acme.example").await;
    assert_eq!(about(&mailed), 1, "and not once out of it");
    assert_eq!(s.get("/v1/me/notifications", &seller.token).await.body, json!([]));
}
