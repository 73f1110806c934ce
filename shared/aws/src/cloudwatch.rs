//! ECS service load from CloudWatch: `GetMetricData` on `AWS/ECS` (CPUUtilization,
//! MemoryUtilization by ClusterName and ServiceName) and, with a target group, the ALB's
//! `RequestCountPerTarget`, averaged over the last five minutes.

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{Dimension, Metric as CwMetric, MetricDataQuery, MetricStat};
use twincloud_core::config::Metric;
use twincloud_core::ports::{Metrics, PortError};

use crate::context::AwsContext;
use crate::error::classify;

/// How far back a reading looks.
const WINDOW: std::time::Duration = std::time::Duration::from_secs(300);
/// The period of its datapoints.
const PERIOD_SECS: i32 = 60;

/// The CloudWatch metrics of the ECS services of one cluster.
#[derive(Debug, Clone)]
pub struct CloudWatchEcsMetrics {
    client: aws_sdk_cloudwatch::Client,
    cluster: String,
    target_group: Option<String>,
}

impl CloudWatchEcsMetrics {
    /// Metrics of `cluster`'s services (a name or an ARN).
    pub fn new(ctx: &AwsContext, cluster: &str) -> Self {
        CloudWatchEcsMetrics {
            client: aws_sdk_cloudwatch::Client::new(ctx.sdk()),
            cluster: cluster.rsplit('/').next().unwrap_or(cluster).to_owned(),
            target_group: None,
        }
    }

    /// With the ALB target group whose `RequestCountPerTarget` is the requests per instance.
    pub fn with_target_group(mut self, target_group: Option<&str>) -> Self {
        self.target_group = target_group.map(str::to_owned);
        self
    }
}

/// Where a metric lives: namespace, name, dimensions, statistic.
struct Source {
    namespace: &'static str,
    name: &'static str,
    dimensions: Vec<(&'static str, String)>,
    stat: &'static str,
}

impl CloudWatchEcsMetrics {
    fn source(&self, m: Metric, service: &str) -> Option<Source> {
        let ecs = |name| Source {
            namespace: "AWS/ECS",
            name,
            dimensions: vec![
                ("ClusterName", self.cluster.clone()),
                ("ServiceName", service.to_owned()),
            ],
            stat: "Average",
        };
        match m {
            Metric::Cpu => Some(ecs("CPUUtilization")),
            Metric::Memory => Some(ecs("MemoryUtilization")),
            // Requests each target got in a minute: the ALB's own per-target count.
            Metric::RequestsPerInstance => self.target_group.as_ref().map(|tg| Source {
                namespace: "AWS/ApplicationELB",
                name: "RequestCountPerTarget",
                dimensions: vec![("TargetGroup", tg.clone())],
                stat: "Sum",
            }),
        }
    }
}

#[async_trait]
impl Metrics for CloudWatchEcsMetrics {
    async fn readings(
        &self,
        service: &str,
        metrics: &[Metric],
    ) -> Result<Vec<(Metric, f64)>, PortError> {
        let wanted: Vec<(Metric, Source)> = metrics
            .iter()
            .filter_map(|m| self.source(*m, service).map(|s| (*m, s)))
            .collect();
        if wanted.is_empty() {
            return Ok(vec![]);
        }
        let queries: Vec<MetricDataQuery> = wanted
            .iter()
            .enumerate()
            .map(|(i, (_, src))| {
                let mut metric = CwMetric::builder()
                    .namespace(src.namespace)
                    .metric_name(src.name);
                for (k, v) in &src.dimensions {
                    metric = metric.dimensions(Dimension::builder().name(*k).value(v).build());
                }
                MetricDataQuery::builder()
                    .id(format!("m{i}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric.build())
                            .period(PERIOD_SECS)
                            .stat(src.stat)
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let now = std::time::SystemTime::now();
        let out = self
            .client
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from(now - WINDOW))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from(now))
            .send()
            .await
            .map_err(|e| classify(&format!("cloudwatch:GetMetricData for `{service}`"), e))?;
        let mut readings = Vec::new();
        for r in out.metric_data_results() {
            let index = r
                .id()
                .and_then(|id| id.strip_prefix('m'))
                .and_then(|n| n.parse::<usize>().ok());
            let values = r.values();
            if let Some((metric, _)) = index.and_then(|i| wanted.get(i))
                && !values.is_empty()
            {
                let count = u32::try_from(values.len()).unwrap_or(u32::MAX);
                readings.push((*metric, values.iter().sum::<f64>() / f64::from(count)));
            }
        }
        Ok(readings)
    }
}

/// CloudWatch alarm states (`DescribeAlarms`).
#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchAlarms {
    /// The alarms of the context's account and region.
    pub fn new(ctx: &AwsContext) -> Self {
        CloudWatchAlarms {
            client: aws_sdk_cloudwatch::Client::new(ctx.sdk()),
        }
    }
}

#[async_trait]
impl twincloud_core::ports::AlarmStates for CloudWatchAlarms {
    async fn state(
        &self,
        alarm: &str,
    ) -> Result<Option<twincloud_core::signal::AlarmState>, PortError> {
        use aws_sdk_cloudwatch::types::StateValue;
        use twincloud_core::signal::AlarmState;
        let out = self
            .client
            .describe_alarms()
            .alarm_names(alarm)
            .send()
            .await
            .map_err(|e| classify(&format!("cloudwatch:DescribeAlarms `{alarm}`"), e))?;
        let state = out
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(alarm))
            .and_then(|a| a.state_value().cloned())
            .or_else(|| {
                out.composite_alarms()
                    .iter()
                    .find(|a| a.alarm_name() == Some(alarm))
                    .and_then(|a| a.state_value().cloned())
            });
        Ok(state.map(|s| match s {
            StateValue::Alarm => AlarmState::Alarm,
            StateValue::Ok => AlarmState::Ok,
            _ => AlarmState::InsufficientData,
        }))
    }
}
