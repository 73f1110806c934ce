//! Simulated services and DNS records as JSON files (databases: `database.rs`). They behave like the real
//! providers where twincloud depends on it: unknown names are errors, scaling above the maximum
//! is refused, a DNS switch is visible at once, snapshots not made by twincloud are never
//! deleted.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use twincloud_core::ids::key_segment;
use twincloud_core::ports::{Compute, DnsRecord, PortError, ServiceScale, Traffic};

use crate::files::{read_json, with_lock, write_atomic};

pub(crate) fn permanent(message: String) -> PortError {
    PortError::permanent(message)
}

pub(crate) fn transient(message: String) -> PortError {
    PortError::transient(message)
}

/// Runs a read-modify-write of the simulation under its lock, off the async threads.
pub(crate) async fn locked<T: Send + 'static>(
    root: &Path,
    f: impl FnOnce() -> Result<T, PortError> + Send + 'static,
) -> Result<T, PortError> {
    let lock = root.join("sim.lock");
    tokio::task::spawn_blocking(move || {
        with_lock(&lock, f).map_err(|e| transient(format!("{}: {e}", lock.display())))?
    })
    .await
    .map_err(|e| transient(format!("local simulation task failed: {e}")))?
}

pub(crate) fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), PortError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| permanent(e.to_string()))?;
    write_atomic(path, &bytes).map_err(|e| transient(format!("{}: {e}", path.display())))
}

pub(crate) fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, PortError> {
    read_json(path).map_err(permanent)
}

/// Reads a simulated resource that must exist; `what` names it in the error (`service `x``).
pub(crate) fn existing<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<T, PortError> {
    read(path)?.ok_or_else(|| permanent(format!("{what} not found (local simulation)")))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ServiceFile {
    desired: u32,
    ready: u32,
    #[serde(default)]
    max: Option<u32>,
}

/// Services under `<dir>/sim/services/<name>.json`. Instances become ready as soon as they are
/// desired.
#[derive(Debug, Clone)]
pub struct LocalCompute {
    root: PathBuf,
}

impl LocalCompute {
    /// Simulated services of the state directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalCompute { root: root.into() }
    }

    fn path(&self, service: &str) -> PathBuf {
        self.root
            .join("sim/services")
            .join(format!("{}.json", key_segment(service)))
    }

    /// Creates (or resets) a service with `desired` ready instances and an optional maximum.
    pub async fn create_service(
        &self,
        service: &str,
        desired: u32,
        max: Option<u32>,
    ) -> Result<(), PortError> {
        let path = self.path(service);
        locked(&self.root, move || {
            write(
                &path,
                &ServiceFile {
                    desired,
                    ready: desired,
                    max,
                },
            )
        })
        .await
    }
}

#[async_trait]
impl Compute for LocalCompute {
    async fn scale(&self, service: &str) -> Result<ServiceScale, PortError> {
        let s: ServiceFile = existing(&self.path(service), &format!("service `{service}`"))?;
        Ok(ServiceScale {
            desired: s.desired,
            ready: s.ready,
            max: s.max,
        })
    }

    async fn set_desired(&self, service: &str, desired: u32) -> Result<(), PortError> {
        let path = self.path(service);
        let name = service.to_owned();
        locked(&self.root, move || {
            let mut s: ServiceFile = existing(&path, &format!("service `{name}`"))?;
            if let Some(max) = s.max.filter(|m| desired > *m) {
                return Err(permanent(format!(
                    "service `{name}`: desired {desired} is above its maximum of {max}"
                )));
            }
            s.desired = desired;
            s.ready = desired;
            write(&path, &s)
        })
        .await
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordFile {
    target: String,
    #[serde(default)]
    history: Vec<String>,
    /// The TTL the record is said to have (`None`: 60 s, as the demo's records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
}

/// DNS records under `<dir>/sim/dns/<record>.json`, with the targets they had.
#[derive(Debug, Clone)]
pub struct LocalTraffic {
    root: PathBuf,
}

impl LocalTraffic {
    /// Simulated DNS of the state directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalTraffic { root: root.into() }
    }

    fn path(&self, record: &str) -> PathBuf {
        self.root
            .join("sim/dns")
            .join(format!("{}.json", key_segment(record)))
    }
}

#[async_trait]
impl Traffic for LocalTraffic {
    async fn current_target(&self, record: &str) -> Result<Option<String>, PortError> {
        Ok(read::<RecordFile>(&self.path(record))?.map(|r| r.target))
    }

    async fn record(&self, record: &str) -> Result<Option<DnsRecord>, PortError> {
        Ok(read::<RecordFile>(&self.path(record))?.map(|r| DnsRecord {
            target: r.target,
            ttl: Some(r.ttl.unwrap_or(60)),
        }))
    }

    async fn switch(&self, record: &str, target: &str) -> Result<(), PortError> {
        if target.trim().is_empty() {
            return Err(permanent(format!("record `{record}`: an empty target")));
        }
        let path = self.path(record);
        let target = target.to_owned();
        locked(&self.root, move || {
            let mut r: RecordFile = read(&path)?.unwrap_or(RecordFile {
                target: String::new(),
                history: vec![],
                ttl: None,
            });
            if r.target == target {
                return Ok(());
            }
            if !r.target.is_empty() {
                let previous = std::mem::take(&mut r.target);
                r.history.push(previous);
            }
            r.target = target;
            write(&path, &r)
        })
        .await
    }
}
