//! Run errors, classified for the platforms: permanent errors are acknowledged (Lambda returns,
//! HTTP answers 2xx to Pub/Sub or 4xx to direct callers), transient ones surface so the platform
//! retries (Lambda error, HTTP 503).

use twincloud_core::ports::{NotifyError, PortError, Retry, StateError};
use twincloud_core::{ConfigError, DecodeError};

/// Why an invocation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The event cannot be understood; retrying the same bytes cannot help.
    #[error("bad event: {0}")]
    BadEvent(#[from] DecodeError),
    /// The configuration is invalid or a secret cannot be resolved.
    #[error("invalid configuration:\n{0}")]
    Config(String),
    /// The event asked for something its sender may not ask (a command from a topic).
    #[error("{0}")]
    Refused(String),
    /// Work failed in a way retrying cannot fix (permission denied, unknown channel, ...).
    #[error("{0}")]
    Permanent(String),
    /// Throttling, 5xx, timeouts, a concurrent invocation holding the work: retry later.
    #[error("{0} (transient: will be retried)")]
    Transient(String),
}

impl RunError {
    /// Whether the platform should retry.
    pub fn is_transient(&self) -> bool {
        matches!(self, RunError::Transient(_))
    }

    /// Exit code for the CLI: 2 for bad input or configuration, 1 for failures, 75 (EX_TEMPFAIL)
    /// for transient failures, 3 for a refused command.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::BadEvent(_) | RunError::Config(_) => 2,
            RunError::Refused(_) => 3,
            RunError::Permanent(_) => 1,
            RunError::Transient(_) => 75,
        }
    }
}

impl From<ConfigError> for RunError {
    fn from(e: ConfigError) -> Self {
        RunError::Config(e.to_string())
    }
}

/// The process cannot make HTTPS calls: a setup problem to fix, not a failure to retry.
impl From<twincloud_http::TlsSetupError> for RunError {
    fn from(e: twincloud_http::TlsSetupError) -> Self {
        RunError::Config(e.to_string())
    }
}

impl From<StateError> for RunError {
    fn from(e: StateError) -> Self {
        match e.retry() {
            Retry::Transient => RunError::Transient(e.to_string()),
            Retry::Permanent => RunError::Permanent(e.to_string()),
        }
    }
}

impl From<PortError> for RunError {
    fn from(e: PortError) -> Self {
        match e.retry {
            Retry::Transient => RunError::Transient(e.message),
            Retry::Permanent => RunError::Permanent(e.message),
        }
    }
}

impl From<NotifyError> for RunError {
    fn from(e: NotifyError) -> Self {
        match e.retry {
            Retry::Transient => RunError::Transient(e.to_string()),
            Retry::Permanent => RunError::Permanent(e.to_string()),
        }
    }
}
