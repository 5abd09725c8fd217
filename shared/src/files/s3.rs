//! The `Files` port on Amazon S3: a finished export uploaded from the job's temporary disk
//! (streamed, not read into memory), fetched through a presigned GET that expires.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use super::{Download, Files};
use crate::aws::map_sdk_error;
use crate::error::{Error, Result};

/// The IAM actions this adapter's calls need (a presigned GET is authorised as the signer's
/// GetObject when it is used).
pub const IAM_ACTIONS: &[&str] = &["s3:PutObject", "s3:GetObject", "s3:DeleteObject"];

pub struct S3Files {
    client: Client,
    bucket: String,
}

impl S3Files {
    pub fn new(client: Client, bucket: String) -> S3Files {
        S3Files { client, bucket }
    }
}

#[async_trait]
impl Files for S3Files {
    async fn put(&self, name: &str, path: &Path, content_type: &str) -> Result<()> {
        let body = ByteStream::from_path(path).await.map_err(Error::internal)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(name)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| map_sdk_error("s3", e, |_, _| None))?;
        Ok(())
    }

    async fn download(&self, name: &str, seconds: u64) -> Result<Download> {
        let config = PresigningConfig::expires_in(Duration::from_secs(seconds)).map_err(Error::internal)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(name)
            .presigned(config)
            .await
            .map_err(|e| map_sdk_error("s3", e, |_, _| None))?;
        Ok(Download::Url(request.uri().to_owned()))
    }

    async fn remove(&self, name: &str) -> Result<()> {
        // S3 answers a missing key as removed.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(name)
            .send()
            .await
            .map_err(|e| map_sdk_error("s3", e, |_, _| None))?;
        Ok(())
    }
}
