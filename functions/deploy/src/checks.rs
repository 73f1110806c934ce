//! One look at a side: the platform's rollout, and once the new revision is up, its checks
//! (health URLs or paths on its own URL, alarms), turned into the planner's observation.

use std::time::Duration;

use twincloud_core::config::{DeploySide, DeployTarget};
use twincloud_core::planner::deploy::{
    self, CheckResults, Observation, Phase, Progress, SideRollout,
};
use twincloud_core::ports::{PortError, ProbeCheck};
use twincloud_core::signal::AlarmState;

use twincloud_runtime::services::{Services, SideRef};

/// Attempts per health URL in one look: a single lost answer is not a failed rollout.
const PROBE_ATTEMPTS: u32 = 2;

/// Looks at `sr` (which has a revision): its progress, its own URL, and its checks once ready.
pub(super) async fn observe(
    services: &Services,
    t: &DeployTarget,
    side: &DeploySide,
    sr: &mut SideRollout,
) -> Result<Observation, PortError> {
    let key = SideRef::new(&t.name, sr.side);
    let deployer = services
        .deployers
        .get(&key)
        .ok_or_else(|| PortError::permanent(format!("no deployer for {}", sr.label)))?;
    let Some(revision) = sr.revision.clone() else {
        return Ok(Observation {
            progress: Progress::InProgress,
            breach: None,
        });
    };
    let (progress, url) = deployer.progress(side.compute.service(), &revision).await?;
    if url.is_some() {
        sr.url = url;
    }
    if progress != Progress::Ready {
        return Ok(Observation {
            progress,
            breach: None,
        });
    }
    let results = checks(services, side, sr, &key).await?;
    Ok(Observation {
        progress,
        breach: deploy::breach(t, &results),
    })
}

async fn checks(
    services: &Services,
    side: &DeploySide,
    sr: &SideRollout,
    key: &SideRef,
) -> Result<CheckResults, PortError> {
    let mut out = CheckResults::default();
    for h in &side.health {
        let url = if h.starts_with('/') {
            match &sr.url {
                Some(base) => format!("{}{h}", base.trim_end_matches('/')),
                None => {
                    out.failed_probes.push((
                        h.clone(),
                        "the new revision has no URL of its own to probe".into(),
                    ));
                    continue;
                }
            }
        } else {
            h.clone()
        };
        if let Some(why) = probe(services, side, &url).await {
            out.failed_probes.push((url, why));
        }
    }
    if let (Some(m), Some(rev)) = (services.revision_metrics.get(key), &sr.revision) {
        let since = match &sr.phase {
            Phase::Deploying { since } | Phase::Step { since, .. } | Phase::Baking { since } => {
                Some(*since)
            }
            _ => None,
        };
        let window = since
            .map(|s| (chrono::Utc::now() - s).num_seconds().unsigned_abs())
            .unwrap_or(60);
        match m.revision_health(side.compute.service(), rev, window).await {
            Ok(h) => {
                out.error_rate = h.error_rate;
                out.p95_ms = h.p95_ms;
            }
            // Transient: looked at again. Permanent (a missing grant, a wrong project): the
            // rollout cannot be verified, which is a failed check, not one skipped.
            Err(e) if e.retry == twincloud_core::ports::Retry::Transient => return Err(e),
            Err(e) => out.failed_probes.push((
                "Cloud Monitoring".into(),
                format!(
                    "request metrics could not be read ({}); grant monitoring.viewer",
                    e.message
                ),
            )),
        }
    }
    if let Some(alarms) = services.side_alarms.get(key) {
        for a in &side.alarms {
            if alarms.state(a).await? == Some(AlarmState::Alarm) {
                out.alarms_firing.push(a.clone());
            }
        }
    }
    Ok(out)
}

/// Why the health URL fails after its attempts (`None`: it answered as expected).
async fn probe(services: &Services, side: &DeploySide, url: &str) -> Option<String> {
    let check = ProbeCheck {
        url: url.to_owned(),
        expect_status: side.expect_status,
        body_contains: None,
        timeout_ms: 5_000,
    };
    let mut last = None;
    for attempt in 1..=PROBE_ATTEMPTS {
        let r = services.prober.probe(&check).await;
        if r.healthy {
            last = None;
            break;
        }
        last = Some(match (r.status, r.error) {
            (Some(s), _) => format!("HTTP {s}"),
            (None, Some(e)) => e,
            (None, None) => "no answer".into(),
        });
        if attempt < PROBE_ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    last
}
