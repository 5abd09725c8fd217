//! The notification mails, sent by the deliverer from the sending queue through the same mailer
//! as surveys: a survey's answers of a few minutes to one user (those their choice admits, the
//! first `SHOWN` listed), or its weekly digest (NPS, its change, the count, recent comments).
//! What the user chose, their account and the survey are read when the mail goes, so a choice
//! stopped or a user disabled meanwhile sends nothing. A mark claimed before sending keeps a
//! message received twice from mailing twice.

use crate::auth::roles::sees_people;
use crate::context::Context;
use crate::crypto::links::LinkKind;
use crate::domain::tenant::Tenant;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::messaging::Messaging;
use crate::services::accounts::staff_mail::{self, StaffMessage};
use crate::services::accounts::users::{self, UserRecord, UserStatus};
use crate::services::accounts::{teams, tenants};
use crate::services::notifications::notifier::{AnswersMail, DigestMail, StaffMail};
use crate::services::notifications::state::{WEEK, digest_due};
use crate::services::notifications::subscriptions::{self, Answers};
use crate::services::people::person::{self, id_range};
use crate::services::results::metrics::{self, MetricsQuery};
use crate::services::results::response_record::ResponseRecord;
use crate::services::surveys::{self, Survey};
use crate::store::lease::Lease;
use crate::store::{Condition, Key, Query, TenantStore, Update, keys, now_unix};

/// Answers a mail lists; the rest are counted and a link away.
pub const SHOWN: usize = 20;
/// Answers read for one mail at most (the count stops there: "at least").
const SCANNED: usize = 20_000;
/// Comments a digest quotes.
const QUOTED: usize = 3;
/// A comment's characters quoted in a mail.
const QUOTE_CHARS: usize = 300;
/// How long a mail's mark is kept (longer than any retry of its message).
const MARK_SECONDS: i64 = 8 * 86_400;
/// How long an attempt holds a mail's mark while it sends.
const LEASE_SECONDS: i64 = 120;
const STATUS: &str = "status";
const SENDING: &str = "sending";
const SENT: &str = "sent";
const PAGE: u32 = 200;

/// Sends one queued notification (nothing when what it was for is gone or stopped).
pub async fn send(ctx: &Context, messaging: &Messaging, mail: &StaffMail) -> Result<()> {
    let (tenant, survey, user) = match mail {
        StaffMail::Answers(m) => (&m.notify, &m.survey, &m.user),
        StaffMail::Digest(m) => (&m.digest, &m.survey, &m.user),
    };
    let Ok(tenant) = tenant.parse::<TenantId>() else {
        return Ok(());
    };
    let Some(tenant) = tenants::active(ctx, &tenant).await? else {
        return Ok(());
    };
    let store = ctx.tenant_store(&tenant.id);
    let Some(chosen) = subscriptions::get(&store, survey, user).await? else {
        return Ok(());
    };
    let Some(user) = users::load(&store, user)
        .await?
        .filter(|u| u.status == UserStatus::Active)
    else {
        return Ok(());
    };
    // Answers go only to those who see the survey now (its teams', when it is limited).
    let access = teams::access_of(&store, &user.id, user.role).await?;
    let Some(survey) = surveys::get(&store, survey).await?.filter(|s| access.sees(&s.teams)) else {
        return Ok(());
    };
    let base = ctx.settings.public_url.clone().ok_or(Error::Config {
        name: "OVATION_PUBLIC_URL",
        reason: "is required to link notifications to the app".into(),
    })?;
    let to = Recipient {
        store: &store,
        tenant: &tenant,
        user: &user,
        survey: &survey,
        base: &base,
    };
    let composed = match mail {
        StaffMail::Answers(m) => match chosen.answers {
            Some(choice) => answers(&to, m, choice).await?,
            None => None,
        },
        StaffMail::Digest(m) if chosen.digest => Some(digest(&to, m).await?),
        StaffMail::Digest(_) => None,
    };
    let Some((mark, message)) = composed else {
        return Ok(());
    };
    send_once(ctx, messaging, &to, &mark, &message).await
}

/// Who a mail goes to, and about what.
struct Recipient<'a> {
    store: &'a TenantStore,
    tenant: &'a Tenant,
    user: &'a UserRecord,
    survey: &'a Survey,
    base: &'a str,
}

impl Recipient<'_> {
    async fn stop_link(&self, kind: LinkKind) -> Result<String> {
        let token = subscriptions::stop_link(self.store, kind, &self.survey.id, &self.user.id).await?;
        Ok(format!("{}/n/{token}", self.base))
    }

    fn responses_link(&self) -> String {
        format!("{}/responses?survey={}", self.base, self.survey.id)
    }
}

