//! [`ObjectStore`] on a directory: keys are relative paths, objects are plain files, writes are
//! atomic renames so a reader (or a sync killed midway) never sees half an object.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use twincloud_core::ports::{ObjectInfo, ObjectStore, PortError, Retry, check_object_key};

use crate::files::{TMP_PREFIX, write_atomic};

/// A directory used as a bucket (`file://` locations, and `buckets/<name>/` of the local
/// backend).
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
}

impl LocalObjectStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalObjectStore { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, PortError> {
        check_object_key(key)?;
        Ok(self.root.join(key))
    }
}

fn failed(path: &Path, e: std::io::Error) -> PortError {
    PortError {
        message: format!("{}: {e}", path.display()),
        retry: Retry::Transient,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PortError> + Send + 'static,
) -> Result<T, PortError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PortError {
            message: format!("local object task failed: {e}"),
            retry: Retry::Transient,
        })?
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, PortError> {
        let (root, prefix) = (self.root.clone(), prefix.to_owned());
        blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(failed(&dir, e)),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| failed(&dir, e))?;
                    let path = entry.path();
                    if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                        continue;
                    }
                    let meta = entry.metadata().map_err(|e| failed(&path, e))?;
                    if meta.is_dir() {
                        stack.push(path);
                    } else if let Ok(rel) = path.strip_prefix(&root) {
                        let key = rel.to_string_lossy().replace('\\', "/");
                        if key.starts_with(&prefix) {
                            out.push(ObjectInfo {
                                key,
                                size: meta.len(),
                                md5: None,
                            });
                        }
                    }
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        let path = self.path(key)?;
        blocking(move || match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(failed(&path, e)),
        })
        .await
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), PortError> {
        let path = self.path(key)?;
        let bytes = bytes.to_vec();
        blocking(move || write_atomic(&path, &bytes).map_err(|e| failed(&path, e))).await
    }

    async fn delete(&self, key: &str) -> Result<(), PortError> {
        let path = self.path(key)?;
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed(&path, e)),
        })
        .await
    }
}
