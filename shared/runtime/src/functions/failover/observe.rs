//! What the failover function reads and writes: probe rounds, its vantage view, the shared
//! decision record and the status document.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use twincloud_core::config::FailoverConfig;
use twincloud_core::planner::failover::{
    self, FailoverState, STATE_KEY, STATUS_KEY, VantageView, vantage_key,
};
use twincloud_core::ports::{Precondition, ProbeCheck, Version, get_json};

use crate::error::RunError;
use crate::services::Services;

/// Probes every health path of every endpoint once, concurrently; one verdict per endpoint.
pub(super) async fn probe_round(
    cfg: &FailoverConfig,
    services: &Services,
) -> Vec<(String, bool, Option<String>)> {
    let checks = cfg.endpoints.iter().map(|e| async move {
        let probes = e.health.iter().map(|path| {
            let check = ProbeCheck {
                url: format!("{}{path}", e.url),
                expect_status: e.expect_status,
                body_contains: e.body_contains.clone(),
                timeout_ms: cfg.probe_timeout_ms,
            };
            async move { services.prober.probe(&check).await }
        });
        let results = join_all(probes).await;
        let error = results.iter().find_map(|r| r.error.clone());
        (e.name.clone(), results.iter().all(|r| r.healthy), error)
    });
    join_all(checks).await
}

pub(super) async fn load_state(
    services: &Services,
    cfg: &FailoverConfig,
) -> Result<(FailoverState, Option<Version>), RunError> {
    Ok(
        match get_json::<FailoverState>(services.state.as_ref(), STATE_KEY).await? {
            Some((s, v)) => (s, Some(v)),
            None => (FailoverState::initial(cfg), None),
        },
    )
}

pub(super) async fn load_views(services: &Services) -> Result<Vec<VantageView>, RunError> {
    let mut views = Vec::new();
    for key in services.state.list("failover/vantage/").await? {
        if let Some((v, _)) = get_json::<VantageView>(services.state.as_ref(), &key).await? {
            views.push(v);
        }
    }
    Ok(views)
}

pub(super) async fn save_view(services: &Services, view: &VantageView) -> Result<(), RunError> {
    let bytes = serde_json::to_vec(view).map_err(|e| RunError::Permanent(e.to_string()))?;
    services
        .state
        .put(&vantage_key(&view.vantage), &bytes, &Precondition::None)
        .await?;
    Ok(())
}

pub(super) async fn save_status(
    services: &Services,
    cfg: &FailoverConfig,
    state: &FailoverState,
    views: &[VantageView],
    now: DateTime<Utc>,
) -> Result<(), RunError> {
    let doc = failover::status_document(cfg, state, views, now);
    services
        .state
        .put(STATUS_KEY, doc.to_string().as_bytes(), &Precondition::None)
        .await?;
    Ok(())
}
