//! The bucket-sync part of the demo: a local folder kept copied to a local bucket (a directory
//! of the local backend) by scheduled reconciles; the second pass sends only what changed.

use std::path::Path;

use twincloud_core::Config;
use twincloud_functions::bucket_sync::BucketSync;
use twincloud_runtime::{Clouds, Invoker, Report, Services};

/// The demo's configuration text for this part.
pub(super) fn text(dir: &Path, uploads: &Path, bucket: &Path) -> String {
    format!(
        r#"[project]
name = "aion (demo)"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[sync.pairs]]
name = "uploads"
source = "{}"
destination = "{}"
"#,
        dir.display(),
        uploads.display(),
        bucket.display()
    )
}

pub(super) fn config(dir: &Path, uploads: &Path, bucket: &Path) -> Result<Config, String> {
    Config::parse("(demo sync config)", &text(dir, uploads, bucket)).map_err(|e| e.to_string())
}

fn write(root: &Path, rel: &str, body: &[u8]) -> Result<(), String> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))
}

/// A file rewritten before a step: path under ./uploads and new content.
type Change = (&'static str, &'static [u8]);

/// Runs the bucket-sync scenario; appends each step's report to `reports`.
pub async fn run(
    dir: &Path,
    json: bool,
    reports: &mut Vec<(String, Report)>,
) -> Result<(), String> {
    let uploads = dir.join("uploads");
    let bucket = dir.join("buckets/aion-uploads-replica");
    for (rel, body) in [
        (
            "tenants/acme/Quarterly Report (2026) €.pdf",
            &b"%PDF-1.7 quarterly"[..],
        ),
        ("tenants/acme/avatar+1.png", b"\x89PNG pretend"),
        (
            "tenants/globex/invoice 42.csv",
            b"item,amount\nwidgets,42\n",
        ),
        ("tenants/globex/empty.txt", b""),
    ] {
        write(&uploads, rel, body)?;
    }
    let cfg = config(dir, &uploads, &bucket)?;
    let services = Services::build(cfg, &Clouds::default())
        .await
        .map_err(|e| e.to_string())?;
    let invoker = Invoker::new(Box::new(BucketSync), services, false);
    let steps: [(&str, Option<Change>); 3] = [
        (
            "13. The 5-minute schedule reconciles ./uploads to the replica bucket: every object is copied.",
            None,
        ),
        ("14. The next tick, nothing changed: nothing is sent.", None),
        (
            "15. One invoice is corrected: only that object is copied.",
            Some((
                "tenants/globex/invoice 42.csv",
                b"item,amount\nwidgets,43\n",
            )),
        ),
    ];
    for (n, (say, change)) in steps.into_iter().enumerate() {
        if let Some((rel, body)) = change {
            write(&uploads, rel, body)?;
        }
        let event = serde_json::json!({"twincloud": "schedule", "name": "bucket-sync", "id": format!("demo-sync-{n}")});
        super::tick(&invoker, say, &event, json, reports).await?;
    }
    Ok(())
}
