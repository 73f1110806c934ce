//! The function registry against everything that repeats it: the SAM template, the Cloud Run
//! deploy script, the README's function table, the binaries under `functions/` and the
//! workspace members. A function added to one place and not the others fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use twincloud_functions::{FUNCTIONS, FunctionSpec, access};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn registry() -> BTreeSet<&'static str> {
    FUNCTIONS.iter().map(|f| f.name).collect()
}

/// `bucket-sync` → `BucketSyncFunction`.
fn sam_resource(f: &FunctionSpec) -> String {
    let pascal: String = f
        .name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|h| h.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    format!("{pascal}Function")
}

/// The lines of one top-level resource of the template (indented by two spaces).
fn resource_block<'a>(template: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let header = format!("  {name}:");
    let mut lines = template.lines().skip_while(|l| *l != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| l.is_empty() || l.starts_with("    "))
            .collect(),
    )
}

#[test]
fn every_function_has_a_sam_resource_with_its_binary_and_triggers() {
    let template = read("infra/template.yaml");
    // Every resource of type AWS::Serverless::Function (the Globals section's `Function:` is
    // not one).
    let lines: Vec<&str> = template.lines().collect();
    let resources: BTreeSet<String> = lines
        .windows(2)
        .filter(|w| w[1].trim() == "Type: AWS::Serverless::Function")
        .filter_map(|w| w[0].strip_prefix("  ")?.strip_suffix(':'))
        .filter(|n| !n.starts_with(' '))
        .map(str::to_owned)
        .collect();
    let expected: BTreeSet<String> = FUNCTIONS.iter().map(sam_resource).collect();
    assert_eq!(resources, expected, "SAM functions and the registry differ");
    for f in FUNCTIONS {
        let block = resource_block(&template, &sam_resource(f))
            .unwrap_or_else(|| panic!("no resource {}", sam_resource(f)));
        let text = block.join("\n");
        assert!(
            text.contains(&format!("Binary: {}", f.name)),
            "{} does not build the `{}` binary",
            sam_resource(f),
            f.name
        );
        for t in f.triggers {
            if let Some(marker) = t.sam_marker() {
                assert!(
                    text.contains(marker),
                    "{} takes the {} trigger but its SAM resource has no `{marker}`",
                    f.name,
                    t.describe()
                );
            }
        }
    }
}

#[test]
fn the_deploy_script_knows_every_function() {
    let script = read("infra/gcp/deploy.sh");
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix("FUNCTIONS=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("deploy.sh has a FUNCTIONS=\"...\" line");
    let listed: BTreeSet<&str> = line.split_whitespace().collect();
    assert_eq!(
        listed,
        registry(),
        "deploy.sh FUNCTIONS and the registry differ"
    );
}

#[test]
fn the_readme_table_lists_every_function() {
    let readme = read("README.md");
    let table: BTreeSet<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## The functions"))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert_eq!(
        table,
        registry(),
        "README function table and the registry differ"
    );
}

#[test]
fn every_function_has_a_binary_and_a_workspace_member() {
    let workspace = read("Cargo.toml");
    let mut dirs = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let entry = entry.expect("functions/ entry");
        // The registry's own crate lists the functions; it is not one.
        if entry.path().join("Cargo.toml").is_file() && entry.file_name() != "registry" {
            dirs.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let expected: BTreeSet<String> = registry().iter().map(|s| s.to_string()).collect();
    assert_eq!(dirs, expected, "functions/* and the registry differ");
    for f in FUNCTIONS {
        let manifest = read(&format!("functions/{}/Cargo.toml", f.name));
        assert!(
            manifest.contains(&format!("name = \"{}\"", f.name)),
            "functions/{}/Cargo.toml does not build a `{}` binary",
            f.name,
            f.name
        );
        assert!(
            workspace.contains("\"functions/*\"")
                || workspace.contains(&format!("\"functions/{}\"", f.name)),
            "functions/{} is not a workspace member",
            f.name
        );
        let main = read(&format!("functions/{}/src/main.rs", f.name));
        let spec = format!("twincloud_{}::SPEC", f.name.replace('-', "_"));
        assert!(
            main.contains(&format!("function_main!({spec})")),
            "functions/{}/src/main.rs does not run {spec}",
            f.name
        );
    }
}

/// The IAM actions a resource block's policy statements allow: every `Action:` value, inline
/// (`Action: a`, `Action: [a, b]`) or as the list under it.
fn granted_actions(block: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut list_indent: Option<usize> = None;
    for l in block {
        let t = l.trim_start();
        let indent = l.len() - t.len();
        if let Some(i) = list_indent {
            if let Some(item) = t.strip_prefix("- ")
                && indent >= i
            {
                out.insert(item.trim().to_owned());
                continue;
            }
            list_indent = None;
        }
        let Some(value) = t.strip_prefix("Action:") else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            list_indent = Some(indent);
        } else if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            out.extend(inner.split(',').map(|a| a.trim().to_owned()));
        } else {
            out.insert(value.to_owned());
        }
    }
    out
}

