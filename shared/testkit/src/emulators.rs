//! Where the emulators started by `scripts/test.sh` listen. Tests that need one fail with an
//! instruction when it is not running, rather than passing without testing anything.

fn required(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: {what} is not running. Run the tests with `scripts/test.sh` \
             (it installs and starts the emulators), or start {what} and export {var}."
        ),
    }
}

/// Base URL of moto (`moto_server`), e.g. `http://127.0.0.1:5001`.
pub fn moto_url() -> String {
    required("TWINCLOUD_TEST_MOTO_URL", "moto")
}

/// Base URL of the moto that holds databases (RDS), kept apart from the one whose state dump
/// the notification tests read.
pub fn moto_db_url() -> String {
    required("TWINCLOUD_TEST_MOTO_DB_URL", "moto for databases")
}

/// Base URL of fake-gcs-server, e.g. `http://127.0.0.1:4443`.
pub fn gcs_url() -> String {
    required("TWINCLOUD_TEST_GCS_URL", "fake-gcs-server")
}

/// Path of the Python interpreter of the project's test virtualenv.
pub fn venv_python() -> std::path::PathBuf {
    let p = super::workspace_root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `scripts/test.sh` once to create the test virtualenv",
        p.display()
    );
    p
}

/// Creates a bucket with a unique name starting with `prefix` on fake-gcs-server; its name.
pub async fn new_gcs_bucket(prefix: &str) -> String {
    let name = super::unique(prefix);
    let r = reqwest::Client::new()
        .post(format!("{}/storage/v1/b?project=test", gcs_url()))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("fake-gcs-server: {e}"));
    assert!(
        r.status().is_success(),
        "creating gs://{name}: HTTP {}",
        r.status()
    );
    name
}
