//! Configuration: one TOML file describing the deployment, validated in two stages
//! (syntax and unknown keys, then meaning) with errors that name file, line and problem.

use serde::Deserialize;
use toml::Spanned;

mod backup;
mod backup_postgres;
mod budget;
mod compute;
mod deploy;
mod failover;
mod kubernetes;
mod notify;
mod readiness;
mod scaling;
mod sync;
mod table;

pub use backup::{BackupConfig, BackupEngine, BackupSet, DrCopies, ExportPolicy, RetentionPolicy};
pub use backup_postgres::{MAX_DESTINATIONS, PgTls, PostgresBackup, database_name_ok};
pub use budget::{BudgetAction, BudgetConfig, BudgetGuard, BudgetStep, SpendBasis, StepMode};
pub use compute::{ComputeKind, ComputeTarget};
pub use deploy::{DeployConfig, DeploySide, DeployTarget, RegistryAuth, SideOrder, glob};
pub use failover::{DnsProvider, Endpoint, Failback, FailoverConfig};
pub use kubernetes::{KubeCluster, kube_name_ok};
pub use notify::{Channel, ChannelTarget, NotifyConfig};
pub use readiness::ReadinessConfig;
pub use scaling::{CapacityWindow, Metric, ScalingConfig, ScalingService, StepRule};
pub use sync::{DeletePolicy, SyncConfig, SyncPair};

use crate::location::Location;
use crate::secret::SecretRef;
use crate::signal::Severity;

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it was loaded from (a path or URL), for messages.
    pub origin: String,
    /// Project-wide settings.
    pub project: Project,
    /// Notification settings and channels.
    pub notify: NotifyConfig,
    /// Failover between the two sides, when configured.
    pub failover: Option<FailoverConfig>,
    /// Bucket pairs kept in sync, when configured.
    pub sync: Option<SyncConfig>,
    /// Database backups, when configured.
    pub backup: Option<BackupConfig>,
    /// Scaling policies, when configured.
    pub scaling: Option<ScalingConfig>,
    /// Deploy on push, when configured.
    pub deploy: Option<DeployConfig>,
    /// Budget guards, when configured.
    pub budget: Option<BudgetConfig>,
    /// The bounds of the readiness audit (defaults when the section is absent).
    pub readiness: ReadinessConfig,
}

/// `[project]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Name shown in every message.
    pub name: String,
    /// Where state (de-duplication, locks, audit) is kept.
    pub state: Location,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A configuration that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(origin, problems))]
pub struct ConfigError {
    /// File or URL.
    pub origin: String,
    /// The problems, in file order.
    pub problems: Vec<ConfigProblem>,
}

