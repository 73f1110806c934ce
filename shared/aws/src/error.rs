//! Classification of SDK errors into transient and permanent.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use twincloud_core::ports::{ErrorKind, PortError, Retry};

/// Error codes AWS uses for throttling and overload across services.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestThrottled",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
];

/// The kind of refusal an AWS error code names (`DBSnapshotAlreadyExists`,
/// `SnapshotQuotaExceeded`, `DBInstanceNotFound`, `ServiceNotFoundException`, ...).
fn kind_of(code: &str) -> ErrorKind {
    if code.contains("NotFound") || code == "NoSuchKey" || code == "NoSuchBucket" {
        ErrorKind::NotFound
    } else if code.contains("AlreadyExists") {
        ErrorKind::AlreadyExists
    } else if code.contains("QuotaExceeded")
        || code.contains("LimitExceeded") && !code.starts_with("Request")
    {
        ErrorKind::QuotaExceeded
    } else {
        ErrorKind::Other
    }
}

/// Turns an SDK error into a [`PortError`], naming what was being done.
pub fn classify<E, R>(what: &str, e: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HasStatus + std::fmt::Debug,
{
    let (message, retry) = match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown");
            let msg = err.message().unwrap_or("");
            // A 5xx or 429 is the service's trouble whatever its body says (a proxy's or load
            // balancer's page carries no AWS error code).
            let http = se.raw().status_u16();
            let retry = if TRANSIENT_CODES.contains(&code) || http >= 500 || http == 429 {
                Retry::Transient
            } else {
                Retry::Permanent
            };
            return PortError::new(format!("{what}: {code}: {msg}"), retry).of_kind(kind_of(code));
        }
        SdkError::TimeoutError(_) => (format!("{what}: timed out"), Retry::Transient),
        SdkError::DispatchFailure(d) => (
            format!("{what}: could not reach the service: {d:?}"),
            Retry::Transient,
        ),
        SdkError::ResponseError(_) => (format!("{what}: unreadable response"), Retry::Transient),
        SdkError::ConstructionFailure(_) => {
            (format!("{what}: invalid request: {e}"), Retry::Permanent)
        }
        _ => (format!("{what}: {e}"), Retry::Transient),
    };
    PortError::new(message, retry)
}

/// The HTTP status of a service error, if the call got that far.
pub(crate) fn status<E, R: HasStatus>(e: &SdkError<E, R>) -> Option<u16> {
    match e {
        SdkError::ServiceError(se) => Some(se.raw().status_u16()),
        _ => None,
    }
}

/// Raw responses that carry a status code.
#[doc(hidden)]
pub trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}
