//! What every AWS adapter shares: one `SdkConfig` per process (retries with backoff, bounded
//! timeouts, TLS roots compiled in), and the mapping of SDK errors to Ovation's error type.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use base64::Engine;

use crate::error::Error;

/// The AWS configuration Ovation uses: the SDK's standard retry mode (exponential backoff with
/// jitter on throttling and transient errors, 4 attempts), bounded timeouts, and TLS that trusts
/// only Amazon's root certificates. On Lambda, credentials and region come straight from the
/// environment Lambda sets, skipping the provider chain (which builds an STS client at start-up).
/// Elsewhere the usual chain applies; `AWS_ENDPOINT_URL` is honoured everywhere.
pub fn loader() -> ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                // Within the functions' 10 s: a brownout answers 503 from us, not a gateway 504.
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        );
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_none() {
        return loader;
    }
    let loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    match std::env::var("AWS_REGION") {
        Ok(region) => loader.region(Region::new(region)),
        Err(_) => loader,
    }
}

/// Subjects of the roots that AWS endpoints' certificates chain to (Amazon Trust Services).
const AMAZON_ROOTS: &[&[u8]] = &[b"Amazon Root CA", b"Starfield Services Root Certificate Authority"];

/// The HTTPS client of every AWS call: rustls on aws-lc, trusting only Amazon's roots, compiled
/// into the binary. The SDK's default reads the system's certificate store at start-up and every
/// client it builds parses all of it; five roots cost next to nothing, and no other authority can
/// impersonate an AWS endpoint.
fn https_client() -> SharedHttpClient {
    let roots = amazon_roots().fold(TrustStore::empty().with_native_roots(false), |store, cert| {
        store.with_pem_certificate(pem(cert))
    });
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(roots).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Building a context from certificates cannot fail today; if it ever does, fall back to
        // the system's store rather than refuse to start.
        Err(_) => builder.build_https(),
    }
}

/// Amazon Trust Services' roots, from Mozilla's list compiled into the binary.
fn amazon_roots() -> impl Iterator<Item = &'static [u8]> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|cert| cert.as_ref())
        .filter(|der| AMAZON_ROOTS.iter().any(|name| contains(der, name)))
}

/// True when `needle` (not empty) occurs in `haystack`. The first byte is compared before the
/// rest: this runs over every root certificate at each cold start.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w[0] == needle[0] && w == needle)
}

/// A DER certificate as PEM, the form the SDK's trust store takes.
fn pem(der: &[u8]) -> Vec<u8> {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out.into_bytes()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_calls_trust_amazons_five_roots_only() {
        // Amazon Root CA 1 to 4 and Starfield Services Root Certificate Authority - G2.
        assert_eq!(amazon_roots().count(), 5);
        let pem = String::from_utf8(pem(amazon_roots().next().unwrap())).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n") && pem.ends_with("-----END CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
    }
}
