//! Sending on every engine: a person created with `delay=0` is found by the scheduler, enqueued
//! once however often it runs, delivered once however often the message is redelivered (the
//! outbox locally; SES v2 through SQS on moto, the mail read back from moto), with the one-click
//! unsubscribe headers and working score links; suppressed people are skipped with a reason; a
//! message that is no delivery ends in the dead-letter queue. SES's bounce and complaint events
//! (the samples in `events/job-delivery-events`) suppress people, listed by Delighted's
//! `bounces` and `unsubscribes` APIs.

use std::sync::Arc;

use aws_sdk_sqs::types::QueueAttributeName;
use ovation::messaging::{Messaging, mime, outbox, ses, sns, sqs};
use ovation::services::people::person::Suppression;
use ovation::services::people::suppressions;
use ovation::services::sending::{deliverer, scheduler};
use ovation::store::{Query, keys};
use serde_json::json;

use crate::api::{Auth, Stack};
use crate::support::{Engines, start_scheduler_at};
use crate::surveys::{leads_to, page};

on_every_engine!(
    email_goes_out_once_and_its_link_answers,
    the_next_survey_follows_sends_skips_and_cancels,
    bounces_and_complaints_suppress_people,
    one_reminder_follows_when_there_is_no_answer,
    autopilot_surveys_members_again_every_frequency,
    an_sms_goes_out_once_with_its_link
);

const SENDER: &str = "surveys@acme.example";
/// Each test's own sender (see `Sending::sender`).
const AUTOPILOT_SENDER: &str = "surveys@autopilot.example";
const SMS_SENDER: &str = "surveys@sms.example";
const REMINDERS_SENDER: &str = "surveys@reminders.example";
const BOUNCES_SENDER: &str = "surveys@bounces.example";

/// The queue and mail of the engine: the store's queue and the outbox, or SQS and SES on moto
/// (a queue with a dead-letter queue after 2 receives, the sender identity verified when asked).
pub(crate) struct Sending {
    pub(crate) messaging: Messaging,
    sqs: Option<(aws_sdk_sqs::Client, String, String)>,
    moto: Option<String>,
    /// The test's own sender: moto's sent mail is shared by every test, told apart by it.
    sender: String,
}

async fn sending(aws: Option<&aws_config::SdkConfig>, ctx: &ovation::Context, verified: bool) -> Sending {
    let sender = ctx.settings.sending.mail_from.clone();
    let Some(config) = aws else {
        let messaging = ctx.messaging(ctx.store.clone()).await.unwrap();
        return Sending {
            messaging,
            sqs: None,
            moto: None,
            sender,
        };
    };
    let client = aws_sdk_sqs::Client::new(config);
    let name = format!("deliver-{}", ovation::ids::new_id().to_lowercase());
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap();
    let dlq_url = dlq.queue_url().unwrap().to_owned();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let queue = client
        .create_queue()
        .queue_name(&name)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}).to_string(),
        )
        .send()
        .await
        .unwrap();
    let url = queue.queue_url().unwrap().to_owned();
    let ses_client = aws_sdk_sesv2::Client::new(config);
    if verified {
        ses_client
            .create_email_identity()
            .email_identity(&sender)
            .send()
            .await
            .unwrap();
    }
    Sending {
        messaging: Messaging {
            queue: Arc::new(sqs::SqsQueue::new(client.clone(), url.clone())),
            mailer: Arc::new(ses::SesMailer::new(ses_client, None)),
            sms: Arc::new(sns::SnsSms::new(aws_sdk_sns::Client::new(config))),
            local_queue: None,
            webhooks: None,
            local_webhooks: None,
            rate: None,
        },
        sqs: Some((client, url, dlq_url)),
        moto: std::env::var("AWS_ENDPOINT_URL").ok(),
        sender,
    }
}

/// A stack that sends as `sender` with links to `survey.example.test`, its queue and mail (the
/// sender verified in SES when asked), and its data directory.
pub(crate) async fn sending_stack(
    e: Engines,
    sender: &str,
    verified: bool,
    tweak: impl FnOnce(&mut ovation::config::Settings),
) -> (Stack, Sending, std::path::PathBuf) {
    let aws = e.aws.clone();
    let data_dir = e.dir.path().to_owned();
    let s = Stack::start(e, |settings| {
        settings.public_url = Some("http://survey.example.test".into());
        settings.sending.mail_from = sender.into();
        tweak(settings);
    })
    .await;
    let send = sending(aws.as_ref(), &s.ctx, verified).await;
    (s, send, data_dir)
}

