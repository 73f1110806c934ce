//! Google Cloud Storage: one bucket client ([`blob`]) under both the state store and the object
//! store. Dependencies point down: `objects` → `listing`, `upload` → `blob`; `state` → `blob`.

mod blob;
mod listing;
mod objects;
mod state;
mod upload;

pub use objects::GcsObjectStore;
pub use state::GcsStateStore;
