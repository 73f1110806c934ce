//! The functions, as libraries, and the one table that names them.
//!
//! [`FUNCTIONS`] is the registry: each entry names a function, its configuration section, its
//! constructor and the triggers it takes. The binaries in `functions/`, the CLI's `invoke`
//! and `functions` commands, and the test that checks `infra/template.yaml`,
//! `infra/gcp/deploy.sh`, the README and the workspace against it all read this table, so a
//! function exists in one place. `docs/ARCHITECTURE.md` ("Adding a function") lists the files a
//! new entry needs.

pub mod backup;
pub mod bucket_sync;
pub mod budget_guard;
pub mod deploy;
pub mod failover;
pub mod notifier;
pub mod scaling;

use crate::function::Function;
use crate::services::Wiring;

/// Something that makes a function run. Each trigger says how it is wired on each cloud, so
/// the deployment files can be checked against the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A schedule: EventBridge Scheduler on AWS, Cloud Scheduler on GCP.
    Schedule,
    /// CloudWatch alarm state changes through an EventBridge rule.
    CloudWatchAlarm,
    /// Messages on an SNS topic (CloudWatch alarm actions, AWS Budgets alerts).
    SnsTopic,
    /// Pub/Sub push subscriptions (billing budgets, Artifact Registry, Cloud Monitoring
    /// incidents).
    PubSubTopic,
    /// ECR `ECR Image Action` events through an EventBridge rule.
    EcrPush,
    /// S3 `Object Created` / `Object Deleted` events through EventBridge (or S3 notifications).
    S3Object,
    /// GCS `object.v1.finalized` / `deleted` CloudEvents through Eventarc.
    GcsObject,
    /// A command from an authenticated direct call (the CLI, Lambda Invoke, an HTTP call).
    Command(&'static str),
}

impl Trigger {
    /// Text that the function's resource in `infra/template.yaml` must contain when it takes
    /// this trigger on AWS; `None` for triggers that are not wired there.
    pub fn sam_marker(&self) -> Option<&'static str> {
        match self {
            Trigger::Schedule => Some("Type: ScheduleV2"),
            Trigger::CloudWatchAlarm => Some("detail-type: [CloudWatch Alarm State Change]"),
            Trigger::SnsTopic => Some("Type: SNS"),
            Trigger::EcrPush => Some("detail-type: [ECR Image Action]"),
            Trigger::S3Object => Some("source: [aws.s3]"),
            Trigger::PubSubTopic | Trigger::GcsObject | Trigger::Command(_) => None,
        }
    }

    /// One line, for help and listings.
    pub fn describe(&self) -> String {
        match self {
            Trigger::Schedule => "schedule".into(),
            Trigger::CloudWatchAlarm => "CloudWatch alarm".into(),
            Trigger::SnsTopic => "SNS topic".into(),
            Trigger::PubSubTopic => "Pub/Sub topic".into(),
            Trigger::EcrPush => "ECR push".into(),
            Trigger::S3Object => "S3 object event".into(),
            Trigger::GcsObject => "GCS object event".into(),
            Trigger::Command(c) => format!("`{c}` command"),
        }
    }
}

/// One function of the registry.
#[derive(Debug, Clone, Copy)]
pub struct FunctionSpec {
    /// Name of the function, its binary, its records and its `invoke` argument.
    pub name: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// The configuration section it reads beyond `[project]` and `[notify]`, if any.
    pub config_section: Option<&'static str>,
    /// What makes it run.
    pub triggers: &'static [Trigger],
    /// The AWS API actions it calls beyond [`COMMON_AWS_ACTIONS`]; its SAM resource must grant
    /// each (a test reads the template).
    pub aws_actions: &'static [&'static str],
    /// The GCP roles its runtime account is granted beyond [`COMMON_GCP_ROLES`], each on the
    /// narrowest resource `infra/gcp/deploy.sh` can name; the script grants exactly these (a
    /// test reads it).
    pub gcp_roles: &'static [&'static str],
    /// The adapters it uses beyond state, channels and probes; its binary links only these.
    pub wiring: Wiring,
    /// Builds it.
    pub make: fn() -> Box<dyn Function>,
}

impl FunctionSpec {
    /// The function itself.
    pub fn build(&self) -> Box<dyn Function> {
        (self.make)()
    }
}

