//! The budget guard, decided without I/O: which guard a budget alert concerns, whether the
//! provider confirms it, which steps of the ladder are due in this budget period, and in which
//! order the changes of a period are undone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{BudgetConfig, BudgetGuard, SpendBasis};
pub use crate::ports::{BudgetRef, Reading};
use crate::signal::{BudgetAlert, BudgetBasis};

/// The function's name.
pub const FUNCTION: &str = "budget-guard";

/// Messages remembered per guard for de-duplication.
pub const SEEN: usize = 100;

/// Where a guard's record is kept.
pub fn record_key(guard: &str) -> String {
    format!("budget/{}", crate::ids::key_segment(guard))
}

/// The guard an alert concerns: its AWS account and budget name, or its GCP billing account
/// and budget id, must be the guard's.
pub fn guard_for<'a>(
    cfg: &'a BudgetConfig,
    alert: &BudgetAlert,
) -> Result<(&'a BudgetGuard, BudgetRef), String> {
    for g in &cfg.guards {
        if let (Some((account, name)), None) = (&g.aws, &alert.budget_id)
            && alert.account.as_deref() == Some(account.as_str())
            && alert.budget == *name
        {
            return Ok((
                g,
                BudgetRef::Aws {
                    account: account.clone(),
                    name: name.clone(),
                },
            ));
        }
        if let (Some((billing, id)), Some(bid)) = (&g.gcp, &alert.budget_id)
            && alert.account.as_deref() == Some(billing.as_str())
            && bid == id
        {
            return Ok((
                g,
                BudgetRef::Gcp {
                    billing_account: billing.clone(),
                    budget_id: id.clone(),
                },
            ));
        }
    }
    Err(format!(
        "budget `{}` ({}) is no guard's budget: noted, nothing done",
        crate::text::clip(&alert.budget, 80),
        alert
            .account
            .as_deref()
            .map_or("no account".to_owned(), |a| format!(
                "account {}",
                crate::text::clip(a, 40)
            ))
    ))
}

/// Spend the provider stands behind: AWS reports it; for GCP, whose API reports no spend, the
/// message's figure counts once the provider returns the budget with the message's amount.
pub fn confirmed_spend(
    budget: &BudgetRef,
    reading: &Reading,
    alert: Option<&BudgetAlert>,
) -> Result<(Option<f64>, Option<f64>), String> {
    match budget {
        BudgetRef::Aws { .. } => Ok((reading.actual, reading.forecast)),
        BudgetRef::Gcp { .. } => {
            let Some(a) = alert else {
                return Ok((None, None));
            };
            // Not `> 0.005`: a NaN must not pass for a match.
            if (a.budget_amount - reading.limit).abs().partial_cmp(&0.005)
                != Some(std::cmp::Ordering::Less)
            {
                return Err(format!(
                    "the message says the budget is {:.2}, the provider says {:.2}: not confirmed, nothing done",
                    a.budget_amount, reading.limit
                ));
            }
            Ok(match a.basis {
                BudgetBasis::Actual => (Some(a.cost), None),
                BudgetBasis::Forecast => (None, Some(a.cost)),
            })
        }
    }
}

/// One change a step made, with what it replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A scaling service's cap record.
    Cap {
        /// Scaling service.
        service: String,
        /// The cap before (none: no record).
        before: Option<u32>,
        /// The cap set.
        after: u32,
    },
    /// A service's desired count.
    Desired {
        /// The configured service it belongs to.
        compute: crate::plan::ComputeRef,
        /// The platform's service name.
        service: String,
        /// Before.
        before: u32,
        /// Set.
        after: u32,
    },
    /// A Cloud Run service's own maximum.
    Max {
        /// The configured service it belongs to.
        compute: crate::plan::ComputeRef,
        /// The platform's service name.
        service: String,
        /// Before (none: unset).
        before: Option<u32>,
        /// Set.
        after: u32,
    },
    /// The standby-to-zero hold ([`crate::records::holds::STANDBY_HOLD_KEY`]).
    StandbyHold {
        /// Whether a standby hold stood before (then the undo leaves it).
        before: bool,
    },
    /// A GCP project's billing account.
    Billing {
        /// Project id.
        project: String,
        /// The billing account it had (`billingAccounts/...`).
        before: String,
    },
}

