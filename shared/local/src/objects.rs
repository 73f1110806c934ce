//! [`ObjectStore`] on a directory: keys are relative paths, objects are plain files.
//!
//! Writes go to a locked temporary file beside the target and are renamed over it, so a reader
//! (or a sync killed midway) never sees half an object; a later listing removes temporary
//! files whose writer died (their lock is free). A file's version is its modification time
//! and size; conditional writes check it under a directory-wide lock. Directories keep no
//! metadata: the content type is guessed from the extension, and `head` hashes the file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use twincloud_core::digest::ContentDigest;
use twincloud_core::ports::{
    ObjectError, ObjectHead, ObjectInfo, ObjectListing, ObjectMeta, ObjectStore, PortError,
    Precondition, PutRequest, Upload, check_object_key,
};

use crate::files::{INTERNAL_PREFIX, TMP_PREFIX, failed, version_of};
use crate::walk::SortedWalk;

/// A directory used as a bucket (`file://` locations, and `buckets/<name>/` of the local
/// backend).
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
    requests: Arc<AtomicU64>,
}

impl LocalObjectStore {
    /// The head of a file; `digests` hashes it (a directory keeps no digests), otherwise
    /// only its metadata is read.
    async fn head_hashed(
        &self,
        key: &str,
        digests: bool,
    ) -> Result<Option<ObjectHead>, ObjectError> {
        let path = self.path(key)?;
        let key = key.to_owned();
        blocking(move || {
            let mut f = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(failed(&path, e)),
            };
            let m = f.metadata().map_err(|e| failed(&path, e))?;
            if !m.is_file() {
                return Ok(None);
            }
            let (md5, crc32c) = if digests {
                let mut digest = ContentDigest::new();
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = f.read(&mut buf).map_err(|e| failed(&path, e))?;
                    if n == 0 {
                        break;
                    }
                    digest.update(&buf[..n]);
                }
                let after = f.metadata().map_err(|e| failed(&path, e))?;
                if version_of(&after) != version_of(&m) || digest.len() != m.len() {
                    return Err(ObjectError::Changed(key));
                }
                let (md5, crc32c) = digest.finish();
                (Some(md5), Some(crc32c))
            } else {
                (None, None)
            };
            Ok(Some(ObjectHead {
                meta: ObjectMeta {
                    content_type: guess_content_type(&key),
                    ..ObjectMeta::default()
                },
                info: ObjectInfo {
                    key,
                    size: m.len(),
                    md5,
                    crc32c,
                    version: Some(version_of(&m)),
                    ..ObjectInfo::default()
                },
            }))
        })
        .await
    }

    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalObjectStore {
            root: root.into(),
            requests: Arc::default(),
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf, ObjectError> {
        check_object_key(key)?;
        if key.split('/').any(|s| s.starts_with(INTERNAL_PREFIX)) {
            return Err(ObjectError::Backend(PortError::permanent(format!(
                "`{key}`: names starting with {INTERNAL_PREFIX} are reserved"
            ))));
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(self.root.join(key))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ObjectError> + Send + 'static,
) -> Result<T, ObjectError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ObjectError::Backend(PortError::transient(format!(
            "local object task failed: {e}"
        )))
    })?
}

/// The current version of the file at `path`, `None` when absent.
fn current_version(path: &Path) -> Result<Option<String>, ObjectError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(version_of(&m))),
        Ok(_) => Err(ObjectError::Backend(PortError::permanent(format!(
            "{} is a directory, not an object",
            path.display()
        )))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(failed(path, e)),
    }
}

fn check(key: &str, path: &Path, when: &Precondition) -> Result<(), ObjectError> {
    let holds = match when {
        Precondition::None => true,
        Precondition::Absent => current_version(path)?.is_none(),
        Precondition::Matches(v) => current_version(path)?.as_deref() == Some(v.0.as_str()),
    };
    if holds {
        Ok(())
    } else {
        Err(ObjectError::Changed(key.into()))
    }
}