/// The stored invitation of a person (their one invitation's item).
async fn invitation_item(store: &ovation::store::TenantStore, person: &str) -> ovation::store::Item {
    let (survey, invitation) = invitation_of(store, person).await;
    store
        .get(&keys::invitation(store.tenant(), &survey, &invitation).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// Takes what the deliverer's queue holds, as the Lambda event source would.
pub(crate) async fn receive(s: &Sending) -> aws_lambda_events::event::sqs::SqsEvent {
    let received = match (&s.messaging.local_queue, &s.sqs) {
        (Some(queue), _) => queue.receive(10, 0, 2).await.unwrap(),
        (None, Some((client, url, _))) => {
            let out = client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .unwrap();
            out.messages()
                .iter()
                .map(|m| ovation::messaging::Received {
                    id: m.message_id().unwrap().to_owned(),
                    receipt: m.receipt_handle().unwrap().to_owned(),
                    body: m.body().unwrap().to_owned(),
                    receive_count: 1,
                })
                .collect()
        }
        _ => unreachable!(),
    };
    ovation::jobs::sqs_event(&received).unwrap()
}

/// Deletes what the deliverer handled, as Lambda's event source does.
pub(crate) async fn settle(
    s: &Sending,
    event: &aws_lambda_events::event::sqs::SqsEvent,
    answer: &aws_lambda_events::event::sqs::SqsBatchResponse,
) {
    let done: Vec<String> = event
        .records
        .iter()
        .filter(|r| {
            !answer
                .batch_item_failures
                .iter()
                .any(|f| Some(&f.item_identifier) == r.message_id.as_ref())
        })
        .map(|r| r.receipt_handle.clone().unwrap())
        .collect();
    match (&s.messaging.local_queue, &s.sqs) {
        (Some(queue), _) => queue.delete(&done).await.unwrap(),
        (None, Some((client, url, _))) => {
            for receipt in done {
                client
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .unwrap();
            }
        }
        _ => unreachable!(),
    }
}

/// Every message sent so far: raw MIME, oldest first.
pub(crate) async fn sent_mail(s: &Sending, data_dir: &std::path::Path) -> Vec<String> {
    match &s.moto {
        None => {
            let dir = data_dir.join(outbox::FOLDER);
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            names.sort();
            names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
        }
        Some(endpoint) => {
            let data: serde_json::Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            data["ses"]["RawMessage"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["raw_data"].as_str())
                .filter(|raw| raw.contains(s.sender.as_str()))
                .map(str::to_owned)
                .collect()
        }
    }
}

async fn email_goes_out_once_and_its_link_answers(e: Engines) {
    let (s, send, data_dir) = sending_stack(e, SENDER, true, |settings| {
        settings.sending.unsubscribe_mailto = Some("unsubscribe@acme.example".into());
    })
    .await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let person = s
        .call(
            1,
            "POST",
            "/v1/people",
            Auth::Bearer(&key),
            Some(json!({"email": "ann@example.com", "name": "Ann", "properties": {"product_name": "Rocket", "plan": "Pro"}})),
        )
        .await;
    assert_eq!(person.status, 200, "{person:?}");
    // Suppressed people are skipped with their reason.
    let gone = s
        .call(
            1,
            "POST",
            "/v1/people",
            Auth::Bearer(&key),
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    let tenant: ovation::ids::TenantId = s.get("/v1/me", &owner.token).await.str("tenant_id").parse().unwrap();
    suppressions::suppress(
        &s.ctx.tenant_store(&tenant),
        &gone.str("id"),
        Suppression::Unsubscribed,
        ovation::store::now_unix(),
        None,
    )
    .await
    .unwrap();

    let first = job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap();
    assert_eq!(
        (first.queued, first.skipped.get("unsubscribed").copied()),
        (1, Some(1)),
        "{first:?}"
    );
    let again = job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap();
    assert_eq!(
        (again.queued, again.requeued),
        (0, 0),
        "an overlapping run enqueues nothing twice"
    );

    let event = receive(&send).await;
    assert_eq!(event.records.len(), 1);
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    assert!(answer.batch_item_failures.is_empty());
    // Redelivered (SQS is at-least-once): nothing goes twice.
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    assert!(answer.batch_item_failures.is_empty());
    settle(&send, &event, &answer).await;
    let mail = sent_mail(&send, &data_dir).await;
    assert_eq!(mail.len(), 1, "one email, sent once");

    let parsed = mime::parse(&mail[0]).unwrap();
    let (text, html) = (&parsed.text, &parsed.html);
    let header = |n: &str| parsed.header(n).unwrap_or_default();
    assert_eq!(
        header("Subject"),
        "How likely are you to recommend Rocket to a friend or colleague?"
    );
    assert!(header("From").ends_with(&format!("<{SENDER}>")), "{}", header("From"));
    assert_eq!(header("To"), "<ann@example.com>");
    assert_eq!(header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    let unsubscribe = header("List-Unsubscribe");
    assert!(
        unsubscribe
            .starts_with("<mailto:unsubscribe@acme.example?subject=unsubscribe>, <http://survey.example.test/u/"),
        "{unsubscribe}"
    );
    for n in 0..=10 {
        assert!(html.contains(&format!("?score={n}\"")), "button {n} in the HTML part");
    }
    // Dated and identified in every copy; on phones the scores are fluid cells, not 36 px ones;
    // a preheader; the footer at 7:1 (#52525b on #f4f4f5), not 4.39:1.
    assert!(
        header("Date").ends_with(" +0000") && header("Date").len() == 31,
        "{}",
        header("Date")
    );
    assert!(header("Message-ID").starts_with('<') && header("Message-ID").ends_with("@acme.example>"));
    assert!(!html.contains("width:36px") && html.contains("width=\"9%\""), "{html}");
    assert!(
        html.contains("display:none;max-height:0") && html.contains("<h1"),
        "{html}"
    );
    assert!(!html.contains("#71717a"), "{html}");
    let nine = text
        .lines()
        .find_map(|l| l.strip_prefix("9: "))
        .expect("the text part lists the score links");
    assert!(
        nine.starts_with("http://survey.example.test/r/") && nine.ends_with("?score=9"),
        "{nine}"
    );

    // The link answers: its page renders, its POST records.
    let path = nine
        .trim_start_matches("http://survey.example.test")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let recorded = reqwest::Client::new()
        .post(format!("{}{path}", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("score=9&comment=Great")
        .send()
        .await
        .unwrap();
    assert_eq!(recorded.status(), 200);
    let responses = s.get("/v1/survey_responses", &key).await;
    assert_eq!(responses.body[0]["score"], 9, "{responses:?}");
    assert_eq!(responses.body[0]["person"], person.str("id"));
    let listed = s.get("/v1/people?email=ann@example.com", &key).await;
    assert!(listed.body[0]["last_sent_at"].as_i64().is_some(), "{listed:?}");
    // The send and its answer count towards the response rate.
    let metrics = s.get("/v1/metrics", &key).await;
    assert_eq!(
        (
            &metrics.body["sent_count"],
            &metrics.body["answered_count"],
            &metrics.body["response_rate"],
            &metrics.body["nps"]
        ),
        (&json!(1), &json!(1), &json!(100.0), &json!(100)),
        "{metrics:?}"
    );

    // A message that is no delivery fails every time and ends in the dead letters.
    send.messaging
        .queue
        .send_batch(&["not a delivery".to_owned()])
        .await
        .unwrap();
    for _ in 0..3 {
        let event = receive(&send).await;
        if event.records.is_empty() {
            break;
        }
        let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
        assert_eq!(answer.batch_item_failures.len(), 1);
        settle(&send, &event, &answer).await;
    }
    assert!(receive(&send).await.records.is_empty(), "nothing left to receive");
    let dead = match (&send.messaging.local_queue, &send.sqs) {
        (Some(queue), _) => queue.dead_letter_bodies().await.unwrap(),
        (None, Some((client, _, dlq))) => client
            .receive_message()
            .queue_url(dlq)
            .send()
            .await
            .unwrap()
            .messages()
            .iter()
            .map(|m| m.body().unwrap().to_owned())
            .collect(),
        _ => unreachable!(),
    };
    assert_eq!(dead, ["not a delivery"]);
    assert_eq!(
        (deliverer::backoff(1), deliverer::backoff(2), deliverer::backoff(10)),
        (30, 60, 900)
    );
}

/// The topic of the sample events, configured as the stack's mail events topic.
const MAIL_EVENTS: &str = "arn:aws:sns:eu-west-1:123456789012:ovation-prod-mail-events";

/// A sample SES event from `events/job-delivery-events`, re-addressed to one invitation.
fn sample_event(name: &str, tenant: &str, survey: &str, invitation: &str, to: &str) -> serde_json::Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../events/job-delivery-events/{name}.json"));
    let mut event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut message: serde_json::Value =
        serde_json::from_str(event["Records"][0]["Sns"]["Message"].as_str().unwrap()).unwrap();
    let tags = &mut message["mail"]["tags"];
    tags["tenant"] = json!([tenant]);
    tags["survey"] = json!([survey]);
    tags["invitation"] = json!([invitation]);
    message["mail"]["destination"] = json!([format!("\"{to}\" <{to}>")]);
    event["Records"][0]["Sns"]["Message"] = message.to_string().into();
    event
}

/// The survey and id of a person's invitation (their pointer).
async fn invitation_of(store: &ovation::store::TenantStore, person: &str) -> (String, String) {
    let pointers = store
        .query_all(Query::new(keys::person_partition(store.tenant(), person).unwrap()))
        .await
        .unwrap();
    let pointer = pointers.iter().find(|p| p.key.sk.starts_with("INV#")).unwrap();
    (
        pointer.str("survey").unwrap().to_owned(),
        pointer.key.sk.trim_start_matches("INV#").to_owned(),
    )
}

async fn bounces_and_complaints_suppress_people(e: Engines) {
    let (s, send, _) = sending_stack(e, BOUNCES_SENDER, true, |settings| {
        settings.sending.mail_events_topic = Some(MAIL_EVENTS.into());
    })
    .await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let tenant = s.get("/v1/me", &owner.token).await.str("tenant_id");
    let store = s.ctx.tenant_store(&tenant.parse().unwrap());
    let mut ids = Vec::new();
    for email in ["ann@example.com", "bob@example.com", "cat@example.com"] {
        let created = s.send("POST", "/v1/people", &key, json!({"email": email})).await;
        assert_eq!(created.status, 200, "{created:?}");
        ids.push(created.str("id"));
    }
    let run = job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap();
    assert_eq!(run.queued, 3, "{run:?}");
    let event = receive(&send).await;
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    assert!(answer.batch_item_failures.is_empty());
    settle(&send, &event, &answer).await;
    let event_for = |name: &'static str, person: usize, to: &'static str| {
        let store = &store;
        let tenant = &tenant;
        let person = ids[person].clone();
        async move {
            let (survey, invitation) = invitation_of(store, &person).await;
            sample_event(name, tenant, &survey, &invitation, to)
        }
    };
    let apply = |event: serde_json::Value| job_delivery_events::handle(&s.ctx, event);

    // A permanent bounce: the invitation says so, the person is suppressed and listed.
    let bounce = event_for("bounce", 0, "ann@example.com").await;
    let report = apply(bounce.clone()).await.unwrap();
    assert_eq!(report.applied.get("bounced"), Some(&1), "{report:?}");
    let item = invitation_item(&store, &ids[0]).await;
    assert_eq!(item.str("invite_delivery"), Some("bounced"));
    assert_eq!(item.str("invite_bounce"), Some("Permanent/General"));
    // The same event again (SNS is at-least-once) suppresses once.
    apply(bounce).await.unwrap();
    let bounces = s.get("/v1/bounces.json", &key).await;
    assert_eq!(bounces.status, 200, "{bounces:?}");
    let listed = bounces.body.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{bounces:?}");
    assert_eq!(listed[0]["person_id"], ids[0].as_str());
    assert_eq!(listed[0]["email"], "ann@example.com");
    assert!(listed[0]["bounced_at"].as_i64().is_some());
    assert!(listed[0].get("unsubscribed_at").is_none());

    // A complaint unsubscribes; a delivery and a soft bounce only update the invitation.
    let report = apply(event_for("complaint", 1, "bob@example.com").await).await.unwrap();
    assert_eq!(report.applied.get("complained"), Some(&1), "{report:?}");
    let report = apply(event_for("delivery", 2, "cat@example.com").await).await.unwrap();
    assert_eq!(report.applied.get("delivered"), Some(&1), "{report:?}");
    let report = apply(event_for("soft-bounce", 2, "cat@example.com").await)
        .await
        .unwrap();
    assert_eq!(report.applied.get("soft_bounced"), Some(&1), "{report:?}");
    // A late delivery never hides a complaint.
    let report = apply(event_for("delivery", 1, "bob@example.com").await).await.unwrap();
    assert_eq!(report.ignored.get("superseded"), Some(&1), "{report:?}");
    // A bounce of an address the person no longer has suppresses nobody.
    let report = apply(event_for("bounce", 2, "old-cat@example.com").await)
        .await
        .unwrap();
    assert_eq!(report.applied.get("bounced"), Some(&1), "{report:?}");

    // Delighted's unsubscribe call; an unknown address becomes a suppressed person.
    let ok = s
        .send(
            "POST",
            "/v1/unsubscribes.json",
            &key,
            json!({"person_email": "dan@example.com"}),
        )
        .await;
    assert_eq!((ok.status, ok.body.clone()), (200, json!({"ok": true})), "{ok:?}");
    for (body, field) in [
        (json!({}), "person_email"),
        (json!({"person_email": "nope"}), "person_email"),
    ] {
        let refused = s.send("POST", "/v1/unsubscribes", &key, body).await;
        assert_eq!(refused.status, 422, "{refused:?}");
        assert!(refused.text.contains(field), "{refused:?}");
    }
    let unsubscribed = s.get("/v1/unsubscribes?per_page=1", &key).await;
    assert_eq!(unsubscribed.body.as_array().unwrap().len(), 1, "{unsubscribed:?}");
    assert_eq!(unsubscribed.body[0]["email"], "bob@example.com");
    assert!(unsubscribed.body[0]["unsubscribed_at"].as_i64().is_some());
    let next = unsubscribed.header("link").expect("a next page");
    assert!(next.contains("per_page=1") && next.contains("rel=\"next\""), "{next}");
    let all = s.get("/v1/unsubscribes", &key).await;
    let emails: Vec<&str> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["bob@example.com", "dan@example.com"]);
    let later = ovation::store::now_unix() + 3600;
    let none = s.get(&format!("/v1/unsubscribes?since={later}"), &key).await;
    assert_eq!(none.body, json!([]));
    let reader = s.api_key(&owner, "read").await.0;
    assert_eq!(
        s.send(
            "POST",
            "/v1/unsubscribes",
            &reader,
            json!({"person_email": "eve@example.com"})
        )
        .await
        .status,
        403,
        "reading people does not allow unsubscribing them"
    );

    // The suppressed are skipped when surveyed again, with their reasons.
    for email in ["ann@example.com", "bob@example.com", "dan@example.com"] {
        let again = s.send("POST", "/v1/people", &key, json!({"email": email})).await;
        assert_eq!(again.status, 200, "{again:?}");
    }
    let run = job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap();
    assert_eq!(
        (run.queued, run.skipped.get("bounced"), run.skipped.get("unsubscribed")),
        (0, Some(&1), Some(&2)),
        "{run:?}"
    );

    // A new address lifts a bounce; deleting a person removes them from the lists.
    let moved = s
        .send(
            "POST",
            "/v1/people",
            &key,
            json!({"email": "ann@example.com", "email_update": "ann@new.example", "send": false}),
        )
        .await;
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(s.get("/v1/bounces", &key).await.body, json!([]));
    let deleted = s
        .call(1, "DELETE", &format!("/v1/people/{}", ids[1]), Auth::Bearer(&key), None)
        .await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    let all = s.get("/v1/unsubscribes", &key).await;
    assert_eq!(all.body.as_array().unwrap().len(), 1, "{all:?}");
    assert_eq!(all.body[0]["email"], "dan@example.com");
}

async fn one_reminder_follows_when_there_is_no_answer(e: Engines) {
    let (s, send, data_dir) = sending_stack(e, REMINDERS_SENDER, true, |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let surveys = s.get("/v1/surveys", &key).await;
    let survey = surveys.body[0]["id"].as_str().unwrap().to_owned();
    let patched = s
        .send(
            "PATCH",
            &format!("/v1/surveys/{survey}"),
            &key,
            json!({"reminder_days": 1, "texts": {"en": {"question": "How likely are you to recommend us, {{ properties.plan }} customer?"}}}),
        )
        .await;
    // Under load moto can answer a write after the SDK's 3 s attempt timeout: the SDK tries again
    // and the version condition refuses the write that already happened (409). Then it is there.
    if patched.status == 409 {
        let now = s.get(&format!("/v1/surveys/{survey}"), &key).await;
        assert_eq!(now.body["reminder_days"], 1, "{patched:?} {now:?}");
    } else {
        assert_eq!(patched.status, 200, "{patched:?}");
    }
    let ann = s
        .send(
            "POST",
            "/v1/people",
            &key,
            json!({"email": "ann@example.com", "properties": {"plan": "Pro"}}),
        )
        .await;
    let bob = s
        .send("POST", "/v1/people", &key, json!({"email": "bob@example.com"}))
        .await;
    assert_eq!(job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap().queued, 2);
    let event = receive(&send).await;
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    settle(&send, &event, &answer).await;
    assert_eq!(sent_mail(&send, &data_dir).await.len(), 2);
    // Bob answers through his link; Ann does not.
    let path = bob
        .str("survey_url")
        .trim_start_matches("http://survey.example.test")
        .to_owned();
    let answered = reqwest::Client::new()
        .post(format!("{}{path}", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("score=8")
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    assert!(!ann.str("survey_url").is_empty());

    // A day later: Ann's reminder goes, Bob's is skipped as answered; then nothing more.
    let now = ovation::store::now_unix();
    assert_eq!(
        scheduler::schedule_due(&s.ctx, &send.messaging, now + 3600)
            .await
            .unwrap()
            .queued,
        0,
        "not before the reminder's day"
    );
    let later = now + 86_400 + 60;
    start_scheduler_at(&s.ctx, later).await;
    let run = scheduler::schedule_due(&s.ctx, &send.messaging, later).await.unwrap();
    assert_eq!((run.queued, run.skipped.get("answered")), (1, Some(&1)), "{run:?}");
    let event = receive(&send).await;
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    assert!(answer.batch_item_failures.is_empty());
    settle(&send, &event, &answer).await;
    let mail = sent_mail(&send, &data_dir).await;
    assert_eq!(mail.len(), 3, "two invitations and one reminder");
    let reminders: Vec<String> = mail
        .iter()
        .filter_map(|raw| mime::parse(raw))
        .filter(|m| {
            m.header("Subject").as_deref() == Some("Reminder: How likely are you to recommend us, Pro customer?")
        })
        .map(|m| m.header("To").unwrap_or_default())
        .collect();
    assert_eq!(reminders, ["<ann@example.com>"]);
    // (A second reminder would be due a day after the first was sent: by `later`.)
    let again = scheduler::schedule_due(&s.ctx, &send.messaging, later + 120)
        .await
        .unwrap();
    assert_eq!((again.queued, again.requeued), (0, 0), "one reminder only: {again:?}");
}

/// On DynamoDB the due index of a minute is spread over shards by invitation (one partition
/// would take every workspace's sends of that minute); the scheduler reads every shard, an entry
/// an earlier version left unsharded, and catches up after an outage six hours of minutes a run.
/// (The embedded store under the partition model spreads as DynamoDB does.)
#[tokio::test]
async fn every_shard_of_the_due_index_is_read_and_an_outage_caught_up() {
    let mut engines = Engines::embedded();
    engines.store = Arc::new(ovation::store::capacity::CapacityMeter::new(engines.store.clone()));
    let (s, send, _dir) = sending_stack(engines, SENDER, true, |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let tenant = s.get("/v1/me", &owner.token).await.str("tenant_id");
    let store = s.ctx.tenant_store(&tenant.parse().unwrap());
    let mut shards = std::collections::BTreeSet::new();
    let mut people = Vec::new();
    for n in 0..40 {
        let body = json!({"email": format!("p{n}@example.com"), "delay": 0});
        let created = s.send("POST", "/v1/people", &key, body).await;
        assert_eq!(created.status, 200, "{created:?}");
        let person = created.str("id");
        let item = invitation_item(&store, &person).await;
        shards.insert(item.str("gsi1pk").unwrap().to_owned());
        people.push(person);
    }
    assert!(
        shards.len() >= 20,
        "40 sends due in one minute over {} shards",
        shards.len()
    );
    // One entry as an earlier version wrote it: the minute's partition without a shard.
    let mut legacy = None;
    for person in &people {
        let item = invitation_item(&store, person).await;
        if item.str("gsi1pk").unwrap().matches('#').count() == 2 {
            legacy = Some(item);
            break;
        }
    }
    let legacy = legacy.expect("an entry in a shard other than 0");
    let minute = keys::due_minute(legacy.str("gsi1pk").unwrap()).unwrap();
    s.ctx
        .store
        .update(
            &legacy.key,
            &[
                ovation::store::Update::Set("gsi1pk".into(), keys::due_partition(minute, 0).into()),
                ovation::store::Update::Set("gsi1sk".into(), legacy.str("gsi1sk").unwrap().into()),
            ],
            None,
        )
        .await
        .unwrap();
    // The scheduler was down for seven hours: a run reads six hours of minutes, the next goes on.
    let now = ovation::store::now_unix();
    start_scheduler_at(&s.ctx, now - 7 * 3600).await;
    let first = scheduler::schedule_due(&s.ctx, &send.messaging, now).await.unwrap();
    assert_eq!((first.queued, first.more), (0, true), "{first:?}");
    let mut queued = 0;
    for _ in 0..5 {
        let run = scheduler::schedule_due(&s.ctx, &send.messaging, now).await.unwrap();
        queued += run.queued;
        if !run.more {
            break;
        }
    }
    assert_eq!(queued, 40, "every shard read, the unsharded entry too");
    for person in &people {
        let item = invitation_item(&store, person).await;
        assert_eq!(item.str("status"), Some("queued"), "{item:?}");
    }
}

/// A run reads up to twice its budget and picks fairly between workspaces: what it read and
/// did not pick is read again, even in a minute before the one where it stopped reading and
/// older than the minutes every run reads again.
#[tokio::test]
async fn entries_read_but_not_picked_are_read_again() {
    let (s, send, _dir) = sending_stack(Engines::embedded(), SENDER, true, |settings| {
        settings.sending.scheduler_batch = 4;
    })
    .await;
    let now = ovation::store::now_unix();
    let mut people = 0;
    for (slug, count, at) in [("acme", 3, now + 60), ("beta", 10, now + 180)] {
        let owner = s.tenant(slug).await;
        let (key, _) = s.api_key(&owner, "write").await;
        for n in 0..count {
            let body = json!({"email": format!("p{n}@{slug}.example"), "send_at": at});
            let created = s.send("POST", "/v1/people", &key, body).await;
            assert_eq!(created.status, 200, "{created:?}");
            people += 1;
        }
    }
    // Both minutes are past the minutes every run reads again by the time the scheduler runs.
    let later = now + 180 + 900;
    start_scheduler_at(&s.ctx, now + 60).await;
    let mut queued = 0;
    for _ in 0..10 {
        let run = scheduler::schedule_due(&s.ctx, &send.messaging, later).await.unwrap();
        assert!(run.queued <= 4, "{run:?}");
        queued += run.queued;
        if !run.more {
            break;
        }
    }
    assert_eq!(queued, people, "every due send queued once");
}

/// "10:00 local": `send_at` schedules the next 10:00 in the person's `time_zone` property.
#[tokio::test]
async fn send_at_a_local_time_of_day() {
    let s = Stack::start(Engines::embedded(), |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let now = ovation::store::now_unix();
    let created = s
        .send(
            "POST",
            "/v1/people",
            &key,
            json!({"email": "kenji@example.com", "send_at": "10:00", "properties": {"time_zone": "Asia/Tokyo"}}),
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let at = created.body["next_survey_scheduled_at"].as_i64().unwrap();
    assert!((now..now + 86_400).contains(&at), "within a day: {at}");
    assert_eq!((at + 9 * 3600).rem_euclid(86_400), 10 * 3600, "10:00 in Tokyo (UTC+9)");
    let later = s
        .send(
            "POST",
            "/v1/people",
            &key,
            json!({"email": "ann@example.com", "send_at": now + 3600}),
        )
        .await;
    assert_eq!(later.body["next_survey_scheduled_at"], now + 3600);
    for (body, field) in [
        (json!({"email": "a@example.com", "send_at": "25:00"}), "send_at"),
        (
            json!({"email": "a@example.com", "send_at": "10:00", "delay": 60}),
            "send_at",
        ),
        (
            json!({"email": "a@example.com", "send_at": now + 400 * 86_400}),
            "send_at",
        ),
        (
            json!({"email": "a@example.com", "send_at": "10:00", "properties": {"time_zone": "Mars/Olympus"}}),
            "properties.time_zone",
        ),
    ] {
        let refused = s.send("POST", "/v1/people", &key, body.clone()).await;
        assert_eq!(
            (refused.status, refused.str("field")),
            (422, field.to_owned()),
            "{body}: {refused:?}"
        );
    }
}

/// The email autopilot's members, as the API lists them.
async fn members(s: &Stack, key: &str) -> serde_json::Value {
    let listed = s.get("/v1/autopilot/email/memberships", key).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    listed.body
}

/// Delighted's `survey_scheduled_at` when a call schedules a survey, and the person's
/// `next_survey_scheduled_at` kept true: set by scheduling, cleared by a send, a skip and a cancel
/// (another pending survey then shows).
async fn the_next_survey_follows_sends_skips_and_cancels(e: Engines) {
    let (s, send, _) = sending_stack(e, SENDER, true, |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let now = ovation::store::now_unix();
    let created = s
        .send(
            "POST",
            "/v1/people",
            &key,
            json!({"email": "ann@example.com", "delay": 0}),
        )
        .await;
    let at = created.body["survey_scheduled_at"]
        .as_i64()
        .expect("survey_scheduled_at");
    assert!((now..now + 5).contains(&at), "{created:?}");
    assert_eq!(created.body["next_survey_scheduled_at"], at);
    // Sent: nothing is scheduled any more.
    assert_eq!(job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap().queued, 1);
    deliver_queued(&s, &send).await;
    assert_eq!(next_survey_of(&s, &key, "ann@example.com").await, json!(null));
    // Two pending surveys: canceling both clears it; a second survey later shows alone.
    let other = s
        .send("POST", "/v1/surveys", &owner.token, json!({"name": "Support"}))
        .await
        .str("id");
    let bo = json!({"email": "bo@example.com", "delay": 7200});
    let later = s.send("POST", "/v1/people", &key, bo).await.body["survey_scheduled_at"].clone();
    let bo = json!({"email": "bo@example.com", "delay": 3600, "survey_id": other});
    let sooner = s.send("POST", "/v1/people", &key, bo).await.body["survey_scheduled_at"].clone();
    assert_eq!(next_survey_of(&s, &key, "bo@example.com").await, sooner);
    let canceled = s
        .call(
            1,
            "DELETE",
            "/v1/people/bo%40example.com/survey_requests/pending",
            Auth::Bearer(&key),
            None,
        )
        .await;
    assert_eq!(canceled.body["canceled"], 2, "{canceled:?}");
    assert_eq!(next_survey_of(&s, &key, "bo@example.com").await, json!(null));
    assert!(later.as_i64() > sooner.as_i64());
    // Skipped (unsubscribed before it went): cleared too.
    s.send(
        "POST",
        "/v1/people",
        &key,
        json!({"email": "cy@example.com", "delay": 0}),
    )
    .await;
    s.send(
        "POST",
        "/v1/unsubscribes",
        &key,
        json!({"person_email": "cy@example.com"}),
    )
    .await;
    let run = job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap();
    assert_eq!(run.skipped.get("unsubscribed"), Some(&1), "{run:?}");
    assert_eq!(next_survey_of(&s, &key, "cy@example.com").await, json!(null));
}

/// A person's `next_survey_scheduled_at`, found by email.
async fn next_survey_of(s: &Stack, key: &str, email: &str) -> serde_json::Value {
    let found = s.get(&format!("/v1/people?email={email}"), key).await;
    assert_eq!(found.status, 200, "{found:?}");
    found.body[0]["next_survey_scheduled_at"].clone()
}

/// Sends what the scheduler queued (one batch).
async fn deliver_queued(s: &Stack, send: &Sending) {
    let event = receive(send).await;
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    assert!(answer.batch_item_failures.is_empty());
    settle(send, &event, &answer).await;
}

async fn autopilot_surveys_members_again_every_frequency(e: Engines) {
    const MONTH: i64 = 30 * 86_400;
    let (s, send, data_dir) = sending_stack(e, AUTOPILOT_SENDER, true, |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let off = s.get("/v1/autopilot/email.json", &key).await;
    assert_eq!(
        (
            off.body["platform_id"].clone(),
            off.body["active"].clone(),
            off.body["frequency"].clone()
        ),
        (json!("email"), json!(false), json!(90 * 86_400)),
        "{off:?}"
    );
    let on = s
        .send(
            "PATCH",
            "/v1/autopilot/email",
            &owner.token,
            json!({"active": true, "frequency": MONTH}),
        )
        .await;
    assert_eq!((on.status, on.body["active"].clone()), (200, json!(true)), "{on:?}");
    for (path, body, status, field) in [
        ("/v1/autopilot/email", json!({"frequency": 60}), 422, Some("frequency")),
        ("/v1/autopilot/fax", json!({"active": true}), 404, None),
        ("/v1/autopilot/email/memberships", json!({}), 422, Some("person_email")),
    ] {
        let method = if path.ends_with("memberships") { "POST" } else { "PATCH" };
        let refused = s.send(method, path, &owner.token, body).await;
        assert_eq!(refused.status, status, "{path}: {refused:?}");
        if let Some(field) = field {
            assert_eq!(refused.str("field"), field, "{refused:?}");
        }
    }

    // Joining schedules the first survey now; joining again changes nothing.
    let now = ovation::store::now_unix();
    let joined = s
        .send(
            "POST",
            "/v1/autopilot/email/memberships.json",
            &key,
            json!({"person_email": "ann@example.com", "properties": {"plan": "Pro"}}),
        )
        .await;
    assert_eq!(joined.status, 200, "{joined:?}");
    assert_eq!(joined.body["person"]["email"], "ann@example.com");
    assert_eq!(joined.body["properties"]["plan"], "Pro");
    let first = joined.body["next_survey_request"]["id"].as_str().unwrap().to_owned();
    // The member's person shows the survey scheduled for them, as Delighted does.
    assert_eq!(
        next_survey_of(&s, &key, "ann@example.com").await,
        joined.body["next_survey_request"]["survey_scheduled_at"],
        "{joined:?}"
    );
    assert!(
        joined.body["next_survey_request"]["survey_scheduled_at"]
            .as_i64()
            .unwrap()
            >= now
    );
    let again = s
        .send(
            "POST",
            "/v1/autopilot/email/memberships",
            &key,
            json!({"person_email": "ann@example.com"}),
        )
        .await;
    assert_eq!(again.body["next_survey_request"]["id"], first.as_str());

    // Sent, then the next one is a frequency later, named on the membership.
    assert_eq!(job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap().queued, 1);
    deliver_queued(&s, &send).await;
    assert_eq!(sent_mail(&send, &data_dir).await.len(), 1);
    let listed = members(&s, &key).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let second = listed[0]["next_survey_request"]["id"].as_str().unwrap().to_owned();
    let second_at = listed[0]["next_survey_request"]["survey_scheduled_at"]
        .as_i64()
        .unwrap();
    assert_ne!(second, first);
    assert!((now + MONTH..now + MONTH + 600).contains(&second_at), "{listed}");
    assert_eq!(
        next_survey_of(&s, &key, "ann@example.com").await,
        json!(second_at),
        "the follow-up is their next survey"
    );

    // A month later it goes, and the one after is scheduled.
    let later = second_at + 60;
    start_scheduler_at(&s.ctx, later).await;
    let run = scheduler::schedule_due(&s.ctx, &send.messaging, later).await.unwrap();
    assert_eq!(run.queued, 1, "{run:?}");
    deliver_queued(&s, &send).await;
    assert_eq!(sent_mail(&send, &data_dir).await.len(), 2);
    let third = members(&s, &key).await[0]["next_survey_request"].clone();
    assert_ne!(third["id"], second.as_str());

    // Unsubscribed: skipped with the reason, and still the next one is scheduled.
    let unsubscribed = s
        .send(
            "POST",
            "/v1/unsubscribes",
            &key,
            json!({"person_email": "ann@example.com"}),
        )
        .await;
    assert_eq!(unsubscribed.status, 200);
    let later = third["survey_scheduled_at"].as_i64().unwrap() + 60;
    let run = scheduler::schedule_due(&s.ctx, &send.messaging, later).await.unwrap();
    assert_eq!(run.skipped.get("unsubscribed"), Some(&1), "{run:?}");
    let fourth = members(&s, &key).await[0]["next_survey_request"].clone();
    assert_ne!(fourth["id"], third["id"]);

    // Leaving cancels the pending next survey; the person stays. The person is named in the
    // query, as Delighted's Node client sends a DELETE.
    let left = s
        .call(
            1,
            "DELETE",
            "/v1/autopilot/email/memberships?person_email=ann%40example.com",
            Auth::Bearer(&key),
            None,
        )
        .await;
    assert_eq!(
        (left.status, left.body["person"]["email"].clone()),
        (200, json!("ann@example.com")),
        "{left:?}"
    );
    assert_eq!(members(&s, &key).await, json!([]));
    assert_eq!(
        next_survey_of(&s, &key, "ann@example.com").await,
        json!(null),
        "left: nothing scheduled"
    );
    let later = fourth["survey_scheduled_at"].as_i64().unwrap() + 60;
    start_scheduler_at(&s.ctx, later).await;
    let run = scheduler::schedule_due(&s.ctx, &send.messaging, later).await.unwrap();
    assert_eq!((run.queued, run.skipped.len()), (0, 0), "canceled: {run:?}");
    let gone = s
        .call(
            1,
            "DELETE",
            "/v1/autopilot/email/memberships",
            Auth::Bearer(&key),
            Some(json!({"person_email": "ann@example.com"})),
        )
        .await;
    assert_eq!(gone.status, 404);
}

/// SES refuses a sender that is not a verified identity: the invitation fails with SES's reason,
/// the message is done with (no retry loop), nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_sender_fails_the_invitation_with_its_reason() {
    let Some(engines) = Engines::aws().await else { return };
    let (s, send, data_dir) = sending_stack(engines, "surveys@unverified.example", false, |_| {}).await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let person = s
        .send("POST", "/v1/people", &key, json!({"email": "ann@example.com"}))
        .await;
    assert_eq!(job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap().queued, 1);
    let event = receive(&send).await;
    let answer = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
    assert!(answer.batch_item_failures.is_empty(), "a refusal is not retried");
    settle(&send, &event, &answer).await;
    assert!(receive(&send).await.records.is_empty(), "nothing left in the queue");
    let tenant = s.get("/v1/me", &owner.token).await.str("tenant_id");
    let store = s.ctx.tenant_store(&tenant.parse().unwrap());
    let item = invitation_item(&store, &person.str("id")).await;
    assert_eq!(item.str("status"), Some("failed"));
    let reason = item.str("invite_failure").unwrap_or_default();
    assert!(
        reason.contains("MessageRejected") && reason.contains("surveys@unverified.example"),
        "{reason}"
    );
    assert!(sent_mail(&send, &data_dir).await.is_empty());
}

/// An SMS: the survey link in a short text through SNS (moto) or the outbox, sent once, the
/// invitation recorded sent with the provider's message id.
async fn an_sms_goes_out_once_with_its_link(e: Engines) {
    let (s, send, data_dir) = sending_stack(e, SMS_SENDER, true, |settings| {
        settings.sending.sms_sender_id = Some("Acme".into());
    })
    .await;
    let owner = s.tenant("acme").await;
    let (key, _) = s.api_key(&owner, "write").await;
    let person = s
        .send(
            "POST",
            "/v1/people",
            &key,
            json!({"phone_number": "+4520123456", "channel": "sms"}),
        )
        .await;
    assert_eq!(person.status, 200, "{person:?}");
    assert_eq!(job_scheduler::handle(&s.ctx, &send.messaging).await.unwrap().queued, 1);
    let event = receive(&send).await;
    // Redelivered: sent once all the same.
    let mut answer = None;
    for _ in 0..2 {
        let handled = job_deliver::handle(&s.ctx, &send.messaging, event.clone()).await;
        assert!(handled.batch_item_failures.is_empty());
        answer = Some(handled);
    }
    settle(&send, &event, &answer.unwrap()).await;
    let tenant = s.get("/v1/me", &owner.token).await.str("tenant_id");
    let store = s.ctx.tenant_store(&tenant.parse().unwrap());
    let item = invitation_item(&store, &person.str("id")).await;
    assert_eq!(item.str("status"), Some("sent"), "{item:?}");
    assert!(!item.str("invite_message_id").unwrap_or_default().is_empty());
    // Its short link is kept beside the invitation, found by its code in the shared index.
    let (survey, invitation) = invitation_of(&store, &person.str("id")).await;
    let short_key = keys::short_link(store.tenant(), &survey, &invitation).unwrap();
    let kept = store.get(&short_key).await.unwrap().unwrap();
    let code = kept.str("gsi1pk").unwrap().strip_prefix("SL#").unwrap().to_owned();
    assert_eq!(code.len(), 16, "{code}");
    if send.moto.is_none() {
        let texts: Vec<String> = std::fs::read_dir(data_dir.join(outbox::FOLDER))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sms"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(texts.len(), 1, "sent once");
        assert!(texts[0].starts_with("To: +4520123456\nFrom: Acme\n"), "{}", texts[0]);
        assert!(
            texts[0].contains(&format!("http://survey.example.test/l/{code}")),
            "{}",
            texts[0]
        );
        let body = texts[0].split("\n\n").nth(1).unwrap().trim_end();
        assert_eq!(ovation::messaging::sms_segments(body), 1, "one segment: {body}");
    }
    // The short link leads to the invitation's page, under an API stage too.
    let short = format!("/l/{code}");
    let opened = page(&s, "GET", &short, None).await;
    assert_eq!(opened.status, 303, "{opened:?}");
    let full = leads_to(&short, opened.header("location").unwrap());
    assert!(full.starts_with("/r/"), "{full}");
    assert_eq!(page(&s, "GET", &full, None).await.status, 200);
    // A code made up, altered, or of the wrong shape names nothing.
    let altered = format!("{}{}", &code[..15], if code.ends_with('A') { 'B' } else { 'A' });
    for bad in [
        altered.as_str(),
        "AAAAAAAAAAAAAAAA",
        "short",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let refused = page(&s, "GET", &format!("/l/{bad}"), None).await;
        assert_eq!(refused.status, 404, "{bad}: {refused:?}");
    }
    // Erasing the person takes the short link with the invitation.
    let erased = s
        .send("DELETE", &format!("/v1/people/{}", person.str("id")), &key, json!({}))
        .await;
    assert_eq!(erased.status, 200, "{erased:?}");
    assert!(store.get(&short_key).await.unwrap().is_none());
    assert_eq!(page(&s, "GET", &short, None).await.status, 404);
}
