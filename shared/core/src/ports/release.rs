//! Ports for deploy on push: image registries (read a tag, mirror an image by digest) and
//! services that take a new image (a task definition revision, a Cloud Run revision, a simulated
//! local service).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortError;
use crate::secret::Secret;

/// What one mirror copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorReport {
    /// Manifests written (an index and each platform's manifest).
    pub manifests: usize,
    /// Blobs copied.
    pub blobs_copied: usize,
    /// Blobs the target had already.
    pub blobs_present: usize,
    /// Bytes uploaded to the target (blobs and manifests).
    pub bytes_sent: u64,
}

/// OCI distribution registries, by image repository (`HOST/PATH`).
#[async_trait]
pub trait ImageRegistries: Send + Sync {
    /// The digest `tag` points at now; `None` when the tag does not exist.
    async fn resolve(&self, image: &str, tag: &str) -> Result<Option<String>, PortError>;
    /// Copies the manifest `digest` of `from` and everything it references (every platform of
    /// an index, only the blobs `to` lacks) to `to`, checks the copy has the same digest, and
    /// sets `tag` on it when given (registries may expire untagged images).
    async fn mirror(
        &self,
        from: &str,
        to: &str,
        digest: &str,
        tag: Option<&str>,
    ) -> Result<MirrorReport, PortError>;
}

/// Where a registry's credentials come from: ECR's token API, a Google access token, a secret.
#[async_trait]
pub trait RegistryLogin: Send + Sync {
    /// A user and password for basic auth (or the token exchange); `None` for anonymous access.
    async fn login(&self) -> Result<Option<(String, Secret)>, PortError>;
}

/// What a service runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The revision serving: a task definition ARN, a Cloud Run revision name.
    pub revision: String,
    /// The container's image in it.
    pub image: String,
    /// The names of the container's environment variables and secrets, sorted (never their
    /// values); `None` when the provider's answer does not say (the readiness audit compares
    /// the sides' names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
}

/// Services that take a new image and can go back to a previous revision.
#[async_trait]
pub trait Deployer: Send + Sync {
    /// The revision serving `service` and its `container`'s image (the only container when
    /// `None`); a permanent error when the service or container does not exist.
    async fn current(&self, service: &str, container: Option<&str>) -> Result<Deployed, PortError>;

    /// Creates a revision of `service` with `container` running `image` (`REPO@sha256:...`) and
    /// everything else as in `from`. Where the platform splits traffic it takes none yet and
    /// answers at its own URL under `tag`; elsewhere the platform's rolling update starts.
    /// Returns the new revision. Asked again after an invocation died halfway, it returns the
    /// revision already made rather than a second one.
    async fn create(
        &self,
        service: &str,
        container: Option<&str>,
        from: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, PortError>;

    /// How the rollout of `revision` stands, and its own URL where it has one.
    async fn progress(
        &self,
        service: &str,
        revision: &str,
    ) -> Result<(Progress, Option<String>), PortError>;

    /// Sends `percent` of the traffic to `revision` and the rest to `previous`; `Ok(false)`
    /// where the platform cannot split traffic.
    async fn split(
        &self,
        service: &str,
        revision: &str,
        previous: &str,
        percent: u8,
    ) -> Result<bool, PortError> {
        let _ = (service, revision, previous, percent);
        Ok(false)
    }

    /// Puts `previous` back: all traffic on it, or the service updated to it. The new revision
    /// is kept (never deleted) for inspection.
    async fn roll_back(&self, service: &str, previous: &str) -> Result<(), PortError>;
}

/// How a new revision answered over a window, from the platform's request metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RevisionHealth {
    /// Requests counted.
    pub requests: f64,
    /// Share of 5xx answers; `None` when too few requests to judge.
    pub error_rate: Option<f64>,
    /// The worst minute's p95 latency in milliseconds, where measured.
    pub p95_ms: Option<f64>,
}

/// Request metrics of one revision (Cloud Monitoring for Cloud Run).
#[async_trait]
pub trait RevisionMetrics: Send + Sync {
    /// The revision's health over the last `window_secs`.
    async fn revision_health(
        &self,
        service: &str,
        revision: &str,
        window_secs: u64,
    ) -> Result<RevisionHealth, PortError>;
}

/// How the platform's rollout of the new revision stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Progress {
    /// Still starting or replacing tasks.
    InProgress,
    /// Running and ready (at whatever traffic it was given).
    Ready,
    /// The platform gave up (circuit breaker, failed revision), and why.
    Failed(String),
}