/// The mail about the answers of `[since, until)` that `choice` admits; none when there are none.
async fn answers(
    to: &Recipient<'_>,
    m: &AnswersMail,
    choice: Answers,
) -> Result<Option<(String, StaffMessage<'static>)>> {
    let (count, shown, cut_short) = gather(to.store, &to.survey.id, m.since, m.until, choice).await?;
    if count == 0 {
        return Ok(None);
    }
    let contacts = sees_people(to.user.role, to.tenant.settings.privacy.analysts_see_people);
    let noun = match (choice, count) {
        (Answers::Detractors, 1) => "detractor",
        (Answers::Detractors, _) => "detractors",
        (Answers::Comments, 1) => "answer with a comment",
        (Answers::Comments, _) => "answers with a comment",
        (_, 1) => "answer",
        _ => "answers",
    };
    let more = if cut_short { "at least " } else { "" };
    let mut paragraphs = vec![format!(
        "{more}{count} new {noun} to {} in {}, recorded {} to {}.",
        to.survey.definition.name,
        to.tenant.settings.display_name,
        clock(m.since),
        clock(m.until),
    )];
    for response in &shown {
        paragraphs.push(line(to.store, response, contacts).await?);
    }
    if count > shown.len() {
        paragraphs.push(format!(
            "The first {} are above; every one is in the responses.",
            shown.len()
        ));
    }
    let message = StaffMessage {
        subject: format!("{}: {more}{count} new {noun}", to.survey.definition.name),
        paragraphs,
        action: "Open the responses",
        link: to.responses_link(),
        stop: Some((
            format!(
                "You get this because you chose to be mailed about {} of {}.",
                Answers::describe(choice),
                to.survey.definition.name
            ),
            to.stop_link(LinkKind::StopAnswers).await?,
        )),
    };
    Ok(Some((
        format!("A#{}#{}#{}", to.survey.id, to.user.id, m.until),
        message,
    )))
}

/// The answers of the survey in `[since, until)` that `choice` admits: how many, the first
/// `SHOWN` of them, and whether the count stopped at `SCANNED` answers read.
async fn gather(
    store: &TenantStore,
    survey: &str,
    since: i64,
    until: i64,
    choice: Answers,
) -> Result<(usize, Vec<ResponseRecord>, bool)> {
    let (mut count, mut shown) = (0, Vec::new());
    let cut_short = walk(store, survey, (since, until), false, |response| {
        if choice.admits(&response) {
            count += 1;
            if shown.len() < SHOWN {
                shown.push(response);
            }
        }
        true
    })
    .await?;
    Ok((count, shown, cut_short))
}

/// Walks the survey's answers recorded in `[since, until)`, opened (oldest first, or newest
/// first), while `visit` says go on and fewer than `SCANNED` answers were read; true when answers
/// of the window were left unread.
async fn walk(
    store: &TenantStore,
    survey: &str,
    (since, until): (i64, i64),
    newest_first: bool,
    mut visit: impl FnMut(ResponseRecord) -> bool,
) -> Result<bool> {
    let query = Query::new(keys::responses_partition(store.tenant()))
        .sort(id_range(Some(since), Some(until - 1)))
        .limit(PAGE);
    let query = if newest_first { query.backward() } else { query };
    let (mut cursor, mut scanned): (Option<String>, usize) = (None, 0);
    loop {
        let page = store.query(query.clone(), cursor.as_deref()).await?;
        scanned += page.items.len();
        for item in page.items.iter().filter(|i| i.str("survey") == Some(survey)) {
            if !visit(ResponseRecord::from_item(store, item).await?) {
                return Ok(true);
            }
        }
        match page.cursor {
            Some(next) if scanned < SCANNED => cursor = Some(next),
            next => return Ok(next.is_some()),
        }
    }
}

/// One answer as a mail lists it: score, kind, channel, time, who (to those who see people),
/// and its comment.
async fn line(store: &TenantStore, r: &ResponseRecord, contacts: bool) -> Result<String> {
    let score = r.score.value();
    let kind = match score {
        0..=6 => "detractor",
        7 | 8 => "passive",
        _ => "promoter",
    };
    let by = match r.channel {
        crate::domain::Channel::Email => "by email",
        crate::domain::Channel::Sms => "by SMS",
        crate::domain::Channel::Web => "through the web link",
        crate::domain::Channel::Api => "through the API",
    };
    let mut line = format!("Score {score} ({kind}) {by}, {}", clock(r.created_at));
    if contacts && let Some(id) = &r.person {
        let who = person::load(store, id).await?.and_then(|p| {
            p.name
                .or(p.email.map(|e| e.to_string()))
                .or(p.phone.map(|p| p.to_string()))
        });
        if let Some(who) = who {
            line.push_str(&format!(" from {who}"));
        }
    }
    match r.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(comment) => line.push_str(&format!(": “{}”", quote(comment))),
        None => line.push('.'),
    }
    Ok(line)
}

fn quote(comment: &str) -> String {
    let mut quoted: String = comment.chars().take(QUOTE_CHARS).collect();
    if comment.chars().count() > QUOTE_CHARS {
        quoted.push('…');
    }
    quoted
}

