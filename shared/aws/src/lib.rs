//! AWS adapters over the official SDK: the S3 state store, SNS and SES v2 channels, Secrets
//! Manager references and S3 objects for configuration. Endpoints follow the SDK conventions
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), so everything runs against moto unchanged.

mod budgets;
mod cloudwatch;
mod context;
mod ecs;
mod ecs_deploy;
mod error;
mod notify;
mod rds;
mod route53;
mod s3;
mod secrets;
mod web_identity;

pub use budgets::AwsBudgets;
pub use cloudwatch::{CloudWatchAlarms, CloudWatchEcsMetrics};
pub use context::AwsContext;
pub use ecs::EcsCompute;
pub use ecs_deploy::{EcrLogin, EcsDeployer};
pub use error::classify;
pub use notify::{SesNotifier, SnsNotifier};
pub use rds::{MANAGED_TAG, RdsDatabase};
pub use route53::Route53Traffic;
pub use s3::{S3ObjectStore, S3StateStore};
pub use secrets::resolve_secret;
pub use web_identity::{GoogleWebIdentity, GoogleWebIdentitySettings};
