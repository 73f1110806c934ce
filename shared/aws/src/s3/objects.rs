//! [`ObjectStore`] on an S3 bucket and prefix: streamed listing (MD5 where the ETag is one,
//! i.e. single-part uploads), HEAD with user metadata and Object Lock state, ranged reads
//! pinned to an ETag, single-request puts with Content-MD5, multipart uploads with a
//! Content-MD5 per part, conditional writes (If-Match / If-None-Match) and deletes.

use std::collections::BTreeMap;
use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use twincloud_core::digest::{ContentDigest, hex_to_base64};
use twincloud_core::ports::{
    ListingPages, ObjectError, ObjectHead, ObjectInfo, ObjectListing, ObjectMeta, ObjectStore,
    PortError, Precondition, PutRequest, Upload, check_object_key, is_folder_placeholder,
    paged_listing,
};

use super::blob::{S3Bucket, precondition_headers};
use super::upload::S3Upload;
use crate::context::AwsContext;
use crate::error::{classify, status};

/// Objects under `s3://bucket/prefix/`.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    blob: S3Bucket,
    page_size: Option<i32>,
}

impl S3ObjectStore {
    /// Lists `n` keys a page instead of S3's 1,000 (smaller pages hold less in memory).
    pub fn with_page_size(mut self, n: i32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// The objects of `bucket` under `prefix` (may be empty).
    pub fn new(ctx: &AwsContext, bucket: &str, prefix: &str) -> Self {
        S3ObjectStore {
            blob: S3Bucket::new(ctx, bucket, prefix),
            page_size: None,
        }
    }

    fn full(&self, key: &str) -> Result<String, ObjectError> {
        check_object_key(key)?;
        self.blob.count();
        Ok(self.blob.prefix.join(key))
    }
}

/// The MD5 an ETag carries: only a single-part upload's ETag is the content's MD5.
fn etag_md5(etag: &str) -> Option<String> {
    let t = etag.trim_matches('"');
    (t.len() == 32 && t.chars().all(|c| c.is_ascii_hexdigit())).then(|| t.to_ascii_lowercase())
}

/// State of a streamed listing between pages.
struct Pages {
    blob: S3Bucket,
    page_size: Option<i32>,
    full_prefix: String,
    start_after: Option<String>,
    token: Option<String>,
    done: bool,
}

#[async_trait]
impl ListingPages for Pages {
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectInfo>>, ObjectError> {
        if self.done {
            return Ok(None);
        }
        let s = &self.blob;
        s.count();
        let mut call = s
            .client
            .list_objects_v2()
            .bucket(&s.bucket)
            .prefix(&self.full_prefix)
            .set_max_keys(self.page_size);
        call = match (&self.token, &self.start_after) {
            (Some(t), _) => call.continuation_token(t),
            (None, Some(after)) => call.start_after(after),
            (None, None) => call,
        };
        let page = call.send().await.map_err(|e| {
            ObjectError::Backend(classify(
                &format!("listing s3://{}/{}", s.bucket, self.full_prefix),
                e,
            ))
        })?;
        let items = page
            .contents()
            .iter()
            .filter_map(|o| {
                let key = o.key().and_then(|k| s.prefix.strip(k))?;
                let size = u64::try_from(o.size().unwrap_or(0)).unwrap_or(0);
                if key.is_empty() || is_folder_placeholder(key, size) {
                    return None;
                }
                Some(ObjectInfo {
                    key: key.to_owned(),
                    size,
                    md5: o.e_tag().and_then(etag_md5),
                    version: o.e_tag().map(str::to_owned),
                    ..ObjectInfo::default()
                })
            })
            .collect();
        self.token = page
            .next_continuation_token()
            .filter(|_| page.is_truncated() == Some(true))
            .map(str::to_owned);
        self.done = self.token.is_none();
        Ok(Some(items))
    }
}

/// The headers HEAD and GET both answer with.
struct Headers<'a> {
    size: Option<i64>,
    etag: Option<&'a str>,
    content_type: Option<&'a str>,
    cache_control: Option<&'a str>,
    metadata: Option<&'a std::collections::HashMap<String, String>>,
    locked_until: Option<i64>,
    legal_hold: Option<&'a str>,
}

