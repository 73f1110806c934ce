//! The backup function: a schedule (EventBridge Scheduler, Cloud Scheduler) or a manual invoke
//! runs a backup set: snapshots named after the schedule's time, retention, quota-aware copies
//! to the disaster-recovery region, Cloud SQL exports, one summary. The same binary runs on
//! Lambda, on Cloud Run and once from the command line.

twincloud_runtime::function_main!(twincloud_backup::SPEC);
