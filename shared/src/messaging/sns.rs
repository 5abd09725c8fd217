//! The `SmsSender` port on Amazon SNS: a transactional SMS straight to the phone number, with
//! the sender id when the tenant has one (where the destination country allows it).

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use super::{OutgoingSms, SendFailure, SmsSender, send_failure};
use crate::aws::map_sdk_error;
use crate::error::Error;

pub const IAM_ACTIONS: &[&str] = &["sns:Publish"];

const PERMANENT: &[&str] = &[
    "InvalidParameter",
    "InvalidParameterValue",
    "OptedOut",
    "EndpointDisabled",
    "AuthorizationError",
];

pub struct SnsSms {
    client: Client,
}

impl SnsSms {
    pub fn new(client: Client) -> SnsSms {
        SnsSms { client }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, SendFailure> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| SendFailure::Rejected(e.to_string()))
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send(&self, sms: &OutgoingSms) -> Result<String, SendFailure> {
        let mut publish = self
            .client
            .publish()
            .phone_number(&sms.to)
            .message(&sms.text)
            .message_attributes("AWS.SNS.SMS.SMSType", attribute("Transactional")?);
        if let Some(sender) = &sms.sender_id {
            publish = publish.message_attributes("AWS.SNS.SMS.SenderID", attribute(sender)?);
        }
        let sent = publish.send().await.map_err(|e| {
            send_failure(map_sdk_error("sns", e, |code, message| {
                PERMANENT
                    .contains(&code)
                    .then(|| Error::invalid("phone_number", format!("{code}: {message}")))
            }))
        })?;
        Ok(sent.message_id().unwrap_or_default().to_owned())
    }
}
