//! Atomic file writes, the directory lock, file versions and the reserved names the local
//! backend's stores share (the leaf: it imports none of them).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use twincloud_core::ports::{ObjectError, PortError};

/// Writes `bytes` to `path` by writing a temporary file beside it and renaming it over: a
/// reader sees the old or the new content, never a mix; a crash leaves at most a temp file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!("{TMP_PREFIX}{name}-{}", std::process::id()));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Prefix of temporary files; listings skip them.
pub(crate) const TMP_PREFIX: &str = ".twincloud-tmp-";

/// Runs `f` holding an exclusive lock on `lock_path` (created if needed), across processes.
pub(crate) fn with_lock<T>(lock_path: &Path, f: impl FnOnce() -> T) -> std::io::Result<T> {
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)?;
    lock.lock()?;
    let out = f();
    drop(lock);
    Ok(out)
}

/// Reads and parses a JSON file; `Ok(None)` when it does not exist.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{} is not valid: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Names starting with this belong to twincloud (temporary files) and are not objects.
pub(crate) const INTERNAL_PREFIX: &str = ".twincloud-";

/// An I/O failure on `path` as an object-store error (transient: a retry may find it gone).
pub(crate) fn failed(path: &Path, e: std::io::Error) -> ObjectError {
    ObjectError::Backend(PortError::transient(format!("{}: {e}", path.display())))
}

/// A file's version: its modification time in nanoseconds and its size.
pub(crate) fn version_of(meta: &std::fs::Metadata) -> String {
    let nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", meta.len())
}

/// Removes a temporary file whose writer is gone (its lock is free).
pub(crate) fn remove_if_stale(path: &Path) {
    if let Ok(f) = OpenOptions::new().write(true).open(path)
        && f.try_lock().is_ok()
    {
        let _ = std::fs::remove_file(path);
    }
}
