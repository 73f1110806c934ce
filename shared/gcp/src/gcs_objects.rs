//! [`ObjectStore`] on a GCS bucket and prefix: streamed listing with MD5 (absent for composite
//! objects), CRC32C, generation, user metadata and retention; ranged reads pinned to a
//! generation; multipart uploads carrying the MD5 for GCS to verify; resumable uploads in
//! chunks for large objects, checked against the digests GCS reports; conditional writes and
//! deletes (`ifGenerationMatch`).

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use twincloud_core::digest::{ContentDigest, base64_to_hex, hex_to_base64};
use twincloud_core::location::KeyPrefix;
use twincloud_core::ports::{
    ObjectError, ObjectHead, ObjectListing, ObjectStore, PortError, Precondition, PutRequest,
    Upload, check_object_key, paged_listing,
};
use twincloud_http::HttpFailure;

use crate::context::GcpContext;
use crate::gcs_listing::{ITEM_FIELDS, Item, Pages};
use crate::gcs_state::encode;
use crate::gcs_upload::GcsUpload;

/// Objects under `gs://bucket/prefix/`.
#[derive(Debug, Clone)]
pub struct GcsObjectStore {
    pub(crate) ctx: GcpContext,
    pub(crate) bucket: String,
    pub(crate) prefix: KeyPrefix,
    pub(crate) requests: Arc<AtomicU64>,
}

impl GcsObjectStore {
    /// The objects of `bucket` under `prefix` (may be empty).
    pub fn new(ctx: &GcpContext, bucket: &str, prefix: &str) -> Self {
        GcsObjectStore {
            ctx: ctx.clone(),
            bucket: bucket.into(),
            prefix: KeyPrefix::new(prefix),
            requests: Arc::default(),
        }
    }

    fn full(&self, key: &str) -> Result<String, ObjectError> {
        check_object_key(key)?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(self.prefix.join(key))
    }

    fn object_url(&self, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.ctx.storage_base(),
            self.bucket,
            encode(name)
        )
    }

    /// Maps a failed call: 412 is [`ObjectError::Changed`], 404 [`ObjectError::NotFound`], a
    /// 403 that names retention or a hold [`ObjectError::Retained`].
    pub(crate) fn error(&self, key: &str, f: HttpFailure) -> ObjectError {
        let m = f.message.to_ascii_lowercase();
        match f.status {
            Some(412) => ObjectError::Changed(key.into()),
            Some(404) => ObjectError::NotFound(key.into()),
            Some(403) if m.contains("retention") || m.contains("hold") => {
                ObjectError::Retained(key.into())
            }
            _ => ObjectError::Backend(PortError::new(
                format!(
                    "gs://{}/{}: {}",
                    self.bucket,
                    self.prefix.join(key),
                    f.message
                ),
                f.retry,
            )),
        }
    }

    /// The object resource GCS would store for `req`.
    fn resource(&self, req: &PutRequest, name: &str) -> Result<serde_json::Value, ObjectError> {
        let mut meta = serde_json::json!({ "name": name, "metadata": req.stored_metadata() });
        if let Some(h) = &req.md5 {
            let b64 = hex_to_base64(h).ok_or_else(|| {
                ObjectError::Backend(PortError::permanent(format!(
                    "{}: `{h}` is not a hex MD5",
                    req.key
                )))
            })?;
            meta["md5Hash"] = b64.into();
        }
        if let Some(c) = &req.crc32c {
            meta["crc32c"] = c.clone().into();
        }
        if let Some(t) = &req.meta.content_type {
            meta["contentType"] = t.clone().into();
        }
        if let Some(c) = &req.meta.cache_control {
            meta["cacheControl"] = c.clone().into();
        }
        Ok(meta)
    }

    /// Checks the digests GCS reports for a finished upload against what was sent.
    pub(crate) fn verify(
        &self,
        req: &PutRequest,
        md5: &str,
        stored: &Item,
    ) -> Result<(), ObjectError> {
        let got = stored.md5_hash.as_deref().and_then(base64_to_hex);
        match got {
            Some(got) if !got.eq_ignore_ascii_case(md5) => Err(ObjectError::Corrupt {
                key: req.key.clone(),
                detail: format!("GCS stored MD5 {got}, sent {md5}"),
            }),
            _ => Ok(()),
        }
    }
}

/// The body's MD5, refusing a body that does not match the MD5 the request claims (GCS would
/// refuse it too; an emulator may not).
pub(crate) fn checked_md5(req: &PutRequest, body: &[u8]) -> Result<String, ObjectError> {
    let got = ContentDigest::of(body).0;
    match &req.md5 {
        Some(want) if !want.eq_ignore_ascii_case(&got) => Err(ObjectError::Corrupt {
            key: req.key.clone(),
            detail: format!("MD5 {got}, expected {want}"),
        }),
        _ => Ok(got),
    }
}

fn generation_param(when: &Precondition) -> String {
    match when {
        Precondition::None => String::new(),
        Precondition::Absent => "&ifGenerationMatch=0".into(),
        Precondition::Matches(v) => format!("&ifGenerationMatch={}", encode(&v.0)),
    }
}

#[async_trait]
impl ObjectStore for GcsObjectStore {
    fn describe(&self) -> String {
        format!("gs://{}/{}", self.bucket, self.prefix.join(""))
    }

