//! The notifier function: any event, and every action twincloud takes, becomes a readable
//! message on the configured channels. The same binary runs on Lambda, on Cloud Run and once
//! from the command line.

twincloud_runtime::function_main!(twincloud_notifier::SPEC);
