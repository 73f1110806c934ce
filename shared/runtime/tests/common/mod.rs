//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use twincloud_core::Config;
use twincloud_runtime::functions::notifier::Notifier;
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::workspace_root;

/// A config with the local backend in `dir` and the given extra channel TOML.
pub fn config(dir: &std::path::Path, channels: &str) -> Config {
    let text = format!(
        "[project]\nname = \"aion\"\nstate = \"{}\"\n\n{channels}",
        dir.display()
    );
    Config::parse("test.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

/// A webhook channel posting to `url`.
pub fn webhook(name: &str, url: &str) -> String {
    format!("[[notify.channels]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{url}\"\n\n")
}

/// An invoker of the notifier on `config`.
pub async fn notifier(config: Config, dry_run: bool) -> Invoker {
    invoker(Box::new(Notifier), config, dry_run).await
}

/// An invoker of any function on `config`.
pub async fn invoker(
    function: Box<dyn twincloud_runtime::Function>,
    config: Config,
    dry_run: bool,
) -> Invoker {
    // Built as the function's own binary builds it: only its registry entry's wiring.
    let spec = twincloud_runtime::functions::by_name(function.name())
        .unwrap_or_else(|| panic!("`{}` is not in the registry", function.name()));
    let services = Services::build_for(spec.wiring, config, &Clouds::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Invoker::new(function, services, dry_run)
}

/// A fixture's bytes.
pub fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("events").join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}
