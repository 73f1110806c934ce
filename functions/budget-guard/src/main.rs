//! The budget guard: on an AWS Budgets alert (SNS) or a GCP budget notification (Pub/Sub) it
//! reads the budget back from the provider and takes the steps of the matching guard's ladder
//! that the confirmed spend crosses, once per budget period; daily it notices a new period and
//! undoes every change. The same binary runs on Lambda, on Cloud Run and once from the command
//! line.

twincloud_runtime::function_main!(twincloud_budget_guard::SPEC);
