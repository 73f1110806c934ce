//! The records functions keep in the state store that other parts read: the operations page,
//! `twincloud status`, the CLI's restore and other functions. Each is a documented type here,
//! below every function, so a reader depends on the schema and never on a function's
//! internals. (The planners' own records, such as `FailoverState`, `ScalingRecord`,
//! `GuardRecord` and `DeployRecord`, live beside their planners.)
//!
//! Changing a field's name or meaning changes what earlier records mean: add fields with
//! `#[serde(default)]` instead.

pub mod backup;
pub mod deploy;
pub mod holds;
pub mod lease;
pub mod sync;

pub use lease::{Lease, Leased};
