//! Conformance suites: every adapter of a port runs the same checks (as rclone's fstests do).

use std::sync::Arc;

use twincloud_core::Severity;
use twincloud_core::config::Metric;
use twincloud_core::planner::budget::BudgetRef;
use twincloud_core::ports::{
    AlarmStates, BillingLink, Budgets, Compute, Database, DatabaseRestore, Deployer, Metrics,
    Notifier, Precondition, RegistryLogin, RestoreSource, Retry, SnapshotStatus, StateError,
    StateStore, Traffic, Version,
};

/// What the backend under test enforces itself. Emulator gaps are listed here, each covered
/// by a request-level test of the adapter instead.
#[derive(Debug, Clone, Copy)]
pub struct StateStoreBackend {
    /// Whether a delete with a stale version is refused by the backend. fake-gcs-server ignores
    /// `ifGenerationMatch` on DELETE (real GCS honours it).
    pub enforces_conditional_delete: bool,
    /// Whether two conditional writes racing on one version are serialized by the backend, so
    /// exactly one wins. moto checks `If-Match` and then writes without a lock, so under load
    /// two racing swaps can both pass (real S3 serializes them; the sequential checks above
    /// still prove a stale version is refused).
    pub atomic_swap: bool,
}

impl Default for StateStoreBackend {
    fn default() -> Self {
        StateStoreBackend {
            enforces_conditional_delete: true,
            atomic_swap: true,
        }
    }
}

/// Runs the state store suite on a fresh, empty store. `prefix` isolates this run's keys.
pub async fn state_store(store: Arc<dyn StateStore>, prefix: &str) {
    state_store_on(store, prefix, StateStoreBackend::default()).await;
}

/// [`state_store`] for a backend with known emulator gaps.
pub async fn state_store_on(store: Arc<dyn StateStore>, prefix: &str, backend: StateStoreBackend) {
    let k = |s: &str| format!("{prefix}/{s}");

    // Absent keys read as None.
    assert_eq!(store.get(&k("missing")).await.unwrap(), None);

    // Create-if-absent, then read back with its version.
    let v1 = store
        .put(&k("a"), b"one", &Precondition::Absent)
        .await
        .unwrap();
    let got = store.get(&k("a")).await.unwrap().expect("written");
    assert_eq!(got.value, b"one");
    assert_eq!(got.version, v1);

    // A second create-if-absent loses.
    let e = store
        .put(&k("a"), b"two", &Precondition::Absent)
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::ConditionFailed(_)), "{e:?}");

    // Compare-and-swap on the current version wins, on a stale one loses.
    let v2 = store
        .put(&k("a"), b"two", &Precondition::Matches(v1.clone()))
        .await
        .unwrap();
    assert_ne!(v1, v2);
    let e = store
        .put(&k("a"), b"three", &Precondition::Matches(v1.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::ConditionFailed(_)), "{e:?}");
    assert_eq!(store.get(&k("a")).await.unwrap().unwrap().value, b"two");

    // Matches on an absent key loses.
    let e = store
        .put(&k("nothing"), b"x", &Precondition::Matches(v2.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::ConditionFailed(_)), "{e:?}");

    // Unconditional writes always land; empty values round-trip.
    store.put(&k("a"), b"", &Precondition::None).await.unwrap();
    assert_eq!(store.get(&k("a")).await.unwrap().unwrap().value, b"");

    // Binary values round-trip.
    let bin: Vec<u8> = (0..=255u8).collect();
    store
        .put(&k("bin"), &bin, &Precondition::None)
        .await
        .unwrap();
    assert_eq!(store.get(&k("bin")).await.unwrap().unwrap().value, bin);

    // Listing by prefix, sorted, nested keys included.
    store
        .put(&k("dir/x"), b"1", &Precondition::None)
        .await
        .unwrap();
    store
        .put(&k("dir/y"), b"2", &Precondition::None)
        .await
        .unwrap();
    store
        .put(&k("dirt"), b"3", &Precondition::None)
        .await
        .unwrap();
    assert_eq!(
        store.list(&k("dir/")).await.unwrap(),
        vec![k("dir/x"), k("dir/y")]
    );
    // A prefix is a string, not a folder: it may end inside a name.
    assert_eq!(store.list(&k("dir/x")).await.unwrap(), vec![k("dir/x")]);
    assert_eq!(
        store.list(&k("di")).await.unwrap(),
        vec![k("dir/x"), k("dir/y"), k("dirt")]
    );
    assert!(store.list(&k("nowhere/")).await.unwrap().is_empty());
    // A bounded listing: the first keys in order, and whether there are more.
    assert_eq!(
        store.list_up_to(&k("di"), 2).await.unwrap(),
        (vec![k("dir/x"), k("dir/y")], true)
    );
    assert_eq!(
        store.list_up_to(&k("di"), 3).await.unwrap(),
        (vec![k("dir/x"), k("dir/y"), k("dirt")], false)
    );
    assert_eq!(
        store.list_up_to(&k("nowhere/"), 3).await.unwrap(),
        (vec![], false)
    );

    // Conditional delete.
    let cur = store.get(&k("dir/x")).await.unwrap().unwrap().version;
    if backend.enforces_conditional_delete {
        let e = store
            .delete(&k("dir/x"), &Precondition::Matches(Version("0".into())))
            .await
            .unwrap_err();
        assert!(matches!(e, StateError::ConditionFailed(_)), "{e:?}");
    }
    // Deleting with Absent while the record exists is refused by every store.
    let e = store
        .delete(&k("dir/x"), &Precondition::Absent)
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::ConditionFailed(_)), "{e:?}");
    store
        .delete(&k("dir/x"), &Precondition::Matches(cur))
        .await
        .unwrap();
    assert_eq!(store.get(&k("dir/x")).await.unwrap(), None);
    // Deleting what is absent is fine without a condition.
    store
        .delete(&k("dir/x"), &Precondition::None)
        .await
        .unwrap();

    // Invalid keys are rejected, not mapped somewhere surprising.
    for bad in ["", "../escape", "a//b", "a/./b", "spa ce"] {
        assert!(
            store.put(bad, b"x", &Precondition::None).await.is_err(),
            "key {bad:?} accepted"
        );
    }

    race_create(store.clone(), &k("race-create")).await;
    race_swap(store.clone(), &k("race-swap"), backend.atomic_swap).await;
}

