//! What each kind of act and observation needs on each cloud: the AWS API actions its calls
//! make and the GCP roles its account is granted (on the narrowest resource
//! `infra/gcp/deploy.sh` can name). A function declares the kinds it takes
//! ([`crate::FunctionSpec::access`]); its grants in `infra/template.yaml` and
//! `infra/gcp/deploy.sh` are exactly the union of those and of [`COMMON`], checked by a test
//! (`functions/registry/tests/registry.rs`), so a grant nothing needs is as much a failure as a
//! call nothing grants.

/// What one kind of act or observation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// What it is, for messages and the docs.
    pub what: &'static str,
    /// The AWS API actions it calls.
    pub aws: &'static [&'static str],
    /// The GCP roles it needs.
    pub gcp: &'static [&'static str],
}

/// Reading the configuration and keeping records, journal and audit under the state prefix.
pub const STATE: Access = Access {
    what: "read its configuration; keep its records, journal and audit trail",
    aws: &[
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
    ],
    gcp: &["roles/storage.objectViewer", "roles/storage.objectAdmin"],
};

/// Reading the secrets its configuration names.
pub const SECRETS: Access = Access {
    what: "read the secrets its configuration names",
    aws: &["secretsmanager:GetSecretValue"],
    gcp: &["roles/secretmanager.secretAccessor"],
};

/// Sending its reports to the SNS, SES and Pub/Sub channels (every function reports through
/// the notifier's routing, in its own process).
pub const REPORT: Access = Access {
    what: "send reports to the SNS, SES and Pub/Sub channels",
    aws: &["sns:Publish", "ses:SendEmail"],
    gcp: &["roles/pubsub.publisher"],
};

/// The state records a function writes and reads beyond those every function keeps: its own
/// journal, audit and rejected records (under its name) and the notifier's (every function's
/// reports go through the notifier's routing, in its own process). The AWS template grants
/// writes under exactly these prefixes and reads of exactly `reads`; `infra/gcp/deploy.sh`
/// grants the same writes by IAM conditions on the object name (and reading the whole state,
/// which the operations page every function serves shows). A test reads both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateScope {
    /// Prefixes of the records it writes (`failover/`).
    pub writes: &'static [&'static str],
    /// Prefixes of other functions' records it reads (`holds/`).
    pub reads: &'static [&'static str],
}

