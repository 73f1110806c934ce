//! The scaling function: each minute, and on the alarms its policies name, it scales each
//! configured service (ECS desired count, Cloud Run minimum instances) by its load, its
//! capacity windows and where failover puts it. The same binary runs on Lambda, on Cloud Run and
//! once from the command line.

twincloud_runtime::function_main!(twincloud_scaling::SPEC);
