use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::config::Config;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn config(extra: &str) -> DeployConfig {
    let text = format!(
        r#"[project]
name = "x"

[failover]
dns = {{ provider = "local" }}
record = "app.example"
[[failover.endpoints]]
name = "gcp"
cloud = "gcp"
primary = true
url = "http://127.0.0.1:1"
dns_target = "g"
compute = "local"
service = "g"
[[failover.endpoints]]
name = "aws"
cloud = "aws"
url = "http://127.0.0.1:2"
dns_target = "a"
compute = "local"
service = "a"

[[deploy.targets]]
name = "backend"
tags = ["v*", "main-*"]
bake_secs = 300
{extra}
[[deploy.targets.sides]]
image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/backend"
endpoint = "aws"
compute = "ecs"
cluster = "c"
service = "backend"
health = ["https://aws.example/health"]

[[deploy.targets.sides]]
image = "us-central1-docker.pkg.dev/p/images/backend"
endpoint = "gcp"
compute = "cloudrun"
project = "p"
region = "us-central1"
service = "backend"
health = ["/health"]
steps = [20, 50, 100]
step_pause_secs = 60
"#
    );
    Config::parse("t.toml", &text)
        .unwrap_or_else(|e| panic!("{e}"))
        .deploy
        .expect("deploy")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0)
        .single()
        .expect("time")
}

fn ecr(tag: Option<&str>, digest: Option<&str>) -> ImageEvent {
    ImageEvent {
        registry: Registry::Ecr,
        repository: "backend".into(),
        digest: digest.map(str::to_owned),
        tag: tag.map(str::to_owned),
        pushed: true,
    }
}

#[test]
fn only_configured_repositories_and_tags_deploy() {
    let cfg = config("");
    let m = match_push(&cfg, &ecr(Some("v1.2.0"), Some(D1))).expect("deploys");
    assert_eq!(
        m,
        vec![PushMatch {
            target: "backend".into(),
            source_side: 0,
            digest: D1.into(),
            tag: "v1.2.0".into()
        }]
    );
    let e = match_push(&cfg, &ecr(Some("latest"), Some(D1))).expect_err("latest");
    assert!(e.contains("matches no deploy target's tags"), "{e}");
    let e = match_push(&cfg, &ecr(Some("v1"), None)).expect_err("no digest");
    assert!(e.contains("never deployed by name"), "{e}");
    let e = match_push(&cfg, &ecr(Some("v1"), Some("sha256:abc"))).expect_err("bad digest");
    assert!(e.contains("no sha256 digest"), "{e}");
    let mut other = ecr(Some("v1"), Some(D1));
    other.repository = "other".into();
    assert!(match_push(&cfg, &other).is_err());
    let ar = ImageEvent {
        registry: Registry::ArtifactRegistry,
        repository: "us-central1-docker.pkg.dev/p/images/backend".into(),
        digest: Some(D2.into()),
        tag: Some("main-abc".into()),
        pushed: true,
    };
    assert_eq!(match_push(&cfg, &ar).expect("AR push")[0].source_side, 1);
    let mut deleted = ar.clone();
    deleted.pushed = false;
    assert!(match_push(&cfg, &deleted).is_err());
}

#[test]
fn the_standby_goes_first_unless_told_otherwise() {
    let cfg = config("");
    let t = &cfg.targets[0];
    assert_eq!(side_order(t, Some("gcp")), vec![0, 1], "aws is standby");
    assert_eq!(side_order(t, Some("aws")), vec![1, 0]);
    let cfg = config("order = \"primary-first\"");
    assert_eq!(side_order(&cfg.targets[0], Some("gcp")), vec![1, 0]);
    let cfg = config("order = \"listed\"");
    assert_eq!(side_order(&cfg.targets[0], Some("aws")), vec![0, 1]);
}

fn push(d: &str) -> PushMatch {
    PushMatch {
        target: "backend".into(),
        source_side: 0,
        digest: d.into(),
        tag: "v1".into(),
    }
}

