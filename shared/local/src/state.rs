//! [`StateStore`] on a directory: one file per key, written by atomic rename, with every
//! read-compare-write done under an exclusive lock so that conditional writes are exact across
//! processes.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use twincloud_core::ports::{
    Precondition, StateError, StateStore, Version, Versioned, check_state_key,
};

/// Local state directory. Files hold a one-line generation header followed by the value.
#[derive(Debug, Clone)]
pub struct LocalStateStore {
    root: PathBuf,
}

const HEADER: &str = "twincloud-generation ";

impl LocalStateStore {
    /// A store rooted at `root`; the directory is created on first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStateStore { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StateError> {
        check_state_key(key)?;
        Ok(self.root.join("state").join(key))
    }

    async fn locked<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let lock_path = root.join("state.lock");
            crate::files::with_lock(&lock_path, || f(&root)).map_err(|e| io(&lock_path, e))?
        })
        .await
        .map_err(|e| StateError::transient(format!("local state task failed: {e}")))?
    }
}

fn io(path: &Path, e: std::io::Error) -> StateError {
    StateError::transient(format!("{}: {e}", path.display()))
}

fn read(path: &Path) -> Result<Option<(u64, Vec<u8>)>, StateError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let nl = bytes.iter().position(|b| *b == b'\n');
            let parsed = nl.and_then(|nl| {
                let head = std::str::from_utf8(&bytes[..nl]).ok()?;
                let generation = head.strip_prefix(HEADER)?.parse::<u64>().ok()?;
                Some((generation, bytes[nl + 1..].to_vec()))
            });
            parsed.map(Some).ok_or_else(|| {
                StateError::permanent(format!("{} is not a twincloud state file", path.display()))
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, e)),
    }
}

fn check(key: &str, current: Option<u64>, expect: &Precondition) -> Result<(), StateError> {
    let ok = match (expect, current) {
        (Precondition::None, _) => true,
        (Precondition::Absent, None) => true,
        (Precondition::Absent, Some(_)) => false,
        (Precondition::Matches(v), Some(g)) => v.0 == g.to_string(),
        (Precondition::Matches(_), None) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(StateError::ConditionFailed(key.into()))
    }
}

fn write_record(path: &Path, generation: u64, value: &[u8]) -> Result<(), StateError> {
    let mut bytes = format!("{HEADER}{generation}\n").into_bytes();
    bytes.extend_from_slice(value);
    crate::files::write_atomic(path, &bytes).map_err(|e| io(path, e))
}

#[async_trait]
impl StateStore for LocalStateStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        let path = self.path(key)?;
        // Renames are atomic, so a reader never sees a half-written file and needs no lock.
        let p = path.clone();
        let got = tokio::task::spawn_blocking(move || read(&p))
            .await
            .map_err(|e| StateError::transient(format!("local state task failed: {e}")))??;
        Ok(got.map(|(g, value)| Versioned {
            value,
            version: Version(g.to_string()),
        }))
    }

    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expect: &Precondition,
    ) -> Result<Version, StateError> {
        let path = self.path(key)?;
        let (key, value, expect) = (key.to_owned(), value.to_vec(), expect.clone());
        self.locked(move |_| {
            let current = read(&path)?.map(|(g, _)| g);
            check(&key, current, &expect)?;
            let next = current.unwrap_or(0) + 1;
            write_record(&path, next, &value)?;
            Ok(Version(next.to_string()))
        })
        .await
    }

    async fn delete(&self, key: &str, expect: &Precondition) -> Result<(), StateError> {
        let path = self.path(key)?;
        let (key, expect) = (key.to_owned(), expect.clone());
        self.locked(move |_| {
            let current = read(&path)?.map(|(g, _)| g);
            check(&key, current, &expect)?;
            match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io(&path, e)),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        let base = self.root.join("state");
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            // Keys are paths: only the folder the prefix's last `/` names can hold its keys, so
            // the walk starts there instead of at the root of a store of any size.
            let start = match prefix.rfind('/') {
                Some(i) => base.join(&prefix[..i]),
                None => base.clone(),
            };
            let mut stack = vec![start];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io(&dir, e)),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| io(&dir, e))?;
                    let path = entry.path();
                    let name = entry.file_name();
                    if name.to_string_lossy().starts_with('.') {
                        continue;
                    }
                    let is_dir = entry.file_type().map_err(|e| io(&path, e))?.is_dir();
                    if is_dir {
                        stack.push(path);
                    } else if let Ok(rel) = path.strip_prefix(&base) {
                        let key = rel.to_string_lossy().replace('\\', "/");
                        if key.starts_with(&prefix) {
                            out.push(key);
                        }
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| StateError::transient(format!("local state task failed: {e}")))?
    }
}
