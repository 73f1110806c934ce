//! Every `RegistryLogin` passes one suite against Docker's reference registry: a static pair
//! from a secret, ECR's token on moto, and a Google access token.
#![allow(clippy::unwrap_used)]

use twincloud_core::Secret;
use twincloud_testkit::emulators;
use twincloud_testkit::registry::Registry;

#[tokio::test]
async fn every_registry_login_is_accepted_by_the_registry() {
    let plain = Registry::start("ci", "pw-static").await;
    let login = twincloud_http::StaticLogin::from_pair(&Secret::new("ci:pw-static")).unwrap();
    twincloud_testkit::conformance::registry_login(&login, &plain.host).await;

    // moto's GetAuthorizationToken is `AWS` and the account's token.
    let ecr = Registry::start("AWS", "123456789012-auth-token").await;
    let aws = twincloud_aws::AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    twincloud_testkit::conformance::registry_login(&twincloud_aws::EcrLogin::new(&aws), &ecr.host)
        .await;

    let ar = Registry::start("oauth2accesstoken", "ya29.registry-test").await;
    let gcp = twincloud_gcp::GcpContext::for_emulator("http://127.0.0.1:9")
        .unwrap()
        .with_access_token(Secret::new("ya29.registry-test"));
    twincloud_testkit::conformance::registry_login(
        &twincloud_gcp::GoogleLogin::new(&gcp),
        &ar.host,
    )
    .await;
}
