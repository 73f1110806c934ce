//! [`Traffic`] on a Route 53 CNAME record: UPSERT, then wait until the change is INSYNC.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use twincloud_core::ports::{PortError, Traffic};

use crate::context::AwsContext;
use crate::error::classify;

/// CNAME records of one hosted zone.
#[derive(Debug, Clone)]
pub struct Route53Traffic {
    client: aws_sdk_route53::Client,
    zone_id: String,
    ttl: i64,
    insync_timeout: Duration,
}

impl Route53Traffic {
    /// Records of hosted zone `zone_id`, written with `ttl` seconds.
    pub fn new(ctx: &AwsContext, zone_id: &str, ttl: i64) -> Self {
        Route53Traffic {
            client: ctx.route53(),
            zone_id: zone_id.trim_start_matches("/hostedzone/").into(),
            ttl,
            insync_timeout: Duration::from_secs(60),
        }
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

#[async_trait]
impl Traffic for Route53Traffic {
    async fn current_target(&self, record: &str) -> Result<Option<String>, PortError> {
        Ok(self.record(record).await?.map(|r| r.target))
    }

    async fn record(
        &self,
        record: &str,
    ) -> Result<Option<twincloud_core::ports::DnsRecord>, PortError> {
        let name = fqdn(record);
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .start_record_name(&name)
            .start_record_type(RrType::Cname)
            .max_items(1)
            .send()
            .await
            .map_err(|e| classify(&format!("Route 53 list records of `{}`", self.zone_id), e))?;
        Ok(out
            .resource_record_sets()
            .iter()
            .find(|r| fqdn(r.name()) == name && *r.r#type() == RrType::Cname)
            .and_then(|r| {
                r.resource_records()
                    .first()
                    .map(|v| twincloud_core::ports::DnsRecord {
                        target: v.value().to_owned(),
                        ttl: r.ttl().and_then(|t| u32::try_from(t).ok()),
                    })
            }))
    }

    async fn switch(&self, record: &str, target: &str) -> Result<(), PortError> {
        if self.current_target(record).await?.as_deref() == Some(target) {
            return Ok(());
        }
        let build = |what: &str, e: aws_sdk_route53::error::BuildError| {
            PortError::permanent(format!("building {what}: {e}"))
        };
        let set = ResourceRecordSet::builder()
            .name(fqdn(record))
            .r#type(RrType::Cname)
            .ttl(self.ttl)
            .resource_records(
                ResourceRecord::builder()
                    .value(target)
                    .build()
                    .map_err(|e| build("record", e))?,
            )
            .build()
            .map_err(|e| build("record set", e))?;
        let batch = ChangeBatch::builder()
            .comment("twincloud failover")
            .changes(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set)
                    .build()
                    .map_err(|e| build("change", e))?,
            )
            .build()
            .map_err(|e| build("change batch", e))?;
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| classify(&format!("Route 53 UPSERT of `{record}`"), e))?;
        let Some(info) = out.change_info() else {
            return Ok(());
        };
        let (id, mut status) = (info.id().to_owned(), info.status().clone());
        let start = Instant::now();
        while status != ChangeStatus::Insync {
            if start.elapsed() > self.insync_timeout {
                return Err(PortError::transient(format!(
                    "Route 53 change {id} for `{record}` not INSYNC after {}s",
                    self.insync_timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let out = self
                .client
                .get_change()
                .id(&id)
                .send()
                .await
                .map_err(|e| classify(&format!("Route 53 change {id}"), e))?;
            status = out
                .change_info()
                .map(|c| c.status().clone())
                .unwrap_or(ChangeStatus::Insync);
        }
        Ok(())
    }
}
