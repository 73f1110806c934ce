//! [`Budgets`] on AWS Budgets: `DescribeBudget` gives the budgeted amount, the actual and
//! forecast spend and the current period, so a budget alert's figures are read back from AWS
//! before anything is done.

use async_trait::async_trait;
use aws_sdk_budgets::types::TimeUnit;
use twincloud_core::planner::budget::{BudgetRef, PeriodUnit, Reading, period_start};
use twincloud_core::ports::{Budgets, ErrorKind, PortError};

use crate::context::AwsContext;
use crate::error::classify;

/// AWS Budgets of the context's credentials.
#[derive(Debug, Clone)]
pub struct AwsBudgets {
    client: aws_sdk_budgets::Client,
}

impl AwsBudgets {
    /// With the context's credentials (Budgets is a global service: us-east-1).
    pub fn new(ctx: &AwsContext) -> Self {
        AwsBudgets {
            client: aws_sdk_budgets::Client::new(ctx.sdk()),
        }
    }
}

fn amount(s: Option<&aws_sdk_budgets::types::Spend>) -> Option<f64> {
    s.and_then(|s| s.amount().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

#[async_trait]
impl Budgets for AwsBudgets {
    async fn read(&self, budget: &BudgetRef) -> Result<Option<Reading>, PortError> {
        let BudgetRef::Aws { account, name } = budget else {
            return Err(PortError::permanent("AWS Budgets reads AWS budgets only"));
        };
        let out = match self
            .client
            .describe_budget()
            .account_id(account)
            .budget_name(name)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let err = classify(&format!("AWS Budgets `{name}` of {account}"), e);
                if err.kind == ErrorKind::NotFound {
                    return Ok(None);
                }
                return Err(err);
            }
        };
        let Some(b) = out.budget() else {
            return Ok(None);
        };
        let limit = amount(b.budget_limit())
            .ok_or_else(|| PortError::permanent(format!("AWS Budgets `{name}` has no amount")))?;
        let spend = b.calculated_spend();
        // `TimePeriod.Start` is when the budget began, set once; the current period follows
        // from its `TimeUnit` and the clock (UTC).
        let start = b
            .time_period()
            .and_then(|t| t.start())
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), 0))
            .map(|t| t.date_naive());
        let unit = match b.time_unit() {
            TimeUnit::Daily => PeriodUnit::Day,
            TimeUnit::Quarterly => PeriodUnit::Quarter,
            TimeUnit::Annually => PeriodUnit::Year,
            _ => PeriodUnit::Month,
        };
        let period_start = period_start(unit, start, chrono::Utc::now().date_naive());
        Ok(Some(Reading {
            limit,
            actual: amount(spend.and_then(|s| s.actual_spend())),
            forecast: amount(spend.and_then(|s| s.forecasted_spend())),
            period_start,
        }))
    }
}
