//! The bucket-sync function: an S3 or GCS object event copies (or deletes) just that object,
//! idempotently; a schedule reconciles every configured pair, resuming where the last
//! invocation stopped. The same binary runs on Lambda, on Cloud Run and once from the command
//! line.

twincloud_runtime::function_main!(twincloud_bucket_sync::SPEC);