impl StateScope {
    /// Every prefix function `name` writes: its own, and those every function keeps, sorted,
    /// `*` standing for one path segment (a day).
    pub fn writes_of(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .writes
            .iter()
            .map(|p| (*p).to_owned())
            .chain([
                "notify/".to_owned(),
                "audit/*/notifier/".to_owned(),
                format!("journal/{name}/"),
                format!("audit/*/{name}/"),
                format!("rejected/*/{name}/"),
            ])
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// What every function needs.
pub const COMMON: &[Access] = &[STATE, SECRETS, REPORT];

/// Reading a service's desired, running and maximum instance counts.
pub const READ_CAPACITY: Access = Access {
    what: "read a service's instance counts",
    aws: &[
        "ecs:DescribeServices",
        "application-autoscaling:DescribeScalableTargets",
    ],
    gcp: &["roles/container.clusterViewer"],
};

/// Setting a service's desired (minimum) or maximum instance count.
pub const SET_CAPACITY: Access = Access {
    what: "set a service's desired or maximum instance count",
    aws: &[
        "ecs:UpdateService",
        "application-autoscaling:RegisterScalableTarget",
    ],
    gcp: &["roles/run.developer"],
};

/// Pointing the failover record at a side.
pub const SWITCH_DNS: Access = Access {
    what: "point the failover record at a side",
    aws: &[
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
        "route53:GetChange",
    ],
    gcp: &["roles/dns.admin"],
};

/// Reading the failover record and its TTL (the readiness audit).
pub const READ_DNS: Access = Access {
    what: "read the failover record and its TTL",
    aws: &["route53:ListResourceRecordSets"],
    gcp: &["roles/dns.reader"],
};

/// Reading what revision and image a service serves, and its instance counts (the readiness
/// audit compares the sides).
pub const READ_REVISIONS: Access = Access {
    what: "read what revision and image a service serves",
    aws: &["ecs:DescribeServices", "ecs:DescribeTaskDefinition"],
    gcp: &["roles/run.viewer"],
};

/// Reading a service's load.
pub const READ_LOAD: Access = Access {
    what: "read a service's load",
    aws: &["cloudwatch:GetMetricData"],
    gcp: &["roles/monitoring.viewer"],
};

/// Confirming an alarm's state with the provider (CloudWatch alarms on every cloud's side).
pub const READ_ALARMS: Access = Access {
    what: "confirm an alarm's state",
    aws: &["cloudwatch:DescribeAlarms"],
    gcp: &[],
};

/// Reading a new revision's requests (Cloud Run's error share and latency).
pub const READ_REVISION_METRICS: Access = Access {
    what: "read a new revision's error share and latency",
    aws: &[],
    gcp: &["roles/monitoring.viewer"],
};

/// Making a new revision with one image changed, shifting traffic to it, rolling it back.
pub const ROLL_OUT: Access = Access {
    what: "make a new revision, shift traffic to it, roll it back",
    aws: &[
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "ecs:DescribeTaskDefinition",
        "ecs:RegisterTaskDefinition",
        "iam:PassRole",
    ],
    gcp: &[
        "roles/run.developer",
        "roles/iam.serviceAccountUser",
        "roles/container.clusterViewer",
    ],
};

/// Resolving a tag and mirroring an image by digest between the registries.
pub const MIRROR_IMAGES: Access = Access {
    what: "resolve a tag and mirror an image by digest",
    aws: &[
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    ],
    gcp: &["roles/artifactregistry.writer"],
};

/// Reading a budget's amount and spend back from the provider.
pub const READ_BUDGETS: Access = Access {
    what: "read a budget back",
    aws: &["budgets:ViewBudget"],
    gcp: &["roles/billing.viewer"],
};

/// Detaching a project from its billing account (and linking it again on restore).
pub const LINK_BILLING: Access = Access {
    what: "detach a project's billing account and link it again",
    aws: &[],
    // Linking again (the undo) needs billing.resourceAssociations.create on the billing
    // account: roles/billing.user there.
    gcp: &["roles/billing.projectManager", "roles/billing.user"],
};

/// Listing databases and their snapshots.
pub const READ_DATABASES: Access = Access {
    what: "list databases and their snapshots",
    aws: &[
        "rds:DescribeDBInstances",
        "rds:DescribeDBClusters",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
    ],
    // A custom role `infra/gcp/deploy.sh` keeps: the instances and backup runs listed, runs
    // taken and deleted, exports started; nothing else on Cloud SQL.
    gcp: &["projects/${PROJECT}/roles/twincloudBackup"],
};

/// Taking, tagging, copying and deleting twincloud's snapshots (Cloud SQL: backup runs and
/// exports).
pub const SNAPSHOT_DATABASES: Access = Access {
    what: "take, tag, copy and delete twincloud's snapshots; start exports",
    aws: &[
        "rds:CreateDBSnapshot",
        "rds:CreateDBClusterSnapshot",
        "rds:CopyDBSnapshot",
        "rds:CopyDBClusterSnapshot",
        "rds:AddTagsToResource",
        "rds:DeleteDBSnapshot",
        "rds:DeleteDBClusterSnapshot",
    ],
    // A custom role `infra/gcp/deploy.sh` keeps: the instances and backup runs listed, runs
    // taken and deleted, exports started; nothing else on Cloud SQL.
    gcp: &["projects/${PROJECT}/roles/twincloudBackup"],
};

/// Copying an encrypted snapshot to the disaster-recovery region with its KMS key.
pub const COPY_ENCRYPTED: Access = Access {
    what: "copy an encrypted snapshot with the DR region's key",
    aws: &["kms:DescribeKey", "kms:CreateGrant"],
    gcp: &[],
};

/// Reading what lands in the export and dump buckets (an export's size, a dump's manifest).
pub const READ_EXPORTS: Access = Access {
    what: "read exports and dumps in their buckets",
    aws: &[],
    gcp: &["roles/storage.objectViewer"],
};

/// Multipart uploads of large objects (and their clean-up).
pub const LARGE_UPLOADS: Access = Access {
    what: "upload large objects in parts, and abort them",
    aws: &["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
    gcp: &[],
};

/// Copying objects between buckets, honouring the destination's retention and holds.
pub const SYNC_OBJECTS: Access = Access {
    what: "copy objects between buckets, honouring retention and holds",
    aws: &[
        "s3:AbortMultipartUpload",
        "s3:GetObjectRetention",
        "s3:GetObjectLegalHold",
    ],
    gcp: &["roles/storage.objectViewer", "roles/storage.objectAdmin"],
};

/// The union of what `access` needs on AWS, sorted, without repeats.
pub fn aws_actions(access: &[Access]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = access.iter().flat_map(|a| a.aws.iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The union of what `access` needs on GCP, sorted, without repeats.
pub fn gcp_roles(access: &[Access]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = access.iter().flat_map(|a| a.gcp.iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}
