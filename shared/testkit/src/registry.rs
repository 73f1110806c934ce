//! Docker's reference registry (Debian's `docker-registry`) on a loopback port, with htpasswd
//! basic auth as ECR's authorization tokens use, and images built in the test as OCI layouts
//! (a multi-arch index included) pushed to it over the distribution API.

use std::process::{Child, Command, Stdio};

use base64::Engine;

/// A running registry; stopped and its storage removed on drop.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    user: String,
    password: String,
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The registry binary, or a panic saying how to get it.
fn binary() -> &'static str {
    for b in ["/usr/bin/docker-registry", "/usr/bin/registry"] {
        if std::path::Path::new(b).exists() {
            return b;
        }
    }
    panic!(
        "docker-registry is not installed: scripts/test.sh installs it (apt-get install docker-registry)"
    )
}

impl Registry {
    /// Starts a registry that accepts only `user` / `password` (basic auth).
    pub async fn start(user: &str, password: &str) -> Registry {
        let dir = std::env::temp_dir().join(crate::unique("oci-registry"));
        std::fs::create_dir_all(dir.join("data")).expect("registry dir");
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd (apache2-utils) is installed by scripts/test.sh");
        assert!(htpasswd.status.success(), "htpasswd failed");
        std::fs::write(dir.join("htpasswd"), &htpasswd.stdout).expect("htpasswd file");
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-only\nauth:\n  htpasswd:\n    realm: twincloud-test\n    path: {pw}\n",
            data = dir.join("data").display(),
            pw = dir.join("htpasswd").display()
        );
        std::fs::write(dir.join("config.yml"), config).expect("config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("log");
        let child = Command::new(binary())
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Registry {
            host: format!("127.0.0.1:{port}"),
            user: user.into(),
            password: password.into(),
            child,
            dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("http://{}/v2/", r.host))
                .send()
                .await
                .is_ok()
            {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(r.dir.join("registry.log")).unwrap_or_default();
        panic!("docker-registry did not start: {log}");
    }

    fn auth(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.user, self.password))
        )
    }

    /// Uploads a blob (monolithic) unless present.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let c = reqwest::Client::new();
        let head = c
            .head(format!("http://{}/v2/{repo}/blobs/{digest}", self.host))
            .header("authorization", self.auth())
            .send()
            .await
            .expect("head");
        if head.status().is_success() {
            return digest;
        }
        let start = c
            .post(format!("http://{}/v2/{repo}/blobs/uploads/", self.host))
            .header("authorization", self.auth())
            .send()
            .await
            .expect("start upload");
        assert_eq!(start.status().as_u16(), 202, "upload start");
        let loc = start.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let loc = if loc.starts_with("http") {
            loc
        } else {
            format!("http://{}{loc}", self.host)
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = c
            .put(format!("{loc}{sep}digest={digest}"))
            .header("authorization", self.auth())
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .expect("put blob");
        assert_eq!(put.status().as_u16(), 201, "blob upload");
        digest
    }

    /// Puts a manifest under `reference`; its digest.
    pub async fn push_manifest(&self, repo: &str, reference: &str, m: &Built) -> String {
        let resp = reqwest::Client::new()
            .put(format!(
                "http://{}/v2/{repo}/manifests/{reference}",
                self.host
            ))
            .header("authorization", self.auth())
            .header("content-type", &m.media_type)
            .body(m.bytes.clone())
            .send()
            .await
            .expect("put manifest");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "manifest push: {status} {body}");
        m.digest.clone()
    }

    /// Pushes a single-platform image with `layers` under `tag`; its manifest digest.
    pub async fn push_image(
        &self,
        repo: &str,
        tag: &str,
        layers: &[Vec<u8>],
        arch: &str,
    ) -> String {
        let m = self.image_manifest(repo, layers, arch).await;
        self.push_manifest(repo, tag, &m).await
    }

    async fn image_manifest(&self, repo: &str, layers: &[Vec<u8>], arch: &str) -> Built {
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha256(l)).collect::<Vec<_>>()},
            "config": {}
        })
        .to_string()
        .into_bytes();
        let cfg = self.push_blob(repo, &config).await;
        let mut descs = Vec::new();
        for l in layers {
            let d = self.push_blob(repo, l).await;
            descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": l.len()}));
        }
        Built::new(
            "application/vnd.oci.image.manifest.v1+json",
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": config.len()},
                "layers": descs
            }),
        )
    }

    /// Pushes a multi-arch index (amd64 and arm64, each with its own layer plus `shared`) under
    /// `tag`; the index digest.
    pub async fn push_index(&self, repo: &str, tag: &str, shared: &[Vec<u8>]) -> String {
        let mut entries = Vec::new();
        for arch in ["amd64", "arm64"] {
            let mut layers = shared.to_vec();
            layers.push(format!("{arch}-only layer of {tag}").into_bytes());
            let m = self.image_manifest(repo, &layers, arch).await;
            let d = self.push_manifest(repo, &m.digest, &m).await;
            entries.push(serde_json::json!({
                "mediaType": m.media_type, "digest": d, "size": m.bytes.len(),
                "platform": {"architecture": arch, "os": "linux"}
            }));
        }
        let index = Built::new(
            "application/vnd.oci.image.index.v1+json",
            serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}),
        );
        self.push_manifest(repo, tag, &index).await
    }

    /// The manifest stored under `reference`, as bytes, and the digest the registry gives it.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Option<(Vec<u8>, String)> {
        let resp = reqwest::Client::new()
            .get(format!("http://{}/v2/{repo}/manifests/{reference}", self.host))
            .header("authorization", self.auth())
            .header("accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .expect("get manifest");
        if resp.status().as_u16() == 404 {
            return None;
        }
        let d = resp.headers()["docker-content-digest"]
            .to_str()
            .expect("digest")
            .to_owned();
        Some((resp.bytes().await.expect("body").to_vec(), d))
    }

    /// Whether the blob is stored.
    pub async fn has_blob(&self, repo: &str, digest: &str) -> bool {
        reqwest::Client::new()
            .head(format!("http://{}/v2/{repo}/blobs/{digest}", self.host))
            .header("authorization", self.auth())
            .send()
            .await
            .expect("head")
            .status()
            .is_success()
    }
}

/// A manifest built in a test.
#[derive(Debug, Clone)]
pub struct Built {
    /// Media type.
    pub media_type: String,
    /// Bytes as pushed.
    pub bytes: Vec<u8>,
    /// Their digest.
    pub digest: String,
}

impl Built {
    fn new(media_type: &str, v: serde_json::Value) -> Built {
        let bytes = serde_json::to_vec(&v).expect("json");
        Built {
            media_type: media_type.into(),
            digest: sha256(&bytes),
            bytes,
        }
    }
}

/// `sha256:HEX`.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    let sum = sha2::Sha256::digest(data);
    let mut out = String::from("sha256:");
    for b in sum.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `n` bytes that do not compress and differ by `seed`.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
