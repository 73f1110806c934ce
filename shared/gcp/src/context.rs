//! Endpoints, the HTTP client and tokens shared by the GCP adapters.

use std::sync::Arc;

use tokio::sync::OnceCell;
use twincloud_core::ports::PortError;
use twincloud_http::HttpRetry;

/// How requests are authenticated.
#[derive(Clone)]
pub enum GcpAuth {
    /// No token: emulators and local fakes.
    None,
    /// Application Default Credentials through `google-cloud-auth` (the metadata server on
    /// Cloud Run, a service-account key or `gcloud auth application-default login` elsewhere).
    Adc(Arc<OnceCell<google_cloud_auth::credentials::AccessTokenCredentials>>),
    /// Workload Identity Federation from another cloud: an `external_account` credential
    /// configuration (`TWINCLOUD_GCP_CREDENTIALS`). It holds no secret: on AWS, the function's
    /// own role credentials sign the proof that Google's STS exchanges for a token.
    Federated(
        Arc<OnceCell<google_cloud_auth::credentials::AccessTokenCredentials>>,
        Arc<serde_json::Value>,
    ),
    /// A fixed access token (tests, and a token minted elsewhere); redacted in `Debug`.
    Static(twincloud_core::Secret),
}

impl std::fmt::Debug for GcpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GcpAuth::None => "GcpAuth::None",
            GcpAuth::Adc(_) => "GcpAuth::Adc",
            GcpAuth::Federated(..) => "GcpAuth::Federated",
            GcpAuth::Static(_) => "GcpAuth::Static(<redacted>)",
        })
    }
}

/// Shared GCP settings for one process.
#[derive(Debug, Clone)]
pub struct GcpContext {
    client: reqwest::Client,
    auth: GcpAuth,
    storage: String,
    pubsub: String,
    secret_manager: String,
    run: String,
    dns: String,
    sqladmin: String,
    container: String,
    monitoring: String,
    billing_budgets: String,
    cloud_billing: String,
    retry: HttpRetry,
    /// `STORAGE_EMULATOR_HOST` is set: storage requests carry no token.
    anonymous_storage: bool,
    /// `PUBSUB_EMULATOR_HOST` is set: Pub/Sub requests carry no token.
    anonymous_pubsub: bool,
}

fn base_from(v: Option<String>) -> Option<String> {
    let v = v.filter(|v| !v.trim().is_empty())?;
    let v = v.trim().trim_end_matches('/');
    Some(if v.starts_with("http://") || v.starts_with("https://") {
        v.to_owned()
    } else {
        format!("http://{v}")
    })
}

impl GcpContext {
    /// From the process environment; see [`GcpContext::from_vars`].
    pub fn from_env() -> Result<Self, twincloud_http::TlsSetupError> {
        Self::from_vars(|n| std::env::var(n).ok())
    }

