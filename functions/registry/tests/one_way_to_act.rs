//! The rules of the effect journal that the type system does not hold on its own, checked on
//! the source: functions never ask whether this is a dry run (the platform rehearses: the
//! effects handle calls nothing and the state store drops its writes), and the effects handle
//! is the only writer of audit records.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a Rust file without comments and string literals (what the names in it are).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        let word_start = !(prev.is_alphanumeric() || prev == '_');
        prev = c;
        match c {
            // A raw string, `r"..."` or `r#"..."#`: to its closing quote and hashes.
            'r' if word_start && matches!(chars.peek(), Some('#' | '"')) => {
                let mut hashes = 0;
                while chars.peek() == Some(&'#') {
                    chars.next();
                    hashes += 1;
                }
                if chars.next() != Some('"') {
                    out.push('r');
                    continue;
                }
                let mut run: Option<usize> = None;
                for c in chars.by_ref() {
                    run = match (c, run) {
                        ('"', _) => Some(0),
                        ('#', Some(n)) => Some(n + 1),
                        _ => None,
                    };
                    if run == Some(hashes) {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            // The quote character, `'"'`, opens no string.
            '\'' if chars.peek() == Some(&'"') => {
                chars.next();
                if chars.peek() == Some(&'\'') {
                    chars.next();
                }
                out.push_str("''");
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            c => out.push(c),
        }
    }
    out
}

fn offending(dir: &str, needle: &str, allowed: &[&str]) -> Vec<String> {
    let workspace = twincloud_testkit::workspace_root();
    let root = workspace.join(dir);
    let mut files = vec![];
    rust_files(&root, &mut files);
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
