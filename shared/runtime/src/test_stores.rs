//! State stores for the runtime's unit tests: real local files, with a fault.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use twincloud_core::ports::{Precondition, StateError, StateStore, Version, Versioned};
use twincloud_local::LocalStateStore;

/// A real store whose next write is applied and then answered as a failed precondition:
/// what a client sees when its write landed, the answer was lost, and its retry met it.
pub(crate) struct LostAnswer {
    inner: LocalStateStore,
    /// Whether the next write's answer is lost.
    pub armed: AtomicBool,
}

impl LostAnswer {
    /// A store in `dir` whose first write's answer is lost.
    pub fn new(dir: &std::path::Path) -> Self {
        LostAnswer {
            inner: LocalStateStore::new(dir),
            armed: AtomicBool::new(true),
        }
    }
}

#[async_trait]
impl StateStore for LostAnswer {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        self.inner.get(key).await
    }
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expect: &Precondition,
    ) -> Result<Version, StateError> {
        let v = self.inner.put(key, value, expect).await?;
        if self.armed.swap(false, Ordering::SeqCst) {
            return Err(StateError::ConditionFailed(format!("{key}: precondition")));
        }
        Ok(v)
    }
    async fn delete(&self, key: &str, expect: &Precondition) -> Result<(), StateError> {
        self.inner.delete(key, expect).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        self.inner.list(prefix).await
    }
}
