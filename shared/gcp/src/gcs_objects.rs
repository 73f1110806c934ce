//! [`ObjectStore`] on a GCS bucket and prefix: listing with MD5 (from `md5Hash`, absent for
//! composite objects), whole-object get, multipart upload carrying the MD5 for GCS to verify,
//! delete.

use async_trait::async_trait;
use base64::Engine;
use serde::Deserialize;
use twincloud_core::location::KeyPrefix;
use twincloud_core::ports::{ObjectInfo, ObjectStore, PortError, Retry, check_object_key};

use crate::context::GcpContext;
use crate::gcs_state::encode;

/// Objects under `gs://bucket/prefix/`.
#[derive(Debug, Clone)]
pub struct GcsObjectStore {
    ctx: GcpContext,
    bucket: String,
    prefix: KeyPrefix,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Item {
    pub(crate) name: String,
    // GCS writes 64-bit numbers as strings.
    size: String,
    #[serde(default)]
    md5_hash: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lists every object of `bucket` whose name starts with `prefix`, following pages.
pub(crate) async fn list_objects(
    ctx: &GcpContext,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Item>, PortError> {
    let token = ctx.token().await?;
    let mut out = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/storage/v1/b/{bucket}/o?prefix={}&fields=items(name,size,md5Hash),nextPageToken",
            ctx.storage_base(),
            encode(prefix)
        );
        if let Some(t) = &page_token {
            url.push_str(&format!("&pageToken={}", encode(t)));
        }
        let page: Page = twincloud_http::send_json(
            ctx.retry(),
            &format!("listing gs://{bucket}/{prefix}"),
            || ctx.authorized(ctx.request(reqwest::Method::GET, &url), token.as_deref()),
        )
        .await?;
        out.extend(page.items);
        match page.next_page_token {
            Some(t) if !t.is_empty() => page_token = Some(t),
            _ => return Ok(out),
        }
    }
}

impl GcsObjectStore {
    /// The objects of `bucket` under `prefix` (may be empty).
    pub fn new(ctx: &GcpContext, bucket: &str, prefix: &str) -> Self {
        GcsObjectStore {
            ctx: ctx.clone(),
            bucket: bucket.into(),
            prefix: KeyPrefix::new(prefix),
        }
    }

    fn full(&self, key: &str) -> Result<String, PortError> {
        check_object_key(key)?;
        Ok(self.prefix.join(key))
    }

    fn fail(&self, name: &str, f: twincloud_http::HttpFailure) -> PortError {
        PortError {
            message: format!("gs://{}/{name}: {}", self.bucket, f.message),
            retry: f.retry,
        }
    }
}

#[async_trait]
impl ObjectStore for GcsObjectStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, PortError> {
        let full = self.prefix.join(prefix);
        let mut out: Vec<ObjectInfo> = list_objects(&self.ctx, &self.bucket, &full)
            .await?
            .into_iter()
            .filter_map(|i| {
                let key = self.prefix.strip(&i.name)?.to_owned();
                let md5 = i
                    .md5_hash
                    .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
                    .map(|b| hex(&b));
                Some(ObjectInfo {
                    key,
                    size: i.size.parse().unwrap_or(0),
                    md5,
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        let name = self.full(key)?;
        let token = self.ctx.token().await?;
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?alt=media",
            self.ctx.storage_base(),
            self.bucket,
            encode(&name)
        );
        match self
            .ctx
            .retry()
            .send(|| {
                self.ctx.authorized(
                    self.ctx.request(reqwest::Method::GET, &url),
                    token.as_deref(),
                )
            })
            .await
        {
            Ok((resp, _)) => resp
                .bytes()
                .await
                .map(|b| Some(b.to_vec()))
                .map_err(|e| PortError {
                    message: format!("gs://{}/{name}: reading body: {e}", self.bucket),
                    retry: Retry::Transient,
                }),
            Err(f) if f.status == Some(404) => Ok(None),
            Err(f) => Err(self.fail(&name, f)),
        }
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), PortError> {
        use md5::Digest;
        let name = self.full(key)?;
        let token = self.ctx.token().await?;
        // GCS verifies the body against the md5Hash given in the metadata.
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(bytes));
        let meta = serde_json::json!({ "name": name, "md5Hash": md5 });
        let boundary = "twincloud-object-boundary-5c2e";
        let mut body = format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=multipart",
            self.ctx.storage_base(),
            self.bucket
        );
        self.ctx
            .retry()
            .send(|| {
                self.ctx
                    .authorized(
                        self.ctx.request(reqwest::Method::POST, &url),
                        token.as_deref(),
                    )
                    .header(
                        "Content-Type",
                        format!("multipart/related; boundary={boundary}"),
                    )
                    .body(body.clone())
            })
            .await
            .map_err(|f| self.fail(&name, f))?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), PortError> {
        let name = self.full(key)?;
        let token = self.ctx.token().await?;
        let url = format!(
            "{}/storage/v1/b/{}/o/{}",
            self.ctx.storage_base(),
            self.bucket,
            encode(&name)
        );
        match self
            .ctx
            .retry()
            .send(|| {
                self.ctx.authorized(
                    self.ctx.request(reqwest::Method::DELETE, &url),
                    token.as_deref(),
                )
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(f) if f.status == Some(404) => Ok(()),
            Err(f) => Err(self.fail(&name, f)),
        }
    }
}
