//! State stores with a fault, over a real one: what a client sees when a write landed and its
//! answer was lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use twincloud_core::ports::{Precondition, StateError, StateStore, Version, Versioned};

/// How the lost answer reads to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostAs {
    /// "Precondition failed": the client's retry met its own write.
    PreconditionFailed,
    /// A timeout: the client does not know whether the write landed.
    Timeout,
}

/// A store whose next matching write is applied and then answered as failed.
pub struct LostAnswer {
    inner: Arc<dyn StateStore>,
    answer: LostAs,
    key: Option<String>,
    conditional_only: bool,
    /// Whether the next matching write's answer is lost (armed when made).
    pub armed: AtomicBool,
}

impl LostAnswer {
    /// Over `inner`: the next write's answer is lost, read as `answer`.
    pub fn new(inner: Arc<dyn StateStore>, answer: LostAs) -> Self {
        LostAnswer {
            inner,
            answer,
            key: None,
            conditional_only: false,
            armed: AtomicBool::new(true),
        }
    }

    /// Only writes of `key` lose their answer.
    pub fn on_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    /// Only conditional writes (a precondition other than `None`) lose their answer.
    pub fn conditional_only(mut self) -> Self {
        self.conditional_only = true;
        self
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
        let matches = self.key.as_deref().is_none_or(|k| k == key)
            && (!self.conditional_only || *expect != Precondition::None);
        if matches && self.armed.swap(false, Ordering::SeqCst) {
            return Err(match self.answer {
                LostAs::PreconditionFailed => {
                    StateError::ConditionFailed(format!("{key}: precondition"))
                }
                LostAs::Timeout => StateError::transient("timed out waiting for the answer"),
            });
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
