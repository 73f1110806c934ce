//! Ports for the budget guard: where a budget is read back (the message is only a hint), and
//! a GCP project's link to its billing account.

use async_trait::async_trait;

use super::PortError;
use crate::planner::budget::{BudgetRef, Reading};

/// Budgets as their provider reports them.
#[async_trait]
pub trait Budgets: Send + Sync {
    /// The budget's amount, spend where reported, and current period; `None` when there is no
    /// such budget.
    async fn read(&self, budget: &BudgetRef) -> Result<Option<Reading>, PortError>;
}

/// A project's billing account (GCP Cloud Billing).
#[async_trait]
pub trait BillingLink: Send + Sync {
    /// The billing account the project is linked to (`billingAccounts/...`); `None` when
    /// billing is detached.
    async fn account(&self, project: &str) -> Result<Option<String>, PortError>;
    /// Links the project to `account`, or detaches billing with `None`.
    async fn set_account(&self, project: &str, account: Option<&str>) -> Result<(), PortError>;
}
