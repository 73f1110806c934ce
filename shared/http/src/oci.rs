//! [`ImageRegistries`] over the OCI distribution API: ECR, Artifact Registry, Docker's reference
//! registry. Images are copied by digest: every platform of an index, only the blobs the
//! target lacks (a `HEAD` first; registries do not mount across hosts), each blob streamed from
//! the source into the target's upload without being held in memory, and the copy's manifest
//! digest checked equal to the source's.
//!
//! Authentication: each registry host has a [`RegistryLogin`] (ECR's token API, a Google
//! access token, a secret). A `401` answer names the scheme: `Basic` gets the login as is,
//! `Bearer realm=...` exchanges it at the realm for a token scoped to the repository.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::{StatusCode, header};
use twincloud_core::ports::{ImageRegistries, MirrorReport, PortError, RegistryLogin, Retry};

use crate::retry::classify_status;

/// Manifest media types asked for, newest first.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
/// The largest manifest read (registries refuse larger ones; 4 MiB is distribution's limit).
const MAX_MANIFEST: usize = 4 << 20;
/// Blobs copied at once per image.
const PARALLEL_BLOBS: usize = 4;
/// Attempts per blob copy (the whole stream again after a transient failure).
const BLOB_ATTEMPTS: u32 = 3;

/// Registries by host, each with its login.
#[derive(Clone)]
pub struct OciRegistries {
    client: reqwest::Client,
    logins: BTreeMap<String, Arc<dyn RegistryLogin>>,
}

impl std::fmt::Debug for OciRegistries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciRegistries")
            .field("hosts", &self.logins.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl OciRegistries {
    /// No logins yet: every host is reached anonymously.
    pub fn new() -> Result<Self, crate::TlsSetupError> {
        // No overall timeout: a layer may take minutes; a stalled read still ends the call.
        let client = crate::build(
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .user_agent(concat!("twincloud/", env!("CARGO_PKG_VERSION"))),
        )?;
        Ok(OciRegistries {
            client,
            logins: BTreeMap::new(),
        })
    }

    /// Uses `login` for `host` (`HOST[:PORT]`).
    pub fn with_login(mut self, host: &str, login: Arc<dyn RegistryLogin>) -> Self {
        self.logins.insert(host.to_owned(), login);
        self
    }

    fn repo(&self, image: &str, push: bool) -> Result<Repo, PortError> {
        let (host, path) = image
            .split_once('/')
            .filter(|(h, p)| !h.is_empty() && !p.is_empty())
            .ok_or_else(|| {
                PortError::permanent(format!("`{image}` is not an image repository HOST/PATH"))
            })?;
        let loopback =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        Ok(Repo {
            client: self.client.clone(),
            base: format!("{}://{host}", if loopback { "http" } else { "https" }),
            image: image.to_owned(),
            path: path.to_owned(),
            push,
            login: self.logins.get(host).cloned(),
            auth: Arc::new(Mutex::new(None)),
        })
    }
}

/// One repository of one registry, with the authorization it earned.
#[derive(Clone)]
struct Repo {
    client: reqwest::Client,
    base: String,
    image: String,
    path: String,
    push: bool,
    login: Option<Arc<dyn RegistryLogin>>,
    auth: Arc<Mutex<Option<String>>>,
}

/// A manifest as stored: its bytes are what its digest covers.
struct Manifest {
    media_type: String,
    bytes: bytes::Bytes,
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    let sum = sha2::Sha256::digest(data);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in sum.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn failure(what: &str, status: StatusCode, body: &str) -> PortError {
    let excerpt: String = body.chars().take(300).collect();
    PortError::new(
        format!("{what}: HTTP {}: {}", status.as_u16(), excerpt.trim()),
        classify_status(status.as_u16()),
    )
}

fn transport(what: &str, e: &reqwest::Error) -> PortError {
    PortError::transient(format!("{what}: {}", crate::retry::without_url(e)))
}

/// `key="value"` pairs of a `WWW-Authenticate` challenge.
fn challenge_params(rest: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut s = rest.trim();
    while let Some((k, v)) = s.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let v = v.trim_start();
        let (val, tail) = if let Some(q) = v.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match v.find(',') {
                Some(end) => (&v[..end], &v[end..]),
                None => (v, ""),
            }
        };
        out.insert(k, val.to_owned());
        s = tail.trim_start_matches(',').trim();
    }
    out
}

