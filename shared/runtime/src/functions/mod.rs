//! The functions, as libraries: each binary in `functions/` runs one of these, and the CLI can
//! invoke any of them.

pub mod backup;
pub mod bucket_sync;
pub mod failover;
pub mod notifier;

use crate::function::Function;

/// Looks a function up by name.
pub fn by_name(name: &str) -> Option<Box<dyn Function>> {
    match name {
        "notifier" => Some(Box::new(notifier::Notifier)),
        "failover" => Some(Box::new(failover::Failover)),
        "bucket-sync" => Some(Box::new(bucket_sync::BucketSync)),
        "backup" => Some(Box::new(backup::Backup::default())),
        _ => None,
    }
}

/// Every function name.
pub const NAMES: &[&str] = &["notifier", "failover", "bucket-sync", "backup"];
