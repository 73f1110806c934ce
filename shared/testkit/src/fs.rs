//! Reading what the local backend and a sync left on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively, in no particular order.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

/// Every file under `dir` by its `/`-separated path relative to `dir`, with its content.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walk(dir)
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            let body = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (rel, body)
        })
        .collect()
}

/// The messages the outbox channel named `channel` wrote under the local state directory.
pub fn outbox_of(state_dir: &Path, channel: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state_dir.join("outbox").join(format!("{channel}.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("outbox line {l:?}: {e}")))
        .collect()
}

/// The messages of the default `outbox` channel.
pub fn outbox(state_dir: &Path) -> Vec<serde_json::Value> {
    outbox_of(state_dir, "outbox")
}
