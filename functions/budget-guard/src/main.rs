//! The budget guard: on an AWS Budgets alert (SNS) or a GCP budget notification (Pub/Sub) it
//! reads the budget back from the provider and takes the steps of the matching guard's ladder
//! that the confirmed spend crosses, once per budget period; daily it notices a new period and
//! undoes every change. The same binary runs on Lambda, on Cloud Run and once from the command
//! line.

fn main() -> std::process::ExitCode {
    twincloud_runtime::main_for(&twincloud_runtime::functions::BUDGET_GUARD)
}
