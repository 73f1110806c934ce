//! The GCS bucket client both stores stand on: object URLs, tokens, one mapping of HTTP
//! statuses to what they mean (not found, precondition failed, retained), media reads,
//! multipart uploads with a precondition, conditional deletes, and listing pages. It imports
//! nothing of the stores above it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use twincloud_core::digest::base64_to_hex;
use twincloud_core::location::KeyPrefix;
use twincloud_core::ports::{
    ObjectError, ObjectHead, ObjectInfo, ObjectMeta, PortError, Precondition, PutRequest,
};
use twincloud_http::HttpFailure;

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

/// What a failed call means, whichever store made it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// 404.
    NotFound,
    /// 412: the generation was not the one required.
    Precondition,
    /// 403 naming a retention policy or a hold.
    Retained,
    /// Anything else, classified.
    Other(PortError),
}

impl From<PortError> for Failure {
    fn from(e: PortError) -> Self {
        Failure::Other(e)
    }
}

/// One object resource, with the fields twincloud asks for.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Item {
    pub(crate) name: String,
    // GCS writes 64-bit numbers as strings.
    #[serde(default)]
    size: String,
    #[serde(default)]
    pub(crate) md5_hash: Option<String>,
    #[serde(default)]
    crc32c: Option<String>,
    #[serde(default)]
    pub(crate) generation: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    cache_control: Option<String>,
    #[serde(default)]
    retention_expiration_time: Option<String>,
    #[serde(default)]
    temporary_hold: Option<bool>,
    #[serde(default)]
    event_based_hold: Option<bool>,
}

/// The fields of [`Item`], for `fields=` parameters.
pub(crate) const ITEM_FIELDS: &str = "name,size,md5Hash,crc32c,generation,metadata,contentType,cacheControl,retentionExpirationTime,temporaryHold,eventBasedHold";

impl Item {
    /// The entry and headers, relative to `prefix`; `None` when outside it.
    pub(crate) fn into_head(self, prefix: &KeyPrefix) -> Option<ObjectHead> {
        let key = prefix.strip(&self.name)?.to_owned();
        let retained_until = self
            .retention_expiration_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t > chrono::Utc::now());
        let mut info = ObjectInfo {
            key,
            size: self.size.parse().unwrap_or(0),
            md5: self.md5_hash.as_deref().and_then(base64_to_hex),
            crc32c: self.crc32c,
            version: self.generation,
            source_version: None,
            retained: retained_until
                || self.temporary_hold == Some(true)
                || self.event_based_hold == Some(true),
            meta: None,
        };
        let user = ObjectMeta::from_raw(self.metadata.unwrap_or_default(), &mut info);
        Some(ObjectHead {
            info,
            meta: ObjectMeta {
                content_type: self.content_type,
                cache_control: self.cache_control,
                user,
            },
        })
    }

    /// The stored MD5 in hex, when GCS reports one (composite objects have none).
    pub(crate) fn md5_hex(&self) -> Option<String> {
        self.md5_hash.as_deref().and_then(base64_to_hex)
    }
}

/// One page of a listing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page {
    #[serde(default)]
    pub(crate) items: Vec<Item>,
    #[serde(default)]
    pub(crate) next_page_token: Option<String>,
}

/// A bucket and a prefix in it, on one authenticated context.
#[derive(Debug, Clone)]
pub(crate) struct GcsBucket {
    pub(crate) ctx: GcpContext,
    pub(crate) bucket: String,
    pub(crate) prefix: KeyPrefix,
    requests: Arc<AtomicU64>,
}

impl GcsBucket {
    pub(crate) fn new(ctx: &GcpContext, bucket: &str, prefix: &str) -> Self {
        GcsBucket {
            ctx: ctx.clone(),
            bucket: bucket.into(),
            prefix: KeyPrefix::new(prefix),
            requests: Arc::default(),
        }
    }

    /// Counts one request (for the sync summary and the benchmarks).
    pub(crate) fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests counted so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `gs://bucket/name`, for messages.
    pub(crate) fn gs(&self, name: &str) -> String {
        format!("gs://{}/{name}", self.bucket)
    }

