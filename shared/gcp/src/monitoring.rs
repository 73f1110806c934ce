//! Cloud Run service load from Cloud Monitoring: `projects.timeSeries.list` of the container CPU
//! and memory utilisation distributions (their median per minute, averaged over the service's
//! revisions and the last five minutes), and the request rate over the instance count; and a
//! new revision's health during a rollout: its 5xx share and its p95 latency. On GKE, where a
//! Deployment has no request metrics of its own, a rollout's health is that of the load
//! balancer's backend service in front of it.

use async_trait::async_trait;
use serde::Deserialize;
use twincloud_core::config::Metric;
use twincloud_core::ports::{Metrics, PortError, RevisionHealth, RevisionMetrics};

use crate::context::GcpContext;

/// How far back a reading looks.
const WINDOW_SECS: i64 = 300;

/// The Cloud Monitoring metrics of Cloud Run services of one project and region, or of the
/// Deployments of one namespace of a GKE cluster (container CPU and memory against their
/// requests; GKE has no per-Deployment request count).
#[derive(Debug, Clone)]
pub struct CloudMonitoringRunMetrics {
    ctx: GcpContext,
    project: String,
    scope: Scope,
}

#[derive(Debug, Clone)]
enum Scope {
    Run {
        region: String,
    },
    Gke {
        cluster: String,
        location: String,
        namespace: String,
    },
    /// An external Application Load Balancer's backend service.
    Backend {
        name: String,
    },
}

/// GKE containers' CPU and memory use over their requests (fractions).
const GKE_CPU: &str = "kubernetes.io/container/cpu/request_utilization";
const GKE_MEMORY: &str = "kubernetes.io/container/memory/request_utilization";

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
    /// Counts come as decimal strings.
    #[serde(default)]
    int64_value: Option<String>,
}

const CPU: &str = "run.googleapis.com/container/cpu/utilizations";
const MEMORY: &str = "run.googleapis.com/container/memory/utilizations";
const REQUESTS: &str = "run.googleapis.com/request_count";
const INSTANCES: &str = "run.googleapis.com/container/instance_count";
const LATENCIES: &str = "run.googleapis.com/request_latencies";
/// Requests the load balancer sent to a backend service, by response code class.
const LB_REQUESTS: &str = "loadbalancing.googleapis.com/https/backend_request_count";
/// The backend's answer time as the load balancer saw it (milliseconds).
const LB_LATENCIES: &str = "loadbalancing.googleapis.com/https/backend_latencies";
/// Fewer requests than this in the window say nothing about an error rate.
const MIN_REQUESTS: f64 = 20.0;

impl CloudMonitoringRunMetrics {
    /// Metrics of the Cloud Run services of `project` / `region`.
    pub fn new(ctx: &GcpContext, project: &str, region: &str) -> Self {
        CloudMonitoringRunMetrics {
            ctx: ctx.clone(),
            project: project.into(),
            scope: Scope::Run {
                region: region.into(),
            },
        }
    }

    /// Metrics of the Deployments of `namespace` on GKE cluster `cluster` (`location`).
    pub fn gke(
        ctx: &GcpContext,
        project: &str,
        location: &str,
        cluster: &str,
        namespace: &str,
    ) -> Self {
        CloudMonitoringRunMetrics {
            ctx: ctx.clone(),
            project: project.into(),
            scope: Scope::Gke {
                cluster: cluster.into(),
                location: location.into(),
                namespace: namespace.into(),
            },
        }
    }

    /// The health of what load balancer backend service `backend` (of `project`) serves: its
    /// 5xx share and p95 latency, for rollouts on GKE. The service and revision asked about
    /// are the ones behind it, so readings are not filtered further.
    pub fn load_balancer(ctx: &GcpContext, project: &str, backend: &str) -> Self {
        CloudMonitoringRunMetrics {
            ctx: ctx.clone(),
            project: project.into(),
            scope: Scope::Backend {
                name: backend.into(),
            },
        }
    }