impl Repo {
    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.path)
    }

    /// Answers a `401` challenge: the header to send from now on.
    async fn authorize(&self, challenge: &str) -> Result<(), PortError> {
        let creds = match &self.login {
            Some(l) => l.login().await?,
            None => None,
        };
        let basic = creds.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", p.expose()))
            )
        });
        let (scheme, rest) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let header = if scheme.eq_ignore_ascii_case("basic") {
            basic.ok_or_else(|| {
                PortError::permanent(format!(
                    "registry of {} asks for a login and none is configured (`registry_auth`)",
                    self.image
                ))
            })?
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let p = challenge_params(rest);
            let realm = p.get("realm").ok_or_else(|| {
                PortError::permanent(format!("{}: a Bearer challenge without realm", self.image))
            })?;
            let scope = format!(
                "repository:{}:{}",
                self.path,
                if self.push { "pull,push" } else { "pull" }
            );
            self.trusted(realm, &format!("token for {}", self.image))?;
            let mut query = vec![("scope", scope)];
            if let Some(s) = p.get("service") {
                query.push(("service", s.clone()));
            }
            let mut req = self.client.get(realm).query(&query);
            if let Some(b) = &basic {
                req = req.header(header::AUTHORIZATION, b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| transport(&format!("token for {}", self.image), &e))?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                return Err(failure(&format!("token for {}", self.image), status, &body));
            }
            let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
                PortError::permanent(format!("token for {}: unreadable: {e}", self.image))
            })?;
            let token = v
                .get("token")
                .or_else(|| v.get("access_token"))
                .and_then(|t| t.as_str())
                .ok_or_else(|| {
                    PortError::permanent(format!("token for {}: no token given", self.image))
                })?;
            format!("Bearer {token}")
        } else {
            return Err(PortError::permanent(format!(
                "{}: unknown authentication scheme `{scheme}`",
                self.image
            )));
        };
        if let Ok(mut a) = self.auth.lock() {
            *a = Some(header);
        }
        Ok(())
    }

    /// Sends a request built by `make` (replayable: no streamed body) with the authorization
    /// earned so far; answers one challenge; retries transient failures a few times.
    async fn send(
        &self,
        what: &str,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PortError> {
        let mut challenged = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let auth = self.auth.lock().ok().and_then(|a| a.clone());
            let mut req = make(&self.client);
            if let Some(a) = &auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if attempt < BLOB_ATTEMPTS => {
                    tracing::debug!(%e, what, "registry call failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    continue;
                }
                Err(e) => return Err(transport(what, &e)),
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let c = resp
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("Basic")
                    .to_owned();
                self.authorize(&c).await?;
                continue;
            }
            if classify_status(status.as_u16()) == Retry::Transient
                && !status.is_success()
                && attempt < BLOB_ATTEMPTS
            {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                continue;
            }
            return Ok(resp);
        }
    }

    async fn manifest(&self, reference: &str) -> Result<Option<Manifest>, PortError> {
        let what = format!("manifest {}:{reference}", self.image);
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self
            .send(&what, |c| c.get(&url).header(header::ACCEPT, ACCEPT))
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(failure(&what, status, &body));
        }
        if resp
            .content_length()
            .is_some_and(|l| l > MAX_MANIFEST as u64)
        {
            return Err(PortError::permanent(format!(
                "{what}: larger than {MAX_MANIFEST} bytes"
            )));
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        // Read with a bound: a registry that sends no length cannot make this hold more.
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport(&what, &e))?;
            if body.len() + chunk.len() > MAX_MANIFEST {
                return Err(PortError::permanent(format!(
                    "{what}: larger than {MAX_MANIFEST} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let bytes = bytes::Bytes::from(body);
        if reference.starts_with("sha256:") && sha256(&bytes) != reference {
            return Err(PortError::permanent(format!(
                "{what}: the registry answered a manifest whose digest is {}",
                sha256(&bytes)
            )));
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or(content_type);
        Ok(Some(Manifest { media_type, bytes }))
    }

    async fn has(&self, kind: &str, digest: &str) -> Result<bool, PortError> {
        let what = format!("{kind} {}@{digest}", self.image);
        let url = self.url(&format!("{kind}/{digest}"));
        let resp = self
            .send(&what, |c| c.head(&url).header(header::ACCEPT, ACCEPT))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(failure(&what, s, "")),
        }
    }

    /// A `Location` the registry gave, made absolute, refused (credentials follow it) unless
    /// [`Repo::trusted`].
    fn absolute(&self, location: &str, what: &str) -> Result<String, PortError> {
        let url = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base)
        };
        self.trusted(&url, what)?;
        Ok(url)
    }

    /// Whether credentials may go to `url`, a place the registry named (a token `realm`, an
    /// upload `Location`): over https (http only where the registry itself is a loopback one),
    /// and on the registry's host or a host of its parent domain (`auth.docker.io` for
    /// `registry-1.docker.io`; ECR, Artifact Registry and GHCR answer on their own host).
    /// Anything else would hand a login to whoever the answer names.
    fn trusted(&self, url: &str, what: &str) -> Result<(), PortError> {
        let refuse = |why: &str| {
            PortError::permanent(format!(
                "{what}: the registry of {} named {why}: credentials are not sent there",
                self.image
            ))
        };
        let parsed =
            reqwest::Url::parse(url).map_err(|_| refuse("an address that does not parse"))?;
        let own = reqwest::Url::parse(&self.base).map_err(|_| refuse("no base"))?;
        let (Some(host), Some(own_host)) = (parsed.host_str(), own.host_str()) else {
            return Err(refuse("an address without a host"));
        };
        let plain_ok = own.scheme() == "http" && host == own_host;
        if parsed.scheme() != "https" && !plain_ok {
            return Err(refuse(&format!("a {} address", parsed.scheme())));
        }
        let parent = own_host
            .split_once('.')
            .map(|(_, p)| p)
            .filter(|p| p.contains('.'));
        let sibling = parent.is_some_and(|p| host.ends_with(&format!(".{p}")) || host == p);
        if host == own_host || sibling {
            Ok(())
        } else {
            Err(refuse(&format!("another host ({host})")))
        }
    }

    async fn put_manifest(&self, reference: &str, m: &Manifest) -> Result<String, PortError> {
        let what = format!("manifest upload {}:{reference}", self.image);
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self
            .send(&what, |c| {
                c.put(&url)
                    .header(header::CONTENT_TYPE, &m.media_type)
                    .body(m.bytes.clone())
            })
            .await?;
        let status = resp.status();
        let digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(failure(&what, status, &body));
        }
        Ok(digest.unwrap_or_else(|| sha256(&m.bytes)))
    }
}