impl Change {
    /// Whether `other` changes the same thing.
    pub fn same_target(&self, other: &Change) -> bool {
        match (self, other) {
            (Change::Cap { service: a, .. }, Change::Cap { service: b, .. }) => a == b,
            (
                Change::Desired {
                    compute: a,
                    service: s,
                    ..
                },
                Change::Desired {
                    compute: b,
                    service: t,
                    ..
                },
            )
            | (
                Change::Max {
                    compute: a,
                    service: s,
                    ..
                },
                Change::Max {
                    compute: b,
                    service: t,
                    ..
                },
            ) => a == b && s == t,
            (Change::Billing { project: a, .. }, Change::Billing { project: b, .. }) => a == b,
            (Change::StandbyHold { .. }, Change::StandbyHold { .. }) => true,
            _ => false,
        }
    }

    /// Takes `other`'s after-state (same target), keeping this before-state.
    fn set_after(&mut self, other: &Change) {
        match (self, other) {
            (Change::Cap { after, .. }, Change::Cap { after: a, .. })
            | (Change::Desired { after, .. }, Change::Desired { after: a, .. })
            | (Change::Max { after, .. }, Change::Max { after: a, .. }) => *after = *a,
            _ => {}
        }
    }

    /// One line.
    pub fn describe(&self) -> String {
        match self {
            Change::Cap {
                service,
                before,
                after,
            } => format!(
                "cap of {service}: {} -> {after}",
                before.map_or("none".into(), |b| b.to_string())
            ),
            Change::Desired {
                service,
                before,
                after,
                ..
            } => format!("{service}: {before} -> {after} instances"),
            Change::Max {
                service,
                before,
                after,
                ..
            } => format!(
                "{service} maximum: {} -> {after}",
                before.map_or("unset".into(), |b| b.to_string())
            ),
            Change::Billing { project, before } => {
                format!("{project}: billing {before} -> detached")
            }
            Change::StandbyHold { .. } => "the standby held at 0".to_owned(),
        }
    }
}

/// A step taken in the current period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Taken {
    /// Index in the guard's (sorted) steps.
    pub step: usize,
    /// Its action's name.
    pub action: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Whether it only said what it would do (a step in `dry-run` mode).
    #[serde(rename = "dry_run")]
    pub rehearsed: bool,
    /// What it changed.
    pub changes: Vec<Change>,
    /// Why it is not finished (an effect failed): the step is due again, and what it changed
    /// already stays in `changes` for the undo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<String>,
    /// The events whose attempts at this step left it unfinished, newest last: their journals
    /// hold the before-state of a change whose answer was lost, which the next attempt (under
    /// another event) undoes to, not what the provider shows after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<String>,
}

impl Taken {
    /// Records `change`. A thing changed again by a retry of the same step keeps the first
    /// before-state: the undo puts back what was there before the step, not what its first
    /// attempt left.
    pub fn record(&mut self, change: Change) {
        match self.changes.iter_mut().find(|c| c.same_target(&change)) {
            Some(c) => c.set_after(&change),
            None => self.changes.push(change),
        }
    }
}

/// A guard's record: the period, the steps taken in it, the messages seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuardRecord {
    /// Start of the period the steps belong to.
    pub period: Option<String>,
    /// Steps taken this period, in order.
    pub taken: Vec<Taken>,
    /// Ids of the messages acted on (newest last, at most [`SEEN`]).
    pub seen: Vec<String>,
    /// The spend as the provider last confirmed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,
    /// Changes of a past period whose undo failed: tried again first by every later run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undo_pending: Vec<Change>,
}

/// A budget's spend as the provider confirmed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    /// The budgeted amount.
    pub limit: f64,
    /// Spend so far in the period, where reported.
    pub actual: Option<f64>,
    /// Forecast for the period, where reported.
    pub forecast: Option<f64>,
    /// When it was read.
    pub at: DateTime<Utc>,
}