/// Runs `f` under the store-wide lock, so that a precondition check and the rename that
/// depends on it are one step for every process writing this directory.
fn locked<T>(root: &Path, f: impl FnOnce() -> Result<T, ObjectError>) -> Result<T, ObjectError> {
    // The lock is on the directory itself: nothing is added to the user's tree.
    std::fs::create_dir_all(root).map_err(|e| failed(root, e))?;
    let lock = File::open(root).map_err(|e| failed(root, e))?;
    lock.lock().map_err(|e| failed(root, e))?;
    f()
}

/// A temporary file beside its target, locked for as long as its writer lives.
struct TempFile {
    file: File,
    path: PathBuf,
    target: PathBuf,
}

impl TempFile {
    fn create(target: &Path) -> Result<Self, ObjectError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = target.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file");
        let short: String = name.chars().take(40).collect();
        let path = dir.join(format!(
            "{TMP_PREFIX}{short}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| failed(&path, e))?;
        file.lock().map_err(|e| failed(&path, e))?;
        Ok(TempFile {
            file,
            path,
            target: target.into(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ObjectError> {
        self.file
            .write_all(bytes)
            .map_err(|e| failed(&self.path, e))
    }

    /// Syncs and renames over the target if `when` holds.
    fn commit(self, root: &Path, key: &str, when: &Precondition) -> Result<(), ObjectError> {
        self.file.sync_all().map_err(|e| failed(&self.path, e))?;
        let out = locked(root, || {
            check(key, &self.target, when)?;
            std::fs::rename(&self.path, &self.target).map_err(|e| failed(&self.target, e))
        });
        if out.is_err() {
            let _ = std::fs::remove_file(&self.path);
        }
        out
    }
}

/// The content type a file's extension suggests.
pub fn guess_content_type(key: &str) -> Option<String> {
    mime_guess::from_path(key).first().map(|m| m.to_string())
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn list(&self, prefix: &str, start_after: Option<&str>) -> ObjectListing {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let walk = SortedWalk::new(
            self.root.clone(),
            prefix.to_owned(),
            start_after.map(str::to_owned),
        );
        self.requests.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            for item in walk {
                let stop = item.is_err();
                if tx.blocking_send(item).is_err() || stop {
                    return;
                }
            }
        });
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        self.head_hashed(key, true).await
    }

    async fn stat(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        self.head_hashed(key, false).await
    }

    fn needs_md5_up_front(&self) -> bool {
        false
    }

    async fn read(
        &self,
        key: &str,
        range: Range<u64>,
        version: Option<&str>,
    ) -> Result<Vec<u8>, ObjectError> {
        let path = self.path(key)?;
        let (key, version) = (key.to_owned(), version.map(str::to_owned));
        blocking(move || {
            let mut f = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ObjectError::NotFound(key));
                }
                Err(e) => return Err(failed(&path, e)),
            };
            let pinned = |f: &File| -> Result<(), ObjectError> {
                let m = f.metadata().map_err(|e| failed(&path, e))?;
                match &version {
                    Some(v) if *v != version_of(&m) => Err(ObjectError::Changed(key.clone())),
                    _ => Ok(()),
                }
            };
            pinned(&f)?;
            let len = usize::try_from(range.end.saturating_sub(range.start)).unwrap_or(0);
            let mut buf = vec![0u8; len];
            f.seek(SeekFrom::Start(range.start))
                .map_err(|e| failed(&path, e))?;
            f.read_exact(&mut buf).map_err(|e| failed(&path, e))?;
            // A writer that replaced the file renamed a new inode in: this handle still reads
            // the old one consistently, but one that wrote in place shows in the version.
            pinned(&f)?;
            Ok(buf)
        })
        .await
    }

