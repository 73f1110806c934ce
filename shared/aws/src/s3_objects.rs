//! [`ObjectStore`] on an S3 bucket and prefix: listing with MD5 where the ETag is one
//! (single-part uploads), whole-object get, put with Content-MD5, delete.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use twincloud_core::location::KeyPrefix;
use twincloud_core::ports::{ObjectInfo, ObjectStore, PortError, Retry, check_object_key};

use crate::context::AwsContext;
use crate::error::{classify, status};

/// Objects under `s3://bucket/prefix/`.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: KeyPrefix,
}

impl S3ObjectStore {
    /// The objects of `bucket` under `prefix` (may be empty).
    pub fn new(ctx: &AwsContext, bucket: &str, prefix: &str) -> Self {
        S3ObjectStore {
            client: ctx.s3(),
            bucket: bucket.into(),
            prefix: KeyPrefix::new(prefix),
        }
    }

    fn full(&self, key: &str) -> Result<String, PortError> {
        check_object_key(key)?;
        Ok(self.prefix.join(key))
    }
}

/// Lists every object of `bucket` whose key starts with `prefix`, following pages.
pub(crate) async fn list_objects(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<aws_sdk_s3::types::Object>, PortError> {
    let mut out = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify(&format!("listing s3://{bucket}/{prefix}"), e))?;
        out.extend(page.contents().iter().cloned());
    }
    Ok(out)
}

/// The MD5 an ETag carries: only a single-part upload's ETag is the content's MD5.
fn etag_md5(etag: &str) -> Option<String> {
    let t = etag.trim_matches('"');
    (t.len() == 32 && t.chars().all(|c| c.is_ascii_hexdigit())).then(|| t.to_ascii_lowercase())
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, PortError> {
        let full = self.prefix.join(prefix);
        let mut out: Vec<ObjectInfo> = list_objects(&self.client, &self.bucket, &full)
            .await?
            .iter()
            .filter_map(|o| {
                let key = self.prefix.strip(o.key()?)?.to_owned();
                Some(ObjectInfo {
                    key,
                    size: u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
                    md5: o.e_tag().and_then(etag_md5),
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        let k = self.full(key)?;
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&k)
            .send()
            .await
        {
            Ok(o) => {
                let bytes = o.body.collect().await.map_err(|e| PortError {
                    message: format!("s3://{}/{k}: reading body: {e}", self.bucket),
                    retry: Retry::Transient,
                })?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(classify(&format!("s3://{}/{k}", self.bucket), e)),
        }
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), PortError> {
        use base64::Engine;
        let k = self.full(key)?;
        // S3 checks the body against Content-MD5 and refuses a corrupted upload.
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5_digest(bytes));
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&k)
            .content_md5(md5)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map_err(|e| classify(&format!("s3://{}/{k}", self.bucket), e))?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), PortError> {
        let k = self.full(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&k)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(classify(&format!("s3://{}/{k}", self.bucket), e)),
        }
    }
}

fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_single_part_etags_are_md5s() {
        assert_eq!(
            super::etag_md5("\"D41D8CD98F00B204E9800998ECF8427E\"").as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(
            super::etag_md5("\"9b2cf535f27731c974343645a3985328-3\""),
            None
        );
    }
}
