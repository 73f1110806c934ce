//! Helpers the functions' integration tests share (included with `#[path]`).
#![allow(dead_code, unused_imports)]

use twincloud_runtime::{Clouds, FunctionSpec, Invoker};
pub use twincloud_testkit::fixtures::{config, event as fixture, webhook};

/// An invoker of `spec`'s function on `config`, built as its own binary builds it: only the
/// adapters of its wiring.
pub async fn invoker(
    spec: &FunctionSpec,
    config: twincloud_core::Config,
    dry_run: bool,
) -> Invoker {
    twincloud_runtime::invoker_for(spec, config, &Clouds::default(), dry_run)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
