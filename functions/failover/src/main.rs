//! The failover function: probes the two sides on a schedule (and takes alarms, incidents and
//! commands), fails over with the standby scaled up first, and fails back after sustained
//! recovery. The same binary runs on Lambda, on Cloud Run and once from the command line.

twincloud_runtime::function_main!(twincloud_failover::SPEC);
