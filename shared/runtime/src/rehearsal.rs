//! A dry run is the platform's, not a function's: the function runs its whole decision path on
//! a [`RehearsalState`] (reads come from the real state store, writes stay in memory and are
//! dropped with the invocation) while the effects handle calls no provider. Leases, records and
//! journal entries a dry run takes are seen by the rest of the same run, and by nobody else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::sync::Mutex;
use twincloud_core::ports::{Precondition, StateError, StateStore, Version, Versioned};

/// A state store whose writes are kept in memory over a real store that is only read.
pub struct RehearsalState {
    inner: Arc<dyn StateStore>,
    /// Keys written (`Some`) or deleted (`None`) in this run.
    overlay: Mutex<BTreeMap<String, Option<Versioned>>>,
    next: AtomicU64,
}

impl RehearsalState {
    /// The rehearsal over `inner`.
    pub fn over(inner: Arc<dyn StateStore>) -> Self {
        RehearsalState {
            inner,
            overlay: Mutex::default(),
            next: AtomicU64::new(1),
        }
    }

    async fn current(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        if let Some(v) = self.overlay.lock().await.get(key) {
            return Ok(v.clone());
        }
        self.inner.get(key).await
    }

    fn check(
        key: &str,
        stored: Option<&Versioned>,
        expect: &Precondition,
    ) -> Result<(), StateError> {
        let holds = match expect {
            Precondition::None => true,
            Precondition::Absent => stored.is_none(),
            Precondition::Matches(v) => stored.is_some_and(|s| &s.version == v),
        };
        if holds {
            Ok(())
        } else {
            Err(StateError::ConditionFailed(key.to_owned()))
        }
    }
}

#[async_trait]
impl StateStore for RehearsalState {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        self.current(key).await
    }

    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expect: &Precondition,
    ) -> Result<Version, StateError> {
        twincloud_core::ports::check_state_key(key)?;
        let stored = self.current(key).await?;
        Self::check(key, stored.as_ref(), expect)?;
        let version = Version(format!(
            "rehearsal-{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        ));
        self.overlay.lock().await.insert(
            key.to_owned(),
            Some(Versioned {
                value: value.to_vec(),
                version: version.clone(),
            }),
        );
        Ok(version)
    }

    async fn delete(&self, key: &str, expect: &Precondition) -> Result<(), StateError> {
        let stored = self.current(key).await?;
        Self::check(key, stored.as_ref(), expect)?;
        self.overlay.lock().await.insert(key.to_owned(), None);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        let mut keys: std::collections::BTreeSet<String> =
            self.inner.list(prefix).await?.into_iter().collect();
        for (k, v) in self.overlay.lock().await.iter() {
            if !k.starts_with(prefix) {
                continue;
            }
            match v {
                Some(_) => keys.insert(k.clone()),
                None => keys.remove(k),
            };
        }
        Ok(keys.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_stay_in_the_rehearsal_and_preconditions_hold_there() {
        let dir = tempfile::tempdir().unwrap();
        let real: Arc<dyn StateStore> = Arc::new(twincloud_local::LocalStateStore::new(dir.path()));
        let v = real.put("a/x", b"1", &Precondition::Absent).await.unwrap();
        let r = RehearsalState::over(real.clone());
        // A write on the real record's version succeeds in the rehearsal only.
        let v2 = r
            .put("a/x", b"2", &Precondition::Matches(v.clone()))
            .await
            .unwrap();
        assert_eq!(r.get("a/x").await.unwrap().unwrap().value, b"2");
        assert_eq!(real.get("a/x").await.unwrap().unwrap().value, b"1");
        // The old version no longer matches in the rehearsal: a second writer would lose.
        assert!(matches!(
            r.put("a/x", b"3", &Precondition::Matches(v)).await,
            Err(StateError::ConditionFailed(_))
        ));
        r.put("a/y", b"1", &Precondition::Absent).await.unwrap();
        r.delete("a/x", &Precondition::Matches(v2)).await.unwrap();
        assert_eq!(r.list("a/").await.unwrap(), vec!["a/y".to_owned()]);
        assert_eq!(real.list("a/").await.unwrap(), vec!["a/x".to_owned()]);
    }
}
