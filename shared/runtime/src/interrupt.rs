//! What a one-shot run stopped by Ctrl-C gives back: the leases it holds and the intents it
//! left open are tracked only in such a run (a long-lived server never gives them back this
//! way, so it keeps no list that would only grow).

use std::sync::atomic::{AtomicBool, Ordering};

static TRACKING: AtomicBool = AtomicBool::new(false);

/// Starts tracking held leases and open intents in this process (a one-shot run).
pub(crate) fn track() {
    TRACKING.store(true, Ordering::SeqCst);
}

/// Whether held leases and open intents are tracked in this process.
pub(crate) fn tracking() -> bool {
    TRACKING.load(Ordering::SeqCst)
}
