//! The embedded local backend: everything twincloud keeps or simulates, as real files in a
//! state directory (default `.twincloud/`), so that every function runs on a laptop with no
//! cloud account.

mod outbox;
mod state;

pub use outbox::OutboxNotifier;
pub use state::LocalStateStore;
