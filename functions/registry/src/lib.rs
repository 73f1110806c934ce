//! Every twincloud function, in one table.
//!
//! Each function is a crate of its own under `functions/<name>/` that declares its
//! [`FunctionSpec`] as `SPEC`; [`FUNCTIONS`] lists them. The CLI's `invoke` and `functions`
//! commands, and the tests that check `infra/template.yaml`, `infra/gcp/deploy.sh`, the README
//! and the workspace against it, read this table. `docs/ARCHITECTURE.md` ("Adding a function")
//! lists the files a new function needs.

pub use twincloud_backup as backup;
pub use twincloud_bucket_sync as bucket_sync;
pub use twincloud_budget_guard as budget_guard;
pub use twincloud_deploy as deploy;
pub use twincloud_failover as failover;
pub use twincloud_notifier as notifier;
pub use twincloud_readiness as readiness;
pub use twincloud_runtime::{FunctionSpec, Trigger, access};
pub use twincloud_scaling as scaling;

/// Every function, in the order the README lists them.
pub const FUNCTIONS: &[FunctionSpec] = &[
    notifier::SPEC,
    bucket_sync::SPEC,
    backup::SPEC,
    failover::SPEC,
    scaling::SPEC,
    deploy::SPEC,
    budget_guard::SPEC,
    readiness::SPEC,
];

/// Looks a function up by name.
pub fn by_name(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Every function name, in registry order.
pub fn names() -> Vec<&'static str> {
    FUNCTIONS.iter().map(|f| f.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_what_each_function_calls_itself() {
        let mut seen = std::collections::BTreeSet::new();
        for f in FUNCTIONS {
            assert!(seen.insert(f.name), "`{}` is registered twice", f.name);
            assert_eq!(
                f.build().name(),
                f.name,
                "registry entry and function disagree"
            );
            assert!(!f.triggers.is_empty(), "`{}` has no trigger", f.name);
            assert!(!f.summary.is_empty());
        }
        assert!(by_name("no-such-function").is_none());
        assert_eq!(by_name("backup").map(|f| f.name), Some("backup"));
    }

    #[tokio::test]
    async fn every_function_is_built_with_its_own_wiring() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[project]\nname = \"t\"\nstate = \"{}\"\n\n[[notify.channels]]\nname = \"outbox\"\ntype = \"outbox\"\n",
            dir.path().display()
        );
        for f in FUNCTIONS {
            let config = twincloud_core::Config::parse("t.toml", &text).expect("config");
            let built = twincloud_runtime::Services::build_for(
                f.wiring,
                config,
                &twincloud_runtime::Clouds::default(),
            )
            .await;
            assert!(built.is_ok(), "`{}`: {:?}", f.name, built.err());
        }
        assert!(!twincloud_runtime::Wiring::NONE.has(twincloud_runtime::Wiring::DEPLOY));
        assert!(!twincloud_runtime::Wiring::NONE.has(twincloud_runtime::Wiring::DEPLOY));
    }
}
