//! `[backup]`: sets of databases backed up together by one schedule.
//!
//! ```toml
//! [[backup.sets]]
//! name = "nightly"                # the schedule's name, or its input {"set": "nightly"}
//! engine = "rds"                  # rds | cloudsql | postgres | local
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

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::backup_postgres::{PostgresBackup, RawPostgres, postgres};
use super::table::{self, bounded, limits};
use crate::location::Location;
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
    /// Logical dumps of any PostgreSQL server into buckets of both clouds.
    Postgres(Box<PostgresBackup>),
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
    sets: Vec<Spanned<toml::Table>>,
}

/// The keys every set takes; the rest belong to its `engine`.
const SET_KEYS: &[&str] = &[
    "name",
    "engine",
    "databases",
    "patterns",
    "tags",
    "retain_days",
    "keep_min",
    "max_age_hours",
];
const ENGINES: &[&str] = &["rds", "cloudsql", "postgres", "local"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    name: String,
    #[allow(dead_code)] // read by `table::kind`
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRds {
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloudSql {
    #[serde(default)]
    project: String,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocal {}

/// Default snapshot retention (the seeds keep 30 days).
pub const DEFAULT_RETAIN_DAYS: u32 = 30;

/// Checks `[backup]`, reporting every problem at its set's line.
pub(super) fn validate(
    raw: RawBackup,
    problem: &dyn Fn(std::ops::Range<usize>, String),
) -> Option<BackupConfig> {
    Some(BackupConfig {
        sets: table::entries(raw.sets, problem, set),
    })
}

fn set(table: toml::Table, others: &[BackupSet], report: &dyn Fn(String)) -> Option<BackupSet> {
    let name = table::name(&table);
    let what = format!("backup set `{name}`");
    let engine = match table::kind(&table, "engine", &what, ENGINES) {
        Ok(e) => e.to_owned(),
        Err(e) => {
            report(e);
            return None;
        }
    };
    let (common, own) = table::split(table, SET_KEYS);
    let r: RawSet = match table::read(common, &what, "a backup set") {
        Ok(r) => r,
        Err(e) => {
            report(e);
            return None;
        }
    };
    let at = |m: String| report(format!("{what}: {m}"));
    let segment_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !segment_ok(&r.name) {
        at("`name` must be letters, digits, `-`, `_` or `.`".into());
    }
    if others.iter().any(|o| o.name == r.name) {
        at("the name is used by another set".into());
    }
    if r.databases.is_empty() && r.patterns.is_empty() && r.tags.is_empty() {
        at("select databases with `databases`, `patterns` or `tags`".into());
    }
    if let Some(p) = r.patterns.iter().find(|p| p.trim().is_empty()) {
        at(format!("pattern `{p}` is empty"));
    }
    let days = 1..=limits::MAX_RETAIN_DAYS;
    let retain_days = bounded(
        r.retain_days,
        DEFAULT_RETAIN_DAYS,
        days.clone(),
        "retain_days",
        &at,
    );
    let retention = RetentionPolicy {
        retain_days,
        keep_min: bounded(r.keep_min, 3, 0..=1_000, "keep_min", &at),
    };
    let max_age_hours = bounded(
        r.max_age_hours,
        26,
        1..=24 * limits::MAX_RETAIN_DAYS,
        "max_age_hours",
        &at,
    );
    let scope = format!("engine `{engine}`");
    let engine = match engine.as_str() {
        "rds" => table::read::<RawRds>(own, &what, &scope).map(|e| rds(e, &retention, &at)),
        "cloudsql" => {
            table::read::<RawCloudSql>(own, &what, &scope).map(|e| cloudsql(e, retain_days, &at))
        }
        "postgres" => table::read::<RawPostgres>(own, &what, &scope).map(|e| {
            let selectors = !r.patterns.is_empty() || !r.tags.is_empty();
            postgres(e, &r.databases, selectors, &at)
                .map(|p| BackupEngine::Postgres(Box::new(p)))
                .unwrap_or(BackupEngine::Local)
        }),
        _ => table::read::<RawLocal>(own, &what, &scope).map(|RawLocal {}| BackupEngine::Local),
    };
    let engine = match engine {
        Ok(e) => e,
        Err(e) => {
            report(e);
            return None;
        }
    };
    Some(BackupSet {
        name: r.name,
        engine,
        databases: r.databases,
        patterns: r.patterns,
        tags: r.tags,
        retention,
        max_age_hours,
    })
}

fn rds(r: RawRds, retention: &RetentionPolicy, at: &dyn Fn(String)) -> BackupEngine {
    if r.dr_region.is_none() && r.dr_kms_key.is_some() {
        at("`dr_kms_key` needs `dr_region`".into());
    }
    if r.dr_region.is_none() && (r.dr_retain_days.is_some() || r.max_copies_in_flight.is_some()) {
        at("`dr_retain_days` and `max_copies_in_flight` need `dr_region`".into());
    }
    if r.dr_region.is_some() && r.dr_region == r.region {
        at("`dr_region` is the databases' own region".into());
    }
    let max_in_flight = bounded(
        r.max_copies_in_flight,
        5,
        1..=100,
        "max_copies_in_flight",
        at,
    );
    let dr_retain_days = bounded(
        r.dr_retain_days,
        retention.retain_days,
        1..=limits::MAX_RETAIN_DAYS,
        "dr_retain_days",
        at,
    );
    BackupEngine::Rds {
        region: r.region,
        dr: r.dr_region.map(|region| DrCopies {
            region,
            kms_key: r.dr_kms_key,
            retention: RetentionPolicy {
                retain_days: dr_retain_days,
                keep_min: retention.keep_min,
            },
            max_in_flight,
        }),
    }
}

fn cloudsql(r: RawCloudSql, retain_days: u32, at: &dyn Fn(String)) -> BackupEngine {
    if r.project.trim().is_empty() {
        at("`project` is required for engine `cloudsql`".into());
    }
    let export_keys = r.export_format.is_some()
        || r.export_query.is_some()
        || r.export_retain_days.is_some()
        || !r.export_databases.is_empty();
    if r.export_to.is_none() && export_keys {
        at("the export_* keys need `export_to`".into());
    }
    let export = r.export_to.as_ref().and_then(|to| {
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
        let retain = bounded(
            r.export_retain_days,
            retain_days,
            1..=limits::MAX_RETAIN_DAYS,
            "export_retain_days",
            at,
        );
        to.zip(format).map(|(to, format)| ExportPolicy {
            to,
            databases: r.export_databases.clone(),
            format,
            retain_days: retain,
        })
    });
    BackupEngine::CloudSql {
        project: r.project,
        export,
    }
}

/// How long snapshots are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Snapshots older than this many days may go.
    pub retain_days: u32,
    /// At least this many restorable snapshots of the database stay, whatever their age.
    pub keep_min: u32,
}