    /// The JSON API URL of object `name`.
    pub(crate) fn object_url(&self, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.ctx.storage_base(),
            self.bucket,
            encode(name)
        )
    }

    /// The upload URL (`multipart` or `resumable`) with the write's precondition.
    pub(crate) fn upload_url(&self, kind: &str, when: &Precondition) -> String {
        let mut url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType={kind}",
            self.ctx.storage_base(),
            self.bucket
        );
        if let Some(g) = generation(when) {
            url.push_str(&format!("&ifGenerationMatch={g}"));
        }
        url
    }

    /// The bearer token, when auth is on (never against `STORAGE_EMULATOR_HOST`).
    pub(crate) async fn token(&self) -> Result<Option<String>, PortError> {
        self.ctx.storage_token().await
    }

    /// What a failed call on object `name` means.
    pub(crate) fn failure(&self, name: &str, f: HttpFailure) -> Failure {
        let m = f.message.to_ascii_lowercase();
        match f.status {
            Some(404) => Failure::NotFound,
            Some(412) => Failure::Precondition,
            Some(403) if m.contains("retention") || m.contains("hold") => Failure::Retained,
            _ => Failure::Other(PortError::new(
                format!("{}: {}", self.gs(name), f.message),
                f.retry,
            )),
        }
    }

    /// Reads object `name` whole: its bytes and generation, `None` when there is none.
    pub(crate) async fn get_media(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, Failure> {
        let token = self.token().await?;
        let url = format!("{}?alt=media", self.object_url(name));
        self.count();
        let resp = match self
            .ctx
            .retry()
            .send(|| self.ctx.call(reqwest::Method::GET, &url, token.as_deref()))
            .await
        {
            Ok((r, _)) => r,
            Err(f) => {
                return match self.failure(name, f) {
                    Failure::NotFound => Ok(None),
                    other => Err(other),
                };
            }
        };
        let generation = resp
            .headers()
            .get("x-goog-generation")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                PortError::transient(format!(
                    "{}: response has no x-goog-generation",
                    self.gs(name)
                ))
            })?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| PortError::transient(format!("{}: reading body: {e}", self.gs(name))))?;
        Ok(Some((body.to_vec(), generation)))
    }

    /// Writes object `name` in one multipart request (resource and media together, so the
    /// precondition and the bytes land at once); GCS's answer.
    pub(crate) async fn upload_multipart(
        &self,
        name: &str,
        resource: &serde_json::Value,
        media_type: &str,
        body: &[u8],
        when: &Precondition,
    ) -> Result<Item, Failure> {
        let token = self.token().await?;
        let boundary = "twincloud-boundary-5c2e7d1f";
        let mut multipart = format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{resource}\r\n--{boundary}\r\nContent-Type: {media_type}\r\n\r\n").into_bytes();
        multipart.extend_from_slice(body);
        multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let multipart = bytes::Bytes::from(multipart);
        let url = self.upload_url("multipart", when);
        self.count();
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
            .map_err(|f| self.failure(name, f))?;
        resp.json::<Item>().await.map_err(|e| {
            Failure::Other(PortError::transient(format!(
                "{}: unreadable upload response: {e}",
                self.gs(name)
            )))
        })
    }

    /// Deletes object `name` if `when` holds; an absent object is no error when nothing was
    /// required of it.
    pub(crate) async fn delete(&self, name: &str, when: &Precondition) -> Result<(), Failure> {
        let token = self.token().await?;
        let mut url = self.object_url(name);
        if let Some(g) = generation(when) {
            url.push_str(&format!("?ifGenerationMatch={g}"));
        }
        self.count();
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
            Err(f) => match self.failure(name, f) {
                Failure::NotFound if *when == Precondition::None => Ok(()),
                other => Err(other),
            },
        }
    }

    /// One page of the objects whose names start with `full_prefix`.
    pub(crate) async fn list_page(
        &self,
        full_prefix: &str,
        start_offset: Option<&str>,
        page_token: Option<&str>,
        token: &Option<String>,
    ) -> Result<Page, PortError> {
        let mut url = format!(
            "{}/storage/v1/b/{}/o?prefix={}&fields=items({ITEM_FIELDS}),nextPageToken",
            self.ctx.storage_base(),
            self.bucket,
            encode(full_prefix)
        );
        if let Some(t) = page_token {
            url.push_str(&format!("&pageToken={}", encode(t)));
        }
        if let Some(s) = start_offset {
            url.push_str(&format!("&startOffset={}", encode(s)));
        }
        self.count();
        twincloud_http::send_json(
            self.ctx.retry(),
            &format!("listing {}", self.gs(full_prefix)),
            || self.ctx.call(reqwest::Method::GET, &url, token.as_deref()),
        )
        .await
    }

    /// Every object whose name starts with `full_prefix`, following pages.
    /// The objects under a prefix, page by page, stopping once `max` are read (whether more
    /// exist is the second value).
    pub(crate) async fn list_up_to(
        &self,
        full_prefix: &str,
        max: Option<usize>,
    ) -> Result<(Vec<Item>, bool), PortError> {
        let token = self.token().await?;
        let mut out = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let page = self
                .list_page(full_prefix, None, page_token.as_deref(), &token)
                .await?;
            out.extend(page.items);
            if let Some(m) = max
                && out.len() > m
            {
                out.truncate(m);
                return Ok((out, true));
            }
            match page.next_page_token {
                Some(t) if !t.is_empty() => {
                    if max.is_some_and(|m| out.len() == m) {
                        return Ok((out, true));
                    }
                    page_token = Some(t);
                }
                _ => return Ok((out, false)),
            }
        }
    }
}

/// The generation a precondition requires (`0`: the object must not exist).
fn generation(when: &Precondition) -> Option<String> {
    match when {
        Precondition::None => None,
        Precondition::Absent => Some("0".into()),
        Precondition::Matches(v) => Some(encode(&v.0)),
    }
}

/// A failed call on object `key` (relative to the bucket's prefix) as an object-store error:
/// 412 is [`ObjectError::Changed`], 404 [`ObjectError::NotFound`], a 403 that names retention
/// or a hold [`ObjectError::Retained`].
pub(crate) fn object_error(blob: &GcsBucket, key: &str, f: HttpFailure) -> ObjectError {
    let name = blob.prefix.join(key);
    from_failure(key, blob.failure(&name, f))
}

/// A [`Failure`] on object `key` as an object-store error.
pub(crate) fn from_failure(key: &str, f: Failure) -> ObjectError {
    match f {
        Failure::Precondition => ObjectError::Changed(key.into()),
        Failure::NotFound => ObjectError::NotFound(key.into()),
        Failure::Retained => ObjectError::Retained(key.into()),
        Failure::Other(e) => ObjectError::Backend(e),
    }
}

/// Checks the MD5 GCS reports for a finished upload against what was sent.
pub(crate) fn verify(req: &PutRequest, md5: &str, stored: &Item) -> Result<(), ObjectError> {
    match stored.md5_hex() {
        Some(got) if !got.eq_ignore_ascii_case(md5) => Err(ObjectError::Corrupt {
            key: req.key.clone(),
            detail: format!("GCS stored MD5 {got}, sent {md5}"),
        }),
        _ => Ok(()),
    }
}
