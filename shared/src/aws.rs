//! What every AWS adapter shares: one `SdkConfig` per process (retries with backoff and bounded
//! timeouts), and the mapping of SDK errors to Ovation's error type.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::Error;

/// The AWS configuration Ovation uses: the SDK's standard retry mode (exponential backoff with
/// jitter on throttling and transient errors, 4 attempts) and bounded timeouts. Region,
/// credentials and `AWS_ENDPOINT_URL` come from the environment unless the caller sets them.
pub fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
}

/// Loads the configuration once per process; every AWS client is made from it.
pub async fn load_config() -> SdkConfig {
    loader().load().await
}

const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TooManyRequestsException",
];

/// Maps an SDK error: `classify` names the service's own codes (conditional check, bad
/// ciphertext, ...); throttling and unreachable endpoints are handled alike for every service.
pub fn map_sdk_error<E, R>(
    service: &'static str,
    err: SdkError<E, R>,
    classify: impl Fn(&str, &str) -> Option<Error>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) = &err {
        return Error::Unavailable {
            service,
            reason: chain(&err),
        };
    }
    let code = err.code().unwrap_or("Unknown").to_owned();
    let message = err.message().unwrap_or("").to_owned();
    if let Some(mapped) = classify(&code, &message) {
        return mapped;
    }
    if THROTTLING.contains(&code.as_str()) {
        return Error::Throttled {
            service,
            retry_after: Duration::from_secs(1),
        };
    }
    Error::Unavailable {
        service,
        reason: format!("{code}: {message}"),
    }
}

/// The error and its sources on one line.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
