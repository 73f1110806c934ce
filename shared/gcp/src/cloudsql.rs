//! [`Database`] and [`DatabaseExport`] on Cloud SQL through the Admin API v1: on-demand backup
//! runs (twincloud's carry `twincloud:<id>` as their description, and only those are deleted),
//! exports to and imports from Cloud Storage, and their operations.

use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use twincloud_core::ports::{
    Database, DatabaseExport, DatabaseInfo, DatabaseKind, ErrorKind, ExportFormat, Operation,
    OperationState, PortError, Snapshot, SnapshotStatus,
};

use crate::context::GcpContext;

/// The description prefix that marks a backup run as made by twincloud.
pub const MANAGED_PREFIX: &str = "twincloud:";

/// Cloud SQL instances of one project.
#[derive(Debug, Clone)]
pub struct CloudSqlDatabase {
    ctx: GcpContext,
    project: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackupRun {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enqueued_time: Option<String>,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    instance: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    name: String,
    #[serde(default)]
    settings: Option<Settings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    #[serde(default)]
    user_labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ApiOperation {
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    error: Option<Value>,
}

fn operation(op: ApiOperation) -> Operation {
    let errors: Vec<String> = op
        .error
        .as_ref()
        .and_then(|e| e.get("errors"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.get("code").and_then(Value::as_str).unwrap_or("error"),
                        e.get("message").and_then(Value::as_str).unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Operation {
        id: op.name,
        state: match op.status.as_str() {
            "DONE" if errors.is_empty() => OperationState::Done,
            "DONE" => OperationState::Failed(errors.join("; ")),
            _ => OperationState::Running,
        },
    }
}

fn run_status(s: &str) -> SnapshotStatus {
    match s {
        "SUCCESSFUL" => SnapshotStatus::Available,
        "FAILED" | "SKIPPED" | "DELETION_FAILED" => SnapshotStatus::Failed,
        _ => SnapshotStatus::Creating,
    }
}

fn unreadable(what: &str, e: reqwest::Error) -> PortError {
    PortError::transient(format!("{what}: unreadable response: {e}"))
}

impl CloudSqlDatabase {
    /// Instances of `project`.
    pub fn new(ctx: &GcpContext, project: &str) -> Self {
        CloudSqlDatabase {
            ctx: ctx.clone(),
            project: project.into(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/v1/projects/{}/{path}",
            self.ctx.sqladmin_base(),
            self.project
        )
    }

    /// One request, retried on throttling and 5xx; a 404 is a permanent error naming `what`.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<reqwest::Response, PortError> {
        let token = self.ctx.token().await?;
        let (resp, _) = self
            .ctx
            .retry()
            .send(|| {
                let req = self.ctx.call(method.clone(), url, token.as_deref());
                match body {
                    Some(b) => req.json(b),
                    None => req,
                }
            })
            .await
            .map_err(|f| match f.status {
                Some(404) => PortError::new(
                    format!("{what}: not found in project {}", self.project),
                    f.retry,
                ),
                // An instance runs one operation at a time (an automated backup, an export):
                // the next run tries again.
                Some(409) => PortError::transient(format!(
                    "{what}: another operation is in progress on the instance: {}",
                    f.message
                )),
                _ => PortError::new(format!("{what}: {}", f.message), f.retry),
            })?;
        Ok(resp)
    }

    async fn runs(&self, instance: &str) -> Result<Vec<BackupRun>, PortError> {
        let what = format!("backup runs of Cloud SQL instance {instance}");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.url(&format!("instances/{instance}/backupRuns?maxResults=500"));
            if let Some(t) = &token {
                url.push_str(&format!("&pageToken={}", urlencode(t)));
            }
            let page: Page<BackupRun> = self
                .send(Method::GET, &url, None, &what)
                .await?
                .json()
                .await
                .map_err(|e| unreadable(&what, e))?;
            out.extend(page.items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    fn snapshot(instance: &str, r: BackupRun) -> Snapshot {
        let ours = r
            .description
            .as_deref()
            .and_then(|d| d.strip_prefix(MANAGED_PREFIX));
        Snapshot {
            id: ours.map(str::to_owned).unwrap_or_else(|| r.id.clone()),
            database: r.instance.unwrap_or_else(|| instance.to_owned()),
            created: r.enqueued_time.or(r.start_time).unwrap_or_default(),
            status: run_status(&r.status),
            managed: ours.is_some(),
            arn: Some(r.id),
            cluster: false,
        }
    }

    async fn started(&self, resp: reqwest::Response, what: &str) -> Result<Operation, PortError> {
        let op: ApiOperation = resp.json().await.map_err(|e| unreadable(what, e))?;
        Ok(operation(op))
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[async_trait]
impl Database for CloudSqlDatabase {
    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, PortError> {
        let what = format!("Cloud SQL instances of {}", self.project);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.url("instances?maxResults=500");
            if let Some(t) = &token {
                url.push_str(&format!("&pageToken={}", urlencode(t)));
            }
            let page: Page<Instance> = self
                .send(Method::GET, &url, None, &what)
                .await?
                .json()
                .await
                .map_err(|e| unreadable(&what, e))?;
            out.extend(page.items.into_iter().map(|i| DatabaseInfo {
                name: i.name,
                kind: DatabaseKind::Instance,
                tags: i.settings.map(|s| s.user_labels).unwrap_or_default(),
            }));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn create_snapshot(&self, database: &str, id: &str) -> Result<Snapshot, PortError> {
        let what = format!("backup {id} of Cloud SQL instance {database}");
        let description = format!("{MANAGED_PREFIX}{id}");
        // The id lives in the description, so uniqueness is ours to check.
        let runs = self.runs(database).await?;
        if runs
            .iter()
            .any(|r| r.description.as_deref() == Some(description.as_str()))
        {
            return Err(PortError::permanent(format!(
                "{what}: a backup run with this id exists already"
            ))
            .of_kind(ErrorKind::AlreadyExists));
        }
        let body = json!({"description": description, "kind": "sql#backupRun"});
        let url = self.url(&format!("instances/{database}/backupRuns"));
        self.send(Method::POST, &url, Some(&body), &what).await?;
        Ok(Snapshot {
            id: id.into(),
            database: database.into(),
            created: chrono::Utc::now().to_rfc3339(),
            status: SnapshotStatus::Creating,
            managed: true,
            arn: None,
            cluster: false,
        })
    }

    async fn list_snapshots(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
        let mut out: Vec<Snapshot> = self
            .runs(database)
            .await?
            .into_iter()
            .filter(|r| !matches!(r.status.as_str(), "DELETED" | "DELETION_PENDING"))
            .map(|r| Self::snapshot(database, r))
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    async fn delete_snapshot(&self, database: &str, id: &str) -> Result<(), PortError> {
        let Some(s) = self
            .list_snapshots(database)
            .await?
            .into_iter()
            .find(|s| s.id == id)
        else {
            return Ok(());
        };
        if !s.managed {
            return Err(PortError::permanent(format!(
                "backup run {id} of {database} was not made by twincloud: not deleted"
            )));
        }
        let run_id = s.arn.unwrap_or_default();
        let url = self.url(&format!("instances/{database}/backupRuns/{run_id}"));
        self.send(
            Method::DELETE,
            &url,
            None,
            &format!("deleting backup run {id} of {database}"),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl DatabaseExport for CloudSqlDatabase {
    async fn start_export(
        &self,
        instance: &str,
        uri: &str,
        databases: &[String],
        format: &ExportFormat,
    ) -> Result<Operation, PortError> {
        let what = format!("export of Cloud SQL instance {instance} to {uri}");
        let mut ctx = json!({
            "kind": "sql#exportContext",
            "uri": uri,
            "databases": databases,
        });
        match format {
            ExportFormat::Sql => ctx["fileType"] = json!("SQL"),
            ExportFormat::Csv { query } => {
                ctx["fileType"] = json!("CSV");
                ctx["csvExportOptions"] = json!({"selectQuery": query});
            }
        }
        let body = json!({"exportContext": ctx});
        let url = self.url(&format!("instances/{instance}/export"));
        let resp = self.send(Method::POST, &url, Some(&body), &what).await?;
        self.started(resp, &what).await
    }

    async fn start_import(
        &self,
        instance: &str,
        uri: &str,
        database: &str,
    ) -> Result<Operation, PortError> {
        let what = format!("import of {uri} into Cloud SQL instance {instance}");
        let body = json!({"importContext": {
            "kind": "sql#importContext",
            "fileType": "SQL",
            "uri": uri,
            "database": database,
        }});
        let url = self.url(&format!("instances/{instance}/import"));
        let resp = self.send(Method::POST, &url, Some(&body), &what).await?;
        self.started(resp, &what).await
    }

    async fn operation(&self, id: &str) -> Result<Operation, PortError> {
        let what = format!("Cloud SQL operation {id}");
        let url = self.url(&format!("operations/{id}"));
        let resp = self.send(Method::GET, &url, None, &what).await?;
        self.started(resp, &what).await
    }
}
