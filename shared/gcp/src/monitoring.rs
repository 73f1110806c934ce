//! Cloud Run service load from Cloud Monitoring: `projects.timeSeries.list` of the container CPU
//! and memory utilisation distributions, their median per minute, averaged over the service's
//! revisions and the last five minutes.

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

fn metric_type(m: Metric) -> Option<&'static str> {
    match m {
        Metric::Cpu => Some("run.googleapis.com/container/cpu/utilizations"),
        Metric::Memory => Some("run.googleapis.com/container/memory/utilizations"),
        // Requests per instance would divide request_count by instance_count: not read yet.
        Metric::RequestsPerInstance => None,
    }
}

impl CloudMonitoringRunMetrics {
    /// Metrics of the Cloud Run services of `project` / `region`.
    pub fn new(ctx: &GcpContext, project: &str, region: &str) -> Self {
        CloudMonitoringRunMetrics {
            ctx: ctx.clone(),
            project: project.into(),
            region: region.into(),
        }
    }

    async fn one(&self, service: &str, metric_type: &str) -> Result<Option<f64>, PortError> {
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
            (
                "aggregation.perSeriesAligner",
                "ALIGN_PERCENTILE_50".to_owned(),
            ),
            ("aggregation.crossSeriesReducer", "REDUCE_MEAN".to_owned()),
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
        // Utilisations are fractions: as percent, like the targets.
        Ok(Some(
            values.iter().sum::<f64>() / values.len() as f64 * 100.0,
        ))
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
            if let Some(t) = metric_type(*m)
                && let Some(v) = self.one(service, t).await?
            {
                out.push((*m, v));
            }
        }
        Ok(out)
    }
}
