//! [`StateStore`] on S3 with conditional writes (`If-None-Match: *`, `If-Match: <etag>`).

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use twincloud_core::location::KeyPrefix;
use twincloud_core::ports::{
    Precondition, StateError, StateStore, Version, Versioned, check_state_key,
};

use crate::context::AwsContext;
use crate::error::{classify, status};

/// State records as S3 objects under `s3://bucket/prefix/`.
///
/// Each record starts with a header line carrying a unique write id, so that rewriting the same
/// value still changes the ETag and a stale compare-and-swap cannot succeed (no ABA).
#[derive(Debug, Clone)]
pub struct S3StateStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: KeyPrefix,
}

const HEADER: &str = "twincloud-write ";

impl S3StateStore {
    /// A store in `bucket` under `prefix` (may be empty).
    pub fn new(ctx: &AwsContext, bucket: &str, prefix: &str) -> Self {
        S3StateStore {
            client: ctx.s3(),
            bucket: bucket.into(),
            prefix: KeyPrefix::new(prefix),
        }
    }

    fn object_key(&self, key: &str) -> Result<String, StateError> {
        check_state_key(key)?;
        Ok(self.prefix.join(key))
    }
}

fn write_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{t:x}-{:x}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn to_state(key: &str, e: twincloud_core::ports::PortError) -> StateError {
    StateError::Backend {
        message: format!("{key}: {}", e.message),
        retry: e.retry,
    }
}

#[async_trait]
impl StateStore for S3StateStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        let k = self.object_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&k)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(to_state(
                    key,
                    classify(&format!("s3://{}/{k}", self.bucket), e),
                ));
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StateError::transient(format!("{key}: reading body: {e}")))?
            .into_bytes();
        let nl = bytes.iter().position(|b| *b == b'\n');
        let value = match nl {
            Some(nl) if bytes.starts_with(HEADER.as_bytes()) => bytes[nl + 1..].to_vec(),
            _ => {
                return Err(StateError::permanent(format!(
                    "s3://{}/{k} is not a twincloud state record",
                    self.bucket
                )));
            }
        };
        Ok(Some(Versioned {
            value,
            version: Version(etag),
        }))
    }

    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expect: &Precondition,
    ) -> Result<Version, StateError> {
        let k = self.object_key(key)?;
        let mut body = format!("{HEADER}{}\n", write_id()).into_bytes();
        body.extend_from_slice(value);
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&k)
            .body(ByteStream::from(body));
        match expect {
            Precondition::None => {}
            Precondition::Absent => req = req.if_none_match("*"),
            Precondition::Matches(v) => req = req.if_match(&v.0),
        }
        match req.send().await {
            Ok(out) => Ok(Version(out.e_tag().unwrap_or_default().to_owned())),
            // 412 Precondition Failed; 409 ConditionalRequestConflict when writes race.
            Err(e) if matches!(status(&e), Some(412 | 409)) => {
                Err(StateError::ConditionFailed(key.into()))
            }
            Err(e) if matches!(&expect, Precondition::Matches(_)) && status(&e) == Some(404) => {
                Err(StateError::ConditionFailed(key.into()))
            }
            Err(e) => Err(to_state(
                key,
                classify(&format!("s3://{}/{k}", self.bucket), e),
            )),
        }
    }

    async fn delete(&self, key: &str, expect: &Precondition) -> Result<(), StateError> {
        let k = self.object_key(key)?;
        let expected = match expect {
            Precondition::None => None,
            Precondition::Absent => {
                return match self.get(key).await? {
                    None => Ok(()),
                    Some(_) => Err(StateError::ConditionFailed(key.into())),
                };
            }
            Precondition::Matches(v) => Some(v.0.clone()),
        };
        let mut req = self.client.delete_object().bucket(&self.bucket).key(&k);
        if let Some(etag) = &expected {
            req = req.if_match(etag);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(status(&e), Some(412 | 409)) => {
                Err(StateError::ConditionFailed(key.into()))
            }
            Err(e) if expected.is_some() && status(&e) == Some(404) => {
                Err(StateError::ConditionFailed(key.into()))
            }
            Err(e) => {
                let pe = classify(&format!("s3://{}/{k}", self.bucket), e);
                Err(StateError::Backend {
                    message: pe.message,
                    retry: pe.retry,
                })
            }
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        let full = self.prefix.join(prefix);
        let objects = crate::s3_objects::list_objects(&self.client, &self.bucket, &full)
            .await
            .map_err(|e| to_state(prefix, e))?;
        let mut out: Vec<String> = objects
            .iter()
            .filter_map(|o| {
                o.key()
                    .and_then(|k| self.prefix.strip(k))
                    .map(str::to_owned)
            })
            .collect();
        out.sort();
        Ok(out)
    }
}
