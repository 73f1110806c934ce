//! [`Budgets`] on the Cloud Billing Budget API (`billingAccounts.budgets.get`: the amount and
//! the calendar period; Google reports no spend through it) and [`BillingLink`] on the Cloud
//! Billing API (`projects.getBillingInfo`, `projects.updateBillingInfo`).

use async_trait::async_trait;
use serde_json::{Value, json};
use twincloud_core::planner::budget::{self, BudgetRef, PeriodUnit, Reading};
use twincloud_core::ports::{BillingLink, Budgets, PortError};

use crate::context::GcpContext;

/// Budgets and billing links through Google's billing APIs.
#[derive(Debug, Clone)]
pub struct GcpBilling {
    ctx: GcpContext,
}

impl GcpBilling {
    /// With the context's identity.
    pub fn new(ctx: &GcpContext) -> Self {
        GcpBilling { ctx: ctx.clone() }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Option<Value>, PortError> {
        let token = self.ctx.token().await?;
        let sent = self
            .ctx
            .retry()
            .send(|| {
                let req = self
                    .ctx
                    .authorized(self.ctx.request(method.clone(), url), token.as_deref());
                match body {
                    Some(b) => req.json(b),
                    None => req,
                }
            })
            .await;
        let (resp, _) = match sent {
            Ok(r) => r,
            Err(f) if f.status == Some(404) => return Ok(None),
            Err(f) => return Err(PortError::new(format!("{what}: {}", f.message), f.retry)),
        };
        resp.json()
            .await
            .map(Some)
            .map_err(|e| PortError::transient(format!("{what}: unreadable response: {e}")))
    }
}

/// The first day of the calendar period containing `today` (`MONTH`, `QUARTER`, `YEAR`), or a
/// custom period's start date.
fn period_start(filter: &Value, today: chrono::NaiveDate) -> String {
    if let Some(d) = filter["customPeriod"]["startDate"].as_object() {
        let n = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(1);
        return format!("{:04}-{:02}-{:02}", n("year"), n("month"), n("day"));
    }
    let unit = match filter["calendarPeriod"].as_str() {
        Some("YEAR") => PeriodUnit::Year,
        Some("QUARTER") => PeriodUnit::Quarter,
        _ => PeriodUnit::Month,
    };
    budget::period_start(unit, None, today)
}

fn money(v: &Value) -> Option<f64> {
    let units: f64 = match &v["units"] {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => 0.0,
    };
    let nanos = v["nanos"].as_f64().unwrap_or(0.0);
    Some(units + nanos / 1e9).filter(|m| m.is_finite() && *m >= 0.0)
}

#[async_trait]
impl Budgets for GcpBilling {
    async fn read(&self, budget: &BudgetRef) -> Result<Option<Reading>, PortError> {
        let BudgetRef::Gcp {
            billing_account,
            budget_id,
        } = budget
        else {
            return Err(PortError::permanent(
                "the Budget API reads GCP budgets only",
            ));
        };
        let url = format!(
            "{}/v1/billingAccounts/{billing_account}/budgets/{budget_id}",
            self.ctx.billing_budgets_base()
        );
        let what = format!("GCP budget {budget_id}");
        let Some(b) = self.call(reqwest::Method::GET, &url, None, &what).await? else {
            return Ok(None);
        };
        let limit = money(&b["amount"]["specifiedAmount"]).ok_or_else(|| {
            PortError::permanent(format!(
                "{what}: no specified amount (a budget of last period's spend cannot be confirmed)"
            ))
        })?;
        Ok(Some(Reading {
            limit,
            actual: None,
            forecast: None,
            period_start: period_start(&b["budgetFilter"], chrono::Utc::now().date_naive()),
        }))
    }
}

#[async_trait]
impl BillingLink for GcpBilling {
    async fn account(&self, project: &str) -> Result<Option<String>, PortError> {
        let url = format!(
            "{}/v1/projects/{project}/billingInfo",
            self.ctx.cloud_billing_base()
        );
        let what = format!("billing of project {project}");
        let info = self
            .call(reqwest::Method::GET, &url, None, &what)
            .await?
            .ok_or_else(|| PortError::permanent(format!("{what}: no such project")))?;
        Ok(info["billingAccountName"]
            .as_str()
            .filter(|a| !a.is_empty())
            .map(str::to_owned))
    }

    async fn set_account(&self, project: &str, account: Option<&str>) -> Result<(), PortError> {
        let url = format!(
            "{}/v1/projects/{project}/billingInfo",
            self.ctx.cloud_billing_base()
        );
        let body = json!({ "billingAccountName": account.unwrap_or("") });
        self.call(
            reqwest::Method::PUT,
            &url,
            Some(&body),
            &format!("billing of project {project}"),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_where_the_calendar_says() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).expect("date");
        assert_eq!(period_start(&json!({}), d), "2026-12-01");
        assert_eq!(
            period_start(&json!({"calendarPeriod": "QUARTER"}), d),
            "2026-10-01"
        );
        assert_eq!(
            period_start(&json!({"calendarPeriod": "YEAR"}), d),
            "2026-01-01"
        );
        assert_eq!(
            period_start(
                &json!({"customPeriod": {"startDate": {"year": 2026, "month": 11, "day": 15}}}),
                d
            ),
            "2026-11-15"
        );
        assert_eq!(
            money(&json!({"units": "100", "nanos": 500000000})),
            Some(100.5)
        );
    }
}
