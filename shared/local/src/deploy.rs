//! [`Deployer`] on simulated services: `sim/releases/<service>.json` holds the revisions, their
//! images and the traffic split, like a Cloud Run service. A revision whose image is listed in
//! `sim/releases/failing.json` fails to start, so a rollback can be shown without a cloud.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use twincloud_core::ids::key_segment;
use twincloud_core::planner::deploy::Progress;
use twincloud_core::ports::{Deployed, Deployer, PortError};

use crate::sim::{existing, locked, permanent, read, write};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ReleaseFile {
    /// Revision name → image.
    revisions: BTreeMap<String, String>,
    /// Revision name → percent of traffic.
    traffic: BTreeMap<String, u8>,
    /// The names of the service's environment variables and secrets (none when unset).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    env: Vec<String>,
}

/// Simulated services that take new images.
#[derive(Debug, Clone)]
pub struct LocalDeployer {
    root: PathBuf,
}

impl LocalDeployer {
    /// Services under `root/sim/releases`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDeployer { root: root.into() }
    }

    fn path(&self, service: &str) -> PathBuf {
        self.root
            .join("sim/releases")
            .join(format!("{}.json", key_segment(service)))
    }

    /// Creates `service` serving `image` from revision `revision`.
    pub async fn create_service(
        &self,
        service: &str,
        revision: &str,
        image: &str,
    ) -> Result<(), PortError> {
        let path = self.path(service);
        let f = ReleaseFile {
            revisions: [(revision.to_owned(), image.to_owned())].into(),
            traffic: [(revision.to_owned(), 100)].into(),
            env: vec![],
        };
        locked(&self.root, move || write(&path, &f)).await
    }

    /// Sets the names of `service`'s environment variables and secrets (what the readiness
    /// audit compares between the sides).
    pub async fn set_env(&self, service: &str, names: &[&str]) -> Result<(), PortError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        self.update(service, move |f| {
            f.env = names;
            Ok(())
        })
        .await
    }

    /// The image serving the most traffic.
    pub async fn serving_image(&self, service: &str) -> Result<String, PortError> {
        self.current(service, None).await.map(|d| d.image)
    }

    async fn update(
        &self,
        service: &str,
        change: impl FnOnce(&mut ReleaseFile) -> Result<(), PortError> + Send + 'static,
    ) -> Result<(), PortError> {
        let path = self.path(service);
        let what = format!("service `{service}`");
        locked(&self.root, move || {
            let mut f: ReleaseFile = existing(&path, &what)?;
            change(&mut f)?;
            write(&path, &f)
        })
        .await
    }
}

#[async_trait]
impl Deployer for LocalDeployer {
    async fn current(
        &self,
        service: &str,
        _container: Option<&str>,
    ) -> Result<Deployed, PortError> {
        let f: ReleaseFile = existing(&self.path(service), &format!("service `{service}`"))?;
        let (revision, _) = f
            .traffic
            .iter()
            .max_by_key(|(_, p)| **p)
            .ok_or_else(|| permanent(format!("service `{service}` serves no revision")))?;
        let mut env = f.env.clone();
        env.sort();
        Ok(Deployed {
            revision: revision.clone(),
            image: f.revisions.get(revision).cloned().unwrap_or_default(),
            env: Some(env),
        })
    }

    async fn create(
        &self,
        service: &str,
        _container: Option<&str>,
        _from: &str,
        image: &str,
        tag: &str,
    ) -> Result<String, PortError> {
        let revision = format!("{service}-{tag}");
        let (r, i) = (revision.clone(), image.to_owned());
        self.update(service, move |f| {
            f.revisions.insert(r.clone(), i);
            f.traffic.entry(r).or_insert(0);
            Ok(())
        })
        .await?;
        Ok(revision)
    }

    async fn progress(
        &self,
        service: &str,
        revision: &str,
    ) -> Result<(Progress, Option<String>), PortError> {
        let f: ReleaseFile = existing(&self.path(service), &format!("service `{service}`"))?;
        let Some(image) = f.revisions.get(revision) else {
            return Ok((
                Progress::Failed(format!("revision {revision} is gone")),
                None,
            ));
        };
        let failing: Vec<String> =
            read(&self.root.join("sim/releases/failing.json"))?.unwrap_or_default();
        if failing.contains(image) {
            return Ok((
                Progress::Failed(format!("{image} exits at start (simulated)")),
                None,
            ));
        }
        Ok((Progress::Ready, None))
    }

    async fn split(
        &self,
        service: &str,
        revision: &str,
        previous: &str,
        percent: u8,
    ) -> Result<bool, PortError> {
        let (r, p) = (revision.to_owned(), previous.to_owned());
        self.update(service, move |f| {
            f.traffic.clear();
            f.traffic.insert(r, percent.min(100));
            if percent < 100 {
                f.traffic.insert(p, 100 - percent);
            }
            Ok(())
        })
        .await?;
        Ok(true)
    }

    async fn roll_back(&self, service: &str, previous: &str) -> Result<(), PortError> {
        let p = previous.to_owned();
        self.update(service, move |f| {
            if !f.revisions.contains_key(&p) {
                return Err(permanent(format!("revision {p} does not exist")));
            }
            f.traffic.clear();
            f.traffic.insert(p, 100);
            Ok(())
        })
        .await
    }
}
