//! What the page shows, section by section: plain data, gathered by [`super::gather`].

use chrono::{DateTime, Utc};
use twincloud_core::planner::backup::QueuedCopy;
use twincloud_core::planner::budget::{Spend, Taken};
use twincloud_core::planner::deploy::Rollout;
use twincloud_core::planner::failover::{EndpointSummary, SwitchKind};
use twincloud_core::planner::scaling::ScalingChange;

use twincloud_core::records::backup::RunSummary;
use twincloud_core::records::sync::SyncSummary;

/// Everything the page shows, as of `generated`.
#[derive(Debug, Clone)]
pub struct Overview {
    /// The project's name.
    pub project: String,
    /// When the records were read.
    pub generated: DateTime<Utc>,
    /// Traffic, health and switches, when failover is configured.
    pub failover: Option<FailoverView>,
    /// One per backup set.
    pub backups: Vec<BackupSetView>,
    /// One per sync pair.
    pub syncs: Vec<SyncPairView>,
    /// One per budget guard.
    pub budgets: Vec<BudgetView>,
    /// One per deploy target.
    pub deploys: Vec<DeployView>,
    /// One per scaled service.
    pub scaling: Vec<ScalingView>,
    /// The budget guard's holds that stand now (caps, stops, standby to zero).
    pub holds: Vec<HoldView>,
    /// The readiness audit's last findings, once it ran.
    pub readiness: Option<twincloud_core::planner::readiness::ReadinessRecord>,
    /// Events refused today (bad shapes, forged commands).
    pub refused_today: usize,
    /// Whether more were refused than counted (the count stops at a bound).
    pub refused_more: bool,
    /// Records that could not be read: shown, never fatal.
    pub unreadable: Vec<String>,
}

impl Overview {
    /// Whether the configuration has no section the page shows.
    pub fn is_empty(&self) -> bool {
        self.failover.is_none()
            && self.backups.is_empty()
            && self.syncs.is_empty()
            && self.budgets.is_empty()
            && self.deploys.is_empty()
            && self.scaling.is_empty()
    }
}

/// Which side serves, how both have been, and the switches.
#[derive(Debug, Clone)]
pub struct FailoverView {
    /// The DNS record traffic follows.
    pub record: String,
    /// The endpoint traffic goes to.
    pub active: String,
    /// Where the record points for it.
    pub dns_target: String,
    /// One per endpoint, in configuration order.
    pub sides: Vec<SideView>,
    /// A switch in progress.
    pub in_flight: Option<SwitchView>,
    /// Finished switches, newest first.
    pub switches: Vec<SwitchView>,
}

/// One side of the failover pair.
#[derive(Debug, Clone)]
pub struct SideView {
    /// Endpoint name.
    pub name: String,
    /// `gcp`, `aws`, `local`.
    pub cloud: String,
    /// The configured primary.
    pub primary: bool,
    /// Whether it is the side traffic goes to.
    pub active: bool,
    /// Health, last probe and the strip over the last day.
    pub health: EndpointSummary,
}

/// One switch with its timeline.
#[derive(Debug, Clone)]
pub struct SwitchView {
    /// Failover or failback.
    pub kind: SwitchKind,
    /// From endpoint.
    pub from: String,
    /// To endpoint.
    pub to: String,
    /// When the failure (or recovery) was detected.
    pub detected: DateTime<Utc>,
    /// When the switch started.
    pub started: DateTime<Utc>,
    /// When the standby was ready at its active size (from the audit trail).
    pub scaled: Option<DateTime<Utc>>,
    /// When the DNS record was changed (from the audit trail).
    pub switched: Option<DateTime<Utc>>,
    /// When the record says traffic moved; `None` while in flight.
    pub finished: Option<DateTime<Utc>>,
}

/// One backup set.
#[derive(Debug, Clone)]
pub struct BackupSetView {
    /// Set name.
    pub name: String,
    /// A backup older than this is stale.
    pub max_age_hours: u32,
    /// One per database the last run saw.
    pub databases: Vec<DatabaseBackupView>,
    /// Copies waiting for a slot.
    pub queue: Vec<QueuedCopy>,
    /// Snapshots (and exports) started and not yet seen finish.
    pub in_progress: usize,
    /// What the last run did.
    pub last_run: Option<RunSummary>,
    /// Whether a run holds the set now.
    pub running: bool,
}

/// The newest good backup of one database, per place.
#[derive(Debug, Clone)]
pub struct DatabaseBackupView {
    /// Database name.
    pub name: String,
    /// Per place (`primary`, the DR region, a dump destination).
    pub places: Vec<PlaceView>,
    /// When a restore last proved a dump good (engine postgres).
    pub verified: Option<DateTime<Utc>>,
}