#[test]
fn every_sam_resource_grants_exactly_what_its_function_needs() {
    let template = read("infra/template.yaml");
    for f in FUNCTIONS {
        let block = resource_block(&template, &sam_resource(f))
            .unwrap_or_else(|| panic!("no resource {}", sam_resource(f)));
        let granted = granted_actions(&block);
        let needed: BTreeSet<String> = f.aws_actions().iter().map(|a| (*a).to_owned()).collect();
        let missing: Vec<&String> = needed.difference(&granted).collect();
        let extra: Vec<&String> = granted.difference(&needed).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: its SAM resource does not grant {missing:?} that its access needs, and grants \
             {extra:?} that nothing it does needs",
            f.name
        );
    }
}

#[test]
fn the_action_reader_reads_every_form_the_template_uses() {
    let block = [
        "            - Sid: A",
        "              Action: s3:GetObject",
        "            - Sid: B",
        "              Action: [ecs:DescribeServices, ecs:UpdateService]",
        "            - Sid: C",
        "              Action:",
        "                - kms:DescribeKey",
        "                - kms:CreateGrant",
        "              Resource: \"*\"",
        "              Condition:",
        "                StringEquals:",
        "                  route53:ChangeResourceRecordSetsNormalizedRecordNames: [x]",
    ];
    let got: Vec<String> = granted_actions(&block).into_iter().collect();
    assert_eq!(
        got,
        [
            "ecs:DescribeServices",
            "ecs:UpdateService",
            "kms:CreateGrant",
            "kms:DescribeKey",
            "s3:GetObject"
        ]
    );
}

/// The state prefixes a statement's resources name (`.../${StatePrefix}/failover/*` is
/// `failover/`), sorted.
fn state_prefixes(statement: &str) -> Vec<String> {
    let mut out: Vec<String> = statement
        .lines()
        .filter_map(|l| l.split_once("${StatePrefix}/").map(|(_, p)| p.trim()))
        .filter_map(|p| p.strip_suffix('*'))
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

#[test]
fn deploy_sh_writes_the_state_each_function_declares() {
    let script = read("infra/gcp/deploy.sh");
    let body = &script[script
        .find("state_writes() {")
        .expect("state_writes in deploy.sh")..];
    let body = &body[..body.find("\n}").unwrap()];
    for f in FUNCTIONS {
        let arm = body
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{}) echo \"", f.name)))
            .unwrap_or_else(|| panic!("no state_writes arm for {}", f.name));
        let listed: Vec<&str> = arm.split('"').next().unwrap().split_whitespace().collect();
        assert_eq!(listed, f.state.writes, "{}: deploy.sh state_writes", f.name);
    }
}

/// The statement with `Sid: name` in a resource block, as text (to the next statement).
fn statement(block: &[&str], sid: &str) -> Option<String> {
    let start = block
        .iter()
        .position(|l| l.trim_end().ends_with(&format!("Sid: {sid}")))?;
    let indent = block[start].find("Sid").unwrap_or(0);
    let end = block[start + 1..]
        .iter()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with("- ") && l.len() - t.len() < indent
        })
        .map_or(block.len(), |n| start + 1 + n);
    Some(block[start..end].join("\n"))
}

