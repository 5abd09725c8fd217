//! SES delivery events, as a configuration set publishes them through SNS: a delivery, bounce,
//! complaint or reject updates the invitation the mail's tags name, a permanent bounce of the
//! person's current address or a complaint suppresses the person. Applying an event twice
//! changes nothing more; an event that can never apply is refused with its reason, not retried.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::TenantId;
use crate::services::accounts::tenants;
use crate::services::people::person::Suppression;
use crate::services::people::suppressions;
use crate::store::{Condition, Update, keys, now_unix};

/// What SNS delivers to a subscribed Lambda, per record (the parts used).
#[derive(Deserialize)]
struct SnsRecord {
    #[serde(rename = "Sns")]
    sns: SnsMessage,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMessage {
    #[serde(rename = "Type")]
    kind: String,
    topic_arn: String,
    signature_version: String,
    message: String,
}

/// An SES event (event publishing's `eventType`, or identity notifications' `notificationType`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    event_type: Option<String>,
    notification_type: Option<String>,
    mail: Mail,
    bounce: Option<Bounce>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    #[serde(default)]
    destination: Vec<String>,
    /// The message tags the deliverer set: tenant, survey, invitation, step.
    #[serde(default)]
    tags: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounce_sub_type: String,
}

/// What a batch of events did: counts by outcome, and each refused record with its reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventsReport {
    pub applied: BTreeMap<String, u64>,
    pub ignored: BTreeMap<String, u64>,
    pub refused: Vec<Refused>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub message_id: String,
    pub reason: String,
}

/// An invitation's delivery as the events tell it.
const DELIVERED: &str = "delivered";
const SOFT_BOUNCED: &str = "soft_bounced";
const BOUNCED: &str = "bounced";
const COMPLAINED: &str = "complained";
const REJECTED: &str = "rejected";

/// Applies one SNS-delivered batch (Lambda's event as JSON): refusals are recorded in the report
/// and logged, never retried; a store failure is an error, so Lambda retries the batch (applying
/// again is harmless).
pub async fn apply_batch(ctx: &Context, event: &serde_json::Value) -> Result<EventsReport> {
    let mut report = EventsReport::default();
    let records = event.get("Records").and_then(|r| r.as_array());
    let Some(records) = records else {
        report.refused.push(Refused {
            message_id: String::new(),
            reason: "not an SNS event: no Records".into(),
        });
        return Ok(report);
    };
    for record in records {
        let opened = open_envelope(record, ctx.settings.sending.mail_events_topic.as_deref());
        let outcome = match opened {
            Ok(message) => apply(ctx, &message).await?,
            Err(reason) => Outcome::Refused(reason),
        };
        match outcome {
            Outcome::Changed(what) => *report.applied.entry(what.into()).or_default() += 1,
            Outcome::Ignored(why) => *report.ignored.entry(why.into()).or_default() += 1,
            Outcome::Refused(reason) => {
                let message_id = record
                    .pointer("/Sns/MessageId")
                    .and_then(|m| m.as_str())
                    .unwrap_or_default()
                    .to_owned();
                tracing::warn!(message = %message_id, %reason, "delivery event refused");
                report.refused.push(Refused { message_id, reason });
            }
        }
    }
    Ok(report)
}

/// The SES event inside one SNS record, or why the record is refused: a notification only (not
/// a subscription confirmation), signed as SNS signs (`SignatureVersion` 1 or 2), from the mail
/// events topic when one is configured. (Lambda is invoked by SNS itself, under the function's
/// resource policy naming the topic; these checks refuse anything else that reaches it.)
fn open_envelope(record: &serde_json::Value, topic: Option<&str>) -> std::result::Result<String, String> {
    let record = SnsRecord::deserialize(record).map_err(|e| format!("not an SNS notification record: {e}"))?;
    let sns = record.sns;
    if sns.kind != "Notification" {
        return Err(format!("SNS message type {:?} is not a Notification", sns.kind));
    }
    if !matches!(sns.signature_version.as_str(), "1" | "2") {
        return Err(format!(
            "SNS signature version {:?} is not 1 or 2",
            sns.signature_version
        ));
    }
    if let Some(topic) = topic
        && sns.topic_arn != topic
    {
        return Err("not from the mail events topic".into());
    }
    Ok(sns.message)
}

