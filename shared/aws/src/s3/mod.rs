//! Amazon S3: one bucket client ([`blob`]) under both the state store and the object store.
//! Dependencies point down: `objects` → `upload` → `blob`; `state` → `blob`.

mod blob;
mod objects;
mod state;
mod upload;

pub use objects::S3ObjectStore;
pub use state::S3StateStore;
