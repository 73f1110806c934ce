//! Listing a GCS bucket: the object resource fields twincloud reads, and pages streamed with
//! their headers so that a copy needs no HEAD.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use serde::Deserialize;
use twincloud_core::digest::base64_to_hex;
use twincloud_core::location::KeyPrefix;
use twincloud_core::ports::{
    ListingPages, ObjectError, ObjectHead, ObjectInfo, ObjectMeta, PortError, is_folder_placeholder,
};

use crate::context::GcpContext;
use crate::gcs_objects::GcsObjectStore;
use crate::gcs_state::encode;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    next_page_token: Option<String>,
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
    generation: Option<String>,
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
        let page = list_page(ctx, bucket, prefix, None, page_token.as_deref(), &token).await?;
        out.extend(page.items);
        match page.next_page_token {
            Some(t) if !t.is_empty() => page_token = Some(t),
            _ => return Ok(out),
        }
    }
}

async fn list_page(
    ctx: &GcpContext,
    bucket: &str,
    prefix: &str,
    start_offset: Option<&str>,
    page_token: Option<&str>,
    token: &Option<String>,
) -> Result<Page, PortError> {
    let mut url = format!(
        "{}/storage/v1/b/{bucket}/o?prefix={}&fields=items({ITEM_FIELDS}),nextPageToken",
        ctx.storage_base(),
        encode(prefix)
    );
    if let Some(t) = page_token {
        url.push_str(&format!("&pageToken={}", encode(t)));
    }
    if let Some(s) = start_offset {
        url.push_str(&format!("&startOffset={}", encode(s)));
    }
    twincloud_http::send_json(
        ctx.retry(),
        &format!("listing gs://{bucket}/{prefix}"),
        || ctx.call(reqwest::Method::GET, &url, token.as_deref()),
    )
    .await
}

/// State of a streamed listing between pages.
pub(crate) struct Pages {
    pub(crate) store: GcsObjectStore,
    pub(crate) full_prefix: String,
    pub(crate) start_after: Option<String>,
    pub(crate) page_token: Option<String>,
    pub(crate) done: bool,
}

#[async_trait]
impl ListingPages for Pages {
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectInfo>>, ObjectError> {
        if self.done {
            return Ok(None);
        }
        let s = &self.store;
        s.requests.fetch_add(1, Ordering::Relaxed);
        let token = s.ctx.token().await?;
        let page = list_page(
            &s.ctx,
            &s.bucket,
            &self.full_prefix,
            self.start_after.as_deref(),
            self.page_token.as_deref(),
            &token,
        )
        .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for item in page.items {
            // startOffset is inclusive; start_after is not.
            if Some(&item.name) == self.start_after.as_ref() {
                continue;
            }
            if let Some(head) = item.into_head(&s.prefix).filter(|h| {
                !h.info.key.is_empty() && !is_folder_placeholder(&h.info.key, h.info.size)
            }) {
                let mut info = head.info;
                info.meta = Some(Box::new(head.meta));
                items.push(info);
            }
        }
        self.page_token = page.next_page_token.filter(|t| !t.is_empty());
        self.done = self.page_token.is_none();
        Ok(Some(items))
    }
}
