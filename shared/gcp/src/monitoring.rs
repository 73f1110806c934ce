//! Cloud Run service load from Cloud Monitoring: `projects.timeSeries.list` of the container CPU
//! and memory utilisation distributions (their median per minute, averaged over the service's
//! revisions and the last five minutes), and the request rate over the instance count.

use async_trait::async_trait;
use serde::Deserialize;
use twincloud_core::config::Metric;
use twincloud_core::ports::{Metrics, PortError};

use crate::context::GcpContext;

/// How far back a reading looks.
const WINDOW_SECS: i64 = 300;

/// The Cloud Monitoring metrics of Cloud Run services of one project and region.
#[derive(Debug, Clone)]
pub struct CloudMonitoringRunMetrics {
    ctx: GcpContext,
    project: String,
    region: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    time_series: Vec<TimeSeries>,
}

#[derive(Deserialize)]
struct TimeSeries {
    #[serde(default)]
    points: Vec<Point>,
}

#[derive(Deserialize)]
struct Point {
    value: TypedValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedValue {
    #[serde(default)]
    double_value: Option<f64>,
}

const CPU: &str = "run.googleapis.com/container/cpu/utilizations";
const MEMORY: &str = "run.googleapis.com/container/memory/utilizations";
const REQUESTS: &str = "run.googleapis.com/request_count";
const INSTANCES: &str = "run.googleapis.com/container/instance_count";

impl CloudMonitoringRunMetrics {
    /// Metrics of the Cloud Run services of `project` / `region`.
    pub fn new(ctx: &GcpContext, project: &str, region: &str) -> Self {
        CloudMonitoringRunMetrics {
            ctx: ctx.clone(),
            project: project.into(),
            region: region.into(),
        }
    }

    /// The mean over the window of `metric_type`, aligned per minute with `aligner` and summed
    /// or averaged across revisions with `reducer`.
    async fn one(
        &self,
        service: &str,
        metric_type: &str,
        aligner: &str,
        reducer: &str,
    ) -> Result<Option<f64>, PortError> {
        let token = self.ctx.token().await?;
        let url = format!(
            "{}/v3/projects/{}/timeSeries",
            self.ctx.monitoring_base(),
            self.project
        );
        let end = chrono::Utc::now();
        let start = end - chrono::Duration::seconds(WINDOW_SECS);
        let filter = format!(
            "metric.type = \"{metric_type}\" AND resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"{service}\" AND resource.labels.location = \"{}\"",
            self.region
        );
        let query = [
            ("filter", filter),
            (
                "interval.startTime",
                start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            (
                "interval.endTime",
                end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            ("aggregation.alignmentPeriod", "60s".to_owned()),
            ("aggregation.perSeriesAligner", aligner.to_owned()),
            ("aggregation.crossSeriesReducer", reducer.to_owned()),
            ("view", "FULL".to_owned()),
        ];
        let (resp, _) = self
            .ctx
            .retry()
            .send(|| {
                self.ctx.authorized(
                    self.ctx.request(reqwest::Method::GET, &url).query(&query),
                    token.as_deref(),
                )
            })
            .await
            .map_err(|f| {
                PortError::new(
                    format!(
                        "Cloud Monitoring `{metric_type}` of `{service}`: {}",
                        f.message
                    ),
                    f.retry,
                )
            })?;
        let body: ListResponse = resp.json().await.map_err(|e| {
            PortError::transient(format!("Cloud Monitoring: unreadable response: {e}"))
        })?;
        let values: Vec<f64> = body
            .time_series
            .iter()
            .flat_map(|t| t.points.iter())
            .filter_map(|p| p.value.double_value)
            .filter(|v| v.is_finite())
            .collect();
        if values.is_empty() {
            return Ok(None);
        }
        let count = u32::try_from(values.len()).unwrap_or(u32::MAX);
        Ok(Some(values.iter().sum::<f64>() / f64::from(count)))
    }

    async fn utilisation(
        &self,
        service: &str,
        metric_type: &str,
    ) -> Result<Option<f64>, PortError> {
        // A distribution per minute: its median, averaged across revisions; a fraction, as percent.
        Ok(self
            .one(service, metric_type, "ALIGN_PERCENTILE_50", "REDUCE_MEAN")
            .await?
            .map(|v| v * 100.0))
    }

    /// Requests a minute per instance: the request rate over the instances serving.
    async fn requests_per_instance(&self, service: &str) -> Result<Option<f64>, PortError> {
        let Some(rate) = self
            .one(service, REQUESTS, "ALIGN_RATE", "REDUCE_SUM")
            .await?
        else {
            return Ok(None);
        };
        let instances = self
            .one(service, INSTANCES, "ALIGN_MEAN", "REDUCE_SUM")
            .await?
            .filter(|n| *n > 0.0);
        Ok(instances.map(|n| rate * 60.0 / n))
    }
}

#[async_trait]
impl Metrics for CloudMonitoringRunMetrics {
    async fn readings(
        &self,
        service: &str,
        metrics: &[Metric],
    ) -> Result<Vec<(Metric, f64)>, PortError> {
        let mut out = Vec::new();
        for m in metrics {
            let v = match m {
                Metric::Cpu => self.utilisation(service, CPU).await?,
                Metric::Memory => self.utilisation(service, MEMORY).await?,
                Metric::RequestsPerInstance => self.requests_per_instance(service).await?,
            };
            if let Some(v) = v {
                out.push((*m, v));
            }
        }
        Ok(out)
    }
}
