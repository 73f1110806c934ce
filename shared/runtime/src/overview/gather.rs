//! Reading the records the configuration names into an [`Overview`].

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use twincloud_core::Config;
use twincloud_core::config::{
    BudgetGuard, DeployTarget, ScalingService, SpendBasis, StepMode, SyncPair,
};
use twincloud_core::ids::key_segment;
use twincloud_core::planner::budget::{self, GuardRecord};
use twincloud_core::planner::deploy::{self as deploy_plan, Phase, Rollout};
use twincloud_core::planner::failover::{
    self, EndpointSummary, FailoverState, STATE_KEY, VantageView,
};
use twincloud_core::planner::scaling::{self, ScalingRecord};
use twincloud_core::ports::{StateStore, get_json};

use super::model::*;
use twincloud_core::records::backup::{BackupRecord, record_key as backup_key};
use twincloud_core::records::deploy::{DeployState, Queued, queue_key};
use twincloud_core::records::holds::{Hold, STANDBY_HOLD_KEY, service_hold_key};
use twincloud_core::records::sync::{UnitRecord, unit_key};

/// The most refused events the page counts (one listing page on S3 and GCS).
pub const REFUSED_SHOWN: usize = 1000;

/// Reads what the page shows from `state`, for the sections `config` has.
pub async fn gather(config: &Config, state: &dyn StateStore, now: DateTime<Utc>) -> Overview {
    let mut o = Overview {
        project: config.project.name.clone(),
        generated: now,
        failover: None,
        backups: vec![],
        syncs: vec![],
        budgets: vec![],
        deploys: vec![],
        scaling: vec![],
        holds: vec![],
        readiness: None,
        refused_today: 0,
        refused_more: false,
        unreadable: vec![],
    };
    let mut r = Reader {
        state,
        unreadable: vec![],
    };
    if let Some(cfg) = &config.failover {
        o.failover = Some(gather_failover(cfg, &mut r, now).await);
    }
    for set in config.backup.iter().flat_map(|b| &b.sets) {
        let rec: BackupRecord = r.read(&backup_key(&set.name)).await.unwrap_or_default();
        o.backups.push(backup_view(set, rec, now));
    }
    for pair in config.sync.iter().flat_map(|s| &s.pairs) {
        o.syncs.push(sync_view(pair, &mut r, now).await);
    }
    for g in config.budget.iter().flat_map(|b| &b.guards) {
        let rec: GuardRecord = r
            .read(&budget::record_key(&g.name))
            .await
            .unwrap_or_default();
        o.budgets.push(budget_view(g, rec));
    }
    for t in config.deploy.iter().flat_map(|d| &d.targets) {
        let rec: DeployState = r
            .read(&deploy_plan::record_key(&t.name))
            .await
            .unwrap_or_default();
        let queued: Option<Queued> = r.read(&queue_key(&t.name)).await;
        o.deploys.push(deploy_view(t, rec.record.rollout, queued));
    }
    for s in config.scaling.iter().flat_map(|c| &c.services) {
        let (view, hold) = scaling_view(s, &mut r, now).await;
        o.scaling.push(view);
        o.holds.extend(hold.map(|hold| HoldView {
            on: format!("scaling service {}", s.name),
            hold,
        }));
    }
    if config.failover.is_some()
        && let Some(hold) = r.read::<Hold>(STANDBY_HOLD_KEY).await
    {
        o.holds.push(HoldView {
            on: "every failover standby".into(),
            hold,
        });
    }
    let today = format!(
        "{}{}/",
        crate::audit::REJECTED_PREFIX,
        now.format("%Y-%m-%d")
    );
    o.readiness = r.read(twincloud_core::planner::readiness::RECORD_KEY).await;
    // Anyone who can publish adds a key here: one bounded page, never the whole day.
    (o.refused_today, o.refused_more) = state
        .list_up_to(&today, REFUSED_SHOWN)
        .await
        .map_or((0, false), |(k, more)| (k.len(), more));
    o.unreadable = r.unreadable;
    o
}

/// Reads records, noting those that cannot be read instead of failing the page.
struct Reader<'a> {
    state: &'a dyn StateStore,
    unreadable: Vec<String>,
}

impl Reader<'_> {
    async fn read<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        match get_json::<T>(self.state, key).await {
            Ok(v) => v.map(|(v, _)| v),
            Err(e) => {
                self.unreadable.push(format!("{key}: {e}"));
                None
            }
        }
    }

    async fn list(&mut self, prefix: &str) -> Vec<String> {
        match self.state.list(prefix).await {
            Ok(k) => k,
            Err(e) => {
                self.unreadable.push(format!("{prefix}: {e}"));
                vec![]
            }
        }
    }
}

