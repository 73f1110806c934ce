//! Identity across the clouds, without key files. From AWS to GCP: the function's role
//! credentials (from the instance metadata, as on AWS compute) sign a GetCallerIdentity
//! request, Google's STS exchanges it for a federated token and the IAM Credentials API for
//! the service account's token, which then reaches GCS. The STS and IAM Credentials fakes
//! check every call against Google's discovery documents; the GCS emulator sits behind a
//! proxy that refuses any other token.
#![allow(clippy::unwrap_used)]

use axum::routing::{get, put};
use serde_json::{Value, json};
use twincloud_core::ports::ObjectStore;
use twincloud_testkit::discovery::DiscoveryFake;
use twincloud_testkit::{FaultProxy, emulators};

const SERVICE_ACCOUNT: &str = "twincloud-sync@aion-prod.iam.gserviceaccount.com";
const AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws/providers/aion-aws";

/// The instance metadata of an AWS host whose role is `twincloud-bucket-sync`.
async fn aws_metadata() -> String {
    let app = axum::Router::new()
        .route("/latest/api/token", put(|| async { "imdsv2-session" }))
        .route(
            "/latest/meta-data/placement/availability-zone",
            get(|| async { "us-east-1a" }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials",
            get(|| async { "twincloud-bucket-sync" }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/twincloud-bucket-sync",
            get(|| async {
                axum::Json(json!({
                    "AccessKeyId": "ASIAEXAMPLEROLEKEY",
                    "SecretAccessKey": "example-role-secret-not-real",
                    "Token": "example-session-token"
                }))
            }),
        );
    format!("http://{}", twincloud_testkit::serve(app).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_on_aws_reaches_gcs_through_workload_identity_federation() {
    let imds = aws_metadata().await;
    let sts = DiscoveryFake::start("sts.v1", |_| {
        (
            200,
            json!({
                "access_token": "federated-sts-token",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": 3600
            }),
        )
    })
    .await;
    let iam = DiscoveryFake::start("iamcredentials.v1", |_| {
        (
            200,
            json!({"accessToken": "service-account-token", "expireTime": "2099-01-01T00:00:00Z"}),
        )
    })
    .await;
    let proxy = FaultProxy::start(&emulators::gcs_url()).await;
    proxy.require_header("authorization", "Bearer service-account-token");
    let bucket = emulators::new_gcs_bucket("federated").await;

    // The credential configuration `gcloud iam workload-identity-pools create-cred-config`
    // writes for an AWS provider, with Google's and AWS's endpoints pointed at the fakes.
    let config = json!({
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": format!("{}/v1/token", sts.url()),
        "service_account_impersonation_url": format!(
            "{}/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken",
            iam.url()
        ),
        "credential_source": {
            "environment_id": "aws1",
            "region_url": format!("{imds}/latest/meta-data/placement/availability-zone"),
            "url": format!("{imds}/latest/meta-data/iam/security-credentials"),
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "imdsv2_session_token_url": format!("{imds}/latest/api/token")
        }
    });
    let gcp = twincloud_gcp::GcpContext::for_emulator(&proxy.url())
        .unwrap()
        .with_federation(config);
    let store = twincloud_gcp::GcsObjectStore::new(&gcp, &bucket, "mirror");
    store.put_bytes("acme/a.csv", b"1,2,3").await.unwrap();
    assert_eq!(store.get("acme/a.csv").await.unwrap().unwrap(), b"1,2,3");
    assert!(
        proxy.stats().denied.is_empty(),
        "{:?}",
        proxy.stats().denied
    );

    assert!(sts.rejected().is_empty() && iam.rejected().is_empty());
    let exchange = &sts.calls()[0];
    assert_eq!(
        exchange.body["grantType"],
        "urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert_eq!(exchange.body["audience"], AUDIENCE);
    // The subject token is a signed GetCallerIdentity request: the proof of the AWS role.
    // Google's format for AWS: the request, serialized as JSON, then URL-encoded.
    let token = exchange.body["subjectToken"].as_str().unwrap();
    let decoded: String = url::form_urlencoded::parse(format!("t={token}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let subject: Value = serde_json::from_str(&decoded).unwrap();
    let url = subject["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://sts.us-east-1.amazonaws.com")
            && url.contains("Action=GetCallerIdentity"),
        "{subject}"
    );
    let headers = subject["headers"].as_array().unwrap();
    let header = |k: &str| {
        headers
            .iter()
            .find(|h| h["key"].as_str().unwrap().eq_ignore_ascii_case(k))
            .map(|h| h["value"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(
        header("Authorization").starts_with("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEROLEKEY/"),
        "{subject}"
    );
    assert_eq!(header("x-goog-cloud-target-resource"), AUDIENCE);
    let impersonate = &iam.calls()[0];
    assert_eq!(
        impersonate.method,
        "iamcredentials.projects.serviceAccounts.generateAccessToken"
    );
    assert_eq!(
        impersonate.authorization.as_deref(),
        Some("Bearer federated-sts-token")
    );
}

/// Google's metadata server as Cloud Run serves it: an ID token for the service account,
/// minted for the audience asked, to a caller that says `Metadata-Flavor: Google`.
async fn google_metadata(asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> String {
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    type Asked = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
    async fn identity(
        State(asked): State<Asked>,
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> (StatusCode, String) {
        if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
            return (StatusCode::FORBIDDEN, "missing Metadata-Flavor".into());
        }
        let audience = q.get("audience").cloned().unwrap_or_default();
        asked.lock().unwrap().push(audience.clone());
        use base64::Engine;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let now = chrono::Utc::now().timestamp();
        let token = format!(
            "{}.{}.{}",
            b64(json!({"alg": "RS256", "kid": "metadata-test", "typ": "JWT"})),
            b64(json!({
                "iss": "https://accounts.google.com", "aud": audience,
                "azp": "112233445566778899000", "sub": "112233445566778899000",
                "email": "twincloud-failover@aion-prod.iam.gserviceaccount.com",
                "email_verified": true, "iat": now, "exp": now + 3600
            })),
            "c2lnbmF0dXJl"
        );
        (StatusCode::OK, token)
    }
    let app = axum::Router::new()
        .route(
            "/computeMetadata/v1/instance/service-accounts/default/identity",
            get(identity),
        )
        .with_state(asked);
    format!("http://{}", twincloud_testkit::serve(app).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_on_gcp_reaches_aws_with_a_google_signed_id_token() {
    let asked = std::sync::Arc::default();
    let metadata = google_metadata(std::sync::Arc::clone(&asked)).await;
    let settings = twincloud_aws::GoogleWebIdentitySettings {
        role_arn: "arn:aws:iam::123456789012:role/twincloud-from-gcp".into(),
        audience: "sts.amazonaws.com".into(),
        session_name: "twincloud-twincloud-failover".into(),
        metadata_base: metadata,
        region: "us-east-1".into(),
        sts_endpoint: Some(emulators::moto_url()),
    };
    let base = twincloud_aws::AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let aws = base.with_credentials(twincloud_aws::GoogleWebIdentity::new(settings));
    let arn = aws.caller_arn().await.unwrap();
    assert_eq!(
        arn,
        "arn:aws:sts::123456789012:assumed-role/twincloud-from-gcp/twincloud-twincloud-failover",
        "the calls act as the assumed role, not as any static key"
    );
    assert_eq!(*asked.lock().unwrap(), vec!["sts.amazonaws.com".to_owned()]);
    // The credentials are cached: a second call does not mint another token.
    aws.caller_arn().await.unwrap();
    assert_eq!(asked.lock().unwrap().len(), 1);
}