/// One place's newest good backup.
#[derive(Debug, Clone)]
pub struct PlaceView {
    /// Where.
    pub place: String,
    /// Snapshot id or dump stem.
    pub id: String,
    /// When taken.
    pub at: DateTime<Utc>,
    /// Older than the set's `max_age_hours`.
    pub stale: bool,
}

/// One sync pair.
#[derive(Debug, Clone)]
pub struct SyncPairView {
    /// Pair name.
    pub name: String,
    /// Source location.
    pub source: String,
    /// Destination location.
    pub destination: String,
    /// One per partition (`all` when unpartitioned).
    pub partitions: Vec<PartitionView>,
}

/// One partition of a pair.
#[derive(Debug, Clone)]
pub struct PartitionView {
    /// Partition prefix, or `all`.
    pub name: String,
    /// When the last complete pass finished.
    pub finished: Option<DateTime<Utc>>,
    /// A pass in progress resumes after this key.
    pub cursor: Option<String>,
    /// What the last invocation did.
    pub last: Option<SyncSummary>,
    /// Whether a reconcile holds it now.
    pub running: bool,
}

impl PartitionView {
    /// Objects waiting for the next reconcile: those that failed last time.
    pub fn waiting(&self) -> u64 {
        self.last.as_ref().map_or(0, |l| l.failed)
    }
}

/// One budget guard.
#[derive(Debug, Clone)]
pub struct BudgetView {
    /// Guard name.
    pub name: String,
    /// The period the steps belong to.
    pub period: Option<String>,
    /// The spend as last confirmed.
    pub spend: Option<Spend>,
    /// The ladder, with what was taken this period.
    pub steps: Vec<StepView>,
}

/// One step of a guard's ladder.
#[derive(Debug, Clone)]
pub struct StepView {
    /// Fraction of the budget that triggers it.
    pub at: f64,
    /// `actual` or `forecast`.
    pub basis: String,
    /// Its action.
    pub action: String,
    /// `enforce` or `dry run`.
    pub mode: String,
    /// Taken this period.
    pub taken: Option<Taken>,
}

/// One deploy target.
#[derive(Debug, Clone)]
pub struct DeployView {
    /// Target name.
    pub name: String,
    /// Per side, what it serves.
    pub sides: Vec<ServedView>,
    /// The current or last rollout.
    pub rollout: Option<Rollout>,
    /// A request waiting to be taken up.
    pub queued: Option<String>,
}

/// What one side of a target serves.
#[derive(Debug, Clone)]
pub struct ServedView {
    /// `ecs aion-backend`.
    pub label: String,
    /// `aws`, `gcp`, `kubernetes`.
    pub cloud: String,
    /// The digest or image served, when the record tells.
    pub serving: Option<String>,
    /// The rollout's phase on this side.
    pub phase: Option<String>,
}

impl ServedView {
    /// What the side serves, in words: the image (a digest shortened), or why the records
    /// cannot say: the last rollout never reached it (it serves what it served before), no
    /// rollout is recorded, or its rollback failed (the phase says so).
    pub fn serving_text(&self) -> String {
        match (&self.serving, self.phase.as_deref()) {
            (Some(x), _) => match x.find("sha256:") {
                Some(i) => twincloud_core::planner::deploy::short(&x[i..]).to_owned(),
                None => x.clone(),
            },
            (None, Some("waiting")) => "as before (the last rollout did not reach it)".into(),
            (None, None) => "not recorded (no rollout yet)".into(),
            (None, Some(_)) => "unknown".into(),
        }
    }
}

/// One scaled service.
#[derive(Debug, Clone)]
pub struct ScalingView {
    /// Service name.
    pub name: String,
    /// The budget guard's hold on it (a cap or a stop), in words.
    pub hold: Option<String>,
    /// Changes decided over the last day, newest first.
    pub changes: Vec<ScalingChange>,
}

/// A hold one function put on what others may do: what it holds and how.
#[derive(Debug, Clone)]
pub struct HoldView {
    /// What it holds: a scaling service, or every failover standby.
    pub on: String,
    /// The hold as recorded.
    pub hold: twincloud_core::records::holds::Hold,
}

#[cfg(test)]
mod tests {
    use super::ServedView;

    fn side(serving: Option<&str>, phase: Option<&str>) -> String {
        ServedView {
            label: "local app-b".into(),
            cloud: "local".into(),
            serving: serving.map(str::to_owned),
            phase: phase.map(str::to_owned),
        }
        .serving_text()
    }

    #[test]
    fn a_side_says_what_it_serves_or_why_the_records_cannot() {
        let digest = format!("r.example/app@sha256:{}", "a".repeat(64));
        assert_eq!(side(Some(&digest), Some("deployed")), "sha256:aaaaaaaaaaaa");
        assert_eq!(
            side(None, Some("waiting")),
            "as before (the last rollout did not reach it)"
        );
        assert_eq!(side(None, None), "not recorded (no rollout yet)");
        assert_eq!(side(None, Some("rollback pending, retried (x)")), "unknown");
    }
}