fn head_from(key: &str, h: &Headers<'_>) -> ObjectHead {
    let mut info = ObjectInfo {
        key: key.into(),
        size: u64::try_from(h.size.unwrap_or(0)).unwrap_or(0),
        md5: h.etag.and_then(etag_md5),
        version: h.etag.map(str::to_owned),
        retained: h.locked_until.is_some_and(|t| t > now_secs()) || h.legal_hold == Some("ON"),
        ..ObjectInfo::default()
    };
    let raw: BTreeMap<String, String> = h
        .metadata
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let user = ObjectMeta::from_raw(raw, &mut info);
    ObjectHead {
        info,
        meta: ObjectMeta {
            content_type: h.content_type.map(str::to_owned),
            cache_control: h.cache_control.map(str::to_owned),
            user,
        },
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.blob.bucket, self.blob.prefix.join(""))
    }

    fn list(&self, prefix: &str, start_after: Option<&str>) -> ObjectListing {
        paged_listing(Pages {
            blob: self.blob.clone(),
            page_size: self.page_size,
            full_prefix: self.blob.prefix.join(prefix),
            start_after: start_after.map(|a| self.blob.prefix.join(a)),
            token: None,
            done: false,
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        let k = self.full(key)?;
        let o = match self
            .blob
            .client
            .head_object()
            .bucket(&self.blob.bucket)
            .key(&k)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(self.blob.object_error(key, e)),
        };
        Ok(Some(head_from(
            key,
            &Headers {
                size: o.content_length(),
                etag: o.e_tag(),
                content_type: o.content_type(),
                cache_control: o.cache_control(),
                metadata: o.metadata(),
                locked_until: o.object_lock_retain_until_date().map(|d| d.secs()),
                legal_hold: o.object_lock_legal_hold_status().map(|s| s.as_str()),
            },
        )))
    }

    async fn fetch(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<(ObjectHead, Vec<u8>), ObjectError> {
        // One GET brings the headers with the body.
        let k = self.full(key)?;
        let o = self
            .blob
            .client
            .get_object()
            .bucket(&self.blob.bucket)
            .key(&k)
            .set_if_match(version.map(str::to_owned))
            .send()
            .await
            .map_err(|e| self.blob.object_error(key, e))?;
        let head = head_from(
            key,
            &Headers {
                size: o.content_length(),
                etag: o.e_tag(),
                content_type: o.content_type(),
                cache_control: o.cache_control(),
                metadata: o.metadata(),
                locked_until: o.object_lock_retain_until_date().map(|d| d.secs()),
                legal_hold: o.object_lock_legal_hold_status().map(|s| s.as_str()),
            },
        );
        let body = o.body.collect().await.map_err(|e| {
            ObjectError::Backend(PortError::transient(format!(
                "s3://{}/{k}: reading body: {e}",
                self.blob.bucket
            )))
        })?;
        Ok((head, body.into_bytes().to_vec()))
    }

    async fn read(
        &self,
        key: &str,
        range: Range<u64>,
        version: Option<&str>,
    ) -> Result<Vec<u8>, ObjectError> {
        let k = self.full(key)?;
        let mut call = self
            .blob
            .client
            .get_object()
            .bucket(&self.blob.bucket)
            .key(&k);
        if range.end > range.start {
            call = call.range(format!("bytes={}-{}", range.start, range.end - 1));
        }
        if let Some(v) = version {
            call = call.if_match(v);
        }
        let o = call
            .send()
            .await
            .map_err(|e| self.blob.object_error(key, e))?;
        let bytes = o.body.collect().await.map_err(|e| {
            ObjectError::Backend(PortError::transient(format!(
                "s3://{}/{k}: reading body: {e}",
                self.blob.bucket
            )))
        })?;
        // `Vec::from` takes the buffer over when it is the only owner: no second copy of a part.
        let mut out = Vec::from(bytes.into_bytes());
        // An empty range asks for nothing; S3 has no way to say so, so read and drop.
        if range.end <= range.start {
            out.clear();
        } else if out.len() as u64 != range.end - range.start {
            return Err(ObjectError::Backend(PortError::transient(format!(
                "s3://{}/{k}: asked for {} bytes, got {}",
                self.blob.bucket,
                range.end - range.start,
                out.len()
            ))));
        }
        Ok(out)
    }

    async fn put(&self, req: &PutRequest, body: Vec<u8>) -> Result<(), ObjectError> {
        let k = self.full(&req.key)?;
        let (if_match, if_none_match) = precondition_headers(&req.when);
        // S3 checks the body against Content-MD5 and refuses a corrupted upload; a body that
        // does not match the MD5 the request claims is refused before it is sent.
        let got = ContentDigest::of(&body).0;
        if let Some(want) = &req.md5
            && !want.eq_ignore_ascii_case(&got)
        {
            return Err(ObjectError::Corrupt {
                key: req.key.clone(),
                detail: format!("MD5 {got}, expected {want}"),
            });
        }
        let md5 = hex_to_base64(&got).unwrap_or_default();
        self.blob
            .client
            .put_object()
            .bucket(&self.blob.bucket)
            .key(&k)
            .content_md5(md5)
            .set_content_type(req.meta.content_type.clone())
            .set_cache_control(req.meta.cache_control.clone())
            .set_metadata(Some(req.stored_metadata().into_iter().collect()))
            .set_if_match(if_match)
            .set_if_none_match(if_none_match)
            .body(ByteStream::from(body))
            // Content-MD5 is the integrity check S3 verifies (see `S3Upload::write`).
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| self.blob.object_error(&req.key, e))?;
        Ok(())
    }

    async fn begin_upload(&self, req: &PutRequest) -> Result<Box<dyn Upload>, ObjectError> {
        let k = self.full(&req.key)?;
        let created = self
            .blob
            .client
            .create_multipart_upload()
            .bucket(&self.blob.bucket)
            .key(&k)
            .set_content_type(req.meta.content_type.clone())
            .set_cache_control(req.meta.cache_control.clone())
            .set_metadata(Some(req.stored_metadata().into_iter().collect()))
            .send()
            .await
            .map_err(|e| self.blob.object_error(&req.key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        Ok(Box::new(S3Upload::new(
            self.blob.clone(),
            k,
            req.clone(),
            upload_id,
        )))
    }

    async fn delete(&self, key: &str, when: &Precondition) -> Result<(), ObjectError> {
        let k = self.full(key)?;
        let (if_match, _) = precondition_headers(when);
        match self
            .blob
            .client
            .delete_object()
            .bucket(&self.blob.bucket)
            .key(&k)
            .set_if_match(if_match)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(self.blob.object_error(key, e)),
        }
    }

    fn requests(&self) -> u64 {
        self.blob.requests()
    }
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
