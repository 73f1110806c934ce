use super::*;
use crate::config::{Channel, ChannelTarget};
use crate::decode::decode_json;
use crate::signal::Severity;
use chrono::TimeZone;

fn signal(rel: &str) -> Signal {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(rel);
    decode_json(&std::fs::read(p).expect("read"))
        .expect("decodes")
        .signals
        .remove(0)
}

fn config() -> Config {
    let mut c = Config::local_default();
    c.notify.rate_limit_per_minute = 2;
    c.notify.channels.push(Channel {
        name: "oncall".into(),
        min_severity: Severity::Warning,
        kinds: vec!["alarm".into()],
        target: ChannelTarget::Webhook {
            url: "http://127.0.0.1:1/hook".into(),
            authorization: None,
        },
    });
    c
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
        .single()
        .expect("time")
}

fn notify_channels(p: &Plan) -> Vec<&str> {
    p.actions
        .iter()
        .filter_map(|a| match &a.op {
            Operation::Notify { channel, .. } => Some(channel.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn first_alarm_goes_to_every_matching_channel_under_a_guard() {
    let s = signal("aws/eventbridge-alarm-state-change.json");
    let p = plan(&s, &config(), &NotifyObserved::default(), now());
    assert_eq!(notify_channels(&p), vec!["outbox", "oncall"]);
    let g = p.guard.expect("guard");
    assert_eq!(g.expect, Precondition::Absent);
    assert_eq!(g.key, last_key(&s.subject()));
}

#[test]
fn routing_filters_by_kind_and_severity() {
    let s = signal("aws/eventbridge-scheduled-event.json");
    let p = plan(&s, &config(), &NotifyObserved::default(), now());
    assert_eq!(notify_channels(&p), vec!["outbox"]);
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("channel `oncall` not used")),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_resent_alert_with_the_same_state_is_suppressed() {
    let s = signal("aws/eventbridge-alarm-state-change.json");
    let last = LastNotified {
        subject: s.subject(),
        state: s.state_label(),
        at: now() - chrono::Duration::minutes(5),
        event_id: "an-earlier-delivery".into(),
    };
    let obs = NotifyObserved {
        last: Some((last, Version("1".into()))),
        ..Default::default()
    };
    let p = plan(&s, &config(), &obs, now());
    assert!(p.actions.is_empty());
    assert!(p.guard.is_none());
    assert!(p.notes[0].starts_with("suppressed:"), "{:?}", p.notes);
}

#[test]
fn a_state_change_is_sent_and_guarded_on_the_seen_version() {
    let ok = signal("aws/eventbridge-alarm-ok.json");
    let alarm = signal("aws/eventbridge-alarm-state-change.json");
    let last = LastNotified {
        subject: alarm.subject(),
        state: alarm.state_label(),
        at: now(),
        event_id: alarm.id.clone(),
    };
    let obs = NotifyObserved {
        last: Some((last, Version("7".into()))),
        ..Default::default()
    };
    let p = plan(&ok, &config(), &obs, now());
    assert_eq!(
        p.guard.expect("guard").expect,
        Precondition::Matches(Version("7".into()))
    );
    assert!(!p.actions.is_empty());
}

#[test]
fn the_same_state_after_the_window_is_sent_again() {
    let s = signal("aws/eventbridge-alarm-state-change.json");
    let last = LastNotified {
        subject: s.subject(),
        state: s.state_label(),
        at: now() - chrono::Duration::days(2),
        event_id: "old".into(),
    };
    let obs = NotifyObserved {
        last: Some((last, Version("1".into()))),
        ..Default::default()
    };
    assert!(!plan(&s, &config(), &obs, now()).actions.is_empty());
}

#[test]
fn a_retry_of_the_claiming_event_completes_without_a_new_guard() {
    let s = signal("aws/eventbridge-alarm-state-change.json");
    let last = LastNotified {
        subject: s.subject(),
        state: s.state_label(),
        at: now(),
        event_id: s.id.clone(),
    };
    let obs = NotifyObserved {
        last: Some((last, Version("1".into()))),
        ..Default::default()
    };
    let p = plan(&s, &config(), &obs, now());
    assert!(p.guard.is_none());
    assert_eq!(notify_channels(&p).len(), 2);
}

#[test]
fn rate_limit_holds_back_and_then_reports_the_count() {
    let s = signal("aws/eventbridge-alarm-state-change.json");
    let minute = now().timestamp().div_euclid(60);
    let mut obs = NotifyObserved::default();
    obs.rates.insert(
        "oncall".into(),
        RateWindow {
            minute,
            sent: 2,
            suppressed: 0,
        },
    );
    let p = plan(&s, &config(), &obs, now());
    assert_eq!(notify_channels(&p), vec!["outbox"]);
    let held = p
        .actions
        .iter()
        .find(|a| a.id == "rate-oncall")
        .expect("counter");
    let Operation::PutState { value, .. } = &held.op else {
        panic!()
    };
    assert_eq!(value["suppressed"], 1);

    obs.rates.insert(
        "oncall".into(),
        RateWindow {
            minute: minute - 1,
            sent: 2,
            suppressed: 3,
        },
    );
    let p = plan(&s, &config(), &obs, now());
    let msg = p.actions.iter().find_map(|a| match &a.op {
        Operation::Notify { channel, message } if channel == "oncall" => Some(message),
        _ => None,
    });
    let msg = msg.expect("sent in the new minute");
    assert!(
        msg.fields
            .iter()
            .any(|(k, v)| k == "Held back by rate limit" && v.starts_with('3'))
    );
}
