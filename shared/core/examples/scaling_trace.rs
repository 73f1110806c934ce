//! Replays a day of load through three ways of sizing a two-cloud service and prints a table:
//! a fixed capacity at the seeds' minimum, ECS target tracking as AWS documents it (each side
//! on its own), and twincloud's scaling planner (both sides, failover-aware).
//!
//!   cargo run --release -p twincloud-core --example scaling_trace            # bench/scaling_trace.csv
//!   cargo run --release -p twincloud-core --example scaling_trace -- --write # regenerate the trace
//!
//! The trace (kept in `bench/scaling_trace.csv`): demand in instances a minute, a diurnal curve
//! from 3 to 24 with ±8 % noise, a spike to +18 at 14:00 for 20 minutes, and a failover from
//! the primary to the standby at 12:00. New instances take 2 minutes to be ready, for all three.

use chrono::{TimeZone, Utc};
use twincloud_core::config::{Config, Metric, ScalingService};
use twincloud_core::planner::scaling::{Role, ScalingInputs, ScalingRecord, decide};

const MINUTES: usize = 24 * 60;
const FAILOVER_AT: usize = 12 * 60;
/// The failover function's switch is in flight this long before traffic moves (detection
/// rounds, the standby scaled up and ready).
const SWITCH_MINUTES: usize = 3;
const READY_AFTER: usize = 2;
const TRACE: &str = "bench/scaling_trace.csv";

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The demand of each minute, deterministic (a linear congruential generator for the noise).
fn generate() -> Vec<f64> {
    let mut seed: u64 = 0x5eed_2026_1129;
    let mut noise = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as f64 / f64::from(u32::MAX >> 1)) * 0.16 - 0.08
    };
    (0..MINUTES)
        .map(|m| {
            let hour = m as f64 / 60.0;
            let diurnal =
                3.0 + 21.0 * (((hour - 6.0) / 24.0 * std::f64::consts::TAU).sin().max(0.0));
            let spike = if (14 * 60..14 * 60 + 20).contains(&m) {
                18.0
            } else {
                0.0
            };
            ((diurnal + spike) * (1.0 + noise())).max(0.5)
        })
        .collect()
}

fn load() -> Vec<f64> {
    let text = std::fs::read_to_string(root().join(TRACE))
        .unwrap_or_else(|e| panic!("{TRACE}: {e} (run with --write once)"));
    text.lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.trim().parse().ok())
        .collect()
}

/// Capacity that is ready at minute `m`: desired counts rise after READY_AFTER minutes, fall
/// at once.
fn ready(history: &[u32], m: usize) -> u32 {
    let now = history[m];
    let past = history[m.saturating_sub(READY_AFTER)];
    now.min(past.max(if m < READY_AFTER { now } else { past }))
}

struct Outcome {
    instance_minutes: u64,
    under: u32,
    under_after_failover: u32,
}

/// Walks the day: `desired(m, side, active, demand, ready)` gives each side's desired count.
fn simulate(
    demand: &[f64],
    mut step: impl FnMut(usize, usize, bool, f64, u32) -> u32,
    start: [u32; 2],
) -> Outcome {
    let mut hist: [Vec<u32>; 2] = [vec![start[0]], vec![start[1]]];
    let (mut im, mut under, mut after) = (0u64, 0u32, 0u32);
    for (m, d) in demand.iter().enumerate() {
        let active = usize::from(m >= FAILOVER_AT);
        for (side, h) in hist.iter_mut().enumerate() {
            let cap = ready(h, h.len() - 1);
            let load = if side == active { *d } else { 0.0 };
            let next = step(m, side, side == active, load, cap);
            h.push(next);
            im += u64::from(next);
        }
        let cap = ready(&hist[active], hist[active].len() - 1);
        if f64::from(cap) < *d {
            under += 1;
            if (FAILOVER_AT..FAILOVER_AT + 30).contains(&m) {
                after += 1;
            }
        }
    }
    Outcome {
        instance_minutes: im,
        under,
        under_after_failover: after,
    }
}