#[test]
fn every_function_is_least_privileged_and_keeps_its_failures() {
    let template = read("infra/template.yaml");
    for f in FUNCTIONS {
        let name = sam_resource(f);
        let block = resource_block(&template, &name).unwrap();
        let text = block.join("\n");
        assert!(
            text.contains("OnFailure:"),
            "{name}: an event that keeps failing must land in an on-failure destination"
        );
        let state = statement(&block, "StateObjects").unwrap();
        assert_eq!(
            state_prefixes(&state),
            f.state.writes_of(f.name),
            "{name}: StateObjects grants writes under exactly its declared state.writes and \
             those every function keeps:\n{state}"
        );
        let reads = statement(&block, "ReadState").map_or(vec![], |r| {
            assert!(
                r.contains("Action: s3:GetObject"),
                "{name}: reads only:\n{r}"
            );
            state_prefixes(&r)
        });
        let mut declared: Vec<String> = f.state.reads.iter().map(|p| (*p).to_owned()).collect();
        declared.sort();
        assert_eq!(
            reads, declared,
            "{name}: ReadState is its declared state.reads"
        );
    }
    let failover = resource_block(&template, "FailoverFunction").unwrap();
    // Secrets: the channels' (every function reports through them) and its own, not every
    // secret under the prefix.
    for f in FUNCTIONS {
        let block = resource_block(&template, &sam_resource(f)).unwrap();
        let secrets = statement(&block, "Secrets").unwrap();
        let mut named: Vec<&str> = secrets
            .lines()
            .filter_map(|l| l.split_once("${SecretsPrefix}").map(|(_, p)| p.trim()))
            .collect();
        named.sort_unstable();
        let own = format!("{}/*", f.name);
        let mut want = vec!["notify/*"];
        if f.name != "notifier" {
            want.push(&own);
        }
        want.sort_unstable();
        assert_eq!(named, want, "{}: its secrets:\n{secrets}", f.name);
    }
    let pattern = &template[template.find("  DeployEcrRepositoryPattern:").unwrap()..];
    let pattern = &pattern[..pattern.find("\n  Deploy").unwrap()];
    assert!(
        !pattern.contains("Default") && pattern.contains("AllowedPattern: \"[a-z0-9]"),
        "no default repository pattern, and never every repository:\n{pattern}"
    );
    let switch = statement(&failover, "SwitchRecord").unwrap();
    assert!(
        switch.contains("route53:ChangeResourceRecordSetsNormalizedRecordNames"),
        "the failover function may change its record only:\n{switch}"
    );
    assert!(failover.join("\n").contains("ReservedConcurrentExecutions"));
    let sync = resource_block(&template, "BucketSyncFunction").unwrap();
    let sources = statement(&sync, "ReadSources").unwrap();
    assert!(
        !sources.contains("PutObject") && !sources.contains("DeleteObject"),
        "sources are read-only:\n{sources}"
    );
    assert!(sync.join("\n").contains("ReservedConcurrentExecutions"));
    let backup = resource_block(&template, "BackupFunction").unwrap();
    let tag = statement(&backup, "TagOwnSnapshots").unwrap();
    assert!(
        tag.contains("aws:RequestTag/twincloud:managed") && !tag.contains("Resource: \"*\""),
        "tags only on twincloud's snapshots, only its own tag:\n{tag}"
    );
    assert!(
        !statement(&backup, "SnapshotAndCopy")
            .unwrap()
            .contains("AddTagsToResource")
    );
}

#[test]
fn the_deploy_script_sets_verification_in_the_same_step_and_bounds_redelivery() {
    let script = read("infra/gcp/deploy.sh");
    assert!(
        !script.contains("--update-env-vars"),
        "a second update leaves a window without verification"
    );
    let env_line = script
        .lines()
        .find(|l| l.starts_with("env_vars=\"TWINCLOUD_CONFIG="))
        .expect("one env_vars line");
    assert!(env_line.contains("TWINCLOUD_PUSH_AUDIENCE="), "{env_line}");
    assert!(script.contains("--max-delivery-attempts"));
    assert!(script.contains("--dead-letter-topic"));
}