/// Copies one blob from `src` to `dst`, streamed; the bytes sent.
async fn copy_blob(src: &Repo, dst: &Repo, digest: &str) -> Result<u64, PortError> {
    let what = format!("blob {digest} from {} to {}", src.image, dst.image);
    // The upload session first: it earns the push authorization before the stream starts
    // (a streamed body cannot be sent twice).
    let start = dst.url("blobs/uploads/");
    let resp = dst.send(&what, |c| c.post(&start)).await?;
    if resp.status() != StatusCode::ACCEPTED {
        let s = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(failure(&what, s, &body));
    }
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| PortError::permanent(format!("{what}: no upload location given")))
        .and_then(|l| dst.absolute(l, &what))?;
    let get = src.url(&format!("blobs/{digest}"));
    let resp = src.send(&what, |c| c.get(&get)).await?;
    if !resp.status().is_success() {
        let s = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(failure(&what, s, &body));
    }
    let length = resp.content_length();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let stream = resp.bytes_stream().inspect_ok(move |chunk| {
        counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
    });
    let mut patch = dst
        .client
        .patch(&location)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream));
    if let Some(n) = length {
        patch = patch
            .header(header::CONTENT_LENGTH, n)
            .header(header::CONTENT_RANGE, format!("0-{}", n.saturating_sub(1)));
    }
    if let Some(a) = dst.auth.lock().ok().and_then(|a| a.clone()) {
        patch = patch.header(header::AUTHORIZATION, a);
    }
    let resp = patch.send().await.map_err(|e| transport(&what, &e))?;
    if !resp.status().is_success() {
        let s = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(failure(&what, s, &body));
    }
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map_or(Ok(location.clone()), |l| dst.absolute(l, &what))?;
    let sep = if location.contains('?') { '&' } else { '?' };
    let done = format!("{location}{sep}digest={digest}");
    let resp = dst
        .send(&what, |c| c.put(&done).header(header::CONTENT_LENGTH, 0))
        .await?;
    if resp.status() != StatusCode::CREATED {
        let s = resp.status();
        let body = resp.text().await.unwrap_or_default();
        // The target computed another digest: the source gave other bytes than it named.
        return Err(failure(&what, s, &body));
    }
    Ok(sent.load(std::sync::atomic::Ordering::Relaxed))
}