/// What every function calls on AWS: its configuration and state objects, its secrets, and the
/// SNS and SES channels its messages or reports may go to.
pub const COMMON_AWS_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
    "secretsmanager:GetSecretValue",
    "sns:Publish",
    "ses:SendEmail",
];

/// What every function's runtime account is granted on GCP: its configuration object, the
/// objects under its state prefix, and each of its secrets.
pub const COMMON_GCP_ROLES: &[&str] = &[
    "roles/storage.objectViewer",
    "roles/storage.objectAdmin",
    "roles/secretmanager.secretAccessor",
];

/// The notifier.
pub const NOTIFIER: FunctionSpec = FunctionSpec {
    name: twincloud_core::planner::notify::FUNCTION,
    summary: "any event and every action of twincloud becomes one readable message per channel",
    config_section: None,
    triggers: &[
        Trigger::SnsTopic,
        Trigger::CloudWatchAlarm,
        Trigger::EcrPush,
        Trigger::PubSubTopic,
    ],
    aws_actions: &[],
    gcp_roles: &["roles/pubsub.publisher"],
    wiring: Wiring::NONE,
    make: || Box::new(notifier::Notifier),
};

/// Failover between the two sides.
pub const FAILOVER: FunctionSpec = FunctionSpec {
    name: twincloud_core::planner::failover::FUNCTION,
    summary: "probes both sides and moves traffic to the healthy one, standby scaled up first",
    config_section: Some("failover"),
    triggers: &[
        Trigger::Schedule,
        Trigger::CloudWatchAlarm,
        Trigger::PubSubTopic,
        Trigger::Command("failback"),
    ],
    aws_actions: &[
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:RegisterScalableTarget",
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
        "route53:GetChange",
    ],
    gcp_roles: &[
        "roles/run.developer",
        "roles/dns.admin",
        "roles/container.clusterViewer",
    ],
    wiring: Wiring::ENDPOINTS.and(Wiring::TRAFFIC),
    make: || Box::new(failover::Failover),
};

/// Bucket sync.
pub const BUCKET_SYNC: FunctionSpec = FunctionSpec {
    name: bucket_sync::FUNCTION,
    summary: "keeps S3, GCS and directory pairs in sync: object events and scheduled reconciles",
    config_section: Some("sync.pairs"),
    triggers: &[
        Trigger::Schedule,
        Trigger::S3Object,
        Trigger::GcsObject,
        Trigger::Command("sync"),
    ],
    aws_actions: &[
        "s3:AbortMultipartUpload",
        "s3:GetObjectRetention",
        "s3:GetObjectLegalHold",
    ],
    gcp_roles: &["roles/storage.objectViewer", "roles/storage.objectAdmin"],
    wiring: Wiring::NONE,
    make: || Box::new(bucket_sync::BucketSync),
};

/// Database backups.
pub const BACKUP: FunctionSpec = FunctionSpec {
    name: backup::FUNCTION,
    summary: "snapshots, copies to the DR region, exports, logical PostgreSQL dumps to both clouds verified by restore, and retention of backup sets",
    config_section: Some("backup.sets"),
    triggers: &[Trigger::Schedule, Trigger::Command("backup")],
    aws_actions: &[
        "rds:DescribeDBInstances",
        "rds:DescribeDBClusters",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
        "rds:CreateDBSnapshot",
        "rds:CreateDBClusterSnapshot",
        "rds:CopyDBSnapshot",
        "rds:CopyDBClusterSnapshot",
        "rds:AddTagsToResource",
        "rds:DeleteDBSnapshot",
        "rds:DeleteDBClusterSnapshot",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    ],
    gcp_roles: &["roles/cloudsql.editor", "roles/storage.objectViewer"],
    wiring: Wiring::NONE,
    make: || Box::new(backup::Backup::default()),
};