/// N writers create the same key at once: exactly one wins.
async fn race_create(store: Arc<dyn StateStore>, key: &str) {
    let n = 8;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (s, key) = (store.clone(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            s.put(
                &key,
                format!("writer {i}").as_bytes(),
                &Precondition::Absent,
            )
            .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StateError::ConditionFailed(_)) => {}
            Err(e) => panic!("unexpected error in race: {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one concurrent create must win");
}

/// N writers swap from the same version at once: exactly one wins.
async fn race_swap(store: Arc<dyn StateStore>, key: &str, atomic: bool) {
    let v = store.put(key, b"base", &Precondition::None).await.unwrap();
    let n = 8;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (s, key, v) = (store.clone(), key.to_owned(), v.clone());
        tasks.push(tokio::spawn(async move {
            s.put(
                &key,
                format!("writer {i}").as_bytes(),
                &Precondition::Matches(v),
            )
            .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StateError::ConditionFailed(_)) => {}
            Err(e) => panic!("unexpected error in race: {e}"),
        }
    }
    if atomic {
        assert_eq!(wins, 1, "exactly one concurrent compare-and-swap must win");
    } else {
        assert!(
            wins >= 1,
            "a compare-and-swap on the current version must win"
        );
    }
    let last = store.get(key).await.unwrap().expect("written").value;
    assert!(
        String::from_utf8_lossy(&last).starts_with("writer "),
        "the record holds one writer's value whole"
    );
}

/// Compute suite. `service` exists with `desired` instances and maximum `max`; `missing` does
/// not exist.
pub async fn compute(c: &dyn Compute, service: &str, max: u32, missing: &str) {
    let s = c.scale(service).await.unwrap();
    assert_eq!(s.max, Some(max));
    c.set_desired(service, 1).await.unwrap();
    assert_eq!(c.scale(service).await.unwrap().desired, 1);
    c.set_desired(service, max).await.unwrap();
    let s = c.scale(service).await.unwrap();
    assert_eq!((s.desired, s.ready), (max, max), "instances become ready");
    let e = c.set_desired(service, max + 1).await.unwrap_err();
    assert_eq!(
        e.retry,
        Retry::Permanent,
        "above the maximum: {}",
        e.message
    );
    assert_eq!(
        c.scale(service).await.unwrap().desired,
        max,
        "a refused change changes nothing"
    );
    c.set_desired(service, 0).await.unwrap();
    assert_eq!(c.scale(service).await.unwrap().desired, 0);
    let e = c.scale(missing).await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent);
    assert!(
        e.message.contains(missing),
        "names the service: {}",
        e.message
    );
}

