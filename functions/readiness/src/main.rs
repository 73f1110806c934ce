//! The readiness audit: every five minutes on both clouds it checks that each standby could take
//! over now (same code, room to grow, routing, fresh backups and passes, both failover functions
//! ticking) and says once when that changes. The same binary runs on Lambda, on Cloud Run and
//! once from the command line.

twincloud_runtime::function_main!(twincloud_readiness::SPEC);
