//! A directory tree listed in key order (bytewise, as S3 and GCS list), lazily.

use std::path::PathBuf;

use twincloud_core::ports::{ObjectError, ObjectInfo, PortError};

use crate::files::{INTERNAL_PREFIX, TMP_PREFIX, failed, remove_if_stale, version_of};

/// The files under `root` in key order (bytewise, as S3 and GCS list), lazily: a directory is
/// read when the walk reaches it, so memory stays bounded by the widest directory.
pub(crate) struct SortedWalk {
    root: PathBuf,
    prefix: String,
    start_after: Option<String>,
    /// Pending entries, each directory's in reverse order: (key, is_dir).
    stack: Vec<(String, bool)>,
}

impl SortedWalk {
    pub(crate) fn new(root: PathBuf, prefix: String, start_after: Option<String>) -> Self {
        let mut w = SortedWalk {
            root,
            prefix,
            start_after,
            stack: Vec::new(),
        };
        w.push_dir("");
        w
    }

    /// Whether any key under the directory key `dir` (ending in `/`) can be wanted.
    fn wants_dir(&self, dir: &str) -> bool {
        (dir.starts_with(&self.prefix) || self.prefix.starts_with(dir))
            && self
                .start_after
                .as_deref()
                .is_none_or(|s| dir > s || s.starts_with(dir))
    }

    fn wants_file(&self, key: &str) -> bool {
        key.starts_with(&self.prefix) && self.start_after.as_deref().is_none_or(|s| key > s)
    }

    fn push_dir(&mut self, dir: &str) -> Option<ObjectError> {
        let path = self.root.join(dir);
        let entries = match std::fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return Some(failed(&path, e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => return Some(failed(&path, e)),
            };
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Some(ObjectError::Backend(PortError::permanent(format!(
                    "{}: a file name is not UTF-8 and cannot be an object key",
                    path.display()
                ))));
            };
            if name.starts_with(TMP_PREFIX) {
                remove_if_stale(&entry.path());
                continue;
            }
            if name.starts_with(INTERNAL_PREFIX) {
                continue;
            }
            let is_dir = match entry.file_type() {
                Ok(t) if t.is_symlink() => entry.path().is_dir(),
                Ok(t) => t.is_dir(),
                Err(e) => return Some(failed(&entry.path(), e)),
            };
            // A directory sorts as its name plus `/`: that is where its keys fall.
            let key = if is_dir {
                format!("{dir}{name}/")
            } else {
                format!("{dir}{name}")
            };
            let wanted = if is_dir {
                self.wants_dir(&key)
            } else {
                self.wants_file(&key)
            };
            if wanted {
                found.push((key, is_dir));
            }
        }
        found.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        self.stack.extend(found);
        None
    }
}

impl Iterator for SortedWalk {
    type Item = Result<ObjectInfo, ObjectError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (key, is_dir) = self.stack.pop()?;
            if is_dir {
                if let Some(e) = self.push_dir(&key) {
                    return Some(Err(e));
                }
                continue;
            }
            let path = self.root.join(&key);
            match std::fs::metadata(&path) {
                Ok(m) => {
                    return Some(Ok(ObjectInfo {
                        size: m.len(),
                        version: Some(version_of(&m)),
                        key,
                        ..ObjectInfo::default()
                    }));
                }
                // Removed since the directory was read: no longer an object.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Some(Err(failed(&path, e))),
            }
        }
    }
}