/// Traffic suite on a record that does not exist yet.
pub async fn traffic(t: &dyn Traffic, record: &str) {
    assert_eq!(t.current_target(record).await.unwrap(), None);
    t.switch(record, "primary.example.com.").await.unwrap();
    assert_eq!(
        t.current_target(record).await.unwrap().as_deref(),
        Some("primary.example.com.")
    );
    t.switch(record, "standby.example.com.").await.unwrap();
    assert_eq!(
        t.current_target(record).await.unwrap().as_deref(),
        Some("standby.example.com.")
    );
    t.switch(record, "standby.example.com.").await.unwrap();
    assert_eq!(
        t.current_target(record).await.unwrap().as_deref(),
        Some("standby.example.com."),
        "idempotent"
    );
    // The record with its TTL (the readiness audit reads it): the same target, and a TTL
    // where the provider reports one.
    let r = t.record(record).await.unwrap().expect("the record exists");
    assert_eq!(r.target, "standby.example.com.");
    assert!(r.ttl.is_none_or(|ttl| ttl > 0), "{r:?}");
    assert_eq!(t.record("absent.example.com.").await.unwrap(), None);
}

/// Database suite. `database` exists with exactly one snapshot twincloud did not make
/// (`foreign`); `missing` does not exist.
pub async fn database(d: &dyn Database, database: &str, foreign: &str, missing: &str) {
    let before = d.list_snapshots(database).await.unwrap();
    assert_eq!(before.len(), 1);
    assert!(!before[0].managed);
    let s = d
        .create_snapshot(database, "db-20261122-030000")
        .await
        .unwrap();
    assert!(s.managed);
    assert_eq!(s.database, database);
    let all = d.list_snapshots(database).await.unwrap();
    assert!(
        all.iter()
            .any(|x| x.id == "db-20261122-030000" && x.status != SnapshotStatus::Failed)
    );
    let info = d
        .list_databases()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.name == database)
        .expect("the database is listed");
    let batch = d.snapshots_of(std::slice::from_ref(&info)).await.unwrap();
    assert!(
        batch[database]
            .iter()
            .any(|x| x.id == "db-20261122-030000" && x.managed),
        "batch listing: {batch:?}"
    );
    assert!(
        d.create_snapshot(database, "db-20261122-030000")
            .await
            .is_err(),
        "ids are unique"
    );
    let e = d.delete_snapshot(database, foreign).await.unwrap_err();
    assert_eq!(
        e.retry,
        Retry::Permanent,
        "never deletes what it did not make"
    );
    d.delete_snapshot(database, "db-20261122-030000")
        .await
        .unwrap();
    assert_eq!(d.list_snapshots(database).await.unwrap().len(), 1);
    assert_eq!(
        d.list_snapshots(missing).await.unwrap_err().retry,
        Retry::Permanent
    );
    assert_eq!(
        d.create_snapshot(missing, "x").await.unwrap_err().retry,
        Retry::Permanent
    );
}

/// Notifier suite: three messages (an ordinary one, one with unicode and markup-like text in a
/// long summary, one with many fields), each with a unique title, must each be accepted with a
/// delivery, in one attempt when nothing fails, and arrive at the provider: `received` reads
/// back what the provider holds as text (request bodies, a topic's messages, decoded where the
/// provider encodes them), which must name every title.
pub async fn notifier<F, Fut>(n: &dyn Notifier, received: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let run = crate::unique("conformance");
    let mut plain = crate::fixtures::message(&format!("{run} plain"));
    plain.severity = Severity::Info;
    let mut unicode = crate::fixtures::message(&format!("{run} unicode"));
    unicode.severity = Severity::Critical;
    unicode.summary = format!(
        "<b>not markup</b> & `code` *stars* — €, ü, 日本, ✓\n{}",
        "long line of detail ".repeat(200)
    );
    let mut fields = crate::fixtures::message(&format!("{run} fields"));
    fields.fields = (0..20)
        .map(|i| (format!("Field {i}"), format!("value {i} ✓")))
        .collect();
    fields.link = Some("https://console.example.com/alarms/aion?x=1&y=2".into());
    let messages = [plain, unicode, fields];
    for m in &messages {
        let d = n
            .send(m)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", m.title));
        assert_eq!(d.attempts, 1, "{}: no failure, one attempt", m.title);
    }
    let titles: Vec<&str> = messages.iter().map(|m| m.title.as_str()).collect();
    let got = received().await;
    for t in &titles {
        assert!(
            got.iter().any(|r| r.contains(t)),
            "`{t}` did not arrive at the provider; it holds {got:?}"
        );
    }
}

