//! Pure planners: signal + observed state + config → plan.

pub mod failover;
pub mod notify;
pub mod sync;
