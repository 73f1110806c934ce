//! The HTTPS client every adapter is built on, and the one error its setup can meet: no CA
//! certificates to check servers against. reqwest's own fallbacks (`Client::new()`,
//! `Client::default()`) panic in that case; every client here is built through [`build`].

use std::time::Duration;

/// HTTPS cannot be set up in this process, usually because the system's CA certificates are
/// missing (an image without `ca-certificates`) or `SSL_CERT_FILE` / `SSL_CERT_DIR` point at
/// nothing usable. Nothing was sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "cannot set up HTTPS: {reason}. twincloud checks every server against the system's CA \
     certificates: install them (Debian: `apt-get install ca-certificates`) or set SSL_CERT_FILE \
     to a PEM bundle (SSL_CERT_FILE and SSL_CERT_DIR, when set, replace the system's)"
)]
pub struct TlsSetupError {
    reason: String,
}

/// Builds `builder`, with a [`TlsSetupError`] that says what to fix instead of a panic.
pub fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, TlsSetupError> {
    builder.build().map_err(|e| {
        // reqwest says only "builder error"; the cause worth reading is the deepest one.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason = s.to_string();
            source = s.source();
        }
        TlsSetupError { reason }
    })
}

/// The client the API adapters share: connect and overall timeouts, twincloud's user agent.
pub fn client() -> Result<reqwest::Client, TlsSetupError> {
    build(
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("twincloud/", env!("CARGO_PKG_VERSION"))),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_that_cannot_be_built_says_the_cause_and_the_fix() {
        // A setup reqwest refuses without touching the environment: the same path a machine
        // without CA certificates takes (that one is tested with the binary, cli/tests/cli.rs).
        let e = super::build(reqwest::Client::builder().tls_danger_accept_invalid_hostnames(true))
            .expect_err("refused");
        let text = e.to_string();
        assert!(text.starts_with("cannot set up HTTPS: "), "{text}");
        assert!(text.contains("tls_certs_only"), "the deepest cause: {text}");
        assert!(!text.contains("builder error"), "{text}");
        assert!(text.contains("ca-certificates") && text.contains("SSL_CERT_FILE"));
    }
}
