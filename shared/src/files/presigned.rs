//! The `Downloads` port on Amazon S3: a presigned GET (SigV4 in the query string), signed here
//! with the SDK's own signer, so the API that hands out links links no S3 client.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;

use super::{Download, Downloads};
use crate::error::{Error, Result};

/// The IAM action a presigned GET is authorised as, when it is used (the signer's, not the
/// holder's).
pub const IAM_ACTIONS: &[&str] = &["s3:GetObject"];

/// Signs GETs of one bucket's objects.
pub struct PresignedDownloads {
    config: SdkConfig,
    bucket: String,
}

/// The endpoint S3 calls go to when one is configured (an emulator): `AWS_ENDPOINT_URL_S3`, else
/// `AWS_ENDPOINT_URL`, as the SDK chooses.
pub fn configured_endpoint(config: &SdkConfig) -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL_S3")
        .ok()
        .filter(|url| !url.is_empty())
        .or_else(|| config.endpoint_url().map(str::to_owned))
}

impl PresignedDownloads {
    pub fn new(config: SdkConfig, bucket: String) -> PresignedDownloads {
        PresignedDownloads { config, bucket }
    }

    /// The object's URL: by path at a configured endpoint (an emulator), else the bucket's own
    /// regional host (virtual-hosted style, as the SDK addresses it).
    fn object_url(&self, region: &str, name: &str) -> Result<url::Url> {
        let (base, bucket_in_path) = match configured_endpoint(&self.config) {
            Some(endpoint) => (endpoint, true),
            None => (
                format!("https://{}.s3.{region}.{}", self.bucket, dns_suffix(region)),
                false,
            ),
        };
        let mut url = url::Url::parse(&base).map_err(|e| Error::fault("the S3 endpoint", e))?;
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| Error::fault("the S3 endpoint", "is not a base URL"))?;
            path.pop_if_empty();
            if bucket_in_path {
                path.push(&self.bucket);
            }
            path.extend(name.split('/'));
        }
        Ok(url)
    }
}

/// The domain of a region's endpoints (China's partition has its own).
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// `url` signed for a GET by `credentials` in `region`, valid `expires_in` from `at`, with S3's
/// rules: the path encoded once and not normalised, the payload unsigned.
pub fn presign_get(
    url: &url::Url,
    credentials: Credentials,
    region: &str,
    at: SystemTime,
    expires_in: Duration,
) -> Result<String> {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| Error::fault("signing an S3 link", e))?
        .into();
    let request = SignableRequest::new("GET", url.as_str(), std::iter::empty(), SignableBody::UnsignedPayload)
        .map_err(|e| Error::fault("signing an S3 link", e))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| Error::fault("signing an S3 link", e))?
        .into_parts();
    let mut signed = url.clone();
    signed
        .query_pairs_mut()
        .extend_pairs(instructions.params().iter().map(|(k, v)| (*k, v.as_ref())));
    Ok(signed.into())
}

#[async_trait]
impl Downloads for PresignedDownloads {
    async fn download(&self, name: &str, seconds: u64) -> Result<Download> {
        let missing = |what| Error::Config {
            name: what,
            reason: "is required to sign download links".into(),
        };
        let region = self.config.region().ok_or_else(|| missing("AWS_REGION"))?.to_string();
        let credentials = self
            .config
            .credentials_provider()
            .ok_or_else(|| missing("AWS credentials"))?
            .provide_credentials()
            .await
            .map_err(|e| Error::Unavailable {
                service: "credentials",
                reason: e.to_string(),
            })?;
        let url = self.object_url(&region, name)?;
        let link = presign_get(
            &url,
            credentials,
            &region,
            SystemTime::now(),
            Duration::from_secs(seconds),
        )?;
        Ok(Download::Url(link))
    }
}
