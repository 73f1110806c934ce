//! The layout says the architecture, and these checks keep it saying it: functions → runtime →
//! adapters → core, with no arrow back up; no function reaches into another; no import circle
//! between the top-level modules of any crate; the core does no I/O.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use twincloud_testkit::source::{code_only, long_functions, rust_files};
use twincloud_testkit::workspace_root;

/// Every crate folder of the workspace (those holding a `Cargo.toml` and a `src/`).
fn crates() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut out = vec![root.join("cli")];
    for group in ["shared", "functions"] {
        for entry in std::fs::read_dir(root.join(group)).unwrap() {
            let dir = entry.unwrap().path();
            if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
                out.push(dir);
            }
        }
    }
    out.sort();
    out
}

/// The module names `text` reaches through `crate::NAME`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let before = text[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let name: String = text[i + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// The code of the crate whose sources are in `src`, file by file, without comments and
/// without unit tests (test files and inline `mod tests`, which may reach across).
fn code_files(src: &Path) -> Vec<(PathBuf, String)> {
    rust_files(src)
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_string_lossy();
            name != "tests.rs" && name != "prop_tests.rs"
        })
        .map(|f| {
            let mut code = code_only(&std::fs::read_to_string(&f).unwrap());
            if let Some(i) = code.find("#[cfg(test)]\nmod tests {") {
                code.truncate(i);
            }
            (f, code)
        })
        .collect()
}

/// Top-level module → the top-level modules it imports, for the crate whose sources are in
/// `src`.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (f, code) in code_files(src) {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = first.trim_end_matches(".rs").to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let deps: Vec<String> = crate_paths(&code)
            .into_iter()
            .filter(|d| *d != top)
            .collect();
        graph.entry(top).or_default().extend(deps);
    }
    graph
}

/// A circle in `graph`, as the path that closes it, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|n| n == node).unwrap();
                let mut c = path[from..].to_vec();
                c.push(node.to_owned());
                return Some(c);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if graph.contains_key(next)
                && let Some(c) = visit(next, graph, marks, path)
            {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut marks, &mut vec![]) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_circle_between_its_modules() {
    let mut found = vec![];
    for dir in crates() {
        if let Some(c) = circle(&module_graph(&dir.join("src"))) {
            found.push(format!("{}: {}", dir.display(), c.join(" → ")));
        }
    }
    assert!(found.is_empty(), "import circles: {found:#?}");
}

#[test]
fn the_checker_finds_a_circle_and_ignores_comments() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let code = code_only("use crate::stores::x; // see [`crate::services`]\n$crate::out");
    assert_eq!(crate_paths(&code), BTreeSet::from(["stores".to_owned()]));
}

/// The workspace crates `manifest` depends on (normal dependencies only).
fn workspace_dependencies(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let table: toml::Table = text.parse().unwrap();
    table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| {
            d.keys()
                .filter(|k| k.starts_with("twincloud-"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn dependencies_point_down_functions_runtime_adapters_core() {
    let root = workspace_root();
    let functions: BTreeSet<String> = twincloud_functions::FUNCTIONS
        .iter()
        .map(|f| format!("twincloud-{}", f.name))
        .collect();
    for dir in crates() {
        let deps = workspace_dependencies(&dir.join("Cargo.toml"));
        let rel = dir.strip_prefix(&root).unwrap().display().to_string();
        let above: BTreeSet<&String> = deps
            .iter()
            .filter(|d| functions.contains(*d) || *d == "twincloud-functions")
            .collect();
        // Only the registry and the CLI sit above the functions.
        if rel != "functions/registry" && rel != "cli" {
            assert!(above.is_empty(), "{rel} depends on {above:?}");
        }
        if rel.starts_with("shared/") && rel != "shared/runtime" {
            assert!(
                !deps.contains("twincloud-runtime"),
                "{rel}: an adapter or the core depends on the runtime"
            );
        }
    }
    let core = workspace_dependencies(&root.join("shared/core/Cargo.toml"));
    assert!(core.is_empty(), "the core depends on {core:?}");
}

#[test]
fn the_core_does_no_io() {
    let text = std::fs::read_to_string(workspace_root().join("shared/core/Cargo.toml")).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let deps = table["dependencies"].as_table().unwrap();
    for io in [
        "tokio",
        "reqwest",
        "hyper",
        "axum",
        "aws-config",
        "kube",
        "lambda_runtime",
    ] {
        assert!(!deps.contains_key(io), "the core depends on {io}");
    }
    for (f, code) in code_files(&workspace_root().join("shared/core/src")) {
        for call in ["std::fs::", "std::net::", "std::process::", "std::env::var"] {
            assert!(
                !code.contains(call),
                "{}: the core calls {call}",
                f.display()
            );
        }
    }
}

/// The decision and effect code: each function's crate, the platform, the planners.
fn decision_and_effect_code() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut dirs = vec![
        root.join("shared/runtime/src"),
        root.join("shared/core/src/planner"),
    ];
    for f in twincloud_functions::FUNCTIONS {
        dirs.push(root.join("functions").join(f.name).join("src"));
    }
    dirs
}

/// A function longer than this is usually two things.
const LIMIT: usize = 80;

#[test]
fn no_function_is_over_eighty_lines() {
    let root = workspace_root();
    let mut found = vec![];
    for dir in decision_and_effect_code() {
        for (f, code) in code_files(&dir) {
            let rel = f.strip_prefix(&root).unwrap().display().to_string();
            for (name, line, len) in long_functions(&code, LIMIT) {
                found.push(format!("{rel}:{line} {name}: {len} lines"));
            }
        }
    }
    found.sort();
    assert!(
        found.is_empty(),
        "functions over {LIMIT} lines (a function that long is usually two things):\n{}",
        found.join("\n")
    );
}
