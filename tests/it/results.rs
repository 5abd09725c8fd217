//! Results on every engine: the pre-aggregated counters behind `GET /v1/metrics` stay exact when
//! answers race, scores and segments change, and the store fails around transactions (before
//! them, after they committed, with contention that moves writes to overflow shards): an
//! independent recount from the raw responses finds no drift, by day, week, month (in zones
//! with half-hour offsets), channel and segment, before and after the overflow shards are folded.
//! Exports: CSV with formula-looking text neutralised, Excel with typed cells and no formula.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ovation::Error;
use ovation::store::{BatchOp, Condition, Item, Key, Page, Query, Store, StoreInfo, TxOp, Update, now_unix};
use serde_json::{Value, json};

use crate::api::{Answer, Auth, Stack};
use crate::support::Engines;

on_every_engine!(
    metrics_match_a_recount_after_faults,
    exports_are_typed_and_run_no_formulas
);

/// A store whose transactions fail, once armed, in turn: contention before the write (as
/// DynamoDB's conflicts and throttled partitions are reported), an outage before it, and an
/// outage after it committed (the caller never hears it succeeded).
struct Faulty {
    inner: Arc<dyn Store>,
    armed: AtomicBool,
    transactions: AtomicUsize,
}

#[async_trait]
impl Store for Faulty {
    async fn get(&self, key: &Key) -> ovation::Result<Option<Item>> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> ovation::Result<()> {
        self.inner.put(item, condition).await
    }
    async fn update(&self, key: &Key, updates: &[Update], condition: Option<Condition>) -> ovation::Result<Item> {
        self.inner.update(key, updates, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> ovation::Result<()> {
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: &Query) -> ovation::Result<Page> {
        self.inner.query(query).await
    }
    async fn query_index(&self, query: &Query) -> ovation::Result<Page> {
        self.inner.query_index(query).await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> ovation::Result<()> {
        if !self.armed.load(Ordering::SeqCst) {
            return self.inner.transact(ops).await;
        }
        let outage = || Error::Unavailable {
            service: "DynamoDB",
            reason: "injected".into(),
        };
        match self.transactions.fetch_add(1, Ordering::SeqCst) % 7 {
            1 | 4 => Err(Error::Throttled {
                service: "DynamoDB",
                retry_after: Duration::from_millis(10),
            }),
            2 => Err(outage()),
            5 => {
                self.inner.transact(ops).await?;
                Err(outage())
            }
            _ => self.inner.transact(ops).await,
        }
    }
    async fn batch_write(&self, ops: Vec<BatchOp>) -> ovation::Result<()> {
        self.inner.batch_write(ops).await
    }
    async fn sweep_expired(&self) -> ovation::Result<usize> {
        self.inner.sweep_expired().await
    }
    async fn ping(&self) -> ovation::Result<()> {
        self.inner.ping().await
    }
    fn info(&self) -> StoreInfo {
        self.inner.info()
    }
    async fn spread(&self) -> ovation::Result<ovation::store::keys::Spread> {
        self.inner.spread().await
    }
    async fn backup(&self, to: &std::path::Path) -> ovation::Result<ovation::store::BackupSummary> {
        self.inner.backup(to).await
    }
}

/// Calls until the stack accepts, as a client retries outages (503) and lost races (409).
async fn retrying(s: &Stack, method: &str, path: &str, key: &str, body: Option<Value>) -> Answer {
    let b = format!("{key}:");
    for attempt in 0..30 {
        let answer = s.call(1, method, path, Auth::Basic(&b), body.clone()).await;
        match answer.status {
            200..=299 => return answer,
            // A deletion that went through although its answer was lost.
            404 if method == "DELETE" && attempt > 0 => return answer,
            409 | 503 => continue,
            _ => panic!("{method} {path}: {answer:?}"),
        }
    }
    panic!("{method} {path} never succeeded");
}

/// A raw response as the list shows it.
struct Raw {
    created_at: i64,
    score: i64,
    channel: String,
    plan: Option<String>,
}

async fn all_responses(s: &Stack, key: &str, survey: &str) -> Vec<Raw> {
    let mut out = vec![];
    let mut path = format!("/v1/survey_responses?survey_id={survey}&per_page=100");
    loop {
        let page = s.call(1, "GET", &path, Auth::Basic(&format!("{key}:")), None).await;
        assert_eq!(page.status, 200, "{page:?}");
        for r in page.body.as_array().unwrap() {
            out.push(Raw {
                created_at: r["created_at"].as_i64().unwrap(),
                score: r["score"].as_i64().unwrap(),
                channel: r["channel"].as_str().unwrap().to_owned(),
                plan: r["person_properties"]["plan"].as_str().map(str::to_owned),
            });
        }
        match page.next_page() {
            Some(next) => path = next,
            None => return out,
        }
    }
}

/// Promoters, passives, detractors.
type Tally = (i64, i64, i64);

fn tally<'a>(responses: impl Iterator<Item = &'a Raw>) -> Tally {
    responses.fold((0, 0, 0), |(p, n, d), r| match r.score {
        9.. => (p + 1, n, d),
        7 | 8 => (p, n + 1, d),
        _ => (p, n, d + 1),
    })
}

fn tally_of(metrics: &Value) -> Tally {
    let n = |name: &str| metrics[name].as_i64().unwrap();
    (n("promoter_count"), n("passive_count"), n("detractor_count"))
}

/// The period label of a time: `day`, `week` (its Monday) or `month`, in `zone`.
fn period(at: i64, group_by: &str, zone: &TimeZone) -> String {
    let date = Timestamp::from_second(at).unwrap().to_zoned(zone.clone()).date();
    match group_by {
        "day" => date.to_string(),
        "week" => date
            .checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))
            .unwrap()
            .to_string(),
        _ => date.strftime("%Y-%m").to_string(),
    }
}

