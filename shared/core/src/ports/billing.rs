//! Ports for the budget guard: where a budget is read back (the message is only a hint), and
//! a GCP project's link to its billing account.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortError;

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

/// Which provider's budget a guard reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum BudgetRef {
    /// AWS Budgets: account and budget name.
    Aws {
        /// Account id.
        account: String,
        /// Budget name.
        name: String,
    },
    /// GCP Billing Budget API: billing account and budget id.
    Gcp {
        /// Billing account id.
        billing_account: String,
        /// Budget id.
        budget_id: String,
    },
}

/// What the provider says of a budget now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The budgeted amount.
    pub limit: f64,
    /// Spend so far in the period, where the provider reports it (AWS; GCP does not).
    pub actual: Option<f64>,
    /// Forecast spend for the period, where reported.
    pub forecast: Option<f64>,
    /// Start of the current budget period (ISO date).
    pub period_start: String,
}
