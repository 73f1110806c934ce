//! What can go wrong with a server or its tools, classified for retries.

use twincloud_core::ports::{PortError, Retry};

/// The kind of a failure, which decides whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgErrorKind {
    /// The server refused the credentials, the role or the database: retrying cannot help.
    Refused,
    /// The server could not be reached or dropped the connection: a retry may help.
    Unreachable,
    /// The server did not accept a connection within the configured time.
    Timeout,
    /// A tool is missing or too old for the server.
    Tooling,
    /// A statement, the dump or the restore failed.
    Failed,
}

/// A failure, with a message that names what to do and never a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PgError {
    /// Its kind.
    pub kind: PgErrorKind,
    /// What happened.
    pub message: String,
}

impl PgError {
    pub(crate) fn new(kind: PgErrorKind, message: impl Into<String>) -> Self {
        PgError {
            kind,
            message: message.into(),
        }
    }

    /// Whether the same call may succeed later.
    pub fn retry(&self) -> Retry {
        match self.kind {
            PgErrorKind::Unreachable | PgErrorKind::Timeout => Retry::Transient,
            PgErrorKind::Refused | PgErrorKind::Tooling | PgErrorKind::Failed => Retry::Permanent,
        }
    }

    /// Classifies what a tool printed before it failed.
    pub(crate) fn from_stderr(what: &str, stderr: &str) -> Self {
        let text = stderr.trim();
        let lower = text.to_ascii_lowercase();
        let refused = [
            "password authentication failed",
            "authentication failed",
            "no pg_hba.conf entry",
            "does not exist",
            "permission denied",
            "server does not support ssl",
            "certificate verify failed",
            "no password supplied",
            "must be owner",
        ];
        let unreachable = [
            "could not connect",
            "connection refused",
            "connection to server",
            "could not translate host name",
            "timeout expired",
            "the database system is starting up",
            "the database system is shutting down",
            "server closed the connection unexpectedly",
            "terminating connection",
            "connection reset",
            "compute node",
            "too many connections",
            "ssl syscall error",
            "lost synchronization",
            "could not receive data",
            "could not send data",
        ];
        let kind = if refused.iter().any(|p| lower.contains(p)) {
            PgErrorKind::Refused
        } else if unreachable.iter().any(|p| lower.contains(p)) {
            PgErrorKind::Unreachable
        } else {
            PgErrorKind::Failed
        };
        let detail = if text.is_empty() {
            "no message".to_owned()
        } else {
            text.to_owned()
        };
        PgError::new(kind, format!("{what}: {detail}"))
    }
}

impl From<PgError> for PortError {
    fn from(e: PgError) -> Self {
        match e.retry() {
            Retry::Transient => PortError::transient(e.message),
            _ => PortError::permanent(e.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_messages_are_classified() {
        let auth = PgError::from_stderr(
            "connecting",
            "psql: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication failed for user \"app\"",
        );
        assert_eq!(auth.kind, PgErrorKind::Refused);
        let down = PgError::from_stderr(
            "connecting",
            "psql: error: connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?",
        );
        assert_eq!(down.kind, PgErrorKind::Unreachable);
        let cut = PgError::from_stderr(
            "dumping",
            "pg_dump: error: Dumping the contents of table \"t\" failed: PQgetResult() failed.\npg_dump: detail: server closed the connection unexpectedly",
        );
        assert_eq!(cut.kind, PgErrorKind::Unreachable);
        assert_eq!(
            PgError::from_stderr("restoring", "pg_restore: error: syntax").kind,
            PgErrorKind::Failed
        );
    }
}