/// Scaling.
pub const SCALING: FunctionSpec = FunctionSpec {
    name: twincloud_core::planner::scaling::FUNCTION,
    summary: "one scaling policy per service on either cloud, aware of failover and caps",
    config_section: Some("scaling.services"),
    triggers: &[
        Trigger::Schedule,
        Trigger::CloudWatchAlarm,
        Trigger::PubSubTopic,
    ],
    aws_actions: &[
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:RegisterScalableTarget",
        "cloudwatch:GetMetricData",
        "cloudwatch:DescribeAlarms",
    ],
    gcp_roles: &[
        "roles/run.developer",
        "roles/monitoring.viewer",
        "roles/container.clusterViewer",
    ],
    wiring: Wiring::ENDPOINTS.and(Wiring::SCALING),
    make: || Box::new(scaling::Scaling),
};

/// Deploy on push.
pub const DEPLOY: FunctionSpec = FunctionSpec {
    name: deploy::FUNCTION,
    summary: "a pushed image mirrored by digest to both clouds and rolled out with checks, rolled back on failure",
    config_section: Some("deploy.targets"),
    triggers: &[
        Trigger::EcrPush,
        Trigger::PubSubTopic,
        Trigger::Schedule,
        Trigger::Command("deploy"),
        Trigger::Command("rollback"),
    ],
    aws_actions: &[
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "ecs:DescribeTaskDefinition",
        "ecs:RegisterTaskDefinition",
        "iam:PassRole",
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
        "cloudwatch:DescribeAlarms",
    ],
    gcp_roles: &[
        "roles/run.developer",
        "roles/iam.serviceAccountUser",
        "roles/artifactregistry.writer",
        "roles/monitoring.viewer",
        "roles/container.clusterViewer",
    ],
    wiring: Wiring::DEPLOY,
    make: || Box::new(deploy::Deploy),
};

/// The budget guard.
pub const BUDGET_GUARD: FunctionSpec = FunctionSpec {
    name: twincloud_core::planner::budget::FUNCTION,
    summary: "budget alerts confirmed with the provider, answered by a ladder of reversible steps",
    config_section: Some("budget.guards"),
    triggers: &[
        Trigger::SnsTopic,
        Trigger::PubSubTopic,
        Trigger::Schedule,
        Trigger::Command("budget-restore"),
    ],
    aws_actions: &[
        "budgets:ViewBudget",
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:RegisterScalableTarget",
    ],
    gcp_roles: &[
        "roles/run.developer",
        "roles/billing.viewer",
        "roles/billing.projectManager",
        "roles/container.clusterViewer",
    ],
    wiring: Wiring::ENDPOINTS.and(Wiring::SCALING).and(Wiring::BUDGETS),
    make: || Box::new(budget_guard::BudgetGuardFn),
};

/// Every function, in the order the README lists them.
pub const FUNCTIONS: &[FunctionSpec] = &[
    NOTIFIER,
    BUCKET_SYNC,
    BACKUP,
    FAILOVER,
    SCALING,
    DEPLOY,
    BUDGET_GUARD,
];

/// Looks a function up by name.
pub fn by_name(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Every function name, in registry order.
pub fn names() -> Vec<&'static str> {
    FUNCTIONS.iter().map(|f| f.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_what_each_function_calls_itself() {
        let mut seen = std::collections::BTreeSet::new();
        for f in FUNCTIONS {
            assert!(seen.insert(f.name), "`{}` is registered twice", f.name);
            assert_eq!(
                f.build().name(),
                f.name,
                "registry entry and function disagree"
            );
            assert!(!f.triggers.is_empty(), "`{}` has no trigger", f.name);
            assert!(!f.summary.is_empty());
        }
        assert!(by_name("no-such-function").is_none());
        assert_eq!(by_name("backup").map(|f| f.name), Some("backup"));
    }

    #[tokio::test]
    async fn every_function_is_built_with_its_own_wiring() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[project]\nname = \"t\"\nstate = \"{}\"\n\n[[notify.channels]]\nname = \"outbox\"\ntype = \"outbox\"\n",
            dir.path().display()
        );
        for f in FUNCTIONS {
            let config = twincloud_core::Config::parse("t.toml", &text).expect("config");
            let built =
                crate::Services::build_for(f.wiring, config, &crate::Clouds::default()).await;
            assert!(built.is_ok(), "`{}`: {:?}", f.name, built.err());
        }
        assert!(Wiring::ALL.has(Wiring::ENDPOINTS.and(Wiring::BUDGETS)));
        assert!(!Wiring::NONE.has(Wiring::DEPLOY));
    }
}