async fn metrics(s: &Stack, key: &str, query: &str) -> Value {
    let answer = s
        .call(
            1,
            "GET",
            &format!("/v1/metrics.json?{query}"),
            Auth::Basic(&format!("{key}:")),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{query}: {answer:?}");
    answer.body
}

/// Checks the metrics against a recount of `raw`: the totals and one series, or (`every_view`)
/// series in four zones and periods, each channel and the segment breakdown.
async fn check_against_recount(s: &Stack, key: &str, survey: &str, raw: &[Raw], range: (i64, i64), every_view: bool) {
    let (since, until) = range;
    let range = format!("trend={survey}&since={since}&until={until}");
    let totals = metrics(s, key, &range).await;
    let expected = tally(raw.iter());
    assert_eq!(tally_of(&totals), expected, "{totals}");
    let total = expected.0 + expected.1 + expected.2;
    let nps = (100.0 * (expected.0 - expected.2) as f64 / total as f64).round() as i64;
    assert_eq!(totals["nps"], json!(nps));
    assert_eq!(totals["response_count"], json!(total));
    let views: &[(&str, &str)] = if every_view {
        &[
            ("day", "Europe/Paris"),
            ("day", "Asia/Kolkata"),
            ("week", "America/St_Johns"),
            ("month", "UTC"),
        ]
    } else {
        &[("day", "Europe/Paris")]
    };
    for (group_by, zone) in views.iter().copied() {
        let got = metrics(s, key, &format!("{range}&group_by={group_by}&time_zone={zone}")).await;
        let tz = TimeZone::get(zone).unwrap();
        let mut expected: BTreeMap<String, Vec<&Raw>> = BTreeMap::new();
        for r in raw {
            expected.entry(period(r.created_at, group_by, &tz)).or_default().push(r);
        }
        let series = got["series"].as_array().unwrap();
        let mut seen = 0;
        for entry in series {
            let label = entry["period"].as_str().unwrap();
            let want = expected
                .get(label)
                .map_or((0, 0, 0), |list| tally(list.iter().copied()));
            assert_eq!(tally_of(entry), want, "{group_by} {zone} {label}");
            seen += usize::from(want != (0, 0, 0));
        }
        assert_eq!(
            seen,
            expected.len(),
            "{group_by} {zone}: every period with responses is in the series"
        );
        assert_eq!(tally_of(&got), tally(raw.iter()));
    }
    if !every_view {
        return;
    }
    for channel in ["api", "web", "email"] {
        let got = metrics(s, key, &format!("{range}&channel={channel}")).await;
        assert_eq!(
            tally_of(&got),
            tally(raw.iter().filter(|r| r.channel == channel)),
            "{channel}"
        );
    }
    // The breakdown by channel in one read, from a whole hour inside a day with responses (where
    // the totals read that day's hours, which count all channels).
    let mut times: Vec<i64> = raw.iter().map(|r| r.created_at).collect();
    times.sort_unstable();
    let hour = times[times.len() / 2] - times[times.len() / 2].rem_euclid(3_600);
    let by_channel = metrics(
        s,
        key,
        &format!("trend={survey}&since={hour}&until={until}&by_channel=true"),
    )
    .await;
    let within: Vec<&Raw> = raw.iter().filter(|r| r.created_at >= hour).collect();
    let listed = by_channel["channels"].as_array().unwrap();
    let mut named: Vec<&str> = within.iter().map(|r| r.channel.as_str()).collect();
    named.sort_unstable_by_key(|c| ["email", "sms", "web", "api"].iter().position(|k| k == c));
    named.dedup();
    assert_eq!(
        listed
            .iter()
            .map(|c| c["channel"].as_str().unwrap())
            .collect::<Vec<_>>(),
        named,
        "the channels that counted something, in order: {by_channel}"
    );
    for entry in listed {
        let channel = entry["channel"].as_str().unwrap();
        assert_eq!(
            tally_of(entry),
            tally(within.iter().copied().filter(|r| r.channel == channel)),
            "{channel} in the breakdown"
        );
    }
    assert_eq!(tally_of(&by_channel), tally(within.iter().copied()));
    let got = metrics(s, key, &format!("{range}&segment=plan")).await;
    let mut by_plan: BTreeMap<Option<String>, Vec<&Raw>> = BTreeMap::new();
    for r in raw {
        by_plan.entry(r.plan.clone()).or_default().push(r);
    }
    let segments = got["segments"].as_array().unwrap();
    assert_eq!(segments.len(), by_plan.len(), "{got}");
    for segment in segments {
        let value = segment["value"].as_str().map(str::to_owned);
        assert_eq!(
            tally_of(segment),
            tally(by_plan[&value].iter().copied()),
            "plan {value:?}"
        );
    }
}

async fn metrics_match_a_recount_after_faults(mut e: Engines) {
    // moto answers slowly and serves every test at once (and reads an index by scanning the
    // table, once per day folded): fewer writes over fewer days there.
    let aws = e.aws.is_some();
    // 70 days hold at least one whole UTC month: the month items are read then.
    let (answers, changes, days) = if aws { (12, 4, 2) } else { (90, 30, 70) };
    let faulty = Arc::new(Faulty {
        inner: e.store.clone(),
        armed: AtomicBool::new(false),
        transactions: AtomicUsize::new(0),
    });
    e.store = faulty.clone();
    let s = Stack::start(e, |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Results", "segments": ["plan"]}),
        )
        .await;
    assert_eq!(survey.status, 201, "{survey:?}");
    let survey_id = survey.str("id");
    let web_link = survey.str("web_link");
    let web_path = &web_link[web_link.find("/s/").unwrap()..];
    let mut people = vec![];
    for i in 0..12 {
        let plan = [json!("free"), json!("pro"), Value::Null][i % 3].clone();
        let body = json!({"email": format!("p{i}@example.com"), "send": false, "properties": {"plan": plan}});
        people.push(retrying(&s, "POST", "/v1/people", &key, Some(body)).await.str("id"));
    }

    faulty.armed.store(true, Ordering::SeqCst);
    let now = now_unix();
    let first_day = (now / 86_400 - days) * 86_400;
    // Answers through the API, six at a time, spread over the days at times that cross the
    // zones' midnights.
    let created: Vec<String> = futures_util::stream::iter(0..answers as i64)
        .map(|i| {
            let body = json!({
                "person": people[i as usize % people.len()],
                "score": (i * 7) % 11,
                "created_at": first_day + (i * 37_003) % (days * 86_400),
                "survey_id": survey_id,
            });
            let s = &s;
            let key = &key;
            async move {
                retrying(s, "POST", "/v1/survey_responses", key, Some(body))
                    .await
                    .str("id")
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    // A segment property added now counts the responses written from now on, never below zero.
    let patched = s
        .send(
            "PATCH",
            &format!("/v1/surveys/{survey_id}"),
            &owner.token,
            json!({"segments": ["plan", "team"]}),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    let twice = s
        .send(
            "PATCH",
            &format!("/v1/surveys/{survey_id}"),
            &owner.token,
            json!({"segments": ["plan", " plan"]}),
        )
        .await;
    assert_eq!(
        (twice.status, twice.str("field")),
        (422, "segments".to_owned()),
        "{twice:?}"
    );
    // Web-link answers.
    for score in 0..8 {
        let answered = reqwest::Client::new()
            .post(format!("{}{web_path}", s.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("score={score}"))
            .send()
            .await
            .unwrap();
        assert!(matches!(answered.status().as_u16(), 200 | 503), "{answered:?}");
    }
    // Score changes, two at once on the same responses (one loses the race and retries), and
    // segment moves.
    futures_util::stream::iter(created.iter().take(changes).enumerate())
        .map(|(i, id)| {
            let (s, key) = (&s, &key);
            async move {
                let path = format!("/v1/survey_responses/{id}");
                let a = retrying(s, "PUT", &path, key, Some(json!({"score": (i * 3) % 11})));
                let b = retrying(s, "PUT", &path, key, Some(json!({"score": (i * 5) % 11})));
                futures_util::future::join(a, b).await;
                if i % 6 == 0 {
                    retrying(
                        s,
                        "PUT",
                        &path,
                        key,
                        Some(json!({"person_properties": {"plan": "enterprise"}})),
                    )
                    .await;
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
    // Deleting a person deletes their responses: their counts leave the results with them.
    retrying(&s, "DELETE", &format!("/v1/people/{}", people[1]), &key, None).await;
    faulty.armed.store(false, Ordering::SeqCst);
    assert!(
        faulty.transactions.load(Ordering::SeqCst) > 2 * answers,
        "faults were injected"
    );

    let raw = all_responses(&s, &key, &survey_id).await;
    assert!(raw.len() >= answers, "{}", raw.len());
    let (since, until) = (first_day - 86_400, now_unix() + 3_600);
    check_against_recount(&s, &key, &survey_id, &raw, (since, until), true).await;
    let team = metrics(&s, &key, &format!("trend={survey_id}&segment=team")).await;
    for segment in team["segments"].as_array().unwrap() {
        let (p, n, d) = tally_of(segment);
        assert!(p >= 0 && n >= 0 && d >= 0, "{team}");
    }
    // Contention moved writes to overflow shards; folding them home changes no figure.
    let moved = ovation::services::results::counters::compact(s.ctx.store.as_ref(), now_unix() + 120, days + 1)
        .await
        .unwrap();
    assert!(moved > 0, "contention left overflow items to fold");
    check_against_recount(&s, &key, &survey_id, &raw, (since, until), !aws).await;
    assert_eq!(
        ovation::services::results::counters::compact(s.ctx.store.as_ref(), now_unix() + 120, days + 1)
            .await
            .unwrap(),
        0,
        "nothing left to fold"
    );

    // Bad input: each a 422 naming the field.
    for (query, field) in [
        (format!("since={}&until={}", until, since), "since"),
        ("since=yesterday".to_owned(), "since"),
        (format!("trend={survey_id}&segment=country"), "segment"),
        ("segment=plan".to_owned(), "segment"),
        ("group_by=year".to_owned(), "group_by"),
        ("time_zone=Mars/Olympus".to_owned(), "time_zone"),
        ("channel=fax".to_owned(), "channel"),
        ("since=0&group_by=day".to_owned(), "group_by"),
        ("colour=red".to_owned(), "query"),
    ] {
        refused(&s, &key, &format!("/v1/metrics?{query}"), field).await;
    }
}

/// Checks that a GET is refused with a 422 naming `field`.
async fn refused(s: &Stack, key: &str, path: &str, field: &str) {
    let answer = s.call(1, "GET", path, Auth::Basic(&format!("{key}:")), None).await;
    assert_eq!(
        (answer.status, answer.body["field"].as_str()),
        (422, Some(field)),
        "{path}: {answer:?}"
    );
}

/// A download of the responses export.
async fn download(s: &Stack, key: &str, query: &str) -> (u16, Option<String>, Vec<u8>) {
    let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{key}:"));
    let answer = reqwest::Client::new()
        .get(format!("{}/v1/exports/responses?{query}", s.url))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let kind = answer
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, kind, answer.bytes().await.unwrap().to_vec())
}

fn zipped(bytes: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
    text
}

async fn exports_are_typed_and_run_no_formulas(e: Engines) {
    let s = Stack::start(e, |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let (read_key, _) = s.api_key(&owner, "read").await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Export", "questions": [{"id": "csat", "kind": "csat", "text": {"en": "Satisfied?"}}]}),
        )
        .await;
    let survey_id = survey.str("id");
    let person = retrying(
        &s,
        "POST",
        "/v1/people",
        &key,
        Some(json!({"email": "ann@example.com", "name": "@Ann", "send": false,
                    "properties": {"plan": "=cmd|' /C calc'!A0", "seats": "12"}})),
    )
    .await
    .str("id");
    let comments = [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1",
        "-2 stars",
        "@SUM(A1)",
        "Fine, thanks",
        "ok",
        "x;=cmd|' /C calc'!A0",
    ];
    let mut ids = vec![];
    for (i, comment) in comments.iter().enumerate() {
        let body = json!({"person": person, "score": 4 + i, "comment": comment, "survey_id": survey_id,
                          "created_at": 1_767_225_600 + i as i64 * 3_600});
        ids.push(
            retrying(&s, "POST", "/v1/survey_responses", &key, Some(body))
                .await
                .str("id"),
        );
    }
    let tagged = json!({"tags": ["vip", "=bad"], "notes": ["-called back"]});
    retrying(
        &s,
        "PUT",
        &format!("/v1/survey_responses/{}", ids[0]),
        &key,
        Some(tagged),
    )
    .await;

    // CSV: a header, one row per response, formula-looking text made text.
    // A read key (an analyst) gets the answers without the people's contact details.
    let (_, _, analysts) = download(&s, &read_key, &format!("format=csv&survey_id={survey_id}")).await;
    let analysts = String::from_utf8(analysts).unwrap();
    assert!(
        analysts.contains("Person ID") && !analysts.contains("ann@example.com") && !analysts.contains("Email"),
        "{analysts}"
    );
    let (status, kind, bytes) = download(&s, &key, &format!("format=csv&survey_id={survey_id}")).await;
    assert_eq!(
        (status, kind.as_deref()),
        (200, Some("text/csv; charset=utf-8")),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let text = String::from_utf8(bytes).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark for Excel");
    // Every text cell is quoted (a `;` inside splits nothing where `;` separates), numbers not.
    assert!(text.contains(r#""x;=cmd|' /C calc'!A0""#), "{text}");
    assert!(text.contains(r#","ok","#) && text.contains(",10,"), "{text}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), comments.len());
    for (row, comment) in rows.iter().zip(comments) {
        let cell = &row[column("Comment")];
        if comment.starts_with(['=', '+', '-', '@', '\t']) {
            assert_eq!(cell, format!("'{comment}"), "neutralised");
        } else {
            assert_eq!(cell, comment);
        }
        assert_eq!(&row[column("Property: plan")], "'=cmd|' /C calc'!A0");
        assert_eq!(&row[column("Name")], "'@Ann");
        assert_eq!(&row[column("Email")], "ann@example.com");
    }
    assert_eq!(&rows[0][column("Score")], "4");
    assert_eq!(&rows[0][column("Category")], "detractor");
    assert_eq!(&rows[0][column("Created at")], "2026-01-01T00:00:00Z");
    assert_eq!(&rows[0][column("Tags")], "vip, =bad");
    assert_eq!(&rows[0][column("Notes")], "'-called back");
    assert!(header.contains(&"Question: csat".to_owned()));

    // Excel: typed cells (numbers, dates), a frozen header, the NPS summary, no formula at all.
    let (status, kind, bytes) = download(&s, &key, &format!("format=xlsx&survey_id={survey_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        kind.as_deref(),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    let workbook = zipped(&bytes, "xl/workbook.xml");
    assert!(
        workbook.contains("name=\"Responses\"") && workbook.contains("name=\"NPS summary\""),
        "{workbook}"
    );
    let sheet = zipped(&bytes, "xl/worksheets/sheet1.xml");
    assert!(!sheet.contains("<f>") && !sheet.contains("<f "), "no formula cells");
    assert!(sheet.contains("state=\"frozen\""), "the header row is frozen");
    assert!(sheet.contains("=HYPERLINK"), "the text is kept, as a string cell");
    assert!(
        sheet.contains(r#"<c r="E2"><v>4</v></c>"#),
        "the score is a number: {sheet}"
    );
    // 2026-01-01 00:00 UTC is Excel's serial day 46023, in a date-time style.
    assert!(
        sheet.contains(r#"<v>46023</v>"#) && sheet.contains(r#"<c r="C2" s="#),
        "{sheet}"
    );
    let summary = zipped(&bytes, "xl/worksheets/sheet2.xml");
    assert!(!summary.contains("<f>"));
    // Scores 4 to 10: two promoters, two passives, three detractors: NPS −14.
    assert!(summary.contains("<v>-14</v>"), "{summary}");

    // Bad input, and the export is audited.
    for (query, field) in [
        ("format=pdf", "format"),
        ("format=csv&since=10&until=5", "since"),
        ("format=csv&colour=red", "query"),
        ("format=csv&since=soon", "since"),
    ] {
        refused(&s, &key, &format!("/v1/exports/responses?{query}"), field).await;
    }
    // A survey the account does not have is not found, wherever a filter names it.
    let unknown = "survey_id=01JDQ6Y3T1V0Z8K4M2N5P7R9S0";
    for (method, path) in [
        ("GET", format!("/v1/exports/responses?format=csv&{unknown}")),
        ("POST", format!("/v1/exports/responses?format=csv&{unknown}")),
        ("GET", format!("/v1/survey_responses?{unknown}")),
        ("GET", format!("/v1/metrics?{unknown}")),
        ("GET", "/v1/metrics?trend=01JDQ6Y3T1V0Z8K4M2N5P7R9S0".to_owned()),
    ] {
        let answer = s.call(1, method, &path, Auth::Basic(&format!("{key}:")), None).await;
        assert_eq!(
            (answer.status, answer.code()),
            (404, "not_found"),
            "{method} {path}: {answer:?}"
        );
    }
    let audit = s.get("/v1/audit_events", &owner.token).await;
    let exported = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "responses.exported")
        .count();
    assert_eq!(exported, 3, "{audit:?}");
}

/// Deleting a person deletes their responses, as Delighted does: their scores leave the NPS and
/// their answers the response rate, and the list no longer shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_person_takes_their_answers_with_them() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let mut people = vec![];
    for (email, score) in [("a@example.com", 10), ("b@example.com", 0), ("c@example.com", 9)] {
        let person = retrying(
            &s,
            "POST",
            "/v1/people",
            &key,
            Some(json!({"email": email, "send": false})),
        )
        .await
        .str("id");
        let body = json!({"person": person, "score": score, "comment": "why"});
        retrying(&s, "POST", "/v1/survey_responses", &key, Some(body)).await;
        people.push(person);
    }
    let before = metrics(&s, &key, "").await;
    assert_eq!(
        (before["nps"].clone(), before["response_count"].clone()),
        (json!(33), json!(3)),
        "{before}"
    );
    retrying(&s, "DELETE", &format!("/v1/people/{}", people[1]), &key, None).await;
    let after = metrics(&s, &key, "").await;
    assert_eq!(
        (
            after["nps"].clone(),
            after["response_count"].clone(),
            after["detractor_count"].clone()
        ),
        (json!(100), json!(2), json!(0)),
        "{after}"
    );
    let listed = s.get("/v1/survey_responses", &key).await;
    // Made in the same second, their order among themselves is not fixed.
    let mut persons: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["person"].as_str())
        .collect();
    persons.sort();
    let mut kept = [people[0].as_str(), people[2].as_str()];
    kept.sort();
    assert_eq!(persons, kept, "{listed:?}");
}

/// A range counts exactly the responses in it, to the second, although the counters resolve to
/// the quarter hour: the quarter hours its ends cut through are read from the responses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_ranges_count_to_the_second() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let survey = s
        .send(
            "POST",
            "/v1/surveys",
            &owner.token,
            json!({"name": "Exact", "segments": ["plan"]}),
        )
        .await
        .str("id");
    // Eight answers one second apart, from one second past a quarter hour: 10, 0, 10, 0, …
    let t0 = (now_unix() - 86_400).div_euclid(900) * 900;
    for i in 1..=8i64 {
        let person = retrying(
            &s,
            "POST",
            "/v1/people",
            &key,
            Some(json!({"email": format!("p{i}@example.com"), "send": false,
                        "properties": {"plan": if i <= 4 { "pro" } else { "free" }}})),
        )
        .await
        .str("id");
        let score = if i % 2 == 1 { 10 } else { 0 };
        let body = json!({"person": person, "score": score, "survey_id": survey, "created_at": t0 + i});
        retrying(&s, "POST", "/v1/survey_responses", &key, Some(body)).await;
    }
    for (since, until, count, nps) in [
        (t0 + 1, t0 + 8, 8, 0),
        (t0 + 1, t0 + 1, 1, 100),
        (t0 + 2, t0 + 5, 4, 0),
        (t0 + 2, t0 + 4, 3, -33),
        (t0 + 9, t0 + 900, 0, 0),
        (t0 - 10, t0 + 3, 3, 33),
        (t0 + 6, t0 + 7200, 3, -33),
    ] {
        let got = metrics(&s, &key, &format!("trend={survey}&since={since}&until={until}")).await;
        assert_eq!(got["response_count"], count, "{since}..{until}: {got}");
        if count > 0 {
            assert_eq!(got["nps"], nps, "{since}..{until}: {got}");
        }
        let by_day = metrics(
            &s,
            &key,
            &format!("trend={survey}&since={since}&until={until}&group_by=day"),
        )
        .await;
        let series: i64 = by_day["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["response_count"].as_i64().unwrap())
            .sum();
        assert_eq!(series, count, "by day, {since}..{until}: {by_day}");
    }
    // Segments too: of seconds 3 to 6, two are pro (3, 4) and two free (5, 6).
    let split = metrics(
        &s,
        &key,
        &format!("trend={survey}&since={}&until={}&segment=plan", t0 + 3, t0 + 6),
    )
    .await;
    let mut counts: Vec<(String, i64)> = split["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["value"].as_str().unwrap().to_owned(),
                g["response_count"].as_i64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(counts, [("free".to_owned(), 2), ("pro".to_owned(), 2)], "{split}");
}
