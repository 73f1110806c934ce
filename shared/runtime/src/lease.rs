//! Leases on state records: a record that one invocation at a time may work on (a sync
//! partition, a backup set). Taken and released with conditional writes, so two invocations of
//! the same schedule never both act; a lease past its time may be taken over.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use twincloud_core::ports::{Precondition, Retry, StateError, StateStore, Version, get_json};

use crate::error::RunError;

/// Who holds a record, until when. Flattened into the record it guards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The holding invocation.
    pub lease_holder: Option<String>,
    /// When the lease ends.
    pub lease_until: Option<DateTime<Utc>>,
}

/// A record guarded by a lease.
pub trait Leased: Serialize + DeserializeOwned + Default {
    /// The record's lease.
    fn lease(&mut self) -> &mut Lease;
}

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
    match state.put(key, &encode(&record)?, &expect).await {
        Ok(v) => Ok(Some((record, v))),
        Err(StateError::ConditionFailed(_)) => Ok(None),
        Err(e) => Err(state_error(e)),
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
    *record.lease() = Lease::default();
    match state
        .put(key, &encode(&record)?, &Precondition::Matches(leased))
        .await
    {
        Ok(_) => Ok(true),
        Err(StateError::ConditionFailed(_)) => Ok(false),
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
    match state
        .put(
            key,
            &encode(record)?,
            &Precondition::Matches(version.clone()),
        )
        .await
    {
        Ok(v) => {
            *version = v;
            Ok(true)
        }
        Err(StateError::ConditionFailed(_)) => Ok(false),
        Err(e) => Err(state_error(e)),
    }
}
