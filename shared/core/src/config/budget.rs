//! `[budget]`: guards that answer budget alerts with a ladder of verified, reversible steps.
//!
//! ```toml
//! [[budget.guards]]
//! name = "aion-monthly"
//! aws_account = "123456789012"         # answers AWS Budgets alerts of this account and budget
//! aws_budget = "aion-monthly"
//! gcp_billing_account = "01D4EE-079462-DFD6EC"   # and GCP budget notifications of this one
//! gcp_budget_id = "de72f49d-779b-4945-a127-4d6ce8def0bb"
//!
//! [[budget.guards.steps]]
//! at = 0.8                             # a fraction of the budgeted amount
//! action = "notify"
//!
//! [[budget.guards.steps]]
//! at = 0.9
//! basis = "forecast"                   # actual (default) or forecast spend
//! action = "cap"                       # a [[scaling.services]] entry kept at most `max`
//! service = "backend-gcp"
//! max = 2
//! mode = "enforce"                     # dry-run (default): says what it would do
//!
//! [[budget.guards.steps]]
//! at = 1.0
//! action = "standby-to-zero"           # the failover standby to 0, unless it is serving
//! mode = "enforce"
//!
//! [[budget.guards.steps]]
//! at = 1.0
//! action = "stop"                      # [[scaling.services]] entries to 0
//! services = ["batch-worker"]
//!
//! [[budget.guards.steps]]
//! at = 1.5
//! action = "detach-billing"            # projects.updateBillingInfo: everything in it stops
//! project = "aion-sandbox"
//! enable_detach = "aion-sandbox"       # the project named again, or the step is refused
//! ```

use serde::Deserialize;

use super::table;

/// A validated `[budget]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// The guards, in file order.
    pub guards: Vec<BudgetGuard>,
}

/// Whether a step looks at money spent or forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpendBasis {
    /// Spent so far in the period.
    Actual,
    /// Forecast for the period.
    Forecast,
}

/// Whether a step acts or only says what it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepMode {
    /// Says what it would do (the default).
    DryRun,
    /// Acts.
    Enforce,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetAction {
    /// A message, nothing else.
    Notify,
    /// A scaling service kept at most `max` instances (its cap record, and its desired count and
    /// Cloud Run maximum lowered now).
    Cap {
        /// The `[[scaling.services]]` name.
        service: String,
        /// Most instances.
        max: u32,
    },
    /// The failover standby scaled to zero, unless it serves traffic.
    StandbyToZero,
    /// Scaling services stopped (cap 0, desired 0).
    Stop {
        /// `[[scaling.services]]` names.
        services: Vec<String>,
    },
    /// Billing detached from a GCP project.
    DetachBilling {
        /// The project.
        project: String,
    },
}

impl BudgetAction {
    /// The action's name in configuration and messages.
    pub fn name(&self) -> &'static str {
        match self {
            BudgetAction::Notify => "notify",
            BudgetAction::Cap { .. } => "cap",
            BudgetAction::StandbyToZero => "standby-to-zero",
            BudgetAction::Stop { .. } => "stop",
            BudgetAction::DetachBilling { .. } => "detach-billing",
        }
    }
}

/// One rung of a guard's ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStep {
    /// Threshold as a fraction of the budgeted amount.
    pub at: f64,
    /// Actual or forecast spend.
    pub basis: SpendBasis,
    /// What it does.
    pub action: BudgetAction,
    /// Dry run or enforce.
    pub mode: StepMode,
}

