//! The object storage port: one small interface every bucket and directory backend implements,
//! and one conformance suite (in `twincloud-testkit`) every backend must pass.
//!
//! Listings stream (bounded memory whatever the bucket's size); reads are ranged and may be
//! pinned to a version so that a multi-part copy never mixes two versions; writes carry
//! metadata, the content's digests for the provider to verify, and a precondition so that two
//! concurrent copies of one key cannot leave the older one in place.

use std::collections::BTreeMap;
use std::ops::Range;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};

use super::{PortError, Precondition, Retry};

/// User-metadata key under which twincloud stores the content's hex MD5 on upload.
pub const META_MD5: &str = "twincloud-md5";
/// User-metadata key under which twincloud stores the content's base64 CRC32C on upload.
pub const META_CRC32C: &str = "twincloud-crc32c";
/// User-metadata key under which twincloud stores the version of the source it copied.
pub const META_SOURCE_VERSION: &str = "twincloud-source-version";

/// What a store knows of one object without reading its content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// Key relative to the store's root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex MD5 of the content, when known without reading it: an S3 single-part ETag, GCS
    /// `md5Hash`, or the digest twincloud stored in metadata on upload.
    pub md5: Option<String>,
    /// Base64 big-endian CRC32C of the content (the GCS convention), when known.
    pub crc32c: Option<String>,
    /// This exact version of the object: S3 ETag, GCS generation, local mtime and size.
    /// Reads and writes can be made conditional on it.
    pub version: Option<String>,
    /// The source version this object was copied from, when twincloud wrote it.
    pub source_version: Option<String>,
    /// Under a retention policy or a hold: it may be neither replaced nor deleted now.
    pub retained: bool,
    /// The headers, when the listing gives them (GCS does): a copy then needs no HEAD.
    #[serde(skip)]
    pub meta: Option<Box<ObjectMeta>>,
}

/// Headers a copy keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// User metadata (S3 `x-amz-meta-*`, GCS `metadata`), without twincloud's own keys.
    pub user: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// Splits raw user metadata into the user's part and the digests twincloud stored,
    /// filling `info`'s digests where the store did not know them.
    pub fn from_raw(
        raw: BTreeMap<String, String>,
        info: &mut ObjectInfo,
    ) -> BTreeMap<String, String> {
        let mut user = BTreeMap::new();
        for (k, v) in raw {
            match k.to_ascii_lowercase().as_str() {
                META_MD5 => {
                    if info.md5.is_none() {
                        info.md5 = Some(v.to_ascii_lowercase());
                    }
                }
                META_CRC32C => {
                    if info.crc32c.is_none() {
                        info.crc32c = Some(v);
                    }
                }
                META_SOURCE_VERSION => info.source_version = Some(v),
                _ => {
                    user.insert(k, v);
                }
            }
        }
        user
    }
}

/// One object's listing entry and headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHead {
    /// What the listing would say, with any stored digests filled in.
    pub info: ObjectInfo,
    /// Headers.
    pub meta: ObjectMeta,
}

/// A write: the key, the headers to set, the digests to store and to have verified, and the
/// condition it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRequest {
    /// Key relative to the store's root.
    pub key: String,
    /// Exact size of the content; `None` for a stream whose length is known only when it ends
    /// (an upload then holds its last chunk back until [`Upload::finish`]).
    pub size: Option<u64>,
    /// Headers to set.
    pub meta: ObjectMeta,
    /// Hex MD5 of the content when known before the upload: the provider verifies it and it is
    /// stored in metadata. Required for [`ObjectStore::put`].
    pub md5: Option<String>,
    /// Base64 CRC32C of the content when known: stored in metadata.
    pub crc32c: Option<String>,
    /// The source version copied, stored in metadata.
    pub source_version: Option<String>,
    /// Write only if this holds for the object now stored under the key.
    pub when: Precondition,
}

impl PutRequest {
    /// A plain write of `size` bytes under `key`, with no headers and no condition.
    pub fn new(key: &str, size: u64) -> Self {
        PutRequest {
            key: key.into(),
            size: Some(size),
            meta: ObjectMeta::default(),
            md5: None,
            crc32c: None,
            source_version: None,
            when: Precondition::None,
        }
    }

