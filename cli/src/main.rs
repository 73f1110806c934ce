//! `twincloud`: run any function on an event file against the configured backend (the local
//! one by default), validate configuration, list the event shapes, and a guided demo.

mod demo;
mod readiness;
mod restore;
mod restore_output;
mod restore_postgres;
mod status;
mod sync;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use twincloud_core::{Config, Shape};

#[derive(Parser)]
#[command(
    name = "twincloud",
    version,
    about = "Event-driven operations for a two-cloud deployment (GCP Cloud Run primary, AWS ECS Fargate backup)"
)]
struct Cli {
    /// Output format for scripts.
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    output: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a function once on an event file and print its plan and what it did.
    Invoke {
        /// Function name (`twincloud functions` lists them).
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(twincloud_functions::names()))]
        function: String,
        /// Event file: any shape `twincloud events` lists; `-` reads standard input.
        #[arg(long)]
        event: String,
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Configuration: a path, s3://BUCKET/KEY or gs://BUCKET/OBJECT (default: TWINCLOUD_CONFIG, else the local backend in .twincloud/).
        #[arg(long)]
        config: Option<String>,
    },
    /// Check a configuration file; every problem is reported with its line.
    Validate {
        /// The file (default: TWINCLOUD_CONFIG).
        file: Option<String>,
        /// The file, as every other command takes it.
        #[arg(long, conflicts_with = "file")]
        config: Option<String>,
    },
    /// List the event shapes twincloud decodes.
    Events,
    /// List the functions: what each does, its configuration section and its triggers.
    Functions,
    /// Copy new and changed objects from SRC to DST (s3://, gs://, or a directory), checksum-compared.
    Sync(sync::SyncArgs),
    /// Show the operations overview: the active side, each side's health over the last day,
    /// the switches, backups, bucket sync, budgets, deploys and scaling (`--output json`: the
    /// failover status document).
    Status {
        /// Configuration (default: TWINCLOUD_CONFIG, else the local backend).
        #[arg(long)]
        config: Option<String>,
        /// Write the overview as a self-contained HTML page to this file instead.
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
    },
    /// Check now whether each standby could take over (same code, capacity, budget holds,
    /// routing TTL, fresh backups and sync passes, each failover function ticking): every
    /// finding ready, not ready (with the fix) or unknown. Exit 1 unless all are ready.
    Readiness {
        /// Configuration (default: TWINCLOUD_CONFIG, else the local backend).
        #[arg(long)]
        config: Option<String>,
    },
    /// Return traffic to the primary now, if it is healthy (failover's manual failback). It
    /// waits out the cooldown after the last switch unless `--force` is given.
    Failback {
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Fail back even within the cooldown after the last switch.
        #[arg(long)]
        force: bool,
        /// Configuration (default: TWINCLOUD_CONFIG, else the local backend).
        #[arg(long)]
        config: Option<String>,
    },
    /// Roll an image out by digest to the deploy targets whose repository it is (the deploy
    /// function's command): mirrored to the other cloud's registry, checked at every step,
    /// rolled back on failure.
    Deploy {
        /// The image, REPOSITORY@sha256:DIGEST (a tag is never deployed by name).
        #[arg(long)]
        image: String,
        /// Which cloud's services.
        #[arg(long, default_value = "both", value_parser = ["aws", "gcp", "local", "both"])]
        to: String,
        /// Print what would change (current revisions and images, the traffic plan); change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Configuration (default: TWINCLOUD_CONFIG, else the local backend).
        #[arg(long)]
        config: Option<String>,
    },
    /// Put a deploy target's services back on the revisions they ran before its last rollout.
    Rollback {
        /// The `[[deploy.targets]]` name.
        target: String,
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Configuration (default: TWINCLOUD_CONFIG, else the local backend).
        #[arg(long)]
        config: Option<String>,
    },
    /// The budget guard's commands.
    Budget {
        #[command(subcommand)]
        action: BudgetCommand,
    },
    /// Restore a database: RDS from a snapshot or a point in time, Cloud SQL from an export, a
    /// PostgreSQL dump (engine `postgres`) into any server, or the local backend. Says what it
    /// will do; acts only with --yes.
    Restore(restore::RestoreArgs),
    /// A short scripted scenario on the local backend that shows what twincloud does.
    Demo {
        /// State directory for the demo (emptied first).
        #[arg(long, default_value = ".twincloud-demo")]
        dir: std::path::PathBuf,
    },
}

