//! `twincloud sync` killed with SIGKILL at random points, then run again: the destination ends
//! byte-identical to the source and nothing else is touched. Twelve runs, rotating between a
//! directory, a bucket on moto and a bucket on fake-gcs-server as the destination.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use twincloud_core::ports::ObjectStore;
use twincloud_testkit::fs::tree;
use twincloud_testkit::{emulators, unique};

/// Every file under `dir`, hidden ones included, relative path → bytes.
async fn objects(o: &dyn ObjectStore) -> BTreeMap<String, Vec<u8>> {
    let keys: Vec<String> = o.list("", None).map(|r| r.unwrap().key).collect().await;
    let mut out = BTreeMap::new();
    for k in keys {
        let body = o.get(&k).await.unwrap().unwrap();
        out.insert(k, body);
    }
    out
}

/// A small deterministic generator: the seed is printed so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn seed_source(dir: &Path, rng: &mut Lcg) {
    for i in 0..240 {
        let p = dir.join(format!("t{:02}/file {i:03}+ü.bin", i % 9));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let len = 1024 + rng.next(40 * 1024) as usize;
        std::fs::write(p, vec![(i % 251) as u8; len]).unwrap();
    }
    std::fs::write(dir.join("empty"), b"").unwrap();
    // Above the 8 MiB part size: multipart on S3, resumable on GCS.
    std::fs::create_dir_all(dir.join("big")).unwrap();
    for i in 0..2usize {
        let data: Vec<u8> = (0..9 * 1024 * 1024 + i * 77)
            .map(|j| ((j * 13 + i) % 256) as u8)
            .collect();
        std::fs::write(dir.join(format!("big/blob-{i}.bin")), data).unwrap();
    }
}

fn twincloud(args: &[&str]) -> Command {
    let mut c = twincloud_testkit::cli::command_on(
        env!("CARGO_BIN_EXE_twincloud"),
        args,
        &emulators::moto_url(),
    );
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_syncs_rerun_to_a_byte_identical_destination() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let src = tempfile::tempdir().unwrap();
    seed_source(src.path(), &mut rng);
    let before = tree(src.path());
    let aws = twincloud_aws::AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let s3_bucket = unique("kill");
    aws.s3()
        .create_bucket()
        .bucket(&s3_bucket)
        .send()
        .await
        .unwrap();
    let gcs = emulators::gcs_url();
    let gcs_bucket = emulators::new_gcs_bucket("kill").await;
    let local_root = tempfile::tempdir().unwrap();
    // How long a whole copy takes here (to a directory, the fastest destination): kills land
    // within it, so they land mid-run on a fast machine and on a loaded one alike.
    let full = {
        let scratch = local_root.path().join("calibration");
        let src_arg = src.path().display().to_string();
        let dst_arg = scratch.display().to_string();
        let started = std::time::Instant::now();
        let out = twincloud(&["sync", &src_arg, &dst_arg, "--concurrency", "16", "--quiet"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed().as_millis().clamp(50, 5_000) as u64
    };
    let mut killed_mid_copy = 0;
    for run in 0..12 {
        let (dst, store): (String, Box<dyn ObjectStore>) = match run % 3 {
            0 => {
                let p = local_root.path().join(format!("run-{run}"));
                (
                    p.display().to_string(),
                    Box::new(twincloud_local::LocalObjectStore::new(&p)),
                )
            }
            1 => (
                format!("s3://{s3_bucket}/run-{run}"),
                Box::new(twincloud_aws::S3ObjectStore::new(
                    &aws,
                    &s3_bucket,
                    &format!("run-{run}"),
                )),
            ),
            _ => (
                format!("gs://{gcs_bucket}/run-{run}"),
                Box::new(twincloud_gcp::GcsObjectStore::new(
                    &twincloud_gcp::GcpContext::for_emulator(&gcs).unwrap(),
                    &gcs_bucket,
                    &format!("run-{run}"),
                )),
            ),
        };
        let src_arg = src.path().display().to_string();
        let args = ["sync", &src_arg, &dst, "--concurrency", "16", "--quiet"];
        // One or two kills at random points, then a run to the end.
        for _ in 0..=rng.next(2) {
            let mut child = twincloud(&args).spawn().unwrap();
            // Within the first 90 % of a whole copy's time: most kills land mid-run.
            let wait = 5 + rng.next(full * 9 / 10);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            if child.try_wait().unwrap().is_none() {
                killed_mid_copy += 1;
            }
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
        let out = twincloud(&args).output().unwrap();
        assert!(
            out.status.success(),
            "seed {seed} run {run}: rerun failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = objects(store.as_ref()).await;
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>(),
            "seed {seed} run {run}: keys differ"
        );
        assert!(got == before, "seed {seed} run {run}: contents differ");
        if run % 3 == 0 {
            // No temporary file survives in a directory destination.
            assert_eq!(
                tree(&local_root.path().join(format!("run-{run}"))),
                before,
                "seed {seed} run {run}: stray files"
            );
        }
        assert_eq!(tree(src.path()), before, "seed {seed}: the source changed");
    }
    assert!(
        killed_mid_copy >= 10,
        "seed {seed}: only {killed_mid_copy} kills landed mid-run"
    );
}
