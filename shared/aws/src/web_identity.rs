//! AWS credentials for a process running on GCP, without key files: Google's metadata server
//! signs an ID token for the service's own service account, and STS
//! `AssumeRoleWithWebIdentity` trades it for the role's temporary credentials. The role's trust
//! policy names Google (`accounts.google.com`) as the identity provider and the service
//! account's unique id as the subject.

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};

/// Where the role, the audience and Google's metadata server are.
#[derive(Debug, Clone)]
pub struct GoogleWebIdentitySettings {
    /// The role to assume (`TWINCLOUD_AWS_ROLE_ARN`).
    pub role_arn: String,
    /// The ID token's audience, which the role's trust policy checks
    /// (`TWINCLOUD_AWS_AUDIENCE`, default `sts.amazonaws.com`).
    pub audience: String,
    /// The session name (what CloudTrail shows): `twincloud-<service>`.
    pub session_name: String,
    /// Google's metadata server (`GCE_METADATA_HOST`, default `metadata.google.internal`).
    pub metadata_base: String,
    /// The region of STS.
    pub region: String,
    /// An STS endpoint other than AWS's (tests).
    pub sts_endpoint: Option<String>,
}

impl GoogleWebIdentitySettings {
    /// From the environment; `None` unless `TWINCLOUD_AWS_ROLE_ARN` is set.
    pub fn from_env() -> Option<Self> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        let role_arn = var("TWINCLOUD_AWS_ROLE_ARN")?;
        let host = var("GCE_METADATA_HOST").unwrap_or_else(|| "metadata.google.internal".into());
        Some(GoogleWebIdentitySettings {
            role_arn,
            audience: var("TWINCLOUD_AWS_AUDIENCE").unwrap_or_else(|| "sts.amazonaws.com".into()),
            session_name: format!(
                "twincloud-{}",
                var("K_SERVICE").unwrap_or_else(|| "gcp".into())
            )
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c))
            .take(64)
            .collect(),
            metadata_base: if host.starts_with("http") {
                host
            } else {
                format!("http://{host}")
            },
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            sts_endpoint: var("TWINCLOUD_AWS_STS_URL"),
        })
    }
}

/// The credentials provider (the SDK caches what it returns until shortly before expiry).
#[derive(Debug, Clone)]
pub struct GoogleWebIdentity {
    settings: GoogleWebIdentitySettings,
    // Built on the first token: reqwest's builder fails (and its fallbacks panic) when the
    // process has no CA certificates, which must be an error the SDK reports, not a crash.
    http:
        std::sync::Arc<std::sync::OnceLock<Result<reqwest::Client, twincloud_http::TlsSetupError>>>,
    sts: aws_sdk_sts::Client,
}

impl GoogleWebIdentity {
    /// A provider for `settings`.
    pub fn new(settings: GoogleWebIdentitySettings) -> Self {
        let mut conf = aws_sdk_sts::config::Builder::new()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(settings.region.clone()));
        if let Some(e) = &settings.sts_endpoint {
            conf = conf.endpoint_url(e);
        }
        GoogleWebIdentity {
            sts: aws_sdk_sts::Client::from_conf(conf.build()),
            http: std::sync::Arc::default(),
            settings,
        }
    }

    /// A Google-signed ID token for the service account, minted for the audience.
    async fn id_token(&self) -> Result<String, CredentialsError> {
        let url = format!(
            "{}/computeMetadata/v1/instance/service-accounts/default/identity",
            self.settings.metadata_base.trim_end_matches('/')
        );
        let http = self
            .http
            .get_or_init(|| {
                twincloud_http::build(
                    reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)),
                )
            })
            .as_ref()
            .map_err(|e| CredentialsError::invalid_configuration(e.clone()))?;
        let resp = http
            .get(url)
            .query(&[
                ("audience", self.settings.audience.as_str()),
                ("format", "full"),
            ])
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| {
                CredentialsError::provider_error(format!(
                    "Google's metadata server (is this running on GCP?): {e}"
                ))
            })?;
        if !resp.status().is_success() {
            return Err(CredentialsError::provider_error(format!(
                "Google's metadata server answered {} for an ID token",
                resp.status()
            )));
        }
        resp.text()
            .await
            .map(|t| t.trim().to_owned())
            .map_err(|e| CredentialsError::provider_error(format!("reading the ID token: {e}")))
    }

    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let token = self.id_token().await?;
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.settings.role_arn)
            .role_session_name(&self.settings.session_name)
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| {
                CredentialsError::provider_error(format!(
                    "STS AssumeRoleWithWebIdentity for {}: {}",
                    self.settings.role_arn,
                    aws_sdk_sts::error::DisplayErrorContext(&e)
                ))
            })?;
        let c = out
            .credentials()
            .ok_or_else(|| CredentialsError::provider_error("STS answered without credentials"))?;
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            std::time::SystemTime::try_from(*c.expiration()).ok(),
            "twincloud-google-web-identity",
        ))
    }
}

impl ProvideCredentials for GoogleWebIdentity {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}
