//! Running the `twincloud` binary in tests, pointed at the shared emulators.

use std::process::Command;

/// `bin` (a test's `env!("CARGO_BIN_EXE_twincloud")`) with `args`, no configuration from the
/// environment, and every SDK pointed at `aws_url` and the shared fake-gcs-server with test
/// credentials.
pub fn command_on(bin: &str, args: &[&str], aws_url: &str) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .env_remove("TWINCLOUD_CONFIG")
        .env("AWS_ENDPOINT_URL", aws_url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("TWINCLOUD_GCP_STORAGE_URL", super::emulators::gcs_url())
        .env("TWINCLOUD_GCP_AUTH", "none");
    c
}