    /// From `STORAGE_EMULATOR_HOST`, `PUBSUB_EMULATOR_HOST`, and a base URL per API
    /// (`TWINCLOUD_GCP_STORAGE_URL`, `TWINCLOUD_GCP_PUBSUB_URL`, `TWINCLOUD_GCP_RUN_URL`, ...).
    /// `TWINCLOUD_GCP_AUTH=none` disables tokens everywhere; as in Google's own client
    /// libraries, an emulator host variable makes that API's requests anonymous. Fails only
    /// when this process cannot make HTTPS calls at all.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, twincloud_http::TlsSetupError> {
        let base = |n: &str| base_from(var(n));
        let storage_emulator = base("STORAGE_EMULATOR_HOST");
        let pubsub_emulator = base("PUBSUB_EMULATOR_HOST");
        let storage = base("TWINCLOUD_GCP_STORAGE_URL")
            .or_else(|| storage_emulator.clone())
            .unwrap_or_else(|| "https://storage.googleapis.com".into());
        let pubsub = base("TWINCLOUD_GCP_PUBSUB_URL")
            .or_else(|| pubsub_emulator.clone())
            .unwrap_or_else(|| "https://pubsub.googleapis.com".into());
        let run =
            base("TWINCLOUD_GCP_RUN_URL").unwrap_or_else(|| "https://run.googleapis.com".into());
        let dns =
            base("TWINCLOUD_GCP_DNS_URL").unwrap_or_else(|| "https://dns.googleapis.com".into());
        let sqladmin = base("TWINCLOUD_GCP_SQLADMIN_URL")
            .unwrap_or_else(|| "https://sqladmin.googleapis.com".into());
        let container = base("TWINCLOUD_GCP_CONTAINER_URL")
            .unwrap_or_else(|| "https://container.googleapis.com".into());
        let monitoring = base("TWINCLOUD_GCP_MONITORING_URL")
            .unwrap_or_else(|| "https://monitoring.googleapis.com".into());
        let billing_budgets = base("TWINCLOUD_GCP_BILLING_BUDGETS_URL")
            .unwrap_or_else(|| "https://billingbudgets.googleapis.com".into());
        let cloud_billing = base("TWINCLOUD_GCP_CLOUD_BILLING_URL")
            .unwrap_or_else(|| "https://cloudbilling.googleapis.com".into());
        let secret_manager = base("TWINCLOUD_GCP_SECRETMANAGER_URL")
            .unwrap_or_else(|| "https://secretmanager.googleapis.com".into());
        let federated = var("TWINCLOUD_GCP_CREDENTIALS")
            .filter(|v| !v.trim().is_empty())
            // Not JSON: kept as null, so that the first token says the configuration is unusable
            // instead of falling back to other credentials without a word.
            .map(|v| serde_json::from_str::<serde_json::Value>(&v).unwrap_or_default());
        let auth = match (
            var("TWINCLOUD_GCP_AUTH").is_some_and(|v| v == "none"),
            federated,
        ) {
            (true, _) => GcpAuth::None,
            (false, Some(config)) => {
                GcpAuth::Federated(Arc::new(OnceCell::new()), Arc::new(config))
            }
            (false, None) => GcpAuth::Adc(Arc::new(OnceCell::new())),
        };
        Ok(GcpContext {
            client: twincloud_http::client()?,
            auth,
            storage,
            pubsub,
            secret_manager,
            run,
            dns,
            sqladmin,
            container,
            monitoring,
            billing_budgets,
            cloud_billing,
            retry: HttpRetry::default(),
            anonymous_storage: storage_emulator.is_some(),
            anonymous_pubsub: pubsub_emulator.is_some(),
        })
    }

    /// For tests: every API at `base`, no tokens.
    pub fn for_emulator(base: &str) -> Result<Self, twincloud_http::TlsSetupError> {
        let base = base.trim_end_matches('/').to_owned();
        Ok(GcpContext {
            client: twincloud_http::client()?,
            auth: GcpAuth::None,
            storage: base.clone(),
            pubsub: base.clone(),
            secret_manager: base.clone(),
            run: base.clone(),
            sqladmin: base.clone(),
            container: base.clone(),
            monitoring: base.clone(),
            billing_budgets: base.clone(),
            cloud_billing: base.clone(),
            dns: base,
            retry: HttpRetry {
                base: std::time::Duration::from_millis(20),
                ..HttpRetry::default()
            },
            anonymous_storage: false,
            anonymous_pubsub: false,
        })
    }

    /// This context authenticated through Workload Identity Federation with `config` (an
    /// `external_account` credential configuration).
    pub fn with_federation(mut self, config: serde_json::Value) -> Self {
        self.auth = GcpAuth::Federated(Arc::new(OnceCell::new()), Arc::new(config));
        self
    }

    /// This context with every request carrying `token` as its bearer token.
    pub fn with_access_token(mut self, token: twincloud_core::Secret) -> Self {
        self.auth = GcpAuth::Static(token);
        self
    }

    /// With a different Pub/Sub base URL.
    pub fn with_pubsub(mut self, base: &str) -> Self {
        base.trim_end_matches('/').clone_into(&mut self.pubsub);
        self
    }

    /// With a different Cloud Monitoring base URL.
    pub fn with_monitoring(mut self, base: &str) -> Self {
        base.trim_end_matches('/').clone_into(&mut self.monitoring);
        self
    }

    /// With a different Cloud SQL Admin base URL.
    pub fn with_sqladmin(mut self, base: &str) -> Self {
        base.trim_end_matches('/').clone_into(&mut self.sqladmin);
        self
    }

    /// GCS JSON API base URL.
    pub fn storage_base(&self) -> &str {
        &self.storage
    }

    /// Pub/Sub base URL.
    pub fn pubsub_base(&self) -> &str {
        &self.pubsub
    }

    /// Cloud Run Admin API base URL (`TWINCLOUD_GCP_RUN_URL`).
    pub fn run_base(&self) -> &str {
        &self.run
    }

    /// Cloud DNS API base URL (`TWINCLOUD_GCP_DNS_URL`).
    pub fn dns_base(&self) -> &str {
        &self.dns
    }

    /// Cloud Monitoring API base URL (`TWINCLOUD_GCP_MONITORING_URL`).
    pub fn monitoring_base(&self) -> &str {
        &self.monitoring
    }

    /// Base URL of the Cloud Billing Budget API.
    pub fn billing_budgets_base(&self) -> &str {
        &self.billing_budgets
    }

    /// Base URL of the Cloud Billing API.
    pub fn cloud_billing_base(&self) -> &str {
        &self.cloud_billing
    }

    /// Kubernetes Engine (Container) API base URL (`TWINCLOUD_GCP_CONTAINER_URL`).
    pub fn container_base(&self) -> &str {
        &self.container
    }

    /// Cloud SQL Admin API base URL (`TWINCLOUD_GCP_SQLADMIN_URL`).
    pub fn sqladmin_base(&self) -> &str {
        &self.sqladmin
    }

    /// Secret Manager base URL.
    pub fn secret_manager_base(&self) -> &str {
        &self.secret_manager
    }

    /// The retry policy.
    pub fn retry(&self) -> &HttpRetry {
        &self.retry
    }

    /// The token for Cloud Storage requests: none against an emulator.
    pub async fn storage_token(&self) -> Result<Option<String>, PortError> {
        if self.anonymous_storage {
            return Ok(None);
        }
        self.token().await
    }

    /// The token for Pub/Sub requests: none against an emulator.
    pub async fn pubsub_token(&self) -> Result<Option<String>, PortError> {
        if self.anonymous_pubsub {
            return Ok(None);
        }
        self.token().await
    }

    /// Fetches a token now (tokens are cached and refreshed by `google-cloud-auth`).
    pub async fn token(&self) -> Result<Option<String>, PortError> {
        match &self.auth {
            GcpAuth::None => Ok(None),
            GcpAuth::Static(t) => Ok(Some(t.expose().to_owned())),
            GcpAuth::Adc(cell) => {
                let creds = cell
                    .get_or_try_init(|| async {
                        google_cloud_auth::credentials::Builder::default()
                            .build_access_token_credentials()
                            .map_err(|e| PortError::permanent(format!("GCP credentials: {e}")))
                    })
                    .await?;
                let t = creds
                    .access_token()
                    .await
                    .map_err(|e| PortError::transient(format!("GCP access token: {e}")))?;
                Ok(Some(t.token))
            }
            GcpAuth::Federated(cell, config) => {
                let creds = cell
                    .get_or_try_init(|| async {
                        google_cloud_auth::credentials::external_account::Builder::new(
                            (**config).clone(),
                        )
                        .build_access_token_credentials()
                        .map_err(|e| {
                            PortError::permanent(format!(
                                "TWINCLOUD_GCP_CREDENTIALS is not a usable external_account configuration: {e}"
                            ))
                        })
                    })
                    .await?;
                let t = creds.access_token().await.map_err(|e| {
                    PortError::transient(format!(
                        "GCP token through Workload Identity Federation: {e}"
                    ))
                })?;
                Ok(Some(t.token))
            }
        }
    }

    /// A request builder; [`GcpContext::authorized`] adds the token.
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// A request with the bearer token, if any: [`GcpContext::request`] then
    /// [`GcpContext::authorized`].
    pub fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        self.authorized(self.request(method, url), token)
    }

    /// Adds the bearer token, if any, to a request.
    pub fn authorized(
        &self,
        req: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GcpContext;

    #[test]
    fn an_emulator_host_makes_that_api_anonymous() {
        let ctx = GcpContext::from_vars(|n| {
            (n == "STORAGE_EMULATOR_HOST").then(|| "127.0.0.1:4443".into())
        })
        .expect("HTTPS client");
        assert_eq!(ctx.storage_base(), "http://127.0.0.1:4443");
        assert!(ctx.anonymous_storage && !ctx.anonymous_pubsub);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert_eq!(
            rt.block_on(ctx.storage_token()).expect("no token needed"),
            None
        );
    }
}