#[test]
fn repeats_and_replays_deploy_nothing_and_a_newer_push_supersedes() {
    let cfg = config("");
    let t = &cfg.targets[0];
    let mut rec = DeployRecord::default();
    let Begin::Start {
        rollout,
        superseded,
    } = begin(t, &rec, &[0, 1], &push(D1), "ecr", false, t0())
    else {
        panic!("starts")
    };
    assert_eq!(superseded, None);
    assert_eq!(rollout.sides.len(), 2);
    let mut started = rollout.clone();
    started.sides[0].previous = Some("td:7".into());
    started.sides[0].phase = Phase::Deploying { since: t0() };
    rec.rollout = Some(started);
    remember(&mut rec, D1);
    // The same digest again (a redelivery, a second tag of the same image).
    assert!(matches!(
        begin(t, &rec, &[0, 1], &push(D1), "ecr", false, t0()),
        Begin::Skip(_)
    ));
    // A newer digest stops the old rollout and keeps its last good revision to go back to.
    let Begin::Start {
        rollout: newer,
        superseded,
    } = begin(t, &rec, &[0, 1], &push(D2), "ecr", false, t0())
    else {
        panic!("supersedes")
    };
    assert_eq!(superseded.as_deref(), Some(D1));
    assert_eq!(newer.sides[0].previous.as_deref(), Some("td:7"));
    // Once D1 ended, a replayed push of it is refused; a command may force it.
    rec.rollout.as_mut().expect("r").outcome = Some(Outcome::Deployed);
    rec.rollout.as_mut().expect("r").digest = D2.into();
    match begin(t, &rec, &[0, 1], &push(D1), "ecr", false, t0()) {
        Begin::Skip(why) => assert!(why.contains("replayed"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        begin(t, &rec, &[0, 1], &push(D1), "cli:me", true, t0()),
        Begin::Start { .. }
    ));
}

#[test]
fn short_digests_never_cut_a_character() {
    assert_eq!(short(D1), "sha256:111111111111");
    assert_eq!(short("sha256:ééééééééééééééé"), "sha256:éééééééééééé");
    assert_eq!(short("x"), "x");
}

#[test]
fn history_is_bounded() {
    let mut rec = DeployRecord::default();
    for i in 0..(HISTORY + 10) {
        remember(&mut rec, &format!("sha256:{i:064}"));
    }
    assert_eq!(rec.history.len(), HISTORY);
    assert_eq!(
        rec.history.last().map(String::as_str),
        Some(format!("sha256:{:064}", HISTORY + 9).as_str())
    );
}

fn ready() -> Observation {
    Observation {
        progress: Progress::Ready,
        breach: None,
    }
}

#[test]
fn cloud_run_walks_the_traffic_steps_with_pauses_then_bakes() {
    let cfg = config("");
    let t = &cfg.targets[0];
    let side = &t.sides[1];
    let (step, phase) = advance(t, side, &Phase::Waiting, None, t0());
    assert_eq!(step, SideStep::Create);
    let (step, phase) = advance(t, side, &phase, Some(&ready()), t0());
    assert_eq!(step, SideStep::Traffic(20));
    // Within the pause: wait.
    let (step, same) = advance(
        t,
        side,
        &phase,
        Some(&ready()),
        t0() + Duration::seconds(30),
    );
    assert_eq!(step, SideStep::WaitUntil(t0() + Duration::seconds(60)));
    assert_eq!(same, phase);
    let t1 = t0() + Duration::seconds(60);
    let (step, phase) = advance(t, side, &phase, Some(&ready()), t1);
    assert_eq!(step, SideStep::Traffic(50));
    let t2 = t1 + Duration::seconds(60);
    let (step, phase) = advance(t, side, &phase, Some(&ready()), t2);
    assert_eq!(step, SideStep::Traffic(100));
    let t3 = t2 + Duration::seconds(60);
    let (step, phase) = advance(t, side, &phase, Some(&ready()), t3);
    assert_eq!(step, SideStep::WaitUntil(t3 + Duration::seconds(300)));
    assert_eq!(phase, Phase::Baking { since: t3 });
    let (step, phase) = advance(t, side, &phase, Some(&ready()), t3 + Duration::seconds(300));
    assert_eq!(step, SideStep::Finish);
    assert!(phase.is_final());
}

#[test]
fn a_breach_at_any_step_rolls_back_and_a_stuck_rollout_times_out() {
    let cfg = config("rollout_timeout_secs = 600");
    let t = &cfg.targets[0];
    let side = &t.sides[0];
    let bad = Observation {
        progress: Progress::Ready,
        breach: Some("health check failed".into()),
    };
    for phase in [
        Phase::Deploying { since: t0() },
        Phase::Step {
            index: 0,
            since: t0(),
        },
        Phase::Baking { since: t0() },
    ] {
        let (step, after) = advance(t, side, &phase, Some(&bad), t0());
        assert!(
            matches!(step, SideStep::RollBack(ref r) if r.contains("health")),
            "{step:?}"
        );
        assert!(matches!(after, Phase::RolledBack { .. }));
    }
    let failed = Observation {
        progress: Progress::Failed("circuit breaker".into()),
        breach: None,
    };
    let (step, _) = advance(
        t,
        side,
        &Phase::Deploying { since: t0() },
        Some(&failed),
        t0(),
    );
    assert!(matches!(step, SideStep::RollBack(ref r) if r.contains("circuit breaker")));
    let slow = Observation {
        progress: Progress::InProgress,
        breach: None,
    };
    let (step, _) = advance(
        t,
        side,
        &Phase::Deploying { since: t0() },
        Some(&slow),
        t0(),
    );
    assert!(matches!(step, SideStep::WaitUntil(_)));
    let (step, _) = advance(
        t,
        side,
        &Phase::Deploying { since: t0() },
        Some(&slow),
        t0() + Duration::seconds(600),
    );
    assert!(matches!(step, SideStep::RollBack(ref r) if r.contains("not ready within 600")));
    // ECS has no traffic steps: ready goes straight to the bake.
    let (_, phase) = advance(
        t,
        side,
        &Phase::Deploying { since: t0() },
        Some(&ready()),
        t0(),
    );
    assert_eq!(phase, Phase::Baking { since: t0() });
    // A final phase stays final whatever is seen.
    let done = Phase::Done { at: t0() };
    assert_eq!(advance(t, side, &done, Some(&bad), t0()).1, done);
}

#[test]
fn a_rollback_takes_the_done_sides_back_unless_configured_otherwise() {
    let cfg = config("");
    let t = &cfg.targets[0];
    let mut r = match begin(
        t,
        &DeployRecord::default(),
        &[0, 1],
        &push(D1),
        "x",
        false,
        t0(),
    ) {
        Begin::Start { rollout, .. } => rollout,
        Begin::Skip(w) => panic!("{w}"),
    };
    r.sides[0].phase = Phase::Done { at: t0() };
    r.sides[1].phase = Phase::RolledBack {
        reason: "p95".into(),
        at: t0(),
    };
    assert_eq!(after_rollback(t, &r), (vec![0], vec![]));
    let cfg = config("all_or_nothing = false");
    assert_eq!(after_rollback(&cfg.targets[0], &r), (vec![], vec![]));
    r.sides[0].phase = Phase::RolledBack {
        reason: "x".into(),
        at: t0(),
    };
    r.sides[1].phase = Phase::Waiting;
    assert_eq!(after_rollback(t, &r), (vec![], vec![1]));
}

#[test]
fn thresholds_as_in_the_runbook() {
    let cfg = config("");
    let t = &cfg.targets[0];
    assert_eq!(breach(t, &CheckResults::default()), None);
    let c = CheckResults {
        error_rate: Some(0.051),
        ..CheckResults::default()
    };
    assert!(breach(t, &c).expect("5 %").contains("error rate 5.1 %"));
    let c = CheckResults {
        error_rate: Some(0.05),
        p95_ms: Some(2100.0),
        ..CheckResults::default()
    };
    assert!(breach(t, &c).expect("p95").contains("p95 latency 2100 ms"));
}

#[test]
fn configuration_mistakes_are_named() {
    let bad = |tags: &str, side: &str| {
        let tags = if tags.is_empty() { "['v*']" } else { tags };
        let text = format!(
            "[project]\nname='x'\n[[deploy.targets]]\nname='b'\ntags={tags}\n\n[[deploy.targets.sides]]\ncompute='ecs'\ncluster='c'\nservice='s'\nhealth=['https://x/h']\n{side}\n"
        );
        Config::parse("t.toml", &text)
            .expect_err("refused")
            .to_string()
    };
    assert!(bad("", "image='ecr.example/Backend:v1'").contains("without tag or digest"));
    assert!(bad("", "image='h/b'\nsteps=[20,100]").contains("splits traffic"));
    assert!(bad("['*']", "image='h/b'").contains("every push"));
    assert!(bad("", "image='h/b'\nregistry_auth='magic'").contains("one of ecr, google"));
    let ok = "[project]\nname='x'\n[[deploy.targets]]\nname='b'\ntags=['v*']\n[[deploy.targets.sides]]\ncompute='cloudrun'\nproject='p'\nregion='r'\nservice='s'\nimage='europe-docker.pkg.dev/p/r/b'\nsteps=[50, 40]\n";
    assert!(
        Config::parse("t.toml", ok)
            .expect_err("falling steps")
            .to_string()
            .contains("rising percentages")
    );
    // A load balancer backend is watched on GKE only, and is enough of a watch there.
    assert!(bad("", "image='h/b'\nlb_backend='k8s1-b'").contains("needs a GKE cluster"));
    let gke = "[project]\nname='x'\n[[deploy.targets]]\nname='b'\ntags=['v*']\n[[deploy.targets.sides]]\ncompute='kubernetes'\nproject='p'\nlocation='l'\ncluster='c'\ndeployment='b'\nimage='h/b'\n";
    let e = Config::parse("t.toml", gke)
        .expect_err("unwatched")
        .to_string();
    assert!(e.contains("cannot be verified"), "{e}");
    let c =
        Config::parse("t.toml", &format!("{gke}lb_backend='k8s1-prod-b-80'\n")).expect("watched");
    let side = &c.deploy.expect("deploy").targets[0].sides[0];
    assert_eq!(side.lb_backend.as_deref(), Some("k8s1-prod-b-80"));
    let e = Config::parse("t.toml", &format!("{gke}lb_backend='Bad_Name'\n"))
        .expect_err("bad name")
        .to_string();
    assert!(e.contains("is not a backend service name"), "{e}");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// One look at a side: progress and whether a check failed.
    fn look() -> impl Strategy<Value = (u8, bool, i64)> {
        // progress: 0 in progress, 1 ready (most), 2 failed; a breach now and then; seconds
        // since the last look.
        (
            prop_oneof![1 => Just(0u8), 8 => Just(1u8), 1 => Just(2u8)],
            proptest::bool::weighted(0.1),
            0i64..400,
        )
    }

    proptest! {
        /// Whatever a side's looks say: traffic only ever rises until the side ends; it ends
        /// rolled back exactly when a look showed a breach or a failed rollout (or it timed
        /// out), and verified only after 100 % and the whole bake; nothing follows the end.
        #[test]
        fn a_side_only_moves_forward_and_rolls_back_exactly_on_bad_news(
            looks in proptest::collection::vec(look(), 1..60)
        ) {
            let cfg = config("rollout_timeout_secs = 900");
            let t = &cfg.targets[0];
            let side = &t.sides[1]; // Cloud Run: steps 20, 50, 100, 60 s apart; bake 300 s
            let mut now = t0();
            let (first, mut phase) = advance(t, side, &Phase::Waiting, None, now);
            prop_assert_eq!(first, SideStep::Create);
            let mut traffic = 0u8;
            let mut bad_news = false;
            let mut baked_from = None;
            for (progress, breach, secs) in looks {
                now += Duration::seconds(secs);
                let obs = Observation {
                    progress: match progress {
                        0 => Progress::InProgress,
                        1 => Progress::Ready,
                        _ => Progress::Failed("circuit breaker".into()),
                    },
                    breach: breach.then(|| "health check failed".to_owned()),
                };
                let was_final = phase.is_final();
                let (step, next) = advance(t, side, &phase, Some(&obs), now);
                if was_final {
                    prop_assert_eq!(&next, &phase, "nothing follows the end");
                    continue;
                }
                let bad = obs.breach.is_some() || matches!(obs.progress, Progress::Failed(_));
                bad_news |= bad;
                match &step {
                    SideStep::Traffic(p) => {
                        prop_assert!(*p > traffic, "traffic rises: {} after {}", p, traffic);
                        traffic = *p;
                    }
                    SideStep::RollBack(_) => {
                        let timed_out = matches!(phase, Phase::Deploying { .. });
                        prop_assert!(bad || timed_out, "a rollback needs bad news or a timeout");
                    }
                    SideStep::Finish => {
                        prop_assert_eq!(traffic, 100);
                        let since: DateTime<Utc> = baked_from.expect("baked");
                        prop_assert!(now - since >= Duration::seconds(300));
                    }
                    _ => {}
                }
                if bad {
                    prop_assert!(matches!(step, SideStep::RollBack(_)), "bad news rolls back: {:?}", step);
                }
                if let Phase::Baking { since } = &next {
                    baked_from = Some(*since);
                }
                phase = next;
            }
            if matches!(phase, Phase::Done { .. }) {
                prop_assert!(!bad_news, "a side with bad news is never verified");
            }
        }
    }
}

#[test]
fn an_image_reference_is_a_repository_and_a_digest_or_it_says_what_is_wrong() {
    let d = format!("sha256:{}", "a".repeat(64));
    let ok = format!("us-docker.pkg.dev/p/r/app@{d}");
    assert_eq!(
        image_reference(&ok),
        Ok(("us-docker.pkg.dev/p/r/app", d.as_str()))
    );
    assert!(image_reference(&format!("localhost:5000/app@{d}")).is_ok());
    assert!(image_reference(&format!("app@{d}")).is_ok());
    for (bad, says) in [
        (format!("@{d}"), "no repository"),
        (format!("HOST.example/App@{d}"), "no repository name"),
        (format!("https://host.example/app@{d}"), "no scheme"),
        (format!("host.example//app@{d}"), "separated by one `/`"),
        (format!("host.example/app/@{d}"), "separated by one `/`"),
        (
            "host.example/app:latest".to_owned(),
            "a tag is never deployed",
        ),
        (
            format!("host.example/app@sha256:{}", "A".repeat(64)),
            "no sha256 digest",
        ),
    ] {
        let e = image_reference(&bad).expect_err(&bad);
        assert!(e.contains(says), "{bad}: {e}");
    }
}
