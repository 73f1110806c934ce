//! Pure planners: signal + observed state + config → plan.

pub mod notify;