/// ECS target tracking as documented: a scale-out alarm on 3 of 3 one-minute datapoints above
/// the target, a scale-in alarm on 15 of 15 below 90 % of it; new capacity proportional to the
/// metric; cooldowns 60 s out, 300 s in; each side sees only its own load.
fn target_tracking(demand: &[f64], min: u32, max: u32) -> Outcome {
    let target = 70.0;
    let mut above = [0u32; 2];
    let mut below = [0u32; 2];
    let mut last_change = [None::<usize>; 2];
    let mut desired = [min, min];
    simulate(
        demand,
        |m, side, _active, load, cap| {
            let util = if cap == 0 {
                100.0
            } else {
                load / f64::from(cap) * 100.0
            };
            if util > target {
                above[side] += 1;
                below[side] = 0;
            } else if util < target * 0.9 {
                below[side] += 1;
                above[side] = 0;
            } else {
                above[side] = 0;
                below[side] = 0;
            }
            let since = last_change[side].map_or(usize::MAX, |t| m - t);
            let want = (f64::from(desired[side].max(1)) * util / target).ceil() as u32;
            let out = above[side] >= 3 && since >= 1 && want > desired[side];
            let inward = below[side] >= 15 && since >= 5 && want < desired[side];
            if out || inward {
                desired[side] = want.clamp(min, max);
                last_change[side] = Some(m);
            }
            desired[side]
        },
        [min, min],
    )
}

fn policy() -> ScalingService {
    let text = r#"[project]
name = "bench"

[failover]
record = "api.example."

[[failover.endpoints]]
name = "a"
cloud = "gcp"
primary = true
url = "http://a"
dns_target = "a."
compute = "local"
service = "a"

[[failover.endpoints]]
name = "b"
cloud = "aws"
url = "http://b"
dns_target = "b."
compute = "local"
service = "b"

[[scaling.services]]
name = "a"
compute = "local"
service = "a"
endpoint = "a"
min = 2
max = 50
targets = { cpu = 70 }
cooldown_out_secs = 60
cooldown_in_secs = 300
stabilization_secs = 300
max_step = 20
warm_fraction = 0.25
"#;
    let mut c = Config::parse("bench.toml", text).unwrap_or_else(|e| panic!("{e}"));
    c.scaling
        .take()
        .map(|s| s.services[0].clone())
        .unwrap_or_else(|| panic!("no policy"))
}

fn twincloud(demand: &[f64], warm: f64) -> Outcome {
    let mut p = policy();
    p.warm_fraction = warm;
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 30, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let mut records = [ScalingRecord::default(), ScalingRecord::default()];
    let mut desired = [p.min, p.min];
    let mut carried: Option<u32> = None;
    simulate(
        demand,
        |m, side, active, load, cap| {
            if m == FAILOVER_AT && side == 0 {
                carried = Some(desired[0]);
            }
            let util = if cap == 0 {
                100.0
            } else {
                load / f64::from(cap) * 100.0
            };
            let metrics = [(Metric::Cpu, util)];
            let role = if active {
                Role::Active
            } else {
                Role::Standby {
                    active_capacity: desired[1 - side],
                }
            };
            let id = format!("{m}-{side}");
            let d = decide(&ScalingInputs {
                policy: &p,
                now: t0 + chrono::Duration::minutes(m as i64),
                event_id: &id,
                current: desired[side],
                metrics: if active { &metrics } else { &[] },
                step_add: 0,
                role,
                switching: (FAILOVER_AT - SWITCH_MINUTES..FAILOVER_AT).contains(&m),
                carried: if active && (FAILOVER_AT..FAILOVER_AT + 10).contains(&m) {
                    carried
                } else {
                    None
                },
                cap: None,
                record: &records[side],
                unfinished: false,
            });
            records[side] = d.record;
            if let Some(n) = d.set {
                desired[side] = n;
            }
            desired[side]
        },
        [p.min, p.min],
    )
}

fn main() {
    if std::env::args().any(|a| a == "--write") {
        let mut out = String::from("minute,demand\n");
        for (m, d) in generate().iter().enumerate() {
            out.push_str(&format!("{m},{d:.2}\n"));
        }
        std::fs::write(root().join(TRACE), out).unwrap_or_else(|e| panic!("{TRACE}: {e}"));
        println!("wrote {TRACE}");
        return;
    }
    let demand = load();
    let fixed = simulate(&demand, |_, _, _, _, _| 2, [2, 2]);
    let tt = target_tracking(&demand, 2, 50);
    let tc = twincloud(&demand, 0.25);
    let tc10 = twincloud(&demand, 0.10);
    println!(
        "| sizing | instance-minutes | minutes under-provisioned | of which in the 30 min after the failover |"
    );
    println!("|---|---:|---:|---:|");
    for (name, o) in [
        ("fixed at the seeds' minimum (2 a side)", &fixed),
        ("ECS target tracking, each side alone (CPU 70 %)", &tt),
        ("twincloud scaling (CPU 70 %, standby 25 %)", &tc),
        ("twincloud scaling (CPU 70 %, standby 10 %)", &tc10),
    ] {
        println!(
            "| {name} | {} | {} | {} |",
            o.instance_minutes, o.under, o.under_after_failover
        );
    }
}
