//! One SDK configuration per process, and the clients built from it.

use aws_config::{BehaviorVersion, SdkConfig};

/// Shared AWS configuration. Clients are cheap to build from it and share its HTTP client.
#[derive(Debug, Clone)]
pub struct AwsContext {
    sdk: SdkConfig,
    path_style: bool,
}

impl AwsContext {
    /// Loads the standard chain: environment, profile, container and instance credentials,
    /// region, and `AWS_ENDPOINT_URL[_<SERVICE>]` overrides. On GCP, with
    /// `TWINCLOUD_AWS_ROLE_ARN`, the credentials are the role's, assumed with a Google-signed
    /// ID token ([`crate::GoogleWebIdentity`]): no key file.
    pub async fn load() -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(settings) = crate::web_identity::GoogleWebIdentitySettings::from_env() {
            loader = loader.credentials_provider(crate::GoogleWebIdentity::new(settings));
        }
        let sdk = loader.load().await;
        // Emulators (moto) serve buckets by path, not by virtual host.
        let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        AwsContext { sdk, path_style }
    }

    /// A context for an emulator at `endpoint` with static test credentials.
    pub async fn for_endpoint(endpoint: &str, region: &str) -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "twincloud-test",
            ))
            .load()
            .await;
        AwsContext {
            sdk,
            path_style: true,
        }
    }

    /// This context with `provider`'s credentials (a federated identity).
    pub fn with_credentials(
        &self,
        provider: impl aws_credential_types::provider::ProvideCredentials + 'static,
    ) -> AwsContext {
        AwsContext {
            sdk: self
                .sdk
                .to_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build(),
            ..self.clone()
        }
    }

    /// The ARN these credentials act as (STS GetCallerIdentity): who CloudTrail will name.
    pub async fn caller_arn(&self) -> Result<String, twincloud_core::ports::PortError> {
        aws_sdk_sts::Client::new(&self.sdk)
            .get_caller_identity()
            .send()
            .await
            .map(|o| o.arn().unwrap_or_default().to_owned())
            .map_err(|e| crate::error::classify("sts:GetCallerIdentity", e))
    }

    /// The underlying SDK configuration.
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// An S3 client.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        // twincloud sends Content-MD5 on every write and checks what it reads against the
        // object's MD5 itself; the SDK's extra CRC32 (an aws-chunked body with a trailer, and a
        // checksum of every download) would only cost CPU on both ends.
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.path_style)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An SNS client.
    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }

    /// An SES v2 client.
    pub fn sesv2(&self) -> aws_sdk_sesv2::Client {
        aws_sdk_sesv2::Client::new(&self.sdk)
    }

    /// A Secrets Manager client.
    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    /// An ECS client.
    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk)
    }

    /// An ECR client (registry logins).
    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.sdk)
    }

    /// The same account and endpoints in another region (disaster-recovery copies).
    pub fn in_region(&self, region: &str) -> AwsContext {
        AwsContext {
            sdk: self
                .sdk
                .to_builder()
                .region(aws_config::Region::new(region.to_owned()))
                .build(),
            ..self.clone()
        }
    }

    /// The region clients of this context call.
    pub fn region(&self) -> Option<&str> {
        self.sdk.region().map(|r| r.as_ref())
    }

    /// An RDS client.
    pub fn rds(&self) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(&self.sdk)
    }

    /// A Route 53 client.
    pub fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.sdk)
    }
}
