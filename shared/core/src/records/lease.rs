//! Who holds a record, until when: the part of a leased record that the platform's leases
//! (taken and released with conditional writes) read and write.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Who holds a record, until when. Flattened into the record it guards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The holding invocation.
    pub lease_holder: Option<String>,
    /// When the lease ends.
    pub lease_until: Option<DateTime<Utc>>,
}

/// A record guarded by a lease.
pub trait Leased: Serialize + DeserializeOwned + Default {
    /// The record's lease.
    fn lease(&mut self) -> &mut Lease;
}
