//! `[backup]`: sets of databases backed up together by one schedule.
//!
//! ```toml
//! [[backup.sets]]
//! name = "nightly"                # the schedule's name, or its input {"set": "nightly"}
//! engine = "rds"                  # rds | cloudsql | local
//! databases = ["aion-db"]         # by name,
//! patterns = ["aion-*"]           # by pattern (* and ?),
//! tags = { backup = "daily" }     # or by tags (all must match)
//! retain_days = 30
//! keep_min = 3
//! dr_region = "us-west-2"         # RDS: copy each new snapshot there
//! dr_kms_key = "arn:aws:kms:us-west-2:111122223333:key/…"
//! max_copies_in_flight = 5
//!
//! [[backup.sets]]
//! name = "cloudsql-nightly"
//! engine = "cloudsql"
//! project = "aion-prod"
//! databases = ["ai-chatbot-db"]
//! export_to = "gs://aion-backups/sql/"
//! export_databases = ["ai_agent"]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::location::Location;
use crate::planner::retention::RetentionPolicy;
use crate::ports::{DatabaseInfo, ExportFormat};

/// A validated `[backup]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupConfig {
    /// The sets, in file order.
    pub sets: Vec<BackupSet>,
}

/// Which provider a set's databases live on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupEngine {
    /// RDS instances and Aurora clusters.
    Rds {
        /// Region of the databases; the environment's when unset.
        region: Option<String>,
        /// Disaster-recovery copies, when configured.
        dr: Option<DrCopies>,
    },
    /// Cloud SQL instances.
    CloudSql {
        /// GCP project.
        project: String,
        /// Exports to a bucket, when configured.
        export: Option<ExportPolicy>,
    },
    /// The local backend's simulated databases.
    Local,
}

/// Copies of every new snapshot in another region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrCopies {
    /// Destination region.
    pub region: String,
    /// KMS key in that region to encrypt the copies with.
    pub kms_key: Option<String>,
    /// How long copies are kept there.
    pub retention: RetentionPolicy,
    /// Copies to that region in progress at once (RDS allows 5).
    pub max_in_flight: u32,
}

/// Exports of Cloud SQL databases to a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPolicy {
    /// Where exports go (`gs://bucket/prefix/`).
    pub to: Location,
    /// Databases of each instance to export (all when empty).
    pub databases: Vec<String>,
    /// SQL dump or CSV.
    pub format: ExportFormat,
    /// Exports older than this many days are deleted (the newest always stays).
    pub retain_days: u32,
}

/// Databases backed up together.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSet {
    /// Unique name; the schedule names it.
    pub name: String,
    /// Where the databases are.
    pub engine: BackupEngine,
    /// Databases by name.
    pub databases: Vec<String>,
    /// Databases whose name matches one of these (`*`, `?`).
    pub patterns: Vec<String>,
    /// Databases carrying all of these tags (labels on Cloud SQL).
    pub tags: BTreeMap<String, String>,
    /// Snapshot retention.
    pub retention: RetentionPolicy,
    /// A database whose newest good backup is older than this is reported as missed.
    pub max_age_hours: u32,
}

impl BackupSet {
    /// Whether the set covers `db`: named, matching a pattern, or carrying every tag.
    pub fn selects(&self, db: &DatabaseInfo) -> bool {
        self.databases.iter().any(|n| n == &db.name)
            || self
                .patterns
                .iter()
                .any(|p| wildmatch::WildMatch::new(p).matches(&db.name))
            || (!self.tags.is_empty()
                && self
                    .tags
                    .iter()
                    .all(|(k, v)| db.tags.get(k).is_some_and(|x| x == v)))
    }
}

