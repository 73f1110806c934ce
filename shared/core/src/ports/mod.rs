//! Ports: the small traits adapters implement. The core defines them and never calls I/O itself.

mod billing;
mod database;
mod infra;
mod kubernetes;
mod objects;
mod release;

pub use billing::{BillingLink, BudgetRef, Budgets, Reading};
pub use database::{
    Database, DatabaseExport, DatabaseInfo, DatabaseKind, DatabaseRestore, ExportFormat, Operation,
    OperationState, RestoreSource, Snapshot, SnapshotStatus,
};
pub use infra::{
    AlarmStates, Compute, DnsRecord, Metric, Metrics, ProbeCheck, ProbeResult, Prober,
    ServiceScale, Traffic,
};
pub use kubernetes::{ApiServer, ApiServerSource};
pub use objects::{
    ListingPages, META_CRC32C, META_MD5, META_SOURCE_VERSION, ObjectError, ObjectHead, ObjectInfo,
    ObjectListing, ObjectMeta, ObjectStore, PutRequest, Upload, check_object_key,
    is_folder_placeholder, paged_listing,
};
pub use release::{
    Deployed, Deployer, ImageRegistries, MirrorReport, Progress, RegistryLogin, RevisionHealth,
    RevisionMetrics,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::message::Message;

/// Whether retrying can help. Every adapter error says which it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retry {
    /// Throttling, 5xx, timeouts, dropped connections: the platform should retry later.
    Transient,
    /// Bad input, missing permissions, not found: retrying the same call cannot help.
    Permanent,
}

/// An opaque version of a stored record: an S3 ETag, a GCS generation, a local counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Version(pub String);

/// The condition a conditional write needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "if", content = "version", rename_all = "snake_case")]
pub enum Precondition {
    /// Write whatever is there.
    None,
    /// Write only if nothing is stored under the key (S3 `If-None-Match: *`, GCS
    /// `ifGenerationMatch=0`).
    Absent,
    /// Write only if the stored version is this one (S3 `If-Match`, GCS `ifGenerationMatch`).
    Matches(Version),
}

/// A stored record and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The bytes.
    pub value: Vec<u8>,
    /// Its version, for a later conditional write.
    pub version: Version,
}

/// Errors of a [`StateStore`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The precondition did not hold: someone else wrote first. Sentinel, not a failure.
    #[error("precondition failed for `{0}`: another writer got there first")]
    ConditionFailed(String),
    /// Anything else, classified.
    #[error("state store: {message}")]
    Backend {
        /// What went wrong, with the key and the backend's words.
        message: String,
        /// Whether a retry may help.
        retry: Retry,
    },
}

impl StateError {
    /// A transient backend error.
    pub fn transient(message: impl Into<String>) -> Self {
        StateError::Backend {
            message: message.into(),
            retry: Retry::Transient,
        }
    }

    /// A permanent backend error.
    pub fn permanent(message: impl Into<String>) -> Self {
        StateError::Backend {
            message: message.into(),
            retry: Retry::Permanent,
        }
    }

    /// Whether retrying may help.
    pub fn retry(&self) -> Retry {
        match self {
            StateError::ConditionFailed(_) => Retry::Permanent,
            StateError::Backend { retry, .. } => *retry,
        }
    }
}

/// Small records with conditional writes: de-duplication, locks, cursors, audit.
///
/// Keys are `/`-separated paths of `[A-Za-z0-9._-]` segments. Every implementation must pass
/// the conformance suite in `twincloud-testkit`.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Reads a record; `Ok(None)` when absent.
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError>;

    /// Writes a record if `expect` holds; returns the new version.
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expect: &Precondition,
    ) -> Result<Version, StateError>;

    /// Deletes a record if `expect` holds. Deleting an absent record with
    /// [`Precondition::None`] succeeds.
    async fn delete(&self, key: &str, expect: &Precondition) -> Result<(), StateError>;

    /// Lists keys under a prefix, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StateError>;

    /// The first `max` keys under a prefix, sorted, and whether there are more: what a view
    /// reads when anyone can add keys (a forged event adds one under `rejected/`). A store
    /// that can stop listing early (S3, GCS: one page) does; the default lists everything.
    async fn list_up_to(
        &self,
        prefix: &str,
        max: usize,
    ) -> Result<(Vec<String>, bool), StateError> {
        let mut keys = self.list(prefix).await?;
        let more = keys.len() > max;
        keys.truncate(max);
        Ok((keys, more))
    }
}

/// Reads and parses a JSON record from any store.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    store: &dyn StateStore,
    key: &str,
) -> Result<Option<(T, Version)>, StateError> {
    match store.get(key).await? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v.value)
            .map(|t| Some((t, v.version)))
            .map_err(|e| StateError::permanent(format!("record `{key}` is not valid JSON: {e}"))),
    }
}

/// Validates a state key.
pub fn check_state_key(key: &str) -> Result<(), StateError> {
    let ok = !key.is_empty()
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '='))
        });
    if ok {
        Ok(())
    } else {
        Err(StateError::permanent(format!(
            "`{key}` is not a valid state key"
        )))
    }
}

/// What a channel said when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Provider id of the message (SNS MessageId, SES MessageId, Pub/Sub messageId), if any.
    pub provider_id: Option<String>,
    /// Attempts it took.
    pub attempts: u32,
}

/// Why a channel did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel `{channel}`: {message}")]
pub struct NotifyError {
    /// Channel name.
    pub channel: String,
    /// What went wrong, in the provider's words where useful.
    pub message: String,
    /// Whether retrying may help.
    pub retry: Retry,
}

/// Sends messages to people.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends one message, retrying transient failures within its own budget.
    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError>;
}

/// A generic adapter error for the ports below.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    /// What went wrong.
    pub message: String,
    /// Whether retrying may help.
    pub retry: Retry,
    /// What kind of refusal it is, where callers decide by it (classified where the error
    /// arises, never by reading `message`).
    pub kind: ErrorKind,
}

/// The refusals callers act on differently from any other failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// Any other failure.
    #[default]
    Other,
    /// The resource does not exist.
    NotFound,
    /// What was to be created exists already (a duplicate delivery got there first).
    AlreadyExists,
    /// A provider quota is full (snapshots per region, copies in flight).
    QuotaExceeded,
}

impl PortError {
    /// An error with this retry classification.
    pub fn new(message: impl Into<String>, retry: Retry) -> Self {
        PortError {
            message: message.into(),
            retry,
            kind: ErrorKind::Other,
        }
    }

    /// A failure a retry may cure (throttling, 5xx, timeouts).
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(message, Retry::Transient)
    }

    /// A failure a retry cannot cure.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(message, Retry::Permanent)
    }

    /// This error, of `kind`.
    pub fn of_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Whether it is of `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }
}
