//! Image rollouts on a Deployment: the container's image set by digest (a strategic merge patch
//! of the pod template), the rollout followed through `observedGeneration`, the replica counts
//! and the `Progressing` condition (`ProgressDeadlineExceeded` is a failure), and a rollback
//! that puts the previous ReplicaSet's pod template back, as `kubectl rollout undo` does. A
//! revision is the Deployment's `deployment.kubernetes.io/revision`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use twincloud_core::planner::deploy::Progress;
use twincloud_core::ports::{Deployed, Deployer, PortError};

use crate::access::KubeAccess;
use crate::error::{port_error, read_retrying};

/// The annotation the Deployment controller numbers revisions with.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Where the Deployment controller keeps the earlier numbers of a ReplicaSet put back by a
/// rollback (it takes the next number, its old ones go here, comma-separated).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The pod template annotation naming the rollout that made a revision.
pub const ROLLOUT: &str = "twincloud.dev/rollout";
/// How long `create` waits for the controller to number the new revision.
const CONTROLLER_WAIT: Duration = Duration::from_secs(15);

/// Rollouts of the Deployments of one namespace.
pub struct KubernetesDeployer {
    access: Arc<KubeAccess>,
    namespace: String,
}

impl KubernetesDeployer {
    /// Deployments of `namespace`.
    pub fn new(access: Arc<KubeAccess>, namespace: &str) -> Self {
        KubernetesDeployer {
            access,
            namespace: namespace.into(),
        }
    }

    async fn deployments(&self) -> Result<Api<Deployment>, PortError> {
        Ok(Api::namespaced(
            self.access.client().await?,
            &self.namespace,
        ))
    }

    fn what(&self, name: &str) -> String {
        format!("Deployment {}/{name}", self.namespace)
    }

    async fn get(&self, api: &Api<Deployment>, name: &str) -> Result<Deployment, PortError> {
        read_retrying(&self.what(name), || api.get(name)).await
    }