async fn gather_failover(
    cfg: &twincloud_core::config::FailoverConfig,
    r: &mut Reader<'_>,
    now: DateTime<Utc>,
) -> FailoverView {
    let state: FailoverState = r
        .read(STATE_KEY)
        .await
        .unwrap_or_else(|| FailoverState::initial(cfg));
    let mut views: Vec<VantageView> = vec![];
    for key in r.list("failover/vantage/").await {
        if let Some(v) = r.read(&key).await {
            views.push(v);
        }
    }
    let sides = cfg
        .endpoints
        .iter()
        .map(|e| SideView {
            name: e.name.clone(),
            cloud: e.cloud.to_string(),
            primary: e.primary,
            active: e.name == state.active,
            health: EndpointSummary::of(cfg, &e.name, &views, now),
        })
        .collect();
    let mut trail = Trail::default();
    let mut switches = vec![];
    for h in state.history.iter().rev() {
        let s = &h.switch;
        let (scaled, switched) = trail.times(r, &s.id, s.started, h.finished).await;
        switches.push(SwitchView {
            kind: s.kind,
            from: s.from.clone(),
            to: s.to.clone(),
            detected: s.detected,
            started: s.started,
            scaled,
            switched,
            finished: Some(h.finished),
        });
    }
    let in_flight = match &state.in_flight {
        Some(s) => {
            let (scaled, switched) = trail.times(r, &s.id, s.started, now).await;
            Some(SwitchView {
                kind: s.kind,
                from: s.from.clone(),
                to: s.to.clone(),
                detected: s.detected,
                started: s.started,
                scaled,
                switched,
                finished: None,
            })
        }
        None => None,
    };
    FailoverView {
        record: cfg.record.clone(),
        dns_target: cfg
            .endpoint(&state.active)
            .map(|e| e.dns_target.clone())
            .unwrap_or_default(),
        active: state.active,
        sides,
        in_flight,
        switches,
    }
}

/// The failover's audit records, listed once per day they fall on.
#[derive(Default)]
struct Trail {
    days: std::collections::BTreeMap<String, Vec<String>>,
}

