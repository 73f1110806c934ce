//! `kube` errors as port errors: throttling, conflicts and server errors are transient;
//! missing objects and refused permissions are permanent and say what to check.

use twincloud_core::ports::{ErrorKind, PortError};

pub(crate) fn port_error(what: &str, e: kube::Error) -> PortError {
    match &e {
        kube::Error::Api(status) => {
            let code = status.code;
            let message = format!("{what}: {} ({code} {})", status.message, status.reason);
            match code {
                404 => PortError::permanent(message).of_kind(ErrorKind::NotFound),
                401 | 403 => PortError::permanent(format!(
                    "{message}: the function's identity lacks a Kubernetes permission (see the README's Role)"
                )),
                409 | 429 | 500..=599 => PortError::transient(message),
                _ => PortError::permanent(message),
            }
        }
        _ => PortError::transient(format!("{what}: {e}")),
    }
}

/// Attempts a read makes in all before its failure counts: a 500 or 429 from the API server,
/// or a dropped connection, is often gone a moment later (as the HTTP client retries).
const READ_ATTEMPTS: u32 = 4;

/// Runs a read (`get`, `list`: safe to repeat) again on a transient failure, with a backoff of
/// 200 ms doubling per attempt; a permanent failure or the last attempt's is returned.
pub(crate) async fn read_retrying<T, F, Fut>(what: &str, mut call: F) -> Result<T, PortError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let e = port_error(what, e);
                if e.retry != twincloud_core::ports::Retry::Transient || attempt >= READ_ATTEMPTS {
                    return Err(e);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                attempt += 1;
            }
        }
    }
}