impl GuardRecord {
    /// Remembers a message id; false when it was seen before.
    pub fn see(&mut self, id: &str) -> bool {
        if self.seen.iter().any(|s| s == id) {
            return false;
        }
        self.seen.push(id.to_owned());
        let excess = self.seen.len().saturating_sub(SEEN);
        self.seen.drain(..excess);
        true
    }

    /// Forgets a message id: a message the provider did not (yet) confirm is judged again when
    /// it is delivered again, once the provider may have caught up.
    pub fn forget(&mut self, id: &str) {
        self.seen.retain(|s| s != id);
    }
}

/// How long a budget's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodUnit {
    /// A calendar day (UTC).
    Day,
    /// A calendar month.
    Month,
    /// A calendar quarter (January, April, July, October).
    Quarter,
    /// A calendar year.
    Year,
}

/// The first day of the current period of a budget that resets every `unit`, as `YYYY-MM-DD`:
/// the period containing `today` (UTC), never before the budget's own start (`start`, when a
/// budget starts in the future or mid-period). AWS reports the start the budget was created
/// with, not the current period's: the current one follows from the unit and the clock.
pub fn period_start(
    unit: PeriodUnit,
    start: Option<chrono::NaiveDate>,
    today: chrono::NaiveDate,
) -> String {
    use chrono::Datelike;
    let (y, m) = (today.year(), today.month());
    let first = match unit {
        PeriodUnit::Day => Some(today),
        PeriodUnit::Month => chrono::NaiveDate::from_ymd_opt(y, m, 1),
        PeriodUnit::Quarter => chrono::NaiveDate::from_ymd_opt(y, (m - 1) / 3 * 3 + 1, 1),
        PeriodUnit::Year => chrono::NaiveDate::from_ymd_opt(y, 1, 1),
    }
    .unwrap_or(today);
    let first = match start {
        Some(s) if s > first => s,
        _ => first,
    };
    first.format("%Y-%m-%d").to_string()
}

/// Whether `reading` is of a later period than the guard's record. Periods only move forward,
/// per guard: a reading of an earlier period (another cloud's budget read by the daily tick, a
/// provider that lags) neither undoes the steps nor lets them be taken again.
pub fn period_moved_on(record: &GuardRecord, reading: &Reading) -> bool {
    record
        .period
        .as_deref()
        .is_none_or(|p| p < reading.period_start.as_str())
}

/// Whether the period moved on since the steps were taken (everything is then undone).
pub fn period_rolled(record: &GuardRecord, reading: &Reading) -> bool {
    record.period.is_some() && period_moved_on(record, reading) && !record.taken.is_empty()
}

/// The steps due: crossed by the confirmed spend on their basis, not taken this period (or
/// taken and left unfinished), in ladder order.
pub fn due(
    guard: &BudgetGuard,
    record: &GuardRecord,
    limit: f64,
    actual: Option<f64>,
    forecast: Option<f64>,
) -> Vec<usize> {
    if limit <= 0.0 {
        return vec![];
    }
    guard
        .steps
        .iter()
        .enumerate()
        .filter(|(i, s)| {
            let spend = match s.basis {
                SpendBasis::Actual => actual,
                SpendBasis::Forecast => forecast,
            };
            spend.is_some_and(|v| v / limit >= s.at)
                && !record.taken.iter().any(|t| {
                    // A step only rehearsed (dry run) is taken for real once it is enforced.
                    t.step == *i
                        && t.unfinished.is_none()
                        && !(t.rehearsed && s.mode == crate::config::StepMode::Enforce)
                })
        })
        .map(|(i, _)| i)
        .collect()
}

/// Every change of the period, last first: the order they are undone in.
pub fn undo_order(record: &GuardRecord) -> Vec<Change> {
    record
        .taken
        .iter()
        .rev()
        .flat_map(|t| t.changes.iter().rev().cloned())
        .collect()
}

#[cfg(test)]
mod tests;
