//! Holds one function puts on what another may do: today the budget guard's cap on a scaling
//! service's maximum, which scaling honours.

use serde::{Deserialize, Serialize};

/// A cap on a scaling service's `max`, written by the budget guard and read by scaling (and the
/// operations page): `{"max": N}` under [`cap_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cap {
    /// The most instances scaling may ask for while the cap stands.
    pub max: u32,
}

/// Where the cap on scaling service `service` is kept.
pub fn cap_key(service: &str) -> String {
    format!("scaling/caps/{}", crate::ids::key_segment(service))
}
