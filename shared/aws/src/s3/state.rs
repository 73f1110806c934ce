//! [`StateStore`] on S3 with conditional writes (`If-None-Match: *`, `If-Match: <etag>`).

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use twincloud_core::ports::{
    Precondition, StateError, StateStore, Version, Versioned, check_state_key,
};

use super::blob::{Failure, S3Bucket, precondition_headers};
use crate::context::AwsContext;

/// State records as S3 objects under `s3://bucket/prefix/`.
///
/// Each record starts with a header line carrying a unique write id, so that rewriting the same
/// value still changes the ETag and a stale compare-and-swap cannot succeed (no ABA).
#[derive(Debug, Clone)]
pub struct S3StateStore {
    blob: S3Bucket,
}

const HEADER: &str = "twincloud-write ";

impl S3StateStore {
    /// A store in `bucket` under `prefix` (may be empty).
    pub fn new(ctx: &AwsContext, bucket: &str, prefix: &str) -> Self {
        S3StateStore {
            blob: S3Bucket::new(ctx, bucket, prefix),
        }
    }

    fn object_key(&self, key: &str) -> Result<String, StateError> {
        check_state_key(key)?;
        Ok(self.blob.prefix.join(key))
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

/// A failed call as a state error: a lost precondition, or a record that had to match and is
/// gone, is [`StateError::ConditionFailed`].
fn state_error(key: &str, f: Failure) -> StateError {
    match f {
        Failure::Precondition | Failure::NotFound => StateError::ConditionFailed(key.into()),
        Failure::Retained => StateError::permanent(format!(
            "{key}: the record is under Object Lock retention or a legal hold"
        )),
        Failure::Other(e) => to_state(key, e),
    }
}

fn to_state(key: &str, e: twincloud_core::ports::PortError) -> StateError {
    StateError::Backend {
        message: format!("{key}: {}", e.message),
        retry: e.retry,
    }
}

impl S3StateStore {
    /// The keys under `prefix` (the first `max` of them, and whether there are more), sorted.
    async fn listed(
        &self,
        prefix: &str,
        max: Option<usize>,
    ) -> Result<(Vec<String>, bool), StateError> {
        let full = self.blob.prefix.join(prefix);
        let (objects, more) = self
            .blob
            .list_up_to(&full, max)
            .await
            .map_err(|e| to_state(prefix, e))?;
        let mut out: Vec<String> = objects
            .iter()
            .filter_map(|o| {
                o.key()
                    .and_then(|k| self.blob.prefix.strip(k))
                    .map(str::to_owned)
            })
            .collect();
        out.sort();
        Ok((out, more))
    }
}

#[async_trait]
impl StateStore for S3StateStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        let k = self.object_key(key)?;
        let out = match self
            .blob
            .client
            .get_object()
            .bucket(&self.blob.bucket)
            .key(&k)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(match self.blob.failure(&k, e) {
                    // Not the key: the bucket (a configuration mistake, not an empty store).
                    Failure::NotFound => StateError::permanent(format!(
                        "{}: the bucket does not exist",
                        self.blob.s3(&k)
                    )),
                    f => state_error(key, f),
                });
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
                    self.blob.bucket
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
        let req = self
            .blob
            .client
            .put_object()
            .bucket(&self.blob.bucket)
            .key(&k)
            .body(ByteStream::from(body));
        let (if_match, if_none_match) = precondition_headers(expect);
        self.blob.count();
        match req
            .set_if_match(if_match)
            .set_if_none_match(if_none_match)
            .send()
            .await
        {
            Ok(out) => Ok(Version(out.e_tag().unwrap_or_default().to_owned())),
            Err(e) => Err(state_error(key, self.blob.failure(&k, e))),
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
        self.blob.count();
        let sent = self
            .blob
            .client
            .delete_object()
            .bucket(&self.blob.bucket)
            .key(&k)
            .set_if_match(expected.clone())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => match self.blob.failure(&k, e) {
                Failure::NotFound if expected.is_none() => Ok(()),
                f => Err(state_error(key, f)),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        Ok(self.listed(prefix, None).await?.0)
    }

    async fn list_up_to(
        &self,
        prefix: &str,
        max: usize,
    ) -> Result<(Vec<String>, bool), StateError> {
        self.listed(prefix, Some(max)).await
    }
}
