//! [`ObjectStore`] on a GCS bucket and prefix: streamed listing with MD5 (absent for composite
//! objects), CRC32C, generation, user metadata and retention; ranged reads pinned to a
//! generation; multipart uploads carrying the MD5 for GCS to verify; resumable uploads in
//! chunks for large objects, checked against the digests GCS reports; conditional writes and
//! deletes (`ifGenerationMatch`).

use std::ops::Range;

use async_trait::async_trait;
use twincloud_core::digest::{ContentDigest, hex_to_base64};
use twincloud_core::ports::{
    ObjectError, ObjectHead, ObjectListing, ObjectStore, PortError, Precondition, PutRequest,
    Upload, check_object_key, paged_listing,
};

use super::blob::{GcsBucket, ITEM_FIELDS, Item, encode, from_failure, object_error, verify};
use super::listing::Pages;
use super::upload::GcsUpload;
use crate::context::GcpContext;

/// Objects under `gs://bucket/prefix/`.
#[derive(Debug, Clone)]
pub struct GcsObjectStore {
    blob: GcsBucket,
}

impl GcsObjectStore {
    /// The objects of `bucket` under `prefix` (may be empty).
    pub fn new(ctx: &GcpContext, bucket: &str, prefix: &str) -> Self {
        GcsObjectStore {
            blob: GcsBucket::new(ctx, bucket, prefix),
        }
    }

    fn full(&self, key: &str) -> Result<String, ObjectError> {
        check_object_key(key)?;
        Ok(self.blob.prefix.join(key))
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
}

/// The body's MD5, refusing a body that does not match the MD5 the request claims (GCS would
/// refuse it too; an emulator may not).
fn checked_md5(req: &PutRequest, body: &[u8]) -> Result<String, ObjectError> {
    let got = ContentDigest::of(body).0;
    match &req.md5 {
        Some(want) if !want.eq_ignore_ascii_case(&got) => Err(ObjectError::Corrupt {
            key: req.key.clone(),
            detail: format!("MD5 {got}, expected {want}"),
        }),
        _ => Ok(got),
    }
}

#[async_trait]
impl ObjectStore for GcsObjectStore {
    fn needs_md5_up_front(&self) -> bool {
        // GCS computes the MD5 of what it receives; the upload's finish compares it.
        false
    }

    fn describe(&self) -> String {
        self.blob.gs(&self.blob.prefix.join(""))
    }

    fn list(&self, prefix: &str, start_after: Option<&str>) -> ObjectListing {
        paged_listing(Pages {
            blob: self.blob.clone(),
            full_prefix: self.blob.prefix.join(prefix),
            start_after: start_after.map(|a| self.blob.prefix.join(a)),
            page_token: None,
            done: false,
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        let name = self.full(key)?;
        let b = &self.blob;
        let token = b.token().await?;
        let url = format!("{}?fields={ITEM_FIELDS}", b.object_url(&name));
        b.count();
        let sent = b
            .ctx
            .retry()
            .send(|| b.ctx.call(reqwest::Method::GET, &url, token.as_deref()))
            .await;
        let resp = match sent {
            Ok((resp, _)) => resp,
            Err(f) if f.status == Some(404) => return Ok(None),
            Err(f) => return Err(object_error(b, key, f)),
        };
        let item: Item = resp.json().await.map_err(|e| {
            ObjectError::Backend(PortError::transient(format!(
                "{}: unreadable object resource: {e}",
                b.gs(&name)
            )))
        })?;
        Ok(item.into_head(&b.prefix))
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
        let b = &self.blob;
        let token = b.token().await?;
        let mut url = format!("{}?alt=media", b.object_url(&name));
        if let Some(v) = version {
            // `generation` pins the read even where `ifGenerationMatch` is not enforced: a
            // generation that is no longer live is a 404.
            url.push_str(&format!("&generation={0}&ifGenerationMatch={0}", encode(v)));
        }
        let want = range.end - range.start;
        b.count();
        let sent = b
            .ctx
            .retry()
            .send(|| {
                b.ctx
                    .call(reqwest::Method::GET, &url, token.as_deref())
                    .header("Range", format!("bytes={}-{}", range.start, range.end - 1))
            })
            .await
            .map_err(|f| match f.status {
                Some(404) if version.is_some() => ObjectError::Changed(key.into()),
                _ => object_error(b, key, f),
            })?;
        let body = sent.0.bytes().await.map_err(|e| {
            ObjectError::Backend(PortError::transient(format!(
                "{}: reading body: {e}",
                b.gs(&name)
            )))
        })?;
        if body.len() as u64 != want {
            return Err(ObjectError::Backend(PortError::transient(format!(
                "{}: asked for {want} bytes, got {}",
                b.gs(&name),
                body.len()
            ))));
        }
        // `Vec::from` takes the buffer over when it is the only owner: no second copy of a part.
        Ok(Vec::from(body))
    }

    async fn put(&self, req: &PutRequest, body: Vec<u8>) -> Result<(), ObjectError> {
        let name = self.full(&req.key)?;
        let md5 = checked_md5(req, &body)?;
        let req = PutRequest {
            md5: Some(md5.clone()),
            ..req.clone()
        };
        // GCS verifies the body against the md5Hash given in the resource.
        let resource = self.resource(&req, &name)?;
        // The media part's type is the object's type where the resource names none.
        let media_type = req
            .meta
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        match self
            .blob
            .upload_multipart(&name, &resource, media_type, &body, &req.when)
            .await
        {
            Ok(stored) => verify(&req, &md5, &stored),
            Err(f) => Err(from_failure(&req.key, f)),
        }
    }

    async fn begin_upload(&self, req: &PutRequest) -> Result<Box<dyn Upload>, ObjectError> {
        let name = self.full(&req.key)?;
        let b = &self.blob;
        let token = b.token().await?;
        let meta = self.resource(req, &name)?;
        let url = b.upload_url("resumable", &req.when);
        b.count();
        let (resp, _) = b
            .ctx
            .retry()
            .send(|| {
                let call = b.ctx.call(reqwest::Method::POST, &url, token.as_deref());
                match req.size {
                    Some(size) => call.header("X-Upload-Content-Length", size.to_string()),
                    None => call,
                }
                .json(&meta)
            })
            .await
            .map_err(|f| object_error(b, &req.key, f))?;
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ObjectError::Backend(PortError::transient(format!(
                    "{}: the resumable upload has no session URI",
                    b.gs(&name)
                )))
            })?;
        // The session lives on the upload endpoint; keep our own base (a proxy in tests, the
        // same host in production) and take the path and query of the session URI.
        let session = match url::Url::parse(location) {
            Ok(u) => format!(
                "{}{}?{}",
                b.ctx.storage_base(),
                u.path(),
                u.query().unwrap_or("")
            ),
            Err(_) => location.to_owned(),
        };
        Ok(Box::new(GcsUpload::new(
            b.clone(),
            req.clone(),
            session,
            token,
        )))
    }

    async fn delete(&self, key: &str, when: &Precondition) -> Result<(), ObjectError> {
        let name = self.full(key)?;
        self.blob
            .delete(&name, when)
            .await
            .map_err(|f| from_failure(key, f))
    }

    fn requests(&self) -> u64 {
        self.blob.requests()
    }
}