/// The GCP roles `infra/gcp/deploy.sh` grants each function's runtime account: per function,
/// the roles of the bindings whose member is that account, under the `case "$fn"` arm or the
/// `if` that names the function, plus those granted to every function.
fn gcp_grants(script: &str) -> (Vec<String>, std::collections::BTreeMap<String, Vec<String>>) {
    // One logical line per command (continuations joined).
    let mut lines: Vec<String> = vec![];
    let mut pending = String::new();
    for l in script.lines() {
        let t = l.trim_end();
        if let Some(head) = t.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        lines.push(std::mem::take(&mut pending));
    }
    let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
    let role_of = |l: &str| -> Option<String> {
        let runtime =
            l.contains("add-iam-policy-binding") && l.contains("serviceAccount:${runtime_sa}");
        let bucket =
            l.trim_start().starts_with("grant_bucket ") || l.contains("; do grant_bucket ");
        if !(runtime || bucket) {
            return None;
        }
        let at = l.find("roles/")?;
        let rest = &l[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '.'))
            .unwrap_or(rest.len());
        // A custom role of the project: `projects/${PROJECT}/roles/NAME`.
        let custom = "projects/${PROJECT}/";
        let owner = if l[..at].ends_with(custom) {
            custom
        } else {
            ""
        };
        Some(format!("{owner}{}", &rest[..end]))
    };
    let mut common = vec![];
    let mut per: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    // The functions the current context is limited to (a case arm, then `if`s within it).
    let mut arm: Option<Vec<String>> = None;
    let mut ifs: Vec<Option<Vec<String>>> = vec![];
    let mut in_case = false;
    for l in &lines {
        let t = l.trim();
        if t.starts_with("case \"$fn\" in") {
            in_case = true;
            continue;
        }
        if in_case && t == "esac" {
            in_case = false;
            arm = None;
            continue;
        }
        if in_case
            && let Some(head) = t.strip_suffix(')')
            && head.split('|').all(|n| names.contains(&n))
        {
            arm = Some(head.split('|').map(str::to_owned).collect());
            continue;
        }
        if t.starts_with("if ") {
            let limited: Vec<String> = names
                .iter()
                .filter(|n| {
                    t.contains(&format!("\"$fn\" = {n} "))
                        || t.contains(&format!(" {n} ")) && t.contains("*\" $fn \"*")
                })
                .map(|n| (*n).to_owned())
                .collect();
            ifs.push((!limited.is_empty()).then_some(limited));
        }
        if let Some(role) = role_of(t) {
            let scope = ifs
                .iter()
                .rev()
                .find_map(Clone::clone)
                .or_else(|| arm.clone());
            match scope {
                Some(fs) => {
                    for f in fs {
                        per.entry(f).or_default().push(role.clone());
                    }
                }
                None => common.push(role),
            }
        }
        if t == "fi"
            || t.starts_with("fi ")
            || t.ends_with("; fi")
            || t.ends_with(" fi ;;")
            || t == "fi ;;"
        {
            ifs.pop();
        }
    }
    (common, per)
}

#[test]
fn deploy_sh_grants_each_runtime_account_exactly_its_gcp_roles() {
    use std::collections::BTreeSet;
    let (common, per) = gcp_grants(&read("infra/gcp/deploy.sh"));
    let common: BTreeSet<String> = common.into_iter().collect();
    let declared: BTreeSet<String> = access::gcp_roles(access::COMMON)
        .iter()
        .map(|r| (*r).to_owned())
        .collect();
    assert_eq!(
        common, declared,
        "the roles every runtime account is granted"
    );
    for f in FUNCTIONS {
        let granted: BTreeSet<String> = per
            .get(f.name)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let wanted: BTreeSet<String> = access::gcp_roles(f.access)
            .iter()
            .map(|r| (*r).to_owned())
            .collect();
        assert_eq!(
            granted, wanted,
            "{}: infra/gcp/deploy.sh grants (left) what the registry declares (right)",
            f.name
        );
    }
}

#[test]
fn the_readme_lists_every_gcp_endpoint_override() {
    let context = read("shared/gcp/src/context.rs");
    let readme = read("README.md");
    let vars: Vec<&str> = context
        .split("base(\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .collect();
    assert!(vars.len() >= 10, "{vars:?}");
    let missing: Vec<&&str> = vars.iter().filter(|v| !readme.contains(**v)).collect();
    assert!(missing.is_empty(), "README does not list {missing:?}");
}
