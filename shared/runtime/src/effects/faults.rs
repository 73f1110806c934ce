//! Faults injected into effects, for the fault matrix: the N-th provider-changing call fails
//! (transient, permanent) or is applied with its answer lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A fault the fault matrix injects into one effect's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFault {
    /// The call fails with a transient error and changes nothing.
    Transient,
    /// The call fails with a permanent error and changes nothing.
    Permanent,
    /// The call is applied, and its answer is lost (a transient error is returned).
    LostAnswer,
}

impl InjectedFault {
    /// Every kind, in the matrix's order.
    pub const ALL: [InjectedFault; 3] = [
        InjectedFault::Transient,
        InjectedFault::Permanent,
        InjectedFault::LostAnswer,
    ];

    /// Its name in the matrix.
    pub fn name(&self) -> &'static str {
        match self {
            InjectedFault::Transient => "transient",
            InjectedFault::Permanent => "permanent",
            InjectedFault::LostAnswer => "lost answer",
        }
    }
}

/// Faults to inject into the provider-changing calls of every [`Effects`] sharing it: the
/// `n`-th call (counting from 1, across invocations) gets the fault. It also logs every call
/// made, so a test can check that no effect was applied twice. Only tests set one
/// ([`crate::Services::effect_faults`]); production services have none.
#[derive(Debug, Default)]
pub struct EffectFaults {
    calls: AtomicUsize,
    at: Option<(usize, InjectedFault)>,
    /// A fault for the first call of an effect whose id contains this text, and how many
    /// times (from the first such call on).
    named: Option<(String, InjectedFault, usize)>,
    named_hits: AtomicUsize,
    log: Mutex<Vec<Call>>,
}

/// One call an effect made, as the fault log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `function/event/effect`.
    pub effect: String,
    /// Whether the provider applied it (a call that failed, or whose fault kept it from the
    /// provider, did not; one whose answer was lost did).
    pub applied: bool,
    /// The fault injected into it, if any.
    pub fault: Option<InjectedFault>,
}

impl EffectFaults {
    /// No fault: only counts and logs the calls.
    pub fn counting() -> Arc<Self> {
        Arc::new(EffectFaults::default())
    }

    /// `fault` on the `n`-th call (from 1).
    pub fn nth(n: usize, fault: InjectedFault) -> Arc<Self> {
        Arc::new(EffectFaults {
            at: Some((n, fault)),
            ..EffectFaults::default()
        })
    }

    /// `fault` on the first `times` calls of an effect whose id contains `effect`.
    pub fn on_effect(effect: &str, fault: InjectedFault, times: usize) -> Arc<Self> {
        Arc::new(EffectFaults {
            named: Some((effect.to_owned(), fault, times)),
            ..EffectFaults::default()
        })
    }

    /// Calls made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The calls made, in order, a failed or faulted call included.
    pub fn log(&self) -> Vec<Call> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Counts a call; the fault it gets, if it is the chosen one.
    pub(super) fn next(&self, effect: &str) -> Option<InjectedFault> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((name, fault, times)) = &self.named
            && effect.contains(name.as_str())
            && self.named_hits.fetch_add(1, Ordering::SeqCst) < *times
        {
            return Some(*fault);
        }
        self.at.filter(|(at, _)| *at == n).map(|(_, f)| f)
    }

    /// Logs a call once its result is known.
    pub(super) fn logged(&self, call: Call) {
        if let Ok(mut l) = self.log.lock() {
            l.push(call);
        }
    }
}
