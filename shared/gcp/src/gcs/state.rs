//! [`StateStore`] on GCS: records are objects; versions are generations; conditional writes
//! and deletes are `ifGenerationMatch` (0 = must not exist), through the bucket client.

use async_trait::async_trait;
use twincloud_core::ports::{
    PortError, Precondition, StateError, StateStore, Version, Versioned, check_state_key,
};

use super::blob::{Failure, GcsBucket};
use crate::context::GcpContext;

/// State records as GCS objects under `gs://bucket/prefix/`.
#[derive(Debug, Clone)]
pub struct GcsStateStore {
    blob: GcsBucket,
}

impl GcsStateStore {
    /// A store in `bucket` under `prefix` (may be empty).
    pub fn new(ctx: &GcpContext, bucket: &str, prefix: &str) -> Self {
        GcsStateStore {
            blob: GcsBucket::new(ctx, bucket, prefix),
        }
    }

    fn name(&self, key: &str) -> Result<String, StateError> {
        check_state_key(key)?;
        Ok(self.blob.prefix.join(key))
    }
}

fn backend(e: PortError) -> StateError {
    StateError::Backend {
        message: e.message,
        retry: e.retry,
    }
}

/// A failed call as a state error: a lost precondition (or a missing record that had to
/// match) is [`StateError::ConditionFailed`].
fn state_error(key: &str, f: Failure) -> StateError {
    match f {
        Failure::Precondition | Failure::NotFound => StateError::ConditionFailed(key.into()),
        Failure::Retained => StateError::Backend {
            message: format!("{key}: the record is under a retention policy or a hold"),
            retry: twincloud_core::ports::Retry::Permanent,
        },
        Failure::Other(e) => backend(e),
    }
}

impl GcsStateStore {
    /// The keys under `prefix` (the first `max` of them, and whether there are more), sorted.
    async fn listed(
        &self,
        prefix: &str,
        max: Option<usize>,
    ) -> Result<(Vec<String>, bool), StateError> {
        let full = self.blob.prefix.join(prefix);
        let (items, more) = self.blob.list_up_to(&full, max).await.map_err(backend)?;
        let mut out: Vec<String> = items
            .into_iter()
            .filter_map(|i| self.blob.prefix.strip(&i.name).map(str::to_owned))
            .collect();
        out.sort();
        Ok((out, more))
    }
}

#[async_trait]
impl StateStore for GcsStateStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        let name = self.name(key)?;
        Ok(self
            .blob
            .get_media(&name)
            .await
            .map_err(|f| state_error(key, f))?
            .map(|(value, generation)| Versioned {
                value,
                version: Version(generation),
            }))
    }

    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expect: &Precondition,
    ) -> Result<Version, StateError> {
        let name = self.name(key)?;
        let resource =
            serde_json::json!({ "name": name, "contentType": "application/octet-stream" });
        let item = self
            .blob
            .upload_multipart(&name, &resource, "application/octet-stream", value, expect)
            .await
            .map_err(|f| state_error(key, f))?;
        item.generation.map(Version).ok_or_else(|| {
            StateError::transient(format!(
                "{}: the upload response has no generation",
                self.blob.gs(&name)
            ))
        })
    }

    async fn delete(&self, key: &str, expect: &Precondition) -> Result<(), StateError> {
        let name = self.name(key)?;
        if *expect == Precondition::Absent {
            return match self.get(key).await? {
                None => Ok(()),
                Some(_) => Err(StateError::ConditionFailed(key.into())),
            };
        }
        self.blob
            .delete(&name, expect)
            .await
            .map_err(|f| state_error(key, f))
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
