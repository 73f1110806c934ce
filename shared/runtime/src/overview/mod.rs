//! The operations page: what the state store says of both clouds, gathered into one
//! [`Overview`] and rendered as a self-contained HTML page ([`render_html`]) or compact text
//! ([`render_text`]). Gathering reads only the records the configuration names (plus the
//! audit records of the recorded switches), so a store with many records costs what the
//! configuration costs, not what the store holds.

mod gather;
mod html;
mod model;
mod text;

use chrono::{DateTime, Utc};

pub use gather::{REFUSED_SHOWN, gather};
pub use html::render_html;
pub use model::*;
pub use text::render_text;

/// Hours and minutes since `at`, for people: `3 h 05 min`, `2 d 4 h`.
pub fn age(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let m = (now - at).num_minutes().max(0);
    if m < 60 {
        format!("{m} min")
    } else if m < 48 * 60 {
        format!("{} h {:02} min", m / 60, m % 60)
    } else {
        format!("{} d {} h", m / 1440, (m % 1440) / 60)
    }
}
