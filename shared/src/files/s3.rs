//! The `Files` port on Amazon S3: a finished export uploaded from the job's temporary disk
//! (streamed, not read into memory), and a deleted tenant's files removed. Links to them are
//! signed by `presigned`.

use std::path::Path;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::Files;
use crate::aws::map_sdk_error;
use crate::error::{Error, Result};

/// The IAM actions this adapter's calls need.
pub const IAM_ACTIONS: &[&str] = &["s3:PutObject", "s3:ListBucket", "s3:DeleteObject"];

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

    async fn remove_folder(&self, folder: &str) -> Result<usize> {
        let prefix = format!("{folder}/");
        let mut removed = 0;
        let mut after = None;
        loop {
            // A page holds at most 1,000 keys, as many as one DeleteObjects takes.
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_continuation_token(after.take())
                .send()
                .await
                .map_err(|e| map_sdk_error("s3", e, |_, _| None))?;
            let objects = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .map(|key| ObjectIdentifier::builder().key(key).build().map_err(Error::internal))
                .collect::<Result<Vec<_>>>()?;
            if !objects.is_empty() {
                removed += objects.len();
                let delete = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(Error::internal)?;
                let answer = self
                    .client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| map_sdk_error("s3", e, |_, _| None))?;
                if let Some(failed) = answer.errors().first() {
                    return Err(Error::Unavailable {
                        service: "s3",
                        reason: format!("a file was not removed: {}", failed.code().unwrap_or("error")),
                    });
                }
            }
            match page.next_continuation_token() {
                Some(token) if page.is_truncated() == Some(true) => after = Some(token.to_owned()),
                _ => return Ok(removed),
            }
        }
    }
}
