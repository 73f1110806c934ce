//! [`Traffic`] on a Cloudflare DNS CNAME record (API v4): look the record up by name, then
//! create it or change its content. Names and targets are compared in FQDN form.

use async_trait::async_trait;
use serde::Deserialize;
use twincloud_core::ports::{PortError, Traffic};
use twincloud_core::secret::Secret;

use crate::retry::HttpRetry;

/// CNAME records of one Cloudflare zone.
#[derive(Debug, Clone)]
pub struct CloudflareTraffic {
    client: reqwest::Client,
    base: String,
    zone_id: String,
    token: Secret,
    ttl: u32,
    retry: HttpRetry,
}

#[derive(Deserialize)]
struct Envelope<T> {
    success: bool,
    #[serde(default)]
    errors: Vec<ApiError>,
    result: Option<T>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    content: String,
    /// Seconds; 1 is Cloudflare's "automatic" (300 s).
    #[serde(default)]
    ttl: Option<u32>,
}

fn bare(name: &str) -> &str {
    name.trim_end_matches('.')
}

fn fqdn(name: &str) -> String {
    format!("{}.", bare(name))
}

impl CloudflareTraffic {
    /// Records of `zone_id`, through the API at `base` (`https://api.cloudflare.com/client/v4`),
    /// with an API token allowed to edit DNS of the zone.
    pub fn new(
        client: reqwest::Client,
        base: &str,
        zone_id: &str,
        token: Secret,
        ttl: u32,
        retry: HttpRetry,
    ) -> Self {
        CloudflareTraffic {
            client,
            base: base.trim_end_matches('/').into(),
            zone_id: zone_id.into(),
            token,
            ttl,
            retry,
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<T, PortError> {
        let env: Envelope<T> =
            crate::retry::send_json(&self.retry, &format!("Cloudflare {what}"), || {
                let r = self
                    .client
                    .request(method.clone(), url)
                    .bearer_auth(self.token.expose());
                match body {
                    Some(b) => r.json(b),
                    None => r,
                }
            })
            .await?;
        match (env.success, env.result) {
            (true, Some(r)) => Ok(r),
            _ => Err(PortError::permanent(format!(
                "Cloudflare {what}: {}",
                env.errors
                    .iter()
                    .map(|e| format!("{} {}", e.code, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))),
        }
    }

    async fn find(&self, record: &str) -> Result<Option<Record>, PortError> {
        let url = format!(
            "{}/zones/{}/dns_records?type=CNAME&name={}",
            self.base,
            self.zone_id,
            bare(record)
        );
        let list: Vec<Record> = self
            .call(
                reqwest::Method::GET,
                &url,
                None,
                &format!("lookup of `{record}`"),
            )
            .await?;
        Ok(list.into_iter().next())
    }
}

#[async_trait]
impl Traffic for CloudflareTraffic {
    async fn current_target(&self, record: &str) -> Result<Option<String>, PortError> {
        Ok(self.find(record).await?.map(|r| fqdn(&r.content)))
    }

    async fn record(
        &self,
        record: &str,
    ) -> Result<Option<twincloud_core::ports::DnsRecord>, PortError> {
        Ok(self
            .find(record)
            .await?
            .map(|r| twincloud_core::ports::DnsRecord {
                target: fqdn(&r.content),
                ttl: r.ttl.map(|t| if t == 1 { 300 } else { t }),
            }))
    }

    async fn switch(&self, record: &str, target: &str) -> Result<(), PortError> {
        let body = serde_json::json!({"type": "CNAME", "name": bare(record), "content": bare(target), "ttl": self.ttl, "proxied": false});
        match self.find(record).await? {
            Some(r) if bare(&r.content) == bare(target) => Ok(()),
            Some(r) => {
                let url = format!("{}/zones/{}/dns_records/{}", self.base, self.zone_id, r.id);
                self.call::<serde_json::Value>(
                    reqwest::Method::PATCH,
                    &url,
                    Some(&body),
                    &format!("update of `{record}`"),
                )
                .await
                .map(|_| ())
            }
            None => {
                let url = format!("{}/zones/{}/dns_records", self.base, self.zone_id);
                self.call::<serde_json::Value>(
                    reqwest::Method::POST,
                    &url,
                    Some(&body),
                    &format!("creation of `{record}`"),
                )
                .await
                .map(|_| ())
            }
        }
    }
}