/// The alarm states suite: `firing` is in alarm and `ok` is OK at the provider (the caller set
/// them up), `missing` does not exist. A state is read, never changed by reading, and an
/// alarm that does not exist is `None`, not an error (a forged message may name any alarm).
pub async fn alarm_states(a: &dyn AlarmStates, firing: &str, ok: &str, missing: &str) {
    use twincloud_core::signal::AlarmState;
    for _ in 0..2 {
        assert_eq!(
            a.state(firing).await.expect("read the firing alarm"),
            Some(AlarmState::Alarm),
            "`{firing}` is in alarm"
        );
        assert_eq!(
            a.state(ok).await.expect("read the OK alarm"),
            Some(AlarmState::Ok),
            "`{ok}` is OK"
        );
    }
    assert_eq!(
        a.state(missing).await.expect("a missing alarm is no error"),
        None,
        "`{missing}` does not exist"
    );
}

/// The budgets suite: `present` exists at the provider with amount `limit` (the caller set it
/// up), `missing` does not. A reading says the amount and the current period's start (a date,
/// `YYYY-MM-DD`); spend, where the provider reports it, is never negative; a budget that does
/// not exist is `None` (a forged alert may name any), and reading twice gives the same.
pub async fn budgets(b: &dyn Budgets, present: &BudgetRef, limit: f64, missing: &BudgetRef) {
    let r = b
        .read(present)
        .await
        .expect("read the budget")
        .expect("the budget exists");
    assert!((r.limit - limit).abs() < 1e-9, "the amount: {r:?}");
    assert!(
        chrono::NaiveDate::parse_from_str(&r.period_start, "%Y-%m-%d").is_ok(),
        "the period starts on a date: {r:?}"
    );
    for v in [r.actual, r.forecast].into_iter().flatten() {
        assert!(v >= 0.0, "spend is never negative: {r:?}");
    }
    assert_eq!(
        b.read(present).await.expect("read again"),
        Some(r),
        "a read changes nothing"
    );
    assert_eq!(
        b.read(missing).await.expect("a missing budget is no error"),
        None
    );
}

/// The metrics suite: `service` has data for exactly the metrics in `expected` (the caller
/// set them up), `quiet` has none. Readings come back for the metrics asked that have data,
/// in the order asked; a metric without data is left out, not zero; asking nothing reads
/// nothing.
pub async fn metrics(m: &dyn Metrics, service: &str, expected: &[(Metric, f64)], quiet: &str) {
    let asked = [Metric::Cpu, Metric::Memory, Metric::RequestsPerInstance];
    let r = m.readings(service, &asked).await.expect("read the metrics");
    let want: Vec<(Metric, f64)> = asked
        .iter()
        .filter_map(|a| expected.iter().find(|(e, _)| e == a).copied())
        .collect();
    assert_eq!(r.len(), want.len(), "only the metrics with data: {r:?}");
    for ((got, v), (metric, w)) in r.iter().zip(&want) {
        assert_eq!(got, metric, "in the order asked: {r:?}");
        assert!((v - w).abs() < 1e-6, "{metric:?}: {v} against {w}");
    }
    assert_eq!(
        m.readings(quiet, &asked)
            .await
            .expect("a quiet service is no error"),
        vec![],
        "no data: nothing, not zeros"
    );
    assert_eq!(
        m.readings(service, &[]).await.expect("asking nothing"),
        vec![]
    );
}

/// The deployer suite: `service` serves some revision (the caller set it up) and `image`
/// (`REPO@sha256:...`) is a new image; `missing` does not exist. It checks what every rollout
/// relies on: the serving revision and image are read back; a new revision is made from the
/// serving one and a second ask makes no second revision (an invocation that died halfway
/// asks again); its progress can be read; all traffic moved to it (where the platform splits
/// traffic) serves the new image; going back serves the old image again, and going back
/// twice is harmless; a service that does not exist is a permanent error, named.
pub async fn deployer(
    d: &dyn Deployer,
    service: &str,
    container: Option<&str>,
    image: &str,
    missing: &str,
) {
    let before = d
        .current(service, container)
        .await
        .expect("read the serving revision");
    assert!(!before.revision.is_empty(), "{before:?}");
    // The environment's names are read (the readiness audit compares the sides), sorted.
    let env = before.env.clone().expect("the environment's names");
    assert!(env.windows(2).all(|w| w[0] <= w[1]), "{env:?}");
    let gone = d
        .current(missing, container)
        .await
        .expect_err("a service that does not exist");
    assert_eq!(gone.retry, Retry::Permanent, "{gone:?}");
    let tag = "tc-conformance";
    let made = d
        .create(service, container, &before.revision, image, tag)
        .await
        .expect("make a revision");
    assert_ne!(made, before.revision, "a new revision");
    let again = d
        .create(service, container, &before.revision, image, tag)
        .await
        .expect("ask again");
    assert_eq!(
        again, made,
        "asked again, the same revision, not a second one"
    );
    d.progress(service, &made)
        .await
        .expect("read the new revision's progress");
    if d.split(service, &made, &before.revision, 100)
        .await
        .expect("move the traffic")
    {
        let now = d.current(service, container).await.expect("read back");
        assert_eq!(now.image, image, "all traffic on the new revision");
    }
    for _ in 0..2 {
        d.roll_back(service, &before.revision)
            .await
            .expect("go back");
        let back = d.current(service, container).await.expect("read back");
        assert_eq!(back.image, before.image, "the old image serves again");
    }
}

