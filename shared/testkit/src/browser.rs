//! The operations page in a real browser: Debian's Chromium, driven by `playwright-core`
//! (`tests/node`, both installed by `scripts/test.sh`). Each page and its screenshot are kept
//! under `target/test-artefacts/status-page/` for a person to look at after the run.

use std::path::PathBuf;

use serde_json::Value;

/// Where pages and screenshots are kept.
pub fn artefacts() -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artefacts/status-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `html` as `<name>.html`, opens it in headless Chromium, keeps `<name>.png`, and
/// returns what the rendered page shows (see `tests/node/page_check.mjs`).
pub async fn render(name: &str, html: &str) -> Value {
    let node = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    assert!(
        node.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: scripts/test.sh runs `npm ci --prefix tests/node`"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no Chromium at {chromium}: scripts/test.sh installs Debian's `chromium` package"
    );
    let dir = artefacts();
    let page = dir.join(format!("{name}.html"));
    let shot = dir.join(format!("{name}.png"));
    std::fs::write(&page, html).unwrap();
    let out = tokio::process::Command::new("node")
        .arg(node.join("page_check.mjs"))
        .arg(&page)
        .arg(&shot)
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "Chromium could not render {}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
    let facts: Value = serde_json::from_slice(&out.stdout).expect("page facts are JSON");
    assert_eq!(facts["scripts"], 0, "the page runs no script");
    assert_eq!(
        facts["requests"],
        serde_json::json!([]),
        "the page loads nothing from a network"
    );
    facts
}
