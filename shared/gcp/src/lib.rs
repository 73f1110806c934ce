//! GCP adapters over the REST APIs with hand-written serde types for only the fields used:
//! the GCS state store, Pub/Sub publish, Secret Manager references and GCS objects for
//! configuration. Tokens come from `google-cloud-auth` (Application Default Credentials, the
//! metadata server on Cloud Run); emulators need none.

mod billing;
mod clouddns;
mod cloudrun;
mod cloudrun_deploy;
mod cloudsql;
mod context;
mod gcs;
mod gke;
mod monitoring;
mod pubsub;
mod secrets;

pub use billing::GcpBilling;
pub use clouddns::CloudDnsTraffic;
pub use cloudrun::CloudRunCompute;
pub use cloudrun_deploy::{CloudRunDeployer, GoogleLogin};
pub use cloudsql::{CloudSqlDatabase, MANAGED_PREFIX as CLOUDSQL_MANAGED_PREFIX};
pub use context::{GcpAuth, GcpContext};
pub use gcs::{GcsObjectStore, GcsStateStore};
pub use gke::GkeCluster;
pub use monitoring::CloudMonitoringRunMetrics;
pub use pubsub::PubSubNotifier;
pub use secrets::resolve_secret;