    /// A write of a stream whose length is known only at its end (a database dump), through
    /// [`ObjectStore::begin_upload`].
    pub fn streamed(key: &str) -> Self {
        PutRequest {
            size: None,
            ..PutRequest::new(key, 0)
        }
    }

    /// The user metadata to store: the user's own plus twincloud's digests.
    pub fn stored_metadata(&self) -> BTreeMap<String, String> {
        let mut m = self.meta.user.clone();
        if let Some(v) = &self.md5 {
            m.insert(META_MD5.into(), v.clone());
        }
        if let Some(v) = &self.crc32c {
            m.insert(META_CRC32C.into(), v.clone());
        }
        if let Some(v) = &self.source_version {
            m.insert(META_SOURCE_VERSION.into(), v.clone());
        }
        m
    }
}

/// Errors of an [`ObjectStore`]. The first three are sentinels callers act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// No object under the key.
    #[error("`{0}` does not exist")]
    NotFound(String),
    /// The object is not in the state the precondition or the pinned version required: someone
    /// else wrote it in between.
    #[error("`{0}` changed while it was being copied")]
    Changed(String),
    /// The object is under a retention policy or a hold.
    #[error("`{0}` is under a retention policy or hold and was left alone")]
    Retained(String),
    /// The content did not match its digest.
    #[error("`{key}` failed verification: {detail}")]
    Corrupt {
        /// Key.
        key: String,
        /// Expected against received.
        detail: String,
    },
    /// Anything else, classified.
    #[error(transparent)]
    Backend(#[from] PortError),
}

impl ObjectError {
    /// Whether retrying the same call may help.
    pub fn retry(&self) -> Retry {
        match self {
            ObjectError::Backend(p) => p.retry,
            ObjectError::Corrupt { .. } => Retry::Transient,
            _ => Retry::Permanent,
        }
    }
}

/// A streamed listing, in key order (bytewise, as S3 and GCS list).
pub type ObjectListing = BoxStream<'static, Result<ObjectInfo, ObjectError>>;

/// A listing API that answers page by page (S3 continuation tokens, GCS page tokens).
#[async_trait]
pub trait ListingPages: Send + 'static {
    /// The next page; `Ok(None)` when there is none.
    async fn next_page(&mut self) -> Result<Option<Vec<ObjectInfo>>, ObjectError>;
}

/// Streams the entries of `pages`, fetching a page only when the previous one is consumed;
/// the stream ends after an error.
pub fn paged_listing<P: ListingPages>(pages: P) -> ObjectListing {
    let state = (pages, std::collections::VecDeque::new(), false);
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut pages, mut buffered, mut done)| async move {
            loop {
                if let Some(item) = buffered.pop_front() {
                    return Some((Ok(item), (pages, buffered, done)));
                }
                if done {
                    return None;
                }
                match pages.next_page().await {
                    Ok(Some(items)) => buffered.extend(items),
                    Ok(None) => done = true,
                    Err(e) => return Some((Err(e), (pages, buffered, true))),
                }
            }
        },
    ))
}

/// An upload in progress, written in order. Chunks are [`ObjectStore::part_size`] bytes except
/// the last; nothing is visible under the key until [`Upload::finish`] succeeds.
#[async_trait]
pub trait Upload: Send {
    /// Writes the next chunk.
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), ObjectError>;
    /// Makes the object visible; `md5` is the hex digest of everything written, checked
    /// against what the provider computed where it says.
    async fn finish(self: Box<Self>, md5: &str) -> Result<(), ObjectError>;
    /// Gives the upload up, releasing what it holds (best effort).
    async fn abort(self: Box<Self>);
}

