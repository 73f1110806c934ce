//! The embedded local backend: everything twincloud keeps or simulates, as real files in a
//! state directory (default `.twincloud/`), so that every function runs on a laptop with no
//! cloud account.
//!
//! ```text
//! .twincloud/
//!   state/...                 records of the StateStore (de-duplication, claims, audit)
//!   outbox/<channel>.jsonl    messages of outbox channels
//!   sim/services/<name>.json  simulated services (Compute)
//!   sim/dns/<record>.json     simulated DNS records (Traffic)
//!   sim/databases/<db>.json   simulated databases and their snapshots (Database)
//!   buckets/<name>/...        buckets as real directories (ObjectStore)
//! ```

mod billing;
mod database;
mod deploy;
mod files;
mod metrics;
mod objects;
mod outbox;
mod sim;
mod standin;
mod state;
mod walk;

pub use billing::LocalBilling;
pub use database::{LocalDatabase, SimulatedDatabase};
pub use deploy::LocalDeployer;
pub use metrics::{LocalAlarms, LocalMetrics};
pub use objects::LocalObjectStore;
pub use outbox::OutboxNotifier;
pub use sim::{LocalCompute, LocalTraffic};
pub use standin::StandInApp;
pub use state::LocalStateStore;