/// What one event did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The invitation's delivery changed to this.
    Changed(&'static str),
    /// Nothing to do, and why.
    Ignored(&'static str),
    /// It can never apply, and why.
    Refused(String),
}

/// Applies one SES event (the SNS message's text).
pub async fn apply(ctx: &Context, message: &str) -> Result<Outcome> {
    let event: SesEvent = match serde_json::from_str(message) {
        Ok(event) => event,
        Err(e) => return Ok(Outcome::Refused(format!("not an SES event: {e}"))),
    };
    let kind = event
        .event_type
        .as_deref()
        .or(event.notification_type.as_deref())
        .unwrap_or_default();
    let tag = |name: &str| event.mail.tags.get(name).and_then(|v| v.first()).map(String::as_str);
    let (Some(tenant), Some(survey), Some(invitation)) = (tag("tenant"), tag("survey"), tag("invitation")) else {
        // Mail of the configuration set that is no survey invitation.
        return Ok(Outcome::Ignored("not_a_survey_mail"));
    };
    let step = if tag("step") == Some("remind") {
        "remind"
    } else {
        "invite"
    };
    let Ok(tenant) = tenant.parse::<TenantId>() else {
        return Ok(Outcome::Refused("the tenant tag is no tenant id".into()));
    };
    let Ok(key) = keys::invitation(&tenant, survey, invitation) else {
        return Ok(Outcome::Refused("the survey or invitation tag is no id".into()));
    };
    let delivery = format!("{step}_delivery");
    let (status, suppression) = match (kind, &event.bounce) {
        ("Delivery", _) => (DELIVERED, None),
        ("Bounce", Some(b)) if b.bounce_type == "Permanent" => (BOUNCED, Some(Suppression::Bounced)),
        ("Bounce", Some(_)) => (SOFT_BOUNCED, None),
        ("Bounce", None) => return Ok(Outcome::Refused("a Bounce event without its bounce".into())),
        ("Complaint", _) => (COMPLAINED, Some(Suppression::Unsubscribed)),
        ("Reject", _) => (REJECTED, None),
        _ => return Ok(Outcome::Ignored("other_event_type")),
    };
    if tenants::active(ctx, &tenant).await?.is_none() {
        return Ok(Outcome::Ignored("tenant_deleted"));
    }
    let store = ctx.tenant_store(&tenant);
    let now = now_unix();
    let mut updates = vec![
        Update::Set(delivery.clone(), status.into()),
        Update::Set(format!("{step}_delivery_at"), now.into()),
    ];
    if let Some(bounce) = &event.bounce {
        updates.push(Update::Set(
            format!("{step}_bounce"),
            format!("{}/{}", bounce.bounce_type, bounce.bounce_sub_type).into(),
        ));
    }
    // A delivery or a soft bounce never overwrites a bounce, complaint or reject.
    let mut condition = vec![Condition::Exists];
    if matches!(status, DELIVERED | SOFT_BOUNCED) {
        condition.push(Condition::Or(vec![
            Condition::AttrNotExists(delivery.clone()),
            Condition::eq(&delivery, DELIVERED),
            Condition::eq(&delivery, SOFT_BOUNCED),
        ]));
    }
    let updated = match store.update(&key, &updates, Some(Condition::And(condition))).await {
        Ok(item) => item,
        Err(Error::ConditionFailed) => {
            let exists = store.get(&key).await?.is_some();
            return Ok(Outcome::Ignored(if exists {
                "superseded"
            } else {
                "unknown_invitation"
            }));
        }
        Err(e) => return Err(e),
    };
    let (Some(kind), Some(person)) = (suppression, updated.str("person")) else {
        return Ok(Outcome::Changed(status));
    };
    if kind == Suppression::Bounced && !bounced_current_address(&store, person, &event.mail.destination).await? {
        return Ok(Outcome::Changed(status));
    }
    suppressions::suppress(&store, person, kind, now, None).await?;
    Ok(Outcome::Changed(status))
}

/// Whether a bounced mail went to the person's current address (not one changed since).
async fn bounced_current_address(
    store: &crate::store::TenantStore,
    person: &str,
    destination: &[String],
) -> Result<bool> {
    let Some(item) = store.get(&keys::person(store.tenant(), person)?).await? else {
        return Ok(false);
    };
    let Some(current) = item.str("email_ix") else {
        return Ok(false);
    };
    for address in destination {
        // The address may carry a display name: `"Ann" <ann@example.com>`.
        let bare = address
            .rsplit_once('<')
            .map_or(address.as_str(), |(_, a)| a.trim_end_matches('>'));
        if let Ok(email) = crate::domain::Email::parse(bare)
            && crate::services::people::person::email_index(store, &email).await? == current
        {
            return Ok(true);
        }
    }
    Ok(false)
}
