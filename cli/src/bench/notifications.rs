//! The staff notifications benchmark: an hour of 10,000 answers (166 a minute, a third of them
//! detractors, two in five with a comment) to one survey whose three users chose every answer,
//! detractors only and answers with a comment. The hour runs sped up, a second a minute: the
//! notifier runs each "minute" with the default pace scaled alike (answers settle 2 "minutes",
//! at most one mail each 5), and the mails it queues are sent through the outbox. Prints the
//! mails sent and the store calls per answer of the notifier and of the mails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ovation::auth::{Actor, Principal, Role};
use ovation::domain::{Email, Score};
use ovation::messaging::local_queue::{DELIVER, LocalQueue};
use ovation::services::Caller;
use ovation::services::accounts::users::{self, NewUser, UserStatus};
use ovation::services::notifications::notifier::{self, Pace, StaffMail};
use ovation::services::notifications::subscriptions::{self, Answers, Choice};
use ovation::services::people::{person::PersonInput, upsert};
use ovation::services::results::responses::{self, NewResponse};
use ovation::services::surveys;
use ovation::store::now_unix;
use ovation::{Error, Result};

/// Answers in the hour.
const ANSWERS: usize = 10_000;
/// The hour's minutes, each run as one second.
const MINUTES: usize = 60;

pub async fn figures(dir: &std::path::Path) -> Result<()> {
    println!("# notifications: {ANSWERS} answers in an hour (run as a minute), three users subscribed");
    let (meter, ctx) = super::metered_context(dir)?;
    let (store, admin) = super::bench_tenant(&ctx).await?;
    let survey = surveys::default(&store).await?;
    for (name, answers) in [
        ("every", Answers::Every),
        ("detractors", Answers::Detractors),
        ("comments", Answers::Comments),
    ] {
        let prepared = users::prepare(
            &store,
            NewUser {
                email: Email::parse(&format!("{name}@bench.example"))?,
                name: None,
                role: Role::Editor,
                status: UserStatus::Active,
                password: None,
                must_change_password: false,
                external_id: None,
            },
        )
        .await?;
        store.transact(prepared.ops).await?;
        let caller = Caller {
            principal: Principal {
                tenant: store.tenant().clone(),
                actor: Actor::User {
                    id: prepared.id.clone(),
                    session: [0; 32],
                },
                role: Role::Editor,
                restriction: None,
            },
            ip: None,
            sees_people: true,
            surveys: ovation::services::SurveyAccess::Every,
        };
        let choice = Choice {
            survey: survey.id.clone(),
            answers: Some(answers),
            digest: true,
        };
        subscriptions::choose(&ctx, &store, &caller, &[choice]).await?;
    }
    let person = upsert::upsert(
        &store,
        &PersonInput {
            email: Some(Email::parse("respondent@example.com")?),
            name: Some("A respondent".into()),
            ..Default::default()
        },
        false,
    )
    .await?
    .person
    .id;
    let messaging = ctx.messaging(ctx.store.clone()).await?;
    let queue = Arc::new(LocalQueue::new(ctx.store.clone(), DELIVER));
    // A second a minute: the default pace, sped up sixty times.
    let pace = Pace {
        settle: Pace::default().settle / 60,
        batch: Pace::default().batch / 60,
    };
    let (mut notifier_calls, mut mail_calls, mut mails) = (0u64, 0u64, 0usize);
    let (mut notifier_time, mut mail_time) = (Duration::ZERO, Duration::ZERO);
    let mut recorded = 0;
    let mut minute = 0;
    // The hour, then the minutes its last answers need to settle and be mailed.
    while minute < MINUTES + 2 * pace.batch as usize {
        let second = now_unix();
        let due = if minute < MINUTES {
            ANSWERS * (minute + 1) / MINUTES - recorded
        } else {
            0
        };
        for n in 0..due {
            let i = recorded + n;
            let new = NewResponse {
                person: person.clone(),
                score: Score::new([2, 9, 10, 5, 8, 10][i % 6])?,
                comment: (i % 5 < 2).then(|| format!("Comment number {i}")),
                person_properties: None,
                created_at: None,
                survey: Some(survey.id.clone()),
            };
            responses::create(&store, &admin, new).await?;
        }
        recorded += due;
        while now_unix() == second {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let before = meter.calls();
        let started = Instant::now();
        notifier::run_due(&ctx, queue.as_ref(), now_unix(), pace).await?;
        notifier_time += started.elapsed();
        notifier_calls += meter.calls().since(before).total();
        let before = meter.calls();
        let started = Instant::now();
        for message in queue.receive(10, 0, 30).await? {
            let mail = StaffMail::parse(&message.body).ok_or(Error::internal("a queued notification"))?;
            ovation::services::notifications::mail::send(&ctx, &messaging, &mail).await?;
            queue.delete(&[message.receipt]).await?;
            mails += 1;
        }
        mail_time += started.elapsed();
        mail_calls += meter.calls().since(before).total();
        minute += 1;
    }
    let outbox = dir.join(ovation::messaging::outbox::FOLDER);
    let sent = std::fs::read_dir(&outbox)
        .map(|d| {
            d.flatten()
                .filter(|f| f.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0);
    println!("{:<44} {:>9}", "answers recorded", recorded);
    println!("{:<44} {:>9}", "notification mails queued and handled", mails);
    println!("{:<44} {:>9}", "mails in the outbox (3 users)", sent);
    println!(
        "{:<44} {:>9.3}",
        "notifier store calls per answer",
        notifier_calls as f64 / recorded as f64
    );
    println!(
        "{:<44} {:>9.3}",
        "mail store calls per answer",
        mail_calls as f64 / recorded as f64
    );
    println!(
        "{:<44} {:>9.1} ms",
        "notifier time, the whole hour",
        notifier_time.as_secs_f64() * 1e3
    );
    println!(
        "{:<44} {:>9.1} ms",
        "mail time per mail",
        mail_time.as_secs_f64() * 1e3 / mails.max(1) as f64
    );
    Ok(())
}
