//! The rules of the effect journal that the type system does not hold on its own, checked on
//! the source: functions never ask whether this is a dry run (the platform rehearses: the
//! effects handle calls nothing and the state store drops its writes), and the effects handle
//! is the only writer of audit records.
#![allow(clippy::unwrap_used)]

use twincloud_testkit::source::{code_only, rust_files};

fn offending(dir: &str, needle: &str, allowed: &[&str]) -> Vec<String> {
    let workspace = twincloud_testkit::workspace_root();
    let root = workspace.join(dir);
    let files = rust_files(&root);
    let mut found = vec![];
    for f in files {
        let rel = f.strip_prefix(&workspace).unwrap().display().to_string();
        if allowed.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for (n, line) in code.lines().enumerate() {
            let hit = line.match_indices(needle).any(|(i, _)| {
                let before = line[..i].chars().last();
                let after = line[i + needle.len()..].chars().next();
                let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !ident(before) && !ident(after)
            });
            if hit {
                found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_function_asks_whether_it_is_a_dry_run() {
    let found: Vec<String> = twincloud_functions::FUNCTIONS
        .iter()
        // The sync engine is a bulk copier that `twincloud sync --dry-run` also drives: its
        // `dry_run` is its own option, which the handle sets (`SyncOptions::under`).
        .flat_map(|f| {
            offending(
                &format!("functions/{}/src", f.name),
                "dry_run",
                &["functions/bucket-sync/src/engine/"],
            )
        })
        .collect();
    assert!(
        found.is_empty(),
        "functions decide, the platform rehearses: {found:#?}"
    );
}

#[test]
fn the_effects_handle_is_the_only_audit_writer() {
    // Rejected events are recorded by the invoker before any function runs.
    let effects = ["shared/runtime/src/effects/", "shared/runtime/src/audit.rs"];
    let mut found = offending("shared/runtime/src", "audit::write", &effects);
    found.extend(offending("functions", "audit::write", &[]));
    assert!(
        found.is_empty(),
        "an audit record written around the handle: {found:#?}"
    );
    let found = offending(
        "shared/runtime/src",
        "write_rejection",
        &[
            "shared/runtime/src/audit.rs",
            "shared/runtime/src/invoke.rs",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_checker_sees_names_and_not_words() {
    let code = code_only("let a = inv.dry_run; // dry_run\nlet b = \"dry_run \\\" x\";");
    assert_eq!(code, "let a = inv.dry_run; \nlet b = \"\";");
    // A raw string with a quote inside, then a quote character: the code after each is seen.
    let code = code_only("let t = r#\"say \"dry_run\" \"#; x.dry_run; let q = '\"'; y.dry_run");
    assert_eq!(code, "let t = \"\"; x.dry_run; let q = ''; y.dry_run");
}