impl Trail {
    /// When switch `id`'s standby was ready and its DNS change made: the newest successful
    /// `wait-ready` and `switch-traffic` records between `from` and `to`.
    async fn times(
        &mut self,
        r: &mut Reader<'_>,
        id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        // A switch lasts minutes; a lock left for weeks must not cost a listing per day.
        let mut day = from.max(to - chrono::Duration::days(2)).date_naive();
        let mut prefixes = vec![];
        while day <= to.date_naive() {
            let prefix = format!("audit/{}/{}/", day.format("%Y-%m-%d"), failover::FUNCTION);
            if !self.days.contains_key(&prefix) {
                let mut listed = r.list(&prefix).await;
                listed.sort_unstable();
                self.days.insert(prefix.clone(), listed);
            }
            prefixes.push(prefix);
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        // Sorted per day: a switch's records of one action are one range, found by bisection.
        let mine = |action: &str| {
            let mut found = vec![];
            for prefix in &prefixes {
                let listed = &self.days[prefix];
                let stem = format!("{prefix}{}-{action}@", key_segment(id));
                let first = listed.partition_point(|k| k.as_str() < stem.as_str());
                found.extend(
                    listed[first..]
                        .iter()
                        .take_while(|k| k.starts_with(&stem))
                        .cloned(),
                );
            }
            found
        };
        (
            done_at(r, &mine("wait-ready")).await,
            done_at(r, &mine("switch-traffic")).await,
        )
    }
}

/// The time of the newest of `keys` (audit records) whose action was done.
async fn done_at(r: &mut Reader<'_>, keys: &[String]) -> Option<DateTime<Utc>> {
    let mut best = None;
    for k in keys {
        let Some(v) = r.read::<serde_json::Value>(k).await else {
            continue;
        };
        let done = v["outcome"]["status"] == "done";
        let at = v["at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        if done && at > best {
            best = at;
        }
    }
    best
}

fn backup_view(
    set: &twincloud_core::config::BackupSet,
    rec: BackupRecord,
    now: DateTime<Utc>,
) -> BackupSetView {
    let max_age = chrono::Duration::hours(i64::from(set.max_age_hours));
    let databases = rec
        .newest
        .iter()
        .map(|(name, places)| DatabaseBackupView {
            name: name.clone(),
            places: places
                .iter()
                .map(|p| PlaceView {
                    place: p.place.clone(),
                    id: p.id.clone(),
                    at: p.at,
                    stale: now - p.at > max_age,
                })
                .collect(),
            verified: rec.dumps.get(name).and_then(|d| d.last_verified),
        })
        .collect();
    BackupSetView {
        name: set.name.clone(),
        max_age_hours: set.max_age_hours,
        databases,
        in_progress: rec.pending.len() + rec.exports.len(),
        queue: rec.queue,
        last_run: rec.last,
        running: rec.lease.lease_until.is_some_and(|u| u > now),
    }
}

fn deploy_view(t: &DeployTarget, rollout: Option<Rollout>, queued: Option<Queued>) -> DeployView {
    let sides = t
        .sides
        .iter()
        .enumerate()
        .map(|(i, side)| {
            let mine = rollout
                .as_ref()
                .and_then(|r| r.sides.iter().find(|s| s.side == i).map(|s| (r, s)));
            let (serving, phase) = match mine {
                None => (None, None),
                Some((r, s)) => (
                    match &s.phase {
                        // A side whose rollback failed: the records cannot say what it
                        // serves (the page says unknown, and the phase says why).
                        Phase::Done { .. } => Some(r.digest.clone()),
                        Phase::RolledBack { .. } | Phase::Waiting => s.previous_image.clone(),
                        _ => None,
                    },
                    Some(s.phase.describe()),
                ),
            };
            ServedView {
                label: side.label(),
                cloud: side.compute.cloud().into(),
                serving,
                phase,
            }
        })
        .collect();
    DeployView {
        name: t.name.clone(),
        sides,
        rollout,
        queued: queued.map(|q| match q {
            Queued::Deploy {
                digest,
                requested_by,
                ..
            } => format!(
                "deploy {} (asked by {requested_by})",
                deploy_plan::short(&digest)
            ),
            Queued::Rollback { requested_by } => format!("rollback (asked by {requested_by})"),
        }),
    }
}

/// A sync pair: each partition's last pass, cursor and lease.
async fn sync_view(pair: &SyncPair, r: &mut Reader<'_>, now: DateTime<Utc>) -> SyncPairView {
    let names: Vec<&str> = if pair.partitions.is_empty() {
        vec![""]
    } else {
        pair.partitions.iter().map(String::as_str).collect()
    };
    let mut partitions = vec![];
    for p in names {
        let rec: UnitRecord = r.read(&unit_key(pair, p)).await.unwrap_or_default();
        partitions.push(PartitionView {
            name: if p.is_empty() { "all".into() } else { p.into() },
            finished: rec.finished,
            cursor: rec.cursor,
            last: rec.last,
            running: rec.lease.lease_until.is_some_and(|u| u > now),
        });
    }
    SyncPairView {
        name: pair.name.clone(),
        source: pair.source.to_string(),
        destination: pair.destination.to_string(),
        partitions,
    }
}

/// A budget guard: its ladder, what of it was taken, its period and the last spend read.
fn budget_view(g: &BudgetGuard, rec: GuardRecord) -> BudgetView {
    BudgetView {
        name: g.name.clone(),
        steps: g
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepView {
                at: s.at,
                basis: match s.basis {
                    SpendBasis::Actual => "actual",
                    SpendBasis::Forecast => "forecast",
                }
                .into(),
                action: s.action.name().into(),
                mode: match s.mode {
                    StepMode::DryRun => "dry run",
                    StepMode::Enforce => "enforce",
                }
                .into(),
                taken: rec.taken.iter().find(|t| t.step == i).cloned(),
            })
            .collect(),
        period: rec.period,
        spend: rec.spend,
    }
}

/// A scaling service: its changes in the last day, and the hold on it.
async fn scaling_view(
    s: &ScalingService,
    r: &mut Reader<'_>,
    now: DateTime<Utc>,
) -> (ScalingView, Option<Hold>) {
    let rec: ScalingRecord = r
        .read(&scaling::record_key(&s.name))
        .await
        .unwrap_or_default();
    let hold: Option<Hold> = r.read(&service_hold_key(&s.name)).await;
    let day_ago = now - chrono::Duration::days(1);
    let view = ScalingView {
        name: s.name.clone(),
        hold: hold.as_ref().map(Hold::describe),
        changes: rec
            .changes
            .into_iter()
            .rev()
            .filter(|c| c.at > day_ago)
            .collect(),
    };
    (view, hold)
}
