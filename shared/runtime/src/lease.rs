//! Leases on state records: a record that one invocation at a time may work on (a sync
//! partition, a backup set). Taken and released with conditional writes, so two invocations of
//! the same schedule never both act; a lease past its time may be taken over.

use chrono::{DateTime, Utc};
use serde::Serialize;
use twincloud_core::ports::{Precondition, Retry, StateError, StateStore, Version, get_json};

use crate::error::RunError;

pub use twincloud_core::records::{Lease, Leased};

/// A state store error as a run error.
pub fn state_error(e: StateError) -> RunError {
    match e.retry() {
        Retry::Transient => RunError::Transient(e.to_string()),
        Retry::Permanent => RunError::Permanent(e.to_string()),
    }
}

fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, RunError> {
    serde_json::to_vec(record).map_err(|e| RunError::Permanent(e.to_string()))
}

/// Takes the lease on `key` for `holder` until `until`, unless another holder's lease runs;
/// returns the record and the version it was taken at, or `None` when someone else holds it.
pub async fn take<T: Leased>(
    state: &dyn StateStore,
    key: &str,
    holder: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<(T, Version)>, RunError> {
    let (mut record, expect) = match get_json::<T>(state, key).await.map_err(state_error)? {
        Some((r, v)) => (r, Precondition::Matches(v)),
        None => (T::default(), Precondition::Absent),
    };
    let lease = record.lease();
    if lease.lease_until.is_some_and(|t| t > now) && lease.lease_holder.as_deref() != Some(holder) {
        return Ok(None);
    }
    *lease = Lease {
        lease_holder: Some(holder.into()),
        lease_until: Some(until),
    };
    let body = encode(&record)?;
    let taken = match state.put(key, &body, &expect).await {
        Ok(v) => Some((record, v)),
        Err(StateError::ConditionFailed(_)) => landed(state, key, &body).await.map(|v| (record, v)),
        Err(e) => return Err(state_error(e)),
    };
    if taken.is_some() && crate::interrupt::tracking() {
        held().insert((key.to_owned(), holder.to_owned()));
    }
    Ok(taken)
}

/// The leases this process holds (key, holder): what an interrupted one-shot run gives back.
fn held() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<(String, String)>> {
    static HELD: std::sync::Mutex<std::collections::BTreeSet<(String, String)>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Gives back every lease this process still holds (a one-shot run stopped by Ctrl-C): each
/// record that still names its holder is written back with the lease cleared and nothing else
/// changed, so the next schedule or command takes it at once instead of waiting out the lease.
/// Returns the keys released.
pub async fn release_held(state: &dyn StateStore) -> Vec<String> {
    let leases: Vec<(String, String)> = std::mem::take(&mut *held()).into_iter().collect();
    let mut released = vec![];
    for (key, holder) in leases {
        let Ok(Some(stored)) = state.get(&key).await else {
            continue;
        };
        let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&stored.value) else {
            continue;
        };
        if v.get("lease_holder").and_then(|h| h.as_str()) != Some(holder.as_str()) {
            continue;
        }
        if let Some(o) = v.as_object_mut() {
            o.insert("lease_holder".into(), serde_json::Value::Null);
            o.insert("lease_until".into(), serde_json::Value::Null);
        }
        let body = v.to_string();
        if state
            .put(
                &key,
                body.as_bytes(),
                &Precondition::Matches(stored.version),
            )
            .await
            .is_ok()
        {
            released.push(key);
        }
    }
    released
}

/// The version of `key` when it holds exactly `body`: a conditional write whose answer was
/// lost, retried by the client, meets its own write and fails its precondition; the record
/// says it is ours (it names this holder and this lease's end, to the nanosecond).
async fn landed(state: &dyn StateStore, key: &str, body: &[u8]) -> Option<Version> {
    let wrote: serde_json::Value = serde_json::from_slice(body).ok()?;
    match state.get(key).await {
        Ok(Some(stored)) => serde_json::from_slice::<serde_json::Value>(&stored.value)
            .ok()
            .filter(|v| *v == wrote)
            .map(|_| stored.version),
        _ => None,
    }
}

/// Writes `record` back with the lease released, only if the lease taken at `leased` is still
/// ours: past its end another invocation may have taken the record, and its record stands.
/// Returns whether it was written.
pub async fn release<T: Leased>(
    state: &dyn StateStore,
    key: &str,
    mut record: T,
    leased: Version,
) -> Result<bool, RunError> {
    if let Some(holder) = record.lease().lease_holder.take() {
        held().remove(&(key.to_owned(), holder));
    }
    *record.lease() = Lease::default();
    let body = encode(&record)?;
    match state.put(key, &body, &Precondition::Matches(leased)).await {
        Ok(_) => Ok(true),
        Err(StateError::ConditionFailed(_)) => Ok(landed(state, key, &body).await.is_some()),
        Err(e) => Err(state_error(e)),
    }
}

/// Writes `record` keeping our lease, if it is still ours; moves `version` on. Returns whether
/// it was written (false: another invocation took the record over).
pub async fn save<T: Leased>(
    state: &dyn StateStore,
    key: &str,
    record: &T,
    version: &mut Version,
) -> Result<bool, RunError> {
    let body = encode(record)?;
    match state
        .put(key, &body, &Precondition::Matches(version.clone()))
        .await
    {
        Ok(v) => {
            *version = v;
            Ok(true)
        }
        Err(StateError::ConditionFailed(_)) => match landed(state, key, &body).await {
            Some(v) => {
                *version = v;
                Ok(true)
            }
            None => Ok(false),
        },
        Err(e) => Err(state_error(e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::Ordering;

    use super::*;
    use serde::Deserialize;
    use twincloud_testkit::stores::{LostAnswer, LostAs};

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    struct Set {
        #[serde(flatten)]
        lease: Lease,
        runs: u32,
    }

    impl Leased for Set {
        fn lease(&mut self) -> &mut Lease {
            &mut self.lease
        }
    }

    #[tokio::test]
    async fn a_write_that_meets_itself_is_ours_not_another_invocations() {
        let dir = tempfile::tempdir().unwrap();
        let store = LostAnswer::new(
            std::sync::Arc::new(twincloud_local::LocalStateStore::new(dir.path())),
            LostAs::PreconditionFailed,
        );
        let now = Utc::now();
        let until = now + chrono::Duration::minutes(10);
        // The take landed; its answer said "precondition failed".
        let (mut set, mut v) = take::<Set>(&store, "backup/nightly", "ev-1", until, now)
            .await
            .unwrap()
            .expect("the lease is ours: the record names this holder and lease");
        assert_eq!(set.lease.lease_holder.as_deref(), Some("ev-1"));
        // Another invocation is still kept out.
        assert!(
            take::<Set>(&store, "backup/nightly", "ev-2", until, now)
                .await
                .unwrap()
                .is_none()
        );
        // A save and a release whose answers are lost are ours too.
        set.runs = 1;
        store.armed.store(true, Ordering::SeqCst);
        assert!(save(&store, "backup/nightly", &set, &mut v).await.unwrap());
        set.runs = 2;
        assert!(save(&store, "backup/nightly", &set, &mut v).await.unwrap());
        store.armed.store(true, Ordering::SeqCst);
        assert!(release(&store, "backup/nightly", set, v).await.unwrap());
        let (after, _) = get_json::<Set>(&store, "backup/nightly")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.runs, 2);
        assert_eq!(after.lease, Lease::default(), "released");
        // The next schedule takes it at once.
        assert!(
            take::<Set>(&store, "backup/nightly", "ev-3", until, now)
                .await
                .unwrap()
                .is_some()
        );
    }
}
