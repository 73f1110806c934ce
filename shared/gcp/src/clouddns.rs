//! [`Traffic`] on a Cloud DNS CNAME record: one change (deletion of the old record set and
//! addition of the new one), then wait until the change is `done`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use twincloud_core::ports::{PortError, Traffic};

use crate::context::GcpContext;

/// CNAME records of one managed zone.
#[derive(Debug, Clone)]
pub struct CloudDnsTraffic {
    ctx: GcpContext,
    project: String,
    zone: String,
    ttl: u32,
    done_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RecordSet {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    ttl: u32,
    rrdatas: Vec<String>,
}

#[derive(Deserialize)]
struct RecordSets {
    #[serde(default)]
    rrsets: Vec<RecordSet>,
}

#[derive(Deserialize)]
struct ChangeStatus {
    id: String,
    status: String,
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

impl CloudDnsTraffic {
    /// Records of `zone` in `project`, written with `ttl` seconds.
    pub fn new(ctx: &GcpContext, project: &str, zone: &str, ttl: u32) -> Self {
        CloudDnsTraffic {
            ctx: ctx.clone(),
            project: project.into(),
            zone: zone.into(),
            ttl,
            done_timeout: Duration::from_secs(60),
        }
    }

    fn base(&self) -> String {
        format!(
            "{}/dns/v1/projects/{}/managedZones/{}",
            self.ctx.dns_base(),
            self.project,
            self.zone
        )
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<T, PortError> {
        let token = self.ctx.token().await?;
        twincloud_http::send_json(self.ctx.retry(), &format!("Cloud DNS {what}"), || {
            let r = self
                .ctx
                .authorized(self.ctx.request(method.clone(), url), token.as_deref());
            match body {
                Some(b) => r.json(b),
                None => r,
            }
        })
        .await
    }

    async fn record_set(&self, record: &str) -> Result<Option<RecordSet>, PortError> {
        let url = format!("{}/rrsets?name={}&type=CNAME", self.base(), fqdn(record));
        let sets: RecordSets = self
            .call(
                reqwest::Method::GET,
                &url,
                None,
                &format!("list of `{record}`"),
            )
            .await?;
        Ok(sets
            .rrsets
            .into_iter()
            .find(|r| fqdn(&r.name) == fqdn(record) && r.ty == "CNAME"))
    }
}

#[async_trait]
impl Traffic for CloudDnsTraffic {
    async fn current_target(&self, record: &str) -> Result<Option<String>, PortError> {
        Ok(self
            .record_set(record)
            .await?
            .and_then(|r| r.rrdatas.into_iter().next()))
    }

    async fn record(
        &self,
        record: &str,
    ) -> Result<Option<twincloud_core::ports::DnsRecord>, PortError> {
        Ok(self.record_set(record).await?.and_then(|r| {
            let ttl = r.ttl;
            r.rrdatas
                .into_iter()
                .next()
                .map(|target| twincloud_core::ports::DnsRecord {
                    target,
                    ttl: Some(ttl),
                })
        }))
    }

    async fn switch(&self, record: &str, target: &str) -> Result<(), PortError> {
        let existing = self.record_set(record).await?;
        let wanted = RecordSet {
            name: fqdn(record),
            ty: "CNAME".into(),
            ttl: self.ttl,
            rrdatas: vec![fqdn(target)],
        };
        if existing
            .as_ref()
            .is_some_and(|e| e.rrdatas == wanted.rrdatas)
        {
            return Ok(());
        }
        // Deleting the exact old record set in the same change makes it atomic, and makes a
        // concurrent writer's change fail instead of being overwritten.
        let mut change = serde_json::json!({"additions": [wanted]});
        if let Some(old) = existing {
            change["deletions"] = serde_json::json!([old]);
        }
        let url = format!("{}/changes", self.base());
        let mut status: ChangeStatus = self
            .call(
                reqwest::Method::POST,
                &url,
                Some(&change),
                &format!("change of `{record}`"),
            )
            .await?;
        let start = Instant::now();
        while status.status != "done" {
            if start.elapsed() > self.done_timeout {
                return Err(PortError::transient(format!(
                    "Cloud DNS change {} for `{record}` not done after {}s",
                    status.id,
                    self.done_timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let url = format!("{}/changes/{}", self.base(), status.id);
            status = self
                .call(
                    reqwest::Method::GET,
                    &url,
                    None,
                    &format!("change {}", status.id),
                )
                .await?;
        }
        Ok(())
    }
}