    fn list(&self, prefix: &str, start_after: Option<&str>) -> ObjectListing {
        paged_listing(Pages {
            store: self.clone(),
            full_prefix: self.prefix.join(prefix),
            start_after: start_after.map(|a| self.prefix.join(a)),
            page_token: None,
            done: false,
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        let name = self.full(key)?;
        let token = self.ctx.token().await?;
        let url = format!("{}?fields={ITEM_FIELDS}", self.object_url(&name));
        let sent = self
            .ctx
            .retry()
            .send(|| self.ctx.call(reqwest::Method::GET, &url, token.as_deref()))
            .await;
        let resp = match sent {
            Ok((resp, _)) => resp,
            Err(f) if f.status == Some(404) => return Ok(None),
            Err(f) => return Err(self.error(key, f)),
        };
        let item: Item = resp.json().await.map_err(|e| {
            ObjectError::Backend(PortError::transient(format!(
                "gs://{}/{name}: unreadable object resource: {e}",
                self.bucket
            )))
        })?;
        Ok(item.into_head(&self.prefix))
    }

    async fn read(
        &self,
        key: &str,
        range: Range<u64>,
        version: Option<&str>,
    ) -> Result<Vec<u8>, ObjectError> {
        let name = self.full(key)?;
        if range.end <= range.start {
            // Nothing to read; still say whether the object (at that version) exists.
            return match self.head(key).await? {
                None => Err(ObjectError::NotFound(key.into())),
                Some(h) if version.is_some_and(|v| h.info.version.as_deref() != Some(v)) => {
                    Err(ObjectError::Changed(key.into()))
                }
                Some(_) => Ok(Vec::new()),
            };
        }
        let token = self.ctx.token().await?;
        let mut url = format!("{}?alt=media", self.object_url(&name));
        if let Some(v) = version {
            // `generation` pins the read even where `ifGenerationMatch` is not enforced: a
            // generation that is no longer live is a 404.
            url.push_str(&format!("&generation={0}&ifGenerationMatch={0}", encode(v)));
        }
        let want = range.end - range.start;
        let sent = self
            .ctx
            .retry()
            .send(|| {
                self.ctx
                    .call(reqwest::Method::GET, &url, token.as_deref())
                    .header("Range", format!("bytes={}-{}", range.start, range.end - 1))
            })
            .await
            .map_err(|f| match f.status {
                Some(404) if version.is_some() => ObjectError::Changed(key.into()),
                _ => self.error(key, f),
            })?;
        let body = sent.0.bytes().await.map_err(|e| {
            ObjectError::Backend(PortError::transient(format!(
                "gs://{}/{name}: reading body: {e}",
                self.bucket
            )))
        })?;
        if body.len() as u64 != want {
            return Err(ObjectError::Backend(PortError::transient(format!(
                "gs://{}/{name}: asked for {want} bytes, got {}",
                self.bucket,
                body.len()
            ))));
        }
        Ok(body.to_vec())
    }

    async fn put(&self, req: &PutRequest, body: Vec<u8>) -> Result<(), ObjectError> {
        let name = self.full(&req.key)?;
        let token = self.ctx.token().await?;
        let md5 = checked_md5(req, &body)?;
        let req = PutRequest {
            md5: Some(md5.clone()),
            ..req.clone()
        };
        // GCS verifies the body against the md5Hash given in the resource.
        let meta = self.resource(&req, &name)?;
        let boundary = "twincloud-object-boundary-5c2e";
        // The media part's type is the object's type where the resource names none.
        let media_type = req
            .meta
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        let mut multipart = format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: {media_type}\r\n\r\n").into_bytes();
        multipart.extend_from_slice(&body);
        multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let multipart = bytes::Bytes::from(multipart);
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=multipart{}",
            self.ctx.storage_base(),
            self.bucket,
            generation_param(&req.when)
        );
        let (resp, _) = self
            .ctx
            .retry()
            .send(|| {
                self.ctx
                    .call(reqwest::Method::POST, &url, token.as_deref())
                    .header(
                        "Content-Type",
                        format!("multipart/related; boundary={boundary}"),
                    )
                    .body(multipart.clone())
            })
            .await
            .map_err(|f| self.error(&req.key, f))?;
        if let Ok(stored) = resp.json::<Item>().await {
            self.verify(&req, &md5, &stored)?;
        }
        Ok(())
    }

    async fn begin_upload(&self, req: &PutRequest) -> Result<Box<dyn Upload>, ObjectError> {
        let name = self.full(&req.key)?;
        let token = self.ctx.token().await?;
        let meta = self.resource(req, &name)?;
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=resumable{}",
            self.ctx.storage_base(),
            self.bucket,
            generation_param(&req.when)
        );
        let (resp, _) = self
            .ctx
            .retry()
            .send(|| {
                self.ctx
                    .call(reqwest::Method::POST, &url, token.as_deref())
                    .header("X-Upload-Content-Length", req.size.to_string())
                    .json(&meta)
            })
            .await
            .map_err(|f| self.error(&req.key, f))?;
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ObjectError::Backend(PortError::transient(format!(
                    "gs://{}/{name}: the resumable upload has no session URI",
                    self.bucket
                )))
            })?;
        // The session lives on the upload endpoint; keep our own base (a proxy in tests, the
        // same host in production) and take the path and query of the session URI.
        let session = match url::Url::parse(location) {
            Ok(u) => format!(
                "{}{}?{}",
                self.ctx.storage_base(),
                u.path(),
                u.query().unwrap_or("")
            ),
            Err(_) => location.to_owned(),
        };
        Ok(Box::new(GcsUpload::new(
            self.clone(),
            req.clone(),
            session,
            token,
        )))
    }

    async fn delete(&self, key: &str, when: &Precondition) -> Result<(), ObjectError> {
        let name = self.full(key)?;
        let token = self.ctx.token().await?;
        let mut url = self.object_url(&name);
        let cond = generation_param(when);
        if let Some(c) = cond.strip_prefix('&') {
            url.push('?');
            url.push_str(c);
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
            Err(f) if f.status == Some(404) && *when == Precondition::None => Ok(()),
            Err(f) => Err(self.error(key, f)),
        }
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