fn render(origin: &str, problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| match p.line {
            Some(l) => format!("{origin}:{l}: {}", p.message),
            None => format!("{origin}: {}", p.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    project: RawProject,
    #[serde(default)]
    notify: Option<Spanned<notify::RawNotify>>,
    #[serde(default)]
    failover: Option<Spanned<failover::RawFailover>>,
    #[serde(default)]
    sync: Option<sync::RawSync>,
    #[serde(default)]
    backup: Option<backup::RawBackup>,
    #[serde(default)]
    scaling: Option<scaling::RawScaling>,
    #[serde(default)]
    deploy: Option<deploy::RawDeploy>,
    #[serde(default)]
    budget: Option<budget::RawBudget>,
    #[serde(default)]
    readiness: Option<Spanned<readiness::RawReadiness>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: Spanned<String>,
    #[serde(default)]
    state: Option<Spanned<String>>,
}

/// Default state directory of the local backend.
pub const DEFAULT_STATE_DIR: &str = ".twincloud";

impl Config {
    /// Parses and validates `text`; `origin` names the file in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Config, ConfigError> {
        let line_of =
            |offset: usize| Some(text[..offset.min(text.len())].matches('\n').count() + 1);
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            origin: origin.into(),
            problems: vec![ConfigProblem {
                line: e.span().and_then(|s| line_of(s.start)),
                message: e.message().trim().to_owned(),
            }],
        })?;
        let problems = std::cell::RefCell::new(Vec::new());
        let problem = |span: std::ops::Range<usize>, message: String| {
            // At the line of the key the message names, when the entry has it.
            let at = table::key_offset(text, span.start, &message).unwrap_or(span.start);
            problems.borrow_mut().push(ConfigProblem {
                line: line_of(at),
                message,
            });
        };

        let rp = raw.project;
        if rp.name.get_ref().trim().is_empty() {
            problem(rp.name.span(), "project.name must not be empty".into());
        }
        let state = match &rp.state {
            Some(s) => match s.get_ref().parse::<Location>() {
                Ok(l) => l,
                Err(e) => {
                    problem(s.span(), format!("project.state: {e}"));
                    Location::Local {
                        path: DEFAULT_STATE_DIR.into(),
                    }
                }
            },
            None => Location::Local {
                path: DEFAULT_STATE_DIR.into(),
            },
        };

        let notify = notify::validate(raw.notify, &problem);
        let failover = raw.failover.and_then(|f| failover::validate(f, &problem));
        let sync = raw.sync.and_then(|s| sync::validate(s, &problem));
        let backup = raw.backup.and_then(|b| backup::validate(b, &problem));
        let endpoints: Vec<String> = failover
            .as_ref()
            .map(|f| f.endpoints.iter().map(|e| e.name.clone()).collect())
            .unwrap_or_default();
        let scaling = raw
            .scaling
            .map(|s| scaling::validate(s, &endpoints, &problem));
        let deploy = raw
            .deploy
            .map(|d| deploy::validate(d, &endpoints, &problem));
        let scaling_names: Vec<budget::Named> = scaling
            .iter()
            .flat_map(|s| {
                s.services
                    .iter()
                    .map(|x| (x.name.clone(), x.min, x.endpoint.is_some()))
            })
            .collect();
        let budget = raw
            .budget
            .map(|b| budget::validate(b, &scaling_names, failover.is_some(), &problem));
        let readiness = readiness::validate(raw.readiness, &problem);
        let problems = problems.into_inner();
        if !problems.is_empty() {
            return Err(ConfigError {
                origin: origin.into(),
                problems,
            });
        }
        Ok(Config {
            origin: origin.into(),
            project: Project {
                name: rp.name.into_inner(),
                state,
            },
            notify,
            failover,
            sync,
            backup,
            scaling,
            deploy,
            budget,
            readiness,
        })
    }

    /// The configuration used when none is given: the local backend in `.twincloud/`, and one
    /// outbox channel, so that every command works on a laptop with nothing set up.
    pub fn local_default() -> Config {
        Config {
            origin: "(built-in local default)".into(),
            project: Project {
                name: "twincloud-local".into(),
                state: Location::Local {
                    path: DEFAULT_STATE_DIR.into(),
                },
            },
            notify: NotifyConfig {
                dedupe_window_secs: 24 * 3600,
                rate_limit_per_minute: 30,
                channels: vec![Channel {
                    name: "outbox".into(),
                    min_severity: Severity::Info,
                    kinds: vec![],
                    target: ChannelTarget::Outbox,
                }],
            },
            failover: None,
            sync: None,
            backup: None,
            scaling: None,
            deploy: None,
            budget: None,
            readiness: ReadinessConfig::default(),
        }
    }

    /// Every secret reference the configuration holds, to resolve once at start.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        let mut refs: Vec<&SecretRef> = self
            .notify
            .channels
            .iter()
            .filter_map(|c| match &c.target {
                ChannelTarget::Slack { webhook_url } => Some(webhook_url),
                ChannelTarget::Webhook { authorization, .. } => authorization.as_ref(),
                _ => None,
            })
            .collect();
        if let Some(DnsProvider::Cloudflare { api_token, .. }) =
            self.failover.as_ref().map(|f| &f.dns)
        {
            refs.push(api_token);
        }
        refs.extend(
            self.deploy
                .iter()
                .flat_map(|d| d.targets.iter())
                .flat_map(|t| t.sides.iter())
                .filter_map(|s| match &s.registry_auth {
                    RegistryAuth::Basic(r) => Some(r),
                    _ => None,
                }),
        );
        refs.extend(
            self.backup
                .iter()
                .flat_map(|b| b.sets.iter())
                .filter_map(|s| match &s.engine {
                    BackupEngine::Postgres(p) => Some(std::iter::once(&p.url).chain(&p.verify_url)),
                    _ => None,
                })
                .flatten(),
        );
        refs
    }
}

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;
