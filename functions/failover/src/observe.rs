//! What the failover function reads and writes: probe rounds, its vantage view, the shared
//! decision record and the status document.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use twincloud_core::config::FailoverConfig;
use twincloud_core::planner::failover::{
    self, FailoverState, STATE_KEY, STATUS_KEY, VantageView, vantage_key,
};
use twincloud_core::ports::{Precondition, ProbeCheck, StateError, Version, get_json};

use twincloud_runtime::error::RunError;
use twincloud_runtime::services::Services;

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

/// Adds one probe round to this vantage's view. Concurrent invocations of the same vantage
/// (Cloud Run serves 20 requests at once) each add their round: the view is read, updated and
/// written back with a compare-and-swap, retried on a conflict, so no round is lost.
pub(super) async fn record_round(
    services: &Services,
    cfg: &FailoverConfig,
    mine: &mut VantageView,
    results: &[(String, bool, Option<String>)],
    at: DateTime<Utc>,
) -> Result<(), RunError> {
    let apply = |view: &mut VantageView| {
        for (name, ok, error) in results {
            view.endpoints.entry(name.clone()).or_default().observe(
                *ok,
                error.clone(),
                at,
                cfg.threshold,
            );
        }
        view.at = Some(at.max(view.at.unwrap_or(at)));
    };
    let key = vantage_key(&services.vantage);
    for _ in 0..VIEW_WRITE_ATTEMPTS {
        let (mut view, expect) =
            match get_json::<VantageView>(services.state.as_ref(), &key).await? {
                Some((v, version)) => (v, Precondition::Matches(version)),
                None => (
                    VantageView {
                        vantage: services.vantage.clone(),
                        ..Default::default()
                    },
                    Precondition::Absent,
                ),
            };
        apply(&mut view);
        let bytes = serde_json::to_vec(&view).map_err(|e| RunError::Permanent(e.to_string()))?;
        match services.state.put(&key, &bytes, &expect).await {
            Ok(_) => {
                *mine = view;
                return Ok(());
            }
            Err(StateError::ConditionFailed(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RunError::Transient(format!(
        "the view of vantage `{}` kept changing under {VIEW_WRITE_ATTEMPTS} concurrent writers",
        services.vantage
    )))
}

/// Conflicting writers a view update outlasts before giving up for this round.
const VIEW_WRITE_ATTEMPTS: usize = 8;

pub(super) async fn save_status(
    services: &Services,
    cfg: &FailoverConfig,
    state: &FailoverState,
    views: &[VantageView],
    now: DateTime<Utc>,
) -> Result<(), RunError> {
    let doc = failover::status_document(cfg, state, views, now);
    // Conditional on the version just read: when another invocation wrote in between, its
    // document is as fresh as this one, and it stands.
    let expect = match services.state.get(STATUS_KEY).await? {
        Some(v) => Precondition::Matches(v.version),
        None => Precondition::Absent,
    };
    match services
        .state
        .put(STATUS_KEY, doc.to_string().as_bytes(), &expect)
        .await
    {
        Ok(_) | Err(StateError::ConditionFailed(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
