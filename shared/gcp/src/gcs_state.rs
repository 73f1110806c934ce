//! [`StateStore`] on GCS: conditional writes with `ifGenerationMatch` (0 = must not exist).

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use twincloud_core::location::KeyPrefix;
use twincloud_core::ports::{
    Precondition, StateError, StateStore, Version, Versioned, check_state_key,
};

use crate::context::GcpContext;

const OBJECT_NAME: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes an object name for a URL path segment (`/` included).
pub(crate) fn encode(name: &str) -> String {
    utf8_percent_encode(name, OBJECT_NAME).to_string()
}

/// State records as GCS objects under `gs://bucket/prefix/`. Versions are generations.
#[derive(Debug, Clone)]
pub struct GcsStateStore {
    ctx: GcpContext,
    bucket: String,
    prefix: KeyPrefix,
}

#[derive(Deserialize)]
struct ObjectMeta {
    generation: String,
}

impl GcsStateStore {
    /// A store in `bucket` under `prefix` (may be empty).
    pub fn new(ctx: &GcpContext, bucket: &str, prefix: &str) -> Self {
        GcsStateStore {
            ctx: ctx.clone(),
            bucket: bucket.into(),
            prefix: KeyPrefix::new(prefix),
        }
    }

    fn name(&self, key: &str) -> Result<String, StateError> {
        check_state_key(key)?;
        Ok(self.prefix.join(key))
    }

    async fn token(&self) -> Result<Option<String>, StateError> {
        self.ctx.token().await.map_err(|e| StateError::Backend {
            message: e.message,
            retry: e.retry,
        })
    }
}

fn generation_param(expect: &Precondition) -> Option<String> {
    match expect {
        Precondition::None => None,
        Precondition::Absent => Some("0".into()),
        Precondition::Matches(v) => Some(v.0.clone()),
    }
}

#[async_trait]
impl StateStore for GcsStateStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        let name = self.name(key)?;
        let token = self.token().await?;
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?alt=media",
            self.ctx.storage_base(),
            self.bucket,
            encode(&name)
        );
        let resp = self
            .ctx
            .retry()
            .send(|| self.ctx.call(reqwest::Method::GET, &url, token.as_deref()))
            .await;
        let resp = match resp {
            Ok((r, _)) => r,
            Err(f) if f.status == Some(404) => return Ok(None),
            Err(f) => {
                return Err(StateError::Backend {
                    message: format!("gs://{}/{name}: {}", self.bucket, f.message),
                    retry: f.retry,
                });
            }
        };
        let generation = resp
            .headers()
            .get("x-goog-generation")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                StateError::transient(format!(
                    "gs://{}/{name}: response has no x-goog-generation",
                    self.bucket
                ))
            })?;
        let value = resp.bytes().await.map_err(|e| {
            StateError::transient(format!("gs://{}/{name}: reading body: {e}", self.bucket))
        })?;
        Ok(Some(Versioned {
            value: value.to_vec(),
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
        let token = self.token().await?;
        // Multipart upload: metadata and media in one request, so the precondition and the
        // bytes land together.
        let mut url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=multipart",
            self.ctx.storage_base(),
            self.bucket
        );
        if let Some(g) = generation_param(expect) {
            url.push_str(&format!("&ifGenerationMatch={g}"));
        }
        let boundary = "twincloud-state-boundary-7d1f";
        let meta = serde_json::json!({ "name": name, "contentType": "application/octet-stream" });
        let mut body = format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
        body.extend_from_slice(value);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let resp = self
            .ctx
            .retry()
            .send(|| {
                self.ctx
                    .call(reqwest::Method::POST, &url, token.as_deref())
                    .header(
                        "Content-Type",
                        format!("multipart/related; boundary={boundary}"),
                    )
                    .body(body.clone())
            })
            .await;
        match resp {
            Ok((r, _)) => {
                let meta: ObjectMeta = r.json().await.map_err(|e| {
                    StateError::transient(format!(
                        "gs://{}/{name}: unreadable upload response: {e}",
                        self.bucket
                    ))
                })?;
                Ok(Version(meta.generation))
            }
            Err(f) if f.status == Some(412) => Err(StateError::ConditionFailed(key.into())),
            Err(f) => Err(StateError::Backend {
                message: format!("gs://{}/{name}: {}", self.bucket, f.message),
                retry: f.retry,
            }),
        }
    }

    async fn delete(&self, key: &str, expect: &Precondition) -> Result<(), StateError> {
        let name = self.name(key)?;
        if *expect == Precondition::Absent {
            return match self.get(key).await? {
                None => Ok(()),
                Some(_) => Err(StateError::ConditionFailed(key.into())),
            };
        }
        let token = self.token().await?;
        let mut url = format!(
            "{}/storage/v1/b/{}/o/{}",
            self.ctx.storage_base(),
            self.bucket,
            encode(&name)
        );
        if let Some(g) = generation_param(expect) {
            url.push_str(&format!("?ifGenerationMatch={g}"));
        }
        match self
            .ctx
            .retry()
            .send(|| {
                self.ctx
                    .call(reqwest::Method::DELETE, &url, token.as_deref())
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(f) if f.status == Some(404) && *expect == Precondition::None => Ok(()),
            Err(f) if matches!(f.status, Some(404 | 412)) => {
                Err(StateError::ConditionFailed(key.into()))
            }
            Err(f) => Err(StateError::Backend {
                message: format!("gs://{}/{name}: {}", self.bucket, f.message),
                retry: f.retry,
            }),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        let full = self.prefix.join(prefix);
        let items = crate::gcs_listing::list_objects(&self.ctx, &self.bucket, &full)
            .await
            .map_err(|e| StateError::Backend {
                message: e.message,
                retry: e.retry,
            })?;
        let mut out: Vec<String> = items
            .into_iter()
            .filter_map(|i| self.prefix.strip(&i.name).map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }
}