/// `twincloud budget ...`.
#[derive(Subcommand)]
enum BudgetCommand {
    /// Undo every change a budget guard made this period now (last first; a thing changed
    /// by someone since is reported and left alone).
    Restore {
        /// The `[[budget.guards]]` name.
        guard: String,
        /// Print what would come back; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Configuration (default: TWINCLOUD_CONFIG, else the local backend).
        #[arg(long)]
        config: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    twincloud_runtime::logging::init(false, "warn");
    let json = cli.output == "json";
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code: i32 = rt.block_on(async move {
        match cli.command {
            Command::Invoke {
                function,
                event,
                dry_run,
                config,
            } => match twincloud_functions::by_name(&function) {
                Some(f) => {
                    twincloud_runtime::run_once(f.build(), &event, config.as_deref(), dry_run, json)
                        .await
                }
                None => {
                    eprintln!(
                        "error: unknown function `{function}` (known: {})",
                        twincloud_functions::names().join(", ")
                    );
                    2
                }
            },
            Command::Functions => {
                functions(json);
                0
            }
            Command::Validate { file, config } => validate(file.or(config), json).await,
            Command::Events => {
                events(json);
                0
            }
            Command::Demo { dir } => demo::run(&dir, json).await,
            Command::Status { config, html } => {
                status::show(config.as_deref(), json, html.as_deref()).await
            }
            Command::Readiness { config } => readiness::show(config.as_deref(), json).await,
            Command::Sync(args) => sync::run(args, json).await,
            Command::Restore(args) => restore::run(args, json).await,
            Command::Failback {
                dry_run,
                force,
                config,
            } => status::failback(config.as_deref(), dry_run, force, json).await,
            Command::Deploy {
                image,
                to,
                dry_run,
                config,
            } => {
                if let Err(why) = twincloud_core::planner::deploy::image_reference(&image) {
                    eprintln!(
                        "error: --image {image}: {why} (`docker buildx imagetools inspect REPO:TAG` shows a tag's digest)"
                    );
                    return 2;
                }
                let args = serde_json::json!({"image": image, "to": to});
                status::command(&twincloud_functions::deploy::SPEC, "deploy", args, config.as_deref(), dry_run, json).await
            }
            Command::Budget {
                action:
                    BudgetCommand::Restore {
                        guard,
                        dry_run,
                        config,
                    },
            } => {
                let args = serde_json::json!({ "guard": guard });
                status::command(
                    &twincloud_functions::budget_guard::SPEC,
                    "budget-restore",
                    args,
                    config.as_deref(),
                    dry_run,
                    json,
                )
                .await
            }
            Command::Rollback {
                target,
                dry_run,
                config,
            } => {
                let args = serde_json::json!({ "target": target });
                status::command(&twincloud_functions::deploy::SPEC, "rollback", args, config.as_deref(), dry_run, json).await
            }
        }
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

async fn validate(config: Option<String>, json: bool) -> i32 {
    let Some(origin) = config.or_else(|| std::env::var("TWINCLOUD_CONFIG").ok()) else {
        eprintln!("error: name a configuration file, or set TWINCLOUD_CONFIG");
        return 2;
    };
    let clouds = twincloud_runtime::Clouds::default();
    match twincloud_runtime::load_config(Some(&origin), &clouds).await {
        Ok(c) => {
            if json {
                twincloud_runtime::outln!(
                    "{}",
                    serde_json::json!({"ok": true, "origin": origin, "project": c.project.name, "state": c.project.state.to_string(), "channels": c.notify.channels.iter().map(|ch| serde_json::json!({"name": ch.name, "type": ch.target.type_name()})).collect::<Vec<_>>(), "sections": sections(&c)})
                );
            } else {
                print_summary(&origin, &c);
            }
            0
        }
        Err(e) => {
            if json {
                twincloud_runtime::outln!(
                    "{}",
                    serde_json::json!({"ok": false, "origin": origin, "error": e.to_string()})
                );
            }
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

fn print_summary(origin: &str, c: &Config) {
    twincloud_runtime::outln!("{origin}: valid");
    twincloud_runtime::outln!("  project  {}", c.project.name);
    twincloud_runtime::outln!("  state    {}", c.project.state);
    for ch in &c.notify.channels {
        let kinds = if ch.kinds.is_empty() {
            "all kinds".to_owned()
        } else {
            ch.kinds.join(", ")
        };
        twincloud_runtime::outln!(
            "  channel  {} ({}): {} and above, {kinds}",
            ch.name,
            ch.target.type_name(),
            ch.min_severity
        );
    }
    for line in sections(c) {
        twincloud_runtime::outln!("  {line}");
    }
    let secrets = c.secret_refs();
    if !secrets.is_empty() {
        twincloud_runtime::outln!(
            "  secrets  {} reference(s), resolved at start: {}",
            secrets.len(),
            secrets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// One line per configured item of each function's section: what `validate` found, so a typo
/// that leaves a section empty shows.
fn sections(c: &Config) -> Vec<String> {
    use twincloud_core::config::BackupEngine;
    let mut out = vec![];
    if let Some(f) = &c.failover {
        let sides: Vec<String> = f
            .endpoints
            .iter()
            .map(|e| {
                let role = if e.primary { "primary" } else { "standby" };
                format!("{} ({}, {role})", e.name, e.compute.label())
            })
            .collect();
        out.push(format!("failover {}: {}", f.record, sides.join(", ")));
    }
    for p in c.sync.iter().flat_map(|s| &s.pairs) {
        out.push(format!(
            "sync     {}: {} -> {}",
            p.name, p.source, p.destination
        ));
    }
    for set in c.backup.iter().flat_map(|b| &b.sets) {
        let engine = match &set.engine {
            BackupEngine::Rds { .. } => "rds",
            BackupEngine::CloudSql { .. } => "cloudsql",
            BackupEngine::Postgres(_) => "postgres",
            BackupEngine::Local => "local",
        };
        out.push(format!("backup   {} ({engine})", set.name));
    }
    for s in c.scaling.iter().flat_map(|s| &s.services) {
        out.push(format!(
            "scaling  {} ({}): {} to {} instances",
            s.name,
            s.compute.label(),
            s.min,
            s.max
        ));
    }
    for t in c.deploy.iter().flat_map(|d| &d.targets) {
        let sides: Vec<String> = t.sides.iter().map(|s| s.label()).collect();
        out.push(format!("deploy   {}: {}", t.name, sides.join(", then ")));
    }
    for g in c.budget.iter().flat_map(|b| &b.guards) {
        let budgets: Vec<String> = [
            g.aws
                .as_ref()
                .map(|(a, n)| format!("AWS budget {n} of {a}")),
            g.gcp
                .as_ref()
                .map(|(a, id)| format!("GCP budget {id} of {a}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.push(format!(
            "budget   {}: {} step(s) on {}",
            g.name,
            g.steps.len(),
            budgets.join(" and ")
        ));
    }
    out
}

fn events(json: bool) {
    if json {
        let list: Vec<_> = Shape::ALL
            .iter()
            .map(|s| serde_json::json!({"name": s.name(), "description": s.describe()}))
            .collect();
        twincloud_runtime::outln!("{}", serde_json::Value::Array(list));
        return;
    }
    twincloud_runtime::outln!(
        "Event shapes twincloud decodes (fixtures of each are in events/):\n"
    );
    for s in Shape::ALL {
        twincloud_runtime::outln!("  {:34} {}", s.name(), s.describe());
    }
}

fn functions(json: bool) {
    let fns = twincloud_functions::FUNCTIONS;
    if json {
        let list: Vec<_> = fns
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "summary": f.summary,
                    "config_section": f.config_section,
                    "triggers": f.triggers.iter().map(|t| t.describe()).collect::<Vec<_>>(),
                })
            })
            .collect();
        twincloud_runtime::outln!("{}", serde_json::Value::Array(list));
        return;
    }
    twincloud_runtime::outln!(
        "Functions (each is a binary under functions/, a Lambda and a Cloud Run service):\n"
    );
    for f in fns {
        twincloud_runtime::outln!("  {:12} {}", f.name, f.summary);
        let section = f
            .config_section
            .map(|s| format!("[{s}]"))
            .unwrap_or_else(|| "[notify] only".into());
        let triggers: Vec<String> = f.triggers.iter().map(|t| t.describe()).collect();
        twincloud_runtime::outln!(
            "  {:12} config {section}; triggers: {}\n",
            "",
            triggers.join(", ")
        );
    }
}