/// `2026-12-04 14:02 UTC`.
fn clock(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The weekly digest: the week's NPS beside the week before's, its answers, a few comments.
async fn digest(to: &Recipient<'_>, m: &DigestMail) -> Result<(String, StaffMessage<'static>)> {
    let until = digest_due(m.week);
    let since = until - WEEK;
    let figures = |since, until| MetricsQuery {
        survey: Some(to.survey.id.clone()),
        since: Some(since),
        until: Some(until - 1),
        ..MetricsQuery::default()
    };
    let survey = std::slice::from_ref(to.survey);
    let week = metrics::of_surveys(to.store, survey, &figures(since, until))
        .await?
        .totals;
    let before = metrics::of_surveys(to.store, survey, &figures(since - WEEK, since))
        .await?
        .totals;
    let name = &to.survey.definition.name;
    let (subject, mut paragraphs) = match week.nps {
        None => (
            format!("{name}: no answers last week"),
            vec![format!(
                "{name} had no answers from {} to {}.",
                clock(since),
                clock(until)
            )],
        ),
        Some(nps) => {
            let change = match before.nps {
                Some(b) => format!("{:+} on the week before ({b})", nps - b),
                None => "the week before had no answers".to_owned(),
            };
            (
                format!("{name}: NPS {nps} last week"),
                vec![
                    format!("NPS {nps} from {} answers, {change}.", week.response_count),
                    format!(
                        "{} promoters, {} passives, {} detractors; from {} to {}.",
                        week.promoter_count,
                        week.passive_count,
                        week.detractor_count,
                        clock(since),
                        clock(until)
                    ),
                ],
            )
        }
    };
    let comments = recent_comments(to.store, &to.survey.id, since, until).await?;
    if !comments.is_empty() {
        paragraphs.push("Recent comments:".to_owned());
        for r in &comments {
            paragraphs.push(format!(
                "{}: “{}”",
                r.score.value(),
                quote(r.comment.as_deref().unwrap_or_default())
            ));
        }
    }
    let message = StaffMessage {
        subject,
        paragraphs,
        action: "Open the overview",
        link: format!("{}/overview?survey={}", to.base, to.survey.id),
        stop: Some((
            format!("You get this because you chose the weekly digest of {name}."),
            to.stop_link(LinkKind::StopDigest).await?,
        )),
    };
    Ok((format!("D#{}#{}#{}", to.survey.id, to.user.id, m.week), message))
}

/// The survey's latest answers with a comment in `[since, until)`, newest first.
async fn recent_comments(store: &TenantStore, survey: &str, since: i64, until: i64) -> Result<Vec<ResponseRecord>> {
    let mut found = Vec::new();
    walk(store, survey, (since, until), true, |response| {
        if Answers::Comments.admits(&response) {
            found.push(response);
        }
        found.len() < QUOTED
    })
    .await?;
    Ok(found)
}

/// Sends the mail once: its mark is claimed with a lease (`sending`), the mail sent, then the
/// mark set `sent`. A message received again finds it sent and sends nothing, or held by another
/// attempt and comes back later; a failed send hands the lease back for the queue's retry. Only a
/// crash between the send and the mark can send twice (as a survey's send, at least once).
async fn send_once(
    ctx: &Context,
    messaging: &Messaging,
    to: &Recipient<'_>,
    mark: &str,
    message: &StaffMessage<'_>,
) -> Result<()> {
    let key = Key::new(keys::notified_partition(to.store.tenant()), mark.to_owned());
    let now = now_unix();
    let lease = Lease::new(now, LEASE_SECONDS);
    let [until, holder] = lease.take();
    let claim = [
        Update::Set(STATUS.into(), SENDING.into()),
        until,
        holder,
        Update::Set(crate::store::attr::EXPIRES_AT.into(), (now + MARK_SECONDS).into()),
    ];
    let claimable = Condition::Or(vec![
        Condition::NotExists,
        Condition::And(vec![Condition::eq(STATUS, SENDING), lease.free(now)]),
    ]);
    match to.store.update(&key, &claim, Some(claimable)).await {
        Ok(_) => {}
        Err(Error::ConditionFailed) => {
            let sent = to.store.get(&key).await?.is_some_and(|m| m.str(STATUS) == Some(SENT));
            return match sent {
                true => Ok(()),
                false => Err(Error::Unavailable {
                    service: "mail",
                    reason: "the notification is being sent by another attempt".into(),
                }),
            };
        }
        Err(e) => return Err(e),
    }
    let email = staff_mail::compose(
        ctx,
        to.tenant,
        to.user.email.as_str(),
        format!("notify-{}", mark.replace('#', "-")),
        message,
    );
    messaging.wait_for_rate().await;
    if let Err(e) = messaging.mailer.send(&email).await {
        to.store.update(&key, &Lease::end(), Some(Condition::Exists)).await?;
        return Err(Error::Unavailable {
            service: "mail",
            reason: e.to_string(),
        });
    }
    let sent = [[Update::Set(STATUS.into(), SENT.into())].as_slice(), &Lease::end()].concat();
    to.store.update(&key, &sent, Some(Condition::Exists)).await?;
    Ok(())
}
