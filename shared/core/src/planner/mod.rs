//! Pure planners: signal + observed state + config → plan.

pub mod backup;
pub mod concurrency;
pub mod failover;
pub mod notify;
pub mod retention;
pub mod sync;
