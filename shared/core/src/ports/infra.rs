//! Ports for the infrastructure the capabilities operate: compute, traffic, databases, object
//! stores and health probes. Each has a local implementation (the embedded backend) and gets
//! cloud adapters as capabilities need them; all adapters of a port pass one conformance suite
//! (`twincloud-testkit::conformance`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortError;

/// Scaling state of a service on either cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceScale {
    /// Desired instances (ECS desired count; Cloud Run min instances).
    pub desired: u32,
    /// Running and ready instances.
    pub ready: u32,
    /// Upper bound, where the platform has one (Cloud Run max instances).
    pub max: Option<u32>,
}

/// Services that run containers: ECS services, Cloud Run services, simulated local services.
#[async_trait]
pub trait Compute: Send + Sync {
    /// Current scale of a service; a permanent error naming it when it does not exist.
    async fn scale(&self, service: &str) -> Result<ServiceScale, PortError>;
    /// Sets the desired (minimum) instance count. Refuses a count above the service's maximum.
    async fn set_desired(&self, service: &str, desired: u32) -> Result<(), PortError>;
}

/// Where traffic goes: Route 53, Cloud DNS, Cloudflare, a local record.
#[async_trait]
pub trait Traffic: Send + Sync {
    /// The target a record currently points at; `None` when the record does not exist.
    async fn current_target(&self, record: &str) -> Result<Option<String>, PortError>;
    /// Points the record at `target` and returns once the provider says it is in effect.
    /// Switching to the current target is a no-op.
    async fn switch(&self, record: &str, target: &str) -> Result<(), PortError>;
}

/// Lifecycle of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotStatus {
    /// Being taken.
    Creating,
    /// Done and restorable.
    Available,
    /// The provider gave up.
    Failed,
}

/// A database snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Provider id (RDS snapshot identifier, Cloud SQL backup run id, local file name).
    pub id: String,
    /// The database it is of.
    pub database: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Lifecycle state.
    pub status: SnapshotStatus,
    /// Whether twincloud made it (only those are ever pruned).
    pub managed: bool,
}

/// Managed databases: snapshots.
#[async_trait]
pub trait Database: Send + Sync {
    /// Starts a snapshot of `database` with id `id`, marked as made by twincloud.
    async fn create_snapshot(&self, database: &str, id: &str) -> Result<Snapshot, PortError>;
    /// Every snapshot of `database`, oldest first.
    async fn list_snapshots(&self, database: &str) -> Result<Vec<Snapshot>, PortError>;
    /// Deletes a snapshot. Refuses one twincloud did not make.
    async fn delete_snapshot(&self, database: &str, id: &str) -> Result<(), PortError>;
}

/// The outcome of one health probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Whether the endpoint answered as expected.
    pub healthy: bool,
    /// Status code, if any answer came.
    pub status: Option<u16>,
    /// Milliseconds to the answer.
    pub latency_ms: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// What one probe asks of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeCheck {
    /// Full URL.
    pub url: String,
    /// Status that counts as healthy.
    pub expect_status: u16,
    /// Text the body must contain, if set.
    pub body_contains: Option<String>,
    /// Give up after this long.
    pub timeout_ms: u64,
}

/// Health probes.
#[async_trait]
pub trait Prober: Send + Sync {
    /// Probes once; never fails, a failure is an unhealthy result that says why.
    async fn probe(&self, check: &ProbeCheck) -> ProbeResult;
}
