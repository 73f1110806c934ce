//! PostgreSQL's own client tools driven for logical backups. `pg_dump`, `pg_restore` and `psql`
//! speak every server version and every TLS and authentication mode libpq knows (Neon's SNI
//! routing included), so twincloud runs them rather than reimplementing the protocol: this
//! crate finds them, connects with retries while a suspended server wakes, holds a snapshot
//! open for a consistent dump and its row counts, and streams dumps out and restores in.
//!
//! Passwords never appear on a command line (they go through `PGPASSWORD`) nor in an error.

mod conn;
mod error;
mod process;
mod stats;
mod tools;

pub use conn::{PgConn, ServerInfo};
pub use error::{PgError, PgErrorKind};
pub use process::{DumpProcess, RestoreProcess, SnapshotHold};
pub use tools::PgTools;