/// The billing link suite: `project` is billed to `account` (the caller set it up). Detaching
/// and linking again are read back, and each is harmless when asked twice (a retry after a
/// lost answer).
pub async fn billing_link(b: &dyn BillingLink, project: &str, account: &str) {
    assert_eq!(
        b.account(project).await.expect("read the link").as_deref(),
        Some(account)
    );
    for _ in 0..2 {
        b.set_account(project, None).await.expect("detach");
        assert_eq!(b.account(project).await.expect("read back"), None);
    }
    for _ in 0..2 {
        b.set_account(project, Some(account))
            .await
            .expect("link again");
        assert_eq!(
            b.account(project).await.expect("read back").as_deref(),
            Some(account)
        );
    }
}

/// The restore suite: `database` exists with the available snapshot `snapshot` (the caller
/// set them up). A restore makes a new database under a new name, from the snapshot or from a
/// point in time, and leaves the source alone; into a name that exists, or from a snapshot
/// that does not, it is a permanent error (never a database overwritten).
pub async fn database_restore<D: Database + DatabaseRestore>(
    d: &D,
    database: &str,
    snapshot: &str,
    fresh: &str,
) {
    let from_snapshot = format!("{fresh}-s");
    let from_time = format!("{fresh}-t");
    d.restore(
        &RestoreSource::Snapshot {
            id: snapshot.into(),
        },
        &from_snapshot,
    )
    .await
    .expect("restore a snapshot");
    d.restore(
        &RestoreSource::PointInTime {
            database: database.into(),
            time: None,
        },
        &from_time,
    )
    .await
    .expect("restore the latest restorable time");
    let names: Vec<String> = d
        .list_databases()
        .await
        .expect("list")
        .into_iter()
        .map(|x| x.name)
        .collect();
    for n in [database, from_snapshot.as_str(), from_time.as_str()] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    let taken = d
        .restore(
            &RestoreSource::Snapshot {
                id: snapshot.into(),
            },
            database,
        )
        .await
        .expect_err("a name that exists");
    assert_eq!(taken.retry, Retry::Permanent, "{taken:?}");
    let missing = d
        .restore(
            &RestoreSource::Snapshot {
                id: format!("{snapshot}-no-such"),
            },
            &format!("{fresh}-x"),
        )
        .await
        .expect_err("a snapshot that does not exist");
    assert_eq!(missing.retry, Retry::Permanent, "{missing:?}");
}

/// The registry login suite: `l`'s credentials are accepted by the registry at `host` (basic
/// auth on `GET /v2/`, as a registry client's first request), every time they are asked for
/// (a token is fetched again, not kept past its life), and the registry refuses a wrong
/// password (so the check means something).
pub async fn registry_login(l: &dyn RegistryLogin, host: &str) {
    let c = reqwest::Client::new();
    for _ in 0..2 {
        let (user, secret) = l
            .login()
            .await
            .expect("log in")
            .expect("credentials, not anonymous");
        let ok = c
            .get(format!("http://{host}/v2/"))
            .basic_auth(&user, Some(secret.expose()))
            .send()
            .await
            .expect("reach the registry");
        assert_eq!(
            ok.status().as_u16(),
            200,
            "{user}'s credentials are accepted"
        );
        let wrong = c
            .get(format!("http://{host}/v2/"))
            .basic_auth(&user, Some("not-the-password"))
            .send()
            .await
            .expect("reach the registry");
        assert_eq!(wrong.status().as_u16(), 401, "a wrong password is refused");
    }
}