    /// The resource terms of a filter for `service`.
    fn resource(&self, service: &str) -> String {
        match &self.scope {
            Scope::Run { region } => format!(
                "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"{service}\" AND resource.labels.location = \"{region}\""
            ),
            Scope::Gke {
                cluster,
                location,
                namespace,
            } => format!(
                "resource.type = \"k8s_container\" AND resource.labels.cluster_name = \"{cluster}\" AND resource.labels.location = \"{location}\" AND resource.labels.namespace_name = \"{namespace}\" AND metadata.system_labels.top_level_controller_type = \"Deployment\" AND metadata.system_labels.top_level_controller_name = \"{service}\""
            ),
            Scope::Backend { name } => format!(
                "resource.type = \"https_lb_rule\" AND resource.labels.backend_target_name = \"{name}\""
            ),
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
        let values = self
            .points(service, metric_type, "", aligner, reducer, WINDOW_SECS)
            .await?;
        if values.is_empty() {
            return Ok(None);
        }
        let count = u32::try_from(values.len()).unwrap_or(u32::MAX);
        Ok(Some(values.iter().sum::<f64>() / f64::from(count)))
    }

    /// Every point over the last `window` seconds of `metric_type` (with `extra` filter terms).
    async fn points(
        &self,
        service: &str,
        metric_type: &str,
        extra: &str,
        aligner: &str,
        reducer: &str,
        window: i64,
    ) -> Result<Vec<f64>, PortError> {
        let token = self.ctx.token().await?;
        let url = format!(
            "{}/v3/projects/{}/timeSeries",
            self.ctx.monitoring_base(),
            self.project
        );
        let end = chrono::Utc::now();
        let start = end - chrono::Duration::seconds(window);
        let filter = format!(
            "metric.type = \"{metric_type}\" AND {}{extra}",
            self.resource(service)
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
        Ok(body
            .time_series
            .iter()
            .flat_map(|t| t.points.iter())
            .filter_map(|p| {
                p.value
                    .double_value
                    .or_else(|| p.value.int64_value.as_deref().and_then(|i| i.parse().ok()))
            })
            .filter(|v: &f64| v.is_finite())
            .collect())
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
        if matches!(self.scope, Scope::Backend { .. }) {
            return Ok(out);
        }
        let gke = matches!(self.scope, Scope::Gke { .. });
        for m in metrics {
            let v = match (m, gke) {
                (Metric::Cpu, false) => self.utilisation(service, CPU).await?,
                (Metric::Memory, false) => self.utilisation(service, MEMORY).await?,
                (Metric::RequestsPerInstance, false) => self.requests_per_instance(service).await?,
                // A gauge per container: the mean across the Deployment's containers.
                (Metric::Cpu, true) => self
                    .one(service, GKE_CPU, "ALIGN_MEAN", "REDUCE_MEAN")
                    .await?
                    .map(|v| v * 100.0),
                (Metric::Memory, true) => self
                    .one(service, GKE_MEMORY, "ALIGN_MEAN", "REDUCE_MEAN")
                    .await?
                    .map(|v| v * 100.0),
                (Metric::RequestsPerInstance, true) => None,
            };
            if let Some(v) = v {
                out.push((*m, v));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl RevisionMetrics for CloudMonitoringRunMetrics {
    async fn revision_health(
        &self,
        service: &str,
        revision: &str,
        window_secs: u64,
    ) -> Result<RevisionHealth, PortError> {
        let window = i64::try_from(window_secs.clamp(60, 3600)).unwrap_or(3600);
        let (requests_metric, latencies_metric, rev, five_xx) = match &self.scope {
            // A rolling update replaces every pod: once it is ready, all of the backend's
            // traffic is the new version's.
            Scope::Backend { .. } => (
                LB_REQUESTS,
                LB_LATENCIES,
                String::new(),
                "metric.labels.response_code_class = 500",
            ),
            _ => (
                REQUESTS,
                LATENCIES,
                format!(" AND resource.labels.revision_name = \"{revision}\""),
                "metric.labels.response_code_class = \"5xx\"",
            ),
        };
        let sum = |v: Vec<f64>| v.iter().sum::<f64>();
        let requests = sum(self
            .points(
                service,
                requests_metric,
                &rev,
                "ALIGN_DELTA",
                "REDUCE_SUM",
                window,
            )
            .await?);
        let errors_filter = format!("{rev} AND {five_xx}");
        let errors = sum(self
            .points(
                service,
                requests_metric,
                &errors_filter,
                "ALIGN_DELTA",
                "REDUCE_SUM",
                window,
            )
            .await?);
        let p95 = self
            .points(
                service,
                latencies_metric,
                &rev,
                "ALIGN_PERCENTILE_95",
                "REDUCE_MAX",
                window,
            )
            .await?
            .into_iter()
            .reduce(f64::max);
        Ok(RevisionHealth {
            requests,
            error_rate: (requests >= MIN_REQUESTS).then(|| errors / requests),
            p95_ms: p95,
        })
    }
}