    async fn fetch(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<(ObjectHead, Vec<u8>), ObjectError> {
        // One read of the file gives the bytes and their digests.
        let path = self.path(key)?;
        let (key, version) = (key.to_owned(), version.map(str::to_owned));
        blocking(move || {
            let mut f = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ObjectError::NotFound(key));
                }
                Err(e) => return Err(failed(&path, e)),
            };
            let m = f.metadata().map_err(|e| failed(&path, e))?;
            if version.as_deref().is_some_and(|v| v != version_of(&m)) {
                return Err(ObjectError::Changed(key));
            }
            let mut body = Vec::with_capacity(usize::try_from(m.len()).unwrap_or(0));
            f.read_to_end(&mut body).map_err(|e| failed(&path, e))?;
            let after = f.metadata().map_err(|e| failed(&path, e))?;
            if version_of(&after) != version_of(&m) || body.len() as u64 != m.len() {
                return Err(ObjectError::Changed(key));
            }
            let (md5, crc32c) = ContentDigest::of(&body);
            Ok((
                ObjectHead {
                    meta: ObjectMeta {
                        content_type: guess_content_type(&key),
                        ..ObjectMeta::default()
                    },
                    info: ObjectInfo {
                        key,
                        size: m.len(),
                        md5: Some(md5),
                        crc32c: Some(crc32c),
                        version: Some(version_of(&m)),
                        ..ObjectInfo::default()
                    },
                },
                body,
            ))
        })
        .await
    }

    async fn put(&self, req: &PutRequest, body: Vec<u8>) -> Result<(), ObjectError> {
        let path = self.path(&req.key)?;
        let (root, req) = (self.root.clone(), req.clone());
        blocking(move || {
            if let Some(want) = &req.md5 {
                let (got, _) = ContentDigest::of(&body);
                if !got.eq_ignore_ascii_case(want) {
                    return Err(ObjectError::Corrupt {
                        key: req.key.clone(),
                        detail: format!("MD5 {got}, expected {want}"),
                    });
                }
            }
            let mut tmp = TempFile::create(&path)?;
            tmp.write(&body)?;
            tmp.commit(&root, &req.key, &req.when)
        })
        .await
    }

    async fn begin_upload(&self, req: &PutRequest) -> Result<Box<dyn Upload>, ObjectError> {
        let path = self.path(&req.key)?;
        let tmp = blocking(move || TempFile::create(&path)).await?;
        Ok(Box::new(LocalUpload {
            tmp: Some(tmp),
            root: self.root.clone(),
            req: req.clone(),
        }))
    }

    async fn delete(&self, key: &str, when: &Precondition) -> Result<(), ObjectError> {
        let path = self.path(key)?;
        let (root, key, when) = (self.root.clone(), key.to_owned(), when.clone());
        blocking(move || {
            locked(&root, || {
                check(&key, &path, &when)?;
                match std::fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(failed(&path, e)),
                }
            })
        })
        .await
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// An upload into a locked temporary file, renamed into place on finish.
struct LocalUpload {
    tmp: Option<TempFile>,
    root: PathBuf,
    req: PutRequest,
}

impl LocalUpload {
    fn take(&mut self) -> Result<TempFile, ObjectError> {
        self.tmp.take().ok_or_else(|| {
            ObjectError::Backend(PortError::permanent(format!(
                "{}: upload already finished",
                self.req.key
            )))
        })
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), ObjectError> {
        let mut tmp = self.take()?;
        let tmp = blocking(move || tmp.write(&chunk).map(|()| tmp)).await?;
        self.tmp = Some(tmp);
        Ok(())
    }

    async fn finish(mut self: Box<Self>, md5: &str) -> Result<(), ObjectError> {
        if let Some(want) = &self.req.md5
            && !want.eq_ignore_ascii_case(md5)
        {
            let err = ObjectError::Corrupt {
                key: self.req.key.clone(),
                detail: format!("MD5 {md5}, expected {want}"),
            };
            self.abort().await;
            return Err(err);
        }
        let tmp = self.take()?;
        let (root, key, when) = (
            self.root.clone(),
            self.req.key.clone(),
            self.req.when.clone(),
        );
        blocking(move || tmp.commit(&root, &key, &when)).await
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(&tmp.path);
        }
    }
}