/// Buckets and directories.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Where this is, for messages: `s3://bucket/prefix`, `gs://…`, a path.
    fn describe(&self) -> String;

    /// Every object whose key starts with `prefix` and sorts after `start_after`, in key order,
    /// page by page. Folder placeholders (zero-byte keys ending in `/`, as the S3 and GCS
    /// consoles create) are not objects and are left out; see [`is_folder_placeholder`].
    fn list(&self, prefix: &str, start_after: Option<&str>) -> ObjectListing;

    /// One object's entry and headers; `Ok(None)` when absent.
    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError>;

    /// [`ObjectStore::head`] without the digests a store would have to compute by reading the
    /// object (a directory keeps none): what a copy that hashes as it reads needs. Stores
    /// that keep digests answer with them, as `head` does.
    async fn stat(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        self.head(key).await
    }

    /// Whether [`ObjectStore::begin_upload`] needs the object's MD5 before the first byte
    /// (S3 keeps it in the object's metadata, set when the upload starts). Stores that
    /// compute the digest of what they receive (GCS, a directory) take it at
    /// [`Upload::finish`], so a copy into them reads its source once.
    fn needs_md5_up_front(&self) -> bool {
        true
    }

    /// Bytes `range` of an object; with `version`, [`ObjectError::Changed`] if the object is
    /// no longer that version.
    async fn read(
        &self,
        key: &str,
        range: Range<u64>,
        version: Option<&str>,
    ) -> Result<Vec<u8>, ObjectError>;

    /// A whole object and its headers, pinned to `version` when given. Stores that answer a
    /// read with the headers override this to make one request instead of two.
    async fn fetch(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<(ObjectHead, Vec<u8>), ObjectError> {
        let head = self
            .head(key)
            .await?
            .ok_or_else(|| ObjectError::NotFound(key.into()))?;
        if version.is_some_and(|v| head.info.version.as_deref() != Some(v)) {
            return Err(ObjectError::Changed(key.into()));
        }
        let body = self
            .read(key, 0..head.info.size, head.info.version.as_deref())
            .await?;
        Ok((head, body))
    }

    /// Writes a whole object in one request. `req.md5` must be set: the provider checks it.
    async fn put(&self, req: &PutRequest, body: Vec<u8>) -> Result<(), ObjectError>;

    /// Starts a multipart (S3) or resumable (GCS) upload, for objects above
    /// [`ObjectStore::part_size`].
    async fn begin_upload(&self, req: &PutRequest) -> Result<Box<dyn Upload>, ObjectError>;

    /// Deletes an object if `when` holds; absent is fine with [`Precondition::None`].
    async fn delete(&self, key: &str, when: &Precondition) -> Result<(), ObjectError>;

    /// Size of upload chunks, and the size above which an object is uploaded in parts.
    fn part_size(&self) -> u64 {
        8 * 1024 * 1024
    }

    /// Requests made so far (pages, heads, reads, writes, deletes), for reports.
    fn requests(&self) -> u64 {
        0
    }

    /// Reads a whole object; `Ok(None)` when absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        let Some(head) = self.head(key).await? else {
            return Ok(None);
        };
        match self
            .read(key, 0..head.info.size, head.info.version.as_deref())
            .await
        {
            Ok(b) => Ok(Some(b)),
            Err(ObjectError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a whole object, unconditionally, with no headers.
    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), ObjectError> {
        let (md5, crc32c) = crate::digest::ContentDigest::of(bytes);
        let req = PutRequest {
            md5: Some(md5),
            crc32c: Some(crc32c),
            ..PutRequest::new(key, bytes.len() as u64)
        };
        self.put(&req, bytes.to_vec()).await
    }
}

/// Whether a listed key is a console's folder placeholder rather than an object: a directory
/// has no such file, and a sync copies the objects under it anyway.
pub fn is_folder_placeholder(key: &str, size: u64) -> bool {
    size == 0 && key.ends_with('/')
}

/// Validates an object key: non-empty `/`-separated segments, none `.` or `..`, no NUL.
pub fn check_object_key(key: &str) -> Result<(), ObjectError> {
    let ok = !key.is_empty()
        && !key.contains('\0')
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if ok {
        Ok(())
    } else {
        Err(ObjectError::Backend(PortError::permanent(format!(
            "`{key}` is not a valid object key"
        ))))
    }
}
