//! The `Mailer` port on Amazon SES v2: the raw MIME of `mime` (so the one-click unsubscribe
//! headers go out as written), the configuration set that publishes bounce, complaint and
//! delivery events, and message tags naming the tenant and invitation (ids only).

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};

use super::{Mailer, OutgoingEmail, SendFailure, mime, send_failure};
use crate::aws::map_sdk_error;
use crate::error::Error;

pub const IAM_ACTIONS: &[&str] = &["ses:SendEmail", "ses:SendRawEmail"];

/// SES's answers that no retry will change.
const PERMANENT: &[&str] = &[
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "SendingPausedException",
    "BadRequestException",
    "NotFoundException",
];

pub struct SesMailer {
    client: Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, configuration_set: Option<String>) -> SesMailer {
        SesMailer {
            client,
            configuration_set,
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendFailure> {
        let raw = RawMessage::builder()
            .data(Blob::new(mime::render(email)))
            .build()
            .map_err(|e| SendFailure::Rejected(e.to_string()))?;
        let tags = email
            .tags
            .iter()
            .map(|(name, value)| MessageTag::builder().name(name).value(value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendFailure::Rejected(e.to_string()))?;
        let sent = self
            .client
            .send_email()
            .from_email_address(&email.from_address)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .set_email_tags(Some(tags).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(|e| {
                send_failure(map_sdk_error("ses", e, |code, message| {
                    PERMANENT
                        .contains(&code)
                        .then(|| Error::invalid("email", format!("{code}: {message}")))
                }))
            })?;
        Ok(sent.message_id().unwrap_or_default().to_owned())
    }
}
