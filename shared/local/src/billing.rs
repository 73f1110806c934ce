//! Simulated budgets and billing links: `sim/budgets/<name or id>.json` holds a budget's
//! amount, spend and period (`{"limit": 10, "actual": 9.5, "forecast": 12, "period_start":
//! "2026-12-01"}`), `sim/billing/<project>.json` a project's billing account.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use twincloud_core::ids::key_segment;
use twincloud_core::planner::budget::{BudgetRef, Reading};
use twincloud_core::ports::{BillingLink, Budgets, PortError};

use crate::sim::{locked, read, write};

/// Budgets and billing links of the local backend.
#[derive(Debug, Clone)]
pub struct LocalBilling {
    root: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Link {
    account: Option<String>,
}

impl LocalBilling {
    /// Under `root/sim`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBilling { root: root.into() }
    }

    fn budget_path(&self, budget: &BudgetRef) -> PathBuf {
        let name = match budget {
            BudgetRef::Aws { name, .. } => name,
            BudgetRef::Gcp { budget_id, .. } => budget_id,
        };
        self.root
            .join("sim/budgets")
            .join(format!("{}.json", key_segment(name)))
    }

    fn link_path(&self, project: &str) -> PathBuf {
        self.root
            .join("sim/billing")
            .join(format!("{}.json", key_segment(project)))
    }

    /// Sets a simulated budget.
    pub async fn set_budget(&self, budget: &BudgetRef, reading: &Reading) -> Result<(), PortError> {
        let (path, r) = (self.budget_path(budget), reading.clone());
        locked(&self.root, move || write(&path, &r)).await
    }
}

#[async_trait]
impl Budgets for LocalBilling {
    async fn read(&self, budget: &BudgetRef) -> Result<Option<Reading>, PortError> {
        read(&self.budget_path(budget))
    }
}

#[async_trait]
impl BillingLink for LocalBilling {
    async fn account(&self, project: &str) -> Result<Option<String>, PortError> {
        Ok(read::<Link>(&self.link_path(project))?.and_then(|l| l.account))
    }

    async fn set_account(&self, project: &str, account: Option<&str>) -> Result<(), PortError> {
        let (path, link) = (
            self.link_path(project),
            Link {
                account: account.map(str::to_owned),
            },
        );
        locked(&self.root, move || write(&path, &link)).await
    }
}