/// The digests an image manifest references (config and layers), and an index's manifests.
fn references(m: &Manifest) -> Result<(Vec<String>, Vec<String>), PortError> {
    let v: serde_json::Value = serde_json::from_slice(&m.bytes)
        .map_err(|e| PortError::permanent(format!("unreadable manifest: {e}")))?;
    let digests = |key: &str| -> Vec<String> {
        v.get(key)
            .and_then(|l| l.as_array())
            .map(|l| {
                l.iter()
                    // Foreign layers (with `urls`) live elsewhere and are not copied.
                    .filter(|d| d.get("urls").is_none())
                    .filter_map(|d| d.get("digest").and_then(|x| x.as_str()).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let children = digests("manifests");
    let mut blobs: Vec<String> = v
        .get("config")
        .and_then(|c| c.get("digest"))
        .and_then(|d| d.as_str())
        .map(str::to_owned)
        .into_iter()
        .collect();
    blobs.extend(digests("layers"));
    let valid = |d: &String| twincloud_core::planner::deploy::is_digest(d);
    if let Some(bad) = children.iter().chain(blobs.iter()).find(|d| !valid(d)) {
        return Err(PortError::permanent(format!(
            "the manifest references `{bad}`, not a sha256 digest"
        )));
    }
    Ok((children, blobs))
}

/// Copies the manifest `digest` (and an index's platforms) from `src` to `dst`.
fn copy_manifest<'a>(
    src: &'a Repo,
    dst: &'a Repo,
    digest: &'a str,
    depth: u8,
    report: &'a Mutex<MirrorReport>,
) -> futures_util::future::BoxFuture<'a, Result<Manifest, PortError>> {
    Box::pin(async move {
        let m = src.manifest(digest).await?.ok_or_else(|| {
            PortError::permanent(format!("{}@{digest} does not exist", src.image))
        })?;
        if dst.has("manifests", digest).await? {
            return Ok(m);
        }
        let (children, blobs) = references(&m)?;
        if depth > 1 && !children.is_empty() {
            return Err(PortError::permanent(format!(
                "{}@{digest}: an index inside an index inside an index",
                src.image
            )));
        }
        for c in &children {
            copy_manifest(src, dst, c, depth + 1, report).await?;
        }
        let results: Vec<Result<Option<u64>, PortError>> = futures_util::stream::iter(blobs)
            .map(|b| async move {
                if dst.has("blobs", &b).await? {
                    return Ok(None);
                }
                let mut last = None;
                for attempt in 1..=BLOB_ATTEMPTS {
                    match copy_blob(src, dst, &b).await {
                        Ok(n) => return Ok(Some(n)),
                        Err(e) if e.retry == Retry::Transient && attempt < BLOB_ATTEMPTS => {
                            last = Some(e);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(last.unwrap_or_else(|| PortError::transient("blob copy failed")))
            })
            .buffer_unordered(PARALLEL_BLOBS)
            .collect()
            .await;
        for r in results {
            let copied = r?;
            if let Ok(mut rep) = report.lock() {
                match copied {
                    Some(n) => {
                        rep.blobs_copied += 1;
                        rep.bytes_sent += n;
                    }
                    None => rep.blobs_present += 1,
                }
            }
        }
        let got = dst.put_manifest(digest, &m).await?;
        if got != digest {
            return Err(PortError::permanent(format!(
                "{}: the copy of {digest} has digest {got}",
                dst.image
            )));
        }
        if let Ok(mut rep) = report.lock() {
            rep.manifests += 1;
            rep.bytes_sent += m.bytes.len() as u64;
        }
        Ok(m)
    })
}

impl OciRegistries {
    async fn mirror_tagged(
        &self,
        from: &str,
        to: &str,
        digest: &str,
        tag: Option<&str>,
    ) -> Result<MirrorReport, PortError> {
        if !twincloud_core::planner::deploy::is_digest(digest) {
            return Err(PortError::permanent(format!(
                "`{digest}` is not a sha256 digest"
            )));
        }
        let src = self.repo(from, false)?;
        let dst = self.repo(to, true)?;
        let report = Mutex::new(MirrorReport::default());
        let top = copy_manifest(&src, &dst, digest, 0, &report).await?;
        if let Some(t) = tag {
            let got = dst.put_manifest(t, &top).await?;
            if got != digest {
                return Err(PortError::permanent(format!(
                    "{to}:{t} has digest {got}, not {digest}"
                )));
            }
        }
        Ok(report.into_inner().unwrap_or_default())
    }
}

#[async_trait]
impl ImageRegistries for OciRegistries {
    async fn resolve(&self, image: &str, tag: &str) -> Result<Option<String>, PortError> {
        let repo = self.repo(image, false)?;
        let what = format!("tag {image}:{tag}");
        let url = repo.url(&format!("manifests/{tag}"));
        let resp = repo
            .send(&what, |c| c.head(&url).header(header::ACCEPT, ACCEPT))
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                if let Some(d) = resp
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .filter(|d| twincloud_core::planner::deploy::is_digest(d))
                {
                    return Ok(Some(d.to_owned()));
                }
                // No digest header: read the manifest and digest its bytes.
                Ok(repo.manifest(tag).await?.map(|m| sha256(&m.bytes)))
            }
            s => Err(failure(&what, s, "")),
        }
    }

    async fn mirror(
        &self,
        from: &str,
        to: &str,
        digest: &str,
        tag: Option<&str>,
    ) -> Result<MirrorReport, PortError> {
        self.mirror_tagged(from, to, digest, tag).await
    }
}

/// A fixed user and password (a secret from the configuration).
#[derive(Debug, Clone)]
pub struct StaticLogin {
    user: String,
    password: twincloud_core::secret::Secret,
}

impl StaticLogin {
    /// From `user:password`.
    pub fn from_pair(pair: &twincloud_core::secret::Secret) -> Result<Self, PortError> {
        let (u, p) = pair.expose().split_once(':').ok_or_else(|| {
            PortError::permanent("a registry login secret must be `user:password`")
        })?;
        Ok(StaticLogin {
            user: u.to_owned(),
            password: twincloud_core::secret::Secret::new(p),
        })
    }
}

#[async_trait]
impl RegistryLogin for StaticLogin {
    async fn login(&self) -> Result<Option<(String, twincloud_core::secret::Secret)>, PortError> {
        Ok(Some((self.user.clone(), self.password.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_the_registry_or_its_token_service_over_https() {
        let regs = OciRegistries::new().unwrap();
        let hub = regs
            .repo("registry-1.docker.io/library/app", false)
            .unwrap();
        assert!(hub.trusted("https://auth.docker.io/token", "t").is_ok());
        assert!(
            hub.trusted("https://registry-1.docker.io/v2/x", "t")
                .is_ok()
        );
        let e = hub.trusted("http://auth.docker.io/token", "t").unwrap_err();
        assert!(e.message.contains("a http address"), "{e}");
        let e = hub.trusted("https://evil.example/token", "t").unwrap_err();
        assert!(e.message.contains("another host (evil.example)"), "{e}");
        let ghcr = regs.repo("ghcr.io/acme/app", false).unwrap();
        assert!(ghcr.trusted("https://ghcr.io/token", "t").is_ok());
        assert!(ghcr.trusted("https://io.example/token", "t").is_err());
        // A loopback registry (tests, a local mirror) answers over http on its own host only.
        let local = regs.repo("127.0.0.1:5000/app", true).unwrap();
        assert!(local.absolute("/v2/app/blobs/uploads/1", "u").is_ok());
        assert!(
            local
                .absolute("http://127.0.0.1:5000/v2/app/blobs/uploads/1", "u")
                .is_ok()
        );
        assert!(local.absolute("http://10.0.0.9/upload", "u").is_err());
    }

    #[test]
    fn challenges_are_read() {
        let p = challenge_params(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:a/b:pull");
    }

    #[test]
    fn digests_are_sha256_of_the_bytes() {
        assert_eq!(
            sha256(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
