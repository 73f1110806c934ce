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