/// One guard: the budgets it answers to and its ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetGuard {
    /// Unique name (`twincloud budget restore NAME`).
    pub name: String,
    /// AWS account and budget name.
    pub aws: Option<(String, String)>,
    /// GCP billing account and budget id.
    pub gcp: Option<(String, String)>,
    /// The steps, lowest threshold first.
    pub steps: Vec<BudgetStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudget {
    #[serde(default)]
    guards: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuard {
    name: String,
    #[serde(default)]
    aws_account: Option<String>,
    #[serde(default)]
    aws_budget: Option<String>,
    #[serde(default)]
    gcp_billing_account: Option<String>,
    #[serde(default)]
    gcp_budget_id: Option<String>,
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: f64,
    #[serde(default)]
    basis: Option<SpendBasis>,
    action: String,
    #[serde(default)]
    mode: Option<StepMode>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    max: Option<u32>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    enable_detach: Option<String>,
}

/// A scaling service a step may name: its name, its `min`, and whether a failover side
/// depends on it (an `endpoint`).
pub(super) type Named = (String, u32, bool);

/// Checks `[budget]`; `scaling` are the scaling services steps may name; `has_failover`
/// whether a standby exists.
pub(super) fn validate(
    raw: RawBudget,
    scaling: &[Named],
    has_failover: bool,
    problem: &dyn Fn(std::ops::Range<usize>, String),
) -> BudgetConfig {
    let guards = table::entries(raw.guards, problem, |t, earlier, at| {
        guard(t, earlier, scaling, has_failover, at)
    });
    BudgetConfig { guards }
}

fn guard(
    table: toml::Table,
    earlier: &[BudgetGuard],
    scaling: &[Named],
    has_failover: bool,
    at: &dyn Fn(String),
) -> Option<BudgetGuard> {
    let what = format!("budget guard `{}`", table::name(&table));
    let here = |m: String| at(format!("{what}: {m}"));
    let r: RawGuard = table::read(table, &what, "a budget guard")
        .map_err(at)
        .ok()?;
    if r.name.trim().is_empty() || r.name.contains('/') {
        here("`name` must be set, without `/`".into());
    }
    if earlier.iter().any(|g| g.name == r.name) {
        here("defined twice".into());
    }
    let pair = |a: Option<String>, b: Option<String>, ka: &str, kb: &str| match (a, b) {
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        _ => {
            here(format!("`{ka}` and `{kb}` go together"));
            None
        }
    };
    let aws = pair(r.aws_account, r.aws_budget, "aws_account", "aws_budget");
    if let Some((acct, _)) = &aws
        && !(acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()))
    {
        here(format!("`aws_account` = `{acct}`: twelve digits"));
    }
    let gcp = pair(
        r.gcp_billing_account,
        r.gcp_budget_id,
        "gcp_billing_account",
        "gcp_budget_id",
    );
    if aws.is_none() && gcp.is_none() {
        here("name the budgets it answers to (aws_account and aws_budget, gcp_billing_account and gcp_budget_id)".into());
    }
    let mut steps = Vec::new();
    let steps_given = r.steps.len();
    for (i, s) in r.steps.into_iter().enumerate() {
        let step = format!("step {}", i + 1);
        if !(0.01..=10.0).contains(&s.at) {
            here(format!(
                "{step}: `at` = {} is not a fraction of the budget between 0.01 and 10",
                s.at
            ));
            continue;
        }
        let known = |n: &String| {
            if scaling.iter().any(|(s, _, _)| s == n) {
                true
            } else {
                here(format!("{step}: `{n}` is not a [[scaling.services]] entry"));
                false
            }
        };
        let action = match s.action.as_str() {
            "notify" => BudgetAction::Notify,
            "cap" => match (s.service, s.max) {
                (Some(service), Some(max)) if known(&service) => BudgetAction::Cap { service, max },
                (Some(_), Some(_)) => continue,
                _ => {
                    here(format!("{step}: `cap` needs `service` and `max`"));
                    continue;
                }
            },
            "standby-to-zero" => {
                if !has_failover {
                    here(format!(
                        "{step}: `standby-to-zero` needs a [failover] section"
                    ));
                }
                BudgetAction::StandbyToZero
            }
            "stop" => {
                if s.services.is_empty() {
                    here(format!(
                        "{step}: `stop` needs `services`, [[scaling.services]] names"
                    ));
                    continue;
                }
                // Each unknown name is said once, by `known` (every name is checked).
                let unknown = s.services.iter().filter(|n| !known(n)).count();
                if unknown > 0 {
                    continue;
                }
                // A stop holds a service at 0: only one that may be at 0 (`min = 0`) and that
                // no failover side depends on (the standby has `standby-to-zero`).
                let unstoppable: Vec<String> = scaling
                    .iter()
                    .filter(|(n, min, side)| s.services.contains(n) && (*min > 0 || *side))
                    .map(|(n, min, side)| {
                        if *side {
                            format!("`{n}` serves a failover side (use `standby-to-zero`)")
                        } else {
                            format!("`{n}` has min = {min}")
                        }
                    })
                    .collect();
                if !unstoppable.is_empty() {
                    here(format!(
                        "{step}: `stop` takes only services with min = 0 and no failover endpoint: {}",
                        unstoppable.join(", ")
                    ));
                    continue;
                }
                BudgetAction::Stop {
                    services: s.services,
                }
            }
            "detach-billing" => match (s.project, s.enable_detach) {
                (Some(p), Some(e)) if p == e => BudgetAction::DetachBilling { project: p },
                (Some(p), _) => {
                    here(format!(
                        "{step}: detaching billing stops everything in `{p}` and may delete resources: enable it with enable_detach = \"{p}\""
                    ));
                    continue;
                }
                (None, _) => {
                    here(format!("{step}: `detach-billing` needs `project`"));
                    continue;
                }
            },
            other => {
                here(format!(
                    "{step}: unknown action `{other}` (notify, cap, standby-to-zero, stop, detach-billing)"
                ));
                continue;
            }
        };
        steps.push(BudgetStep {
            at: s.at,
            basis: s.basis.unwrap_or(SpendBasis::Actual),
            mode: s.mode.unwrap_or(StepMode::DryRun),
            action,
        });
    }
    if steps_given == 0 {
        here("needs at least one [[budget.guards.steps]]".into());
    }
    steps.sort_by(|a, b| a.at.total_cmp(&b.at));
    Some(BudgetGuard {
        name: r.name,
        aws,
        gcp,
        steps,
    })
}
