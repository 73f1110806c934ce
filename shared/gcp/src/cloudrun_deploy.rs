//! [`Deployer`] on Cloud Run services (Admin API v2): a new revision with the image by digest
//! at 0 % traffic under a tag (its own URL), traffic moved in steps, and all traffic back on
//! the previous revision on failure. [`GoogleLogin`]: Artifact Registry credentials from the
//! context's Google access token.

use async_trait::async_trait;
use serde_json::{Value, json};
use twincloud_core::planner::deploy::Progress;
use twincloud_core::ports::{Deployed, Deployer, PortError, RegistryLogin};
use twincloud_core::secret::Secret;

use crate::context::GcpContext;

/// The services of one project and region, as deploy targets.
#[derive(Debug, Clone)]
pub struct CloudRunDeployer {
    ctx: GcpContext,
    project: String,
    region: String,
}

fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

impl CloudRunDeployer {
    /// Services in `project` / `region`.
    pub fn new(ctx: &GcpContext, project: &str, region: &str) -> Self {
        CloudRunDeployer {
            ctx: ctx.clone(),
            project: project.into(),
            region: region.into(),
        }
    }

    fn url(&self, service: &str) -> String {
        format!(
            "{}/v2/projects/{}/locations/{}/services/{service}",
            self.ctx.run_base(),
            self.project,
            self.region
        )
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, PortError> {
        let token = self.ctx.token().await?;
        let (resp, _) = self
            .ctx
            .retry()
            .send(|| {
                let req = self
                    .ctx
                    .authorized(self.ctx.request(method.clone(), url), token.as_deref());
                match body {
                    Some(b) => req.json(b),
                    None => req,
                }
            })
            .await
            .map_err(|f| {
                PortError::new(
                    if f.status == Some(404) {
                        format!("{what}: not found in {}/{}", self.project, self.region)
                    } else {
                        format!("{what}: {}", f.message)
                    },
                    f.retry,
                )
            })?;
        resp.json()
            .await
            .map_err(|e| PortError::transient(format!("{what}: unreadable response: {e}")))
    }

    async fn get(&self, service: &str) -> Result<Value, PortError> {
        self.call(
            reqwest::Method::GET,
            &self.url(service),
            None,
            &format!("Cloud Run service `{service}`"),
        )
        .await
    }

    async fn set_traffic(&self, service: &str, traffic: Value) -> Result<(), PortError> {
        let url = format!("{}?updateMask=traffic", self.url(service));
        self.call(
            reqwest::Method::PATCH,
            &url,
            Some(&json!({ "traffic": traffic })),
            &format!("Cloud Run traffic of `{service}`"),
        )
        .await
        .map(|_| ())
    }
}

/// Index of container `name` (or the only one) in a service's template.
fn container_index(svc: &Value, service: &str, name: Option<&str>) -> Result<usize, PortError> {
    let list = svc["template"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match name {
        Some(n) => list
            .iter()
            .position(|c| c["name"].as_str() == Some(n))
            .ok_or_else(|| {
                PortError::permanent(format!(
                    "Cloud Run service `{service}` has no container `{n}`"
                ))
            }),
        None if list.len() == 1 => Ok(0),
        None => Err(PortError::permanent(format!(
            "Cloud Run service `{service}` has {} containers: name the one to deploy (`container`)",
            list.len()
        ))),
    }
}

/// The revision serving all traffic now.
fn serving(svc: &Value) -> Option<String> {
    let statuses = svc["trafficStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let busiest = statuses
        .iter()
        .filter(|t| t["percent"].as_u64().unwrap_or(0) > 0)
        .max_by_key(|t| t["percent"].as_u64().unwrap_or(0));
    match busiest {
        Some(t) if t["type"] == "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION" => {
            t["revision"].as_str().map(|r| last_segment(r).to_owned())
        }
        _ => svc["latestReadyRevision"]
            .as_str()
            .map(|r| last_segment(r).to_owned()),
    }
}

fn revision_target(revision: &str, percent: u8, tag: Option<&str>) -> Value {
    let mut t = json!({
        "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
        "revision": revision,
        "percent": percent,
    });
    if let Some(tag) = tag {
        t["tag"] = json!(tag);
    }
    t
}

/// The names of a container's `env` entries (plain values and secret references alike),
/// sorted; `None` when the container is not in the answer.
fn env_names(c: &serde_json::Value) -> Option<Vec<String>> {
    if c.is_null() {
        return None;
    }
    let mut names: Vec<String> = c["env"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    Some(names)
}

#[async_trait]
impl Deployer for CloudRunDeployer {
    async fn current(&self, service: &str, name: Option<&str>) -> Result<Deployed, PortError> {
        let svc = self.get(service).await?;
        let i = container_index(&svc, service, name)?;
        let revision = serving(&svc).ok_or_else(|| {
            PortError::permanent(format!(
                "Cloud Run service `{service}` has no ready revision"
            ))
        })?;
        // The template is the newest revision's; after a rollback traffic is on an older one,
        // whose own containers say what serves.
        let newest = svc["latestCreatedRevision"].as_str().map(last_segment);
        let (image, env) = if newest.is_none_or(|n| n == revision) {
            let c = &svc["template"]["containers"][i];
            (c["image"].as_str().unwrap_or("").to_owned(), env_names(c))
        } else {
            let url = format!("{}/revisions/{revision}", self.url(service));
            let rev = self
                .call(
                    reqwest::Method::GET,
                    &url,
                    None,
                    &format!("Cloud Run revision `{revision}`"),
                )
                .await?;
            let containers = rev["containers"].as_array().cloned().unwrap_or_default();
            let c = match name {
                Some(n) => containers.iter().find(|c| c["name"].as_str() == Some(n)),
                None => containers.first(),
            };
            let image = c
                .and_then(|c| c["image"].as_str())
                .ok_or_else(|| {
                    PortError::permanent(format!(
                        "Cloud Run revision `{revision}` names no image for the container"
                    ))
                })?
                .to_owned();
            (image, c.and_then(env_names))
        };
        Ok(Deployed {
            revision,
            image,
            env,
        })
    }

    async fn create(
        &self,
        service: &str,
        name: Option<&str>,
        from: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, PortError> {
        let mut svc = self.get(service).await?;
        let i = container_index(&svc, service, name)?;
        let revision = format!("{service}-{tag}");
        if svc["latestCreatedRevision"].as_str().map(last_segment) == Some(revision.as_str()) {
            return Ok(revision);
        }
        svc["template"]["containers"][i]["image"] = json!(image);
        svc["template"]["revision"] = json!(revision);
        // The new revision takes no traffic; the old keeps all of it. The service's etag makes
        // the update conditional: a change made meanwhile fails it instead of being undone.
        svc["traffic"] = json!([
            revision_target(from, 100, None),
            revision_target(&revision, 0, Some(tag)),
        ]);
        for output_only in [
            "trafficStatuses",
            "terminalCondition",
            "conditions",
            "uri",
            "urls",
        ] {
            if let Some(o) = svc.as_object_mut() {
                o.remove(output_only);
            }
        }
        self.call(
            reqwest::Method::PATCH,
            &self.url(service),
            Some(&svc),
            &format!("Cloud Run new revision of `{service}`"),
        )
        .await?;
        Ok(revision)
    }

    async fn progress(
        &self,
        service: &str,
        revision: &str,
    ) -> Result<(Progress, Option<String>), PortError> {
        let svc = self.get(service).await?;
        let created = svc["latestCreatedRevision"].as_str().map(last_segment);
        let ready = svc["latestReadyRevision"].as_str().map(last_segment);
        let url = svc["trafficStatuses"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|t| t["revision"].as_str().map(last_segment) == Some(revision))
            })
            .and_then(|t| t["uri"].as_str())
            .map(str::to_owned);
        let p = if ready == Some(revision) {
            Progress::Ready
        } else if created == Some(revision)
            && svc["terminalCondition"]["state"] == "CONDITION_FAILED"
        {
            Progress::Failed(
                svc["terminalCondition"]["message"]
                    .as_str()
                    .unwrap_or("the revision failed to start")
                    .to_owned(),
            )
        } else if created.is_some_and(|c| c != revision) && ready != Some(revision) {
            Progress::Failed(format!(
                "the newest revision is {} now, not {revision}: someone else deployed",
                created.unwrap_or("?")
            ))
        } else {
            Progress::InProgress
        };
        Ok((p, url))
    }

    async fn split(
        &self,
        service: &str,
        revision: &str,
        previous: &str,
        percent: u8,
    ) -> Result<bool, PortError> {
        let tag = revision.strip_prefix(&format!("{service}-"));
        let mut traffic = vec![revision_target(revision, percent.min(100), tag)];
        if percent < 100 {
            traffic.insert(0, revision_target(previous, 100 - percent, None));
        }
        self.set_traffic(service, Value::Array(traffic)).await?;
        Ok(true)
    }

    async fn roll_back(&self, service: &str, previous: &str) -> Result<(), PortError> {
        self.set_traffic(service, json!([revision_target(previous, 100, None)]))
            .await
    }
}

/// Artifact Registry credentials: `oauth2accesstoken` and the context's access token.
#[derive(Debug, Clone)]
pub struct GoogleLogin {
    ctx: GcpContext,
}

impl GoogleLogin {
    /// With the context's identity.
    pub fn new(ctx: &GcpContext) -> Self {
        GoogleLogin { ctx: ctx.clone() }
    }
}

#[async_trait]
impl RegistryLogin for GoogleLogin {
    async fn login(&self) -> Result<Option<(String, Secret)>, PortError> {
        Ok(self
            .ctx
            .token()
            .await?
            .map(|t| ("oauth2accesstoken".to_owned(), Secret::new(t))))
    }
}
