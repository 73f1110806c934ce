//! Ports for the infrastructure the capabilities operate: compute, traffic and health probes
//! (databases and object stores have files of their own). Each has a local implementation (the embedded backend) and gets
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

    /// Sets the service's own maximum instance count, where the platform has one (Cloud Run's
    /// `maxInstanceCount`); `Ok(false)` where it has none (ECS: twincloud's policy is the bound).
    async fn set_max(&self, service: &str, max: u32) -> Result<bool, PortError> {
        let _ = (service, max);
        Ok(false)
    }

    /// [`Compute::set_desired`], with a word on how it was done when that is worth saying (an
    /// autoscaler of the platform adjusted rather than fought).
    async fn set_desired_explained(
        &self,
        service: &str,
        desired: u32,
    ) -> Result<Option<String>, PortError> {
        self.set_desired(service, desired).await.map(|()| None)
    }
}

/// A DNS record as its provider shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// Where it points.
    pub target: String,
    /// Its TTL in seconds, when the provider reports it.
    pub ttl: Option<u32>,
}

/// Where traffic goes: Route 53, Cloud DNS, Cloudflare, a local record.
#[async_trait]
pub trait Traffic: Send + Sync {
    /// The target a record currently points at; `None` when the record does not exist.
    async fn current_target(&self, record: &str) -> Result<Option<String>, PortError>;
    /// The record with its TTL (the readiness audit's routing rule); by default its target
    /// alone, the TTL unknown.
    async fn record(&self, record: &str) -> Result<Option<DnsRecord>, PortError> {
        Ok(self
            .current_target(record)
            .await?
            .map(|target| DnsRecord { target, ttl: None }))
    }
    /// Points the record at `target` and returns once the provider says it is in effect.
    /// Switching to the current target is a no-op.
    async fn switch(&self, record: &str, target: &str) -> Result<(), PortError>;
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

/// Where a service's load is read: CloudWatch for ECS, Cloud Monitoring for Cloud Run, a
/// simulated source on the local backend.
#[async_trait]
pub trait Metrics: Send + Sync {
    /// The recent average of each of `metrics` for `service` (the last few minutes), where the
    /// provider has data; a metric without data is left out, not zero.
    async fn readings(
        &self,
        service: &str,
        metrics: &[Metric],
    ) -> Result<Vec<(Metric, f64)>, PortError>;
}

/// Where an alarm's state is asked, before a message saying it fired is acted on: anyone who
/// can publish to the topic could have written the message.
#[async_trait]
pub trait AlarmStates: Send + Sync {
    /// The alarm's state now, as the provider says; `None` when there is no such alarm.
    async fn state(&self, alarm: &str) -> Result<Option<crate::signal::AlarmState>, PortError>;
}

/// A metric a target tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Average CPU utilisation, percent.
    Cpu,
    /// Average memory utilisation, percent.
    Memory,
    /// Requests per instance per minute.
    RequestsPerInstance,
}

impl Metric {
    /// The name used in configuration and messages.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::RequestsPerInstance => "requests_per_instance",
        }
    }
}