    /// The Deployment once its controller has seen its latest change.
    async fn observed(&self, api: &Api<Deployment>, name: &str) -> Result<Deployment, PortError> {
        let started = Instant::now();
        loop {
            let d = self.get(api, name).await?;
            let seen = d
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if seen >= d.metadata.generation.unwrap_or(0) {
                return Ok(d);
            }
            if started.elapsed() > CONTROLLER_WAIT {
                return Err(PortError::transient(format!(
                    "{}: the Deployment controller has not taken its latest change yet",
                    self.what(name)
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn revision_of(d: &Deployment) -> String {
    d.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .cloned()
        .unwrap_or_default()
}

/// The name of the container to change: `container`, or the only one.
/// The names of a pod template container's environment variables (values and references to
/// Secrets or ConfigMaps alike), sorted.
fn env_names(d: &Deployment, container: &str) -> Option<Vec<String>> {
    let c = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())?
        .containers
        .iter()
        .find(|c| c.name == container)?;
    let mut names: Vec<String> = c.env.iter().flatten().map(|e| e.name.clone()).collect();
    names.sort();
    Some(names)
}

fn container_name(
    d: &Deployment,
    container: Option<&str>,
    what: &str,
) -> Result<(String, String), PortError> {
    let containers = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let found = match container {
        Some(name) => containers.iter().find(|c| c.name == name),
        None if containers.len() == 1 => containers.first(),
        None => {
            return Err(PortError::permanent(format!(
                "{what} has {} containers: name one with `container`",
                containers.len()
            )));
        }
    };
    found
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .ok_or_else(|| {
            PortError::permanent(format!(
                "{what} has no container `{}`",
                container.unwrap_or_default()
            ))
        })
}

#[async_trait]
impl Deployer for KubernetesDeployer {
    async fn current(&self, service: &str, container: Option<&str>) -> Result<Deployed, PortError> {
        let api = self.deployments().await?;
        let d = self.observed(&api, service).await?;
        let (name, image) = container_name(&d, container, &self.what(service))?;
        Ok(Deployed {
            revision: revision_of(&d),
            image,
            env: env_names(&d, &name),
        })
    }

    async fn create(
        &self,
        service: &str,
        container: Option<&str>,
        _from: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, PortError> {
        let api = self.deployments().await?;
        let d = self.get(&api, service).await?;
        let (name, running) = container_name(&d, container, &self.what(service))?;
        // Asked again after a crash: the template already has the image, its revision is the
        // rollout's.
        if running != image {
            let patch = json!({"spec": {"template": {
                "metadata": {"annotations": {ROLLOUT: tag}},
                "spec": {"containers": [{"name": name, "image": image}]}
            }}});
            api.patch(service, &PatchParams::default(), &Patch::Strategic(patch))
                .await
                .map_err(|e| port_error(&self.what(service), e))?;
        }
        Ok(revision_of(&self.observed(&api, service).await?))
    }

    async fn progress(
        &self,
        service: &str,
        revision: &str,
    ) -> Result<(Progress, Option<String>), PortError> {
        let api = self.deployments().await?;
        let d = self.get(&api, service).await?;
        let now = revision_of(&d);
        if now != revision {
            return Ok((
                Progress::Failed(format!(
                    "{} is at revision {now}, not {revision}: someone else changed it",
                    self.what(service)
                )),
                None,
            ));
        }
        let status = d.status.clone().unwrap_or_default();
        if let Some(c) = status.conditions.iter().flatten().find(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        }) {
            return Ok((
                Progress::Failed(format!(
                    "ProgressDeadlineExceeded: {}",
                    c.message.clone().unwrap_or_default()
                )),
                None,
            ));
        }
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let current = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
        let done = current
            && status.updated_replicas.unwrap_or(0) >= want
            && status.available_replicas.unwrap_or(0) >= want
            && status.replicas.unwrap_or(0) <= want;
        Ok((
            if done {
                Progress::Ready
            } else {
                Progress::InProgress
            },
            None,
        ))
    }

    async fn roll_back(&self, service: &str, previous: &str) -> Result<(), PortError> {
        let api = self.deployments().await?;
        let mut d = self.get(&api, service).await?;
        if revision_of(&d) == previous {
            return Ok(());
        }
        let client = self.access.client().await?;
        let sets: Api<ReplicaSet> = Api::namespaced(client, &self.namespace);
        let selector = d
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone())
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let params = ListParams::default().labels(&selector);
        let owned = read_retrying(&format!("ReplicaSets of {}", self.what(service)), || {
            sets.list(&params)
        })
        .await?;
        // The ReplicaSet that was `previous`: it carries that number, or, once put back by an
        // earlier rollback (whose answer may have been lost), a newer one with `previous` in
        // its revision history.
        let Some(set) = owned.items.into_iter().find(|rs| {
            let notes = rs.metadata.annotations.as_ref();
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid)
                && (notes
                    .and_then(|a| a.get(REVISION))
                    .is_some_and(|r| r == previous)
                    || notes
                        .and_then(|a| a.get(REVISION_HISTORY))
                        .is_some_and(|h| h.split(',').any(|r| r == previous)))
        }) else {
            return Err(PortError::permanent(format!(
                "{}: no ReplicaSet of revision {previous} is left to go back to (revisionHistoryLimit)",
                self.what(service)
            )));
        };
        let set_revision = set
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .cloned()
            .unwrap_or_default();
        if set_revision == revision_of(&d) {
            // Put back already: the Deployment's current revision is that ReplicaSet's.
            return Ok(());
        }
        let Some(mut template) = set.spec.and_then(|s| s.template) else {
            return Err(PortError::permanent(format!(
                "{}: the ReplicaSet of revision {previous} has no pod template",
                self.what(service)
            )));
        };
        // The controller adds this label to its ReplicaSets' templates, never to a Deployment's.
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove("pod-template-hash");
        }
        if let Some(spec) = d.spec.as_mut() {
            spec.template = template;
        }
        // A replace carries the resourceVersion read: a change made meanwhile is not overwritten.
        api.replace(service, &PostParams::default(), &d)
            .await
            .map_err(|e| port_error(&self.what(service), e))?;
        Ok(())
    }
}
