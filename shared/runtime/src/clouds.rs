//! The two clouds' authenticated contexts, made on first use, and secrets resolved through
//! them: a local run never loads AWS or GCP credentials.

use std::sync::Arc;

use tokio::sync::OnceCell;
use twincloud_aws::AwsContext;
use twincloud_core::{Secret, SecretRef};
use twincloud_gcp::GcpContext;

use crate::error::RunError;

/// Lazily built cloud contexts: a local run never loads AWS or GCP credentials.
#[derive(Default, Clone)]
pub struct Clouds {
    aws: Arc<OnceCell<AwsContext>>,
    gcp: Arc<OnceCell<GcpContext>>,
}

impl Clouds {
    /// Clouds with a ready AWS context (an emulator's, or one the embedding program built).
    pub fn with_aws(aws: AwsContext) -> Self {
        Clouds {
            aws: Arc::new(OnceCell::from(aws)),
            gcp: Arc::default(),
        }
    }

    /// These clouds with a ready GCP context (an emulator's).
    pub fn and_gcp(self, gcp: GcpContext) -> Self {
        Clouds {
            aws: self.aws,
            gcp: Arc::new(OnceCell::from(gcp)),
        }
    }

    /// The AWS context, loaded on first use.
    pub async fn aws(&self) -> &AwsContext {
        self.aws.get_or_init(AwsContext::load).await
    }

    /// The GCP context, read from the environment on first use; an error only when this
    /// process cannot make HTTPS calls (asked again next time).
    pub async fn gcp(&self) -> Result<&GcpContext, RunError> {
        Ok(self
            .gcp
            .get_or_try_init(|| async { GcpContext::from_env() })
            .await?)
    }
}

/// Resolves a secret reference. Errors name the reference, never a value.
pub async fn resolve(clouds: &Clouds, r: &SecretRef) -> Result<Secret, RunError> {
    match r {
        SecretRef::Env(name) => std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| {
                RunError::Config(format!(
                    "secret `{r}`: environment variable {name} is not set"
                ))
            }),
        SecretRef::AwsSecretsManager { id, key } => {
            twincloud_aws::resolve_secret(clouds.aws().await, id, key.as_deref())
                .await
                .map_err(|e| RunError::Config(format!("secret `{r}`: {}", e.message)))
        }
        SecretRef::GcpSecretManager { name, key } => {
            twincloud_gcp::resolve_secret(clouds.gcp().await?, name, key.as_deref())
                .await
                .map_err(|e| RunError::Config(format!("secret `{r}`: {}", e.message)))
        }
    }
}