impl BackupConfig {
    /// The set a schedule means: the one its input names (`{"set": "nightly"}`), else the one
    /// with the schedule's name, else the only one.
    pub fn set_for(&self, schedule: &str, input: Option<&serde_json::Value>) -> Option<&BackupSet> {
        let named = input
            .and_then(|i| i.get("set"))
            .and_then(serde_json::Value::as_str);
        match named {
            Some(n) => self.sets.iter().find(|s| s.name == n),
            None => self
                .sets
                .iter()
                .find(|s| s.name == schedule)
                .or_else(|| (self.sets.len() == 1).then(|| &self.sets[0])),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackup {
    #[serde(default)]
    sets: Vec<Spanned<RawSet>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    name: String,
    engine: String,
    #[serde(default)]
    databases: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    retain_days: Option<u32>,
    #[serde(default)]
    keep_min: Option<u32>,
    #[serde(default)]
    max_age_hours: Option<u32>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    dr_region: Option<String>,
    #[serde(default)]
    dr_kms_key: Option<String>,
    #[serde(default)]
    dr_retain_days: Option<u32>,
    #[serde(default)]
    max_copies_in_flight: Option<u32>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    export_to: Option<String>,
    #[serde(default)]
    export_databases: Vec<String>,
    #[serde(default)]
    export_format: Option<String>,
    #[serde(default)]
    export_query: Option<String>,
    #[serde(default)]
    export_retain_days: Option<u32>,
}

/// Default snapshot retention (the seeds keep 30 days).
pub const DEFAULT_RETAIN_DAYS: u32 = 30;

/// Checks `[backup]`, reporting every problem at its set's line.
pub(super) fn validate(
    raw: RawBackup,
    problem: &dyn Fn(std::ops::Range<usize>, String),
) -> Option<BackupConfig> {
    let mut sets: Vec<BackupSet> = Vec::new();
    for s in raw.sets {
        let span = s.span();
        let r = s.into_inner();
        let at = |m: String| problem(span.clone(), format!("backup set `{}`: {m}", r.name));
        let segment_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !segment_ok(&r.name) {
            at("`name` must be letters, digits, `-`, `_` or `.`".into());
        }
        if sets.iter().any(|o| o.name == r.name) {
            at("the name is used by another set".into());
        }
        if r.databases.is_empty() && r.patterns.is_empty() && r.tags.is_empty() {
            at("select databases with `databases`, `patterns` or `tags`".into());
        }
        if let Some(p) = r.patterns.iter().find(|p| p.trim().is_empty()) {
            at(format!("pattern `{p}` is empty"));
        }
        let retain_days = r.retain_days.unwrap_or(DEFAULT_RETAIN_DAYS);
        if retain_days == 0 {
            at("retain_days must be at least 1".into());
        }
        let retention = RetentionPolicy {
            retain_days,
            keep_min: r.keep_min.unwrap_or(3),
        };
        let rds_only = [
            ("region", r.region.is_some()),
            ("dr_region", r.dr_region.is_some()),
            ("dr_kms_key", r.dr_kms_key.is_some()),
            ("dr_retain_days", r.dr_retain_days.is_some()),
            ("max_copies_in_flight", r.max_copies_in_flight.is_some()),
        ];
        let cloudsql_only = [
            ("project", r.project.is_some()),
            ("export_to", r.export_to.is_some()),
            ("export_databases", !r.export_databases.is_empty()),
            ("export_format", r.export_format.is_some()),
            ("export_query", r.export_query.is_some()),
            ("export_retain_days", r.export_retain_days.is_some()),
        ];
        let misplaced = |fields: &[(&str, bool)], engine: &str| {
            for (f, set) in fields {
                if *set {
                    at(format!("`{f}` does not apply to engine `{engine}`"));
                }
            }
        };
        let engine = match r.engine.as_str() {
            "rds" => {
                misplaced(&cloudsql_only, "rds");
                if r.dr_region.is_none() && r.dr_kms_key.is_some() {
                    at("`dr_kms_key` needs `dr_region`".into());
                }
                if r.dr_region.is_some() && r.dr_region == r.region {
                    at("`dr_region` is the databases' own region".into());
                }
                let max_in_flight = r.max_copies_in_flight.unwrap_or(5);
                if max_in_flight == 0 {
                    at("max_copies_in_flight must be at least 1".into());
                }
                Some(BackupEngine::Rds {
                    region: r.region.clone(),
                    dr: r.dr_region.clone().map(|region| DrCopies {
                        region,
                        kms_key: r.dr_kms_key.clone(),
                        retention: RetentionPolicy {
                            retain_days: r.dr_retain_days.unwrap_or(retain_days),
                            keep_min: retention.keep_min,
                        },
                        max_in_flight,
                    }),
                })
            }
            "cloudsql" => {
                misplaced(&rds_only, "cloudsql");
                let project = r.project.clone().unwrap_or_default();
                if project.trim().is_empty() {
                    at("`project` is required for engine `cloudsql`".into());
                }
                let export = match &r.export_to {
                    None => None,
                    Some(to) => {
                        let to = match to.parse::<Location>() {
                            Ok(l @ Location::Gcs { .. }) => Some(l),
                            Ok(_) => {
                                at(format!("export_to `{to}` must be a gs:// location"));
                                None
                            }
                            Err(e) => {
                                at(format!("export_to: {e}"));
                                None
                            }
                        };
                        let format = match (r.export_format.as_deref(), &r.export_query) {
                            (None | Some("sql"), None) => Some(ExportFormat::Sql),
                            (Some("csv"), Some(q)) => Some(ExportFormat::Csv { query: q.clone() }),
                            (Some("csv"), None) => {
                                at("export_format `csv` needs `export_query`".into());
                                None
                            }
                            (None | Some("sql"), Some(_)) => {
                                at("`export_query` is for export_format `csv`".into());
                                None
                            }
                            (Some(f), _) => {
                                at(format!("export_format `{f}` is not `sql` or `csv`"));
                                None
                            }
                        };
                        to.zip(format).map(|(to, format)| ExportPolicy {
                            to,
                            databases: r.export_databases.clone(),
                            format,
                            retain_days: r.export_retain_days.unwrap_or(retain_days),
                        })
                    }
                };
                Some(BackupEngine::CloudSql { project, export })
            }
            "local" => {
                misplaced(&rds_only, "local");
                misplaced(&cloudsql_only, "local");
                Some(BackupEngine::Local)
            }
            other => {
                at(format!("unknown engine `{other}` (rds, cloudsql or local)"));
                None
            }
        };
        if let Some(engine) = engine {
            sets.push(BackupSet {
                name: r.name.clone(),
                engine,
                databases: r.databases.clone(),
                patterns: r.patterns.clone(),
                tags: r.tags.clone(),
                retention,
                max_age_hours: r.max_age_hours.unwrap_or(26),
            });
        }
    }
    Some(BackupConfig { sets })
}
