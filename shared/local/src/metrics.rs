//! A simulated metric source: each service's readings in `sim/metrics/<service>.json`
//! (`{"cpu": 85.0, "memory": 40.0}`), set by the demo and the tests as load would move them;
//! and simulated alarm states in `sim/alarms/<alarm>.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use twincloud_core::config::Metric;
use twincloud_core::ids::key_segment;
use twincloud_core::ports::{AlarmStates, Metrics, PortError};
use twincloud_core::signal::AlarmState;

use crate::files::read_json;
use crate::sim::{locked, permanent, write};

/// The simulated metric source of the state directory `root`.
#[derive(Debug, Clone)]
pub struct LocalMetrics {
    root: PathBuf,
}

impl LocalMetrics {
    /// Metrics of the state directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalMetrics { root: root.into() }
    }

    fn path(root: &Path, service: &str) -> PathBuf {
        root.join("sim/metrics")
            .join(format!("{}.json", key_segment(service)))
    }

    /// Sets what `service`'s metrics read now.
    pub async fn set(&self, service: &str, readings: &[(Metric, f64)]) -> Result<(), PortError> {
        let path = Self::path(&self.root, service);
        let map: BTreeMap<String, f64> = readings
            .iter()
            .map(|(m, v)| (m.name().to_owned(), *v))
            .collect();
        locked(&self.root, move || write(&path, &map)).await
    }
}

#[async_trait]
impl Metrics for LocalMetrics {
    async fn readings(
        &self,
        service: &str,
        metrics: &[Metric],
    ) -> Result<Vec<(Metric, f64)>, PortError> {
        let path = Self::path(&self.root, service);
        let map: BTreeMap<String, f64> = read_json(&path).map_err(permanent)?.unwrap_or_default();
        Ok(metrics
            .iter()
            .filter_map(|m| map.get(m.name()).map(|v| (*m, *v)))
            .collect())
    }
}

/// Simulated alarm states of the state directory `root`.
#[derive(Debug, Clone)]
pub struct LocalAlarms {
    root: PathBuf,
}

impl LocalAlarms {
    /// Alarms of the state directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalAlarms { root: root.into() }
    }

    fn path(root: &Path, alarm: &str) -> PathBuf {
        root.join("sim/alarms")
            .join(format!("{}.json", key_segment(alarm)))
    }

    /// Sets an alarm's state, as its metric would.
    pub async fn set(&self, alarm: &str, state: AlarmState) -> Result<(), PortError> {
        let path = Self::path(&self.root, alarm);
        locked(&self.root, move || write(&path, &state)).await
    }
}

#[async_trait]
impl AlarmStates for LocalAlarms {
    async fn state(&self, alarm: &str) -> Result<Option<AlarmState>, PortError> {
        read_json(&Self::path(&self.root, alarm)).map_err(permanent)
    }
}
