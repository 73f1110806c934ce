//! Verification of Pub/Sub push (and Eventarc) OIDC tokens: signature against Google's JWKS,
//! issuer, audience, and the push service account's email.

use google_cloud_auth::credentials::idtoken::verifier::{Builder, Verifier};

/// Verifies `Authorization: Bearer` tokens of push requests.
pub struct PushVerifier {
    verifier: Verifier,
}

impl std::fmt::Debug for PushVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushVerifier")
    }
}

impl PushVerifier {
    /// A verifier for tokens minted for `audience` (the service URL or the configured audience),
    /// optionally only from `email`; `jwks_url` overrides Google's certificate URL (tests).
    pub fn new(audience: &str, email: Option<&str>, jwks_url: Option<&str>) -> Self {
        let mut b = Builder::new([audience]);
        if let Some(e) = email {
            b = b.with_email(e);
        }
        if let Some(u) = jwks_url {
            b = b.with_jwks_url(u);
        }
        PushVerifier {
            verifier: b.build(),
        }
    }

    /// From `TWINCLOUD_PUSH_AUDIENCE`, `TWINCLOUD_PUSH_SERVICE_ACCOUNT` and
    /// `TWINCLOUD_PUSH_JWKS_URL`; `None` when no audience is set (verification off: Cloud Run's
    /// own IAM check with `--no-allow-unauthenticated` is then the gate).
    pub fn from_env() -> Option<Self> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let audience = var("TWINCLOUD_PUSH_AUDIENCE")?;
        Some(Self::new(
            &audience,
            var("TWINCLOUD_PUSH_SERVICE_ACCOUNT").as_deref(),
            var("TWINCLOUD_PUSH_JWKS_URL").as_deref(),
        ))
    }

    /// Verifies a token; the error says why it was refused (never echoes the token).
    pub async fn verify(&self, token: &str) -> Result<(), String> {
        if token.is_empty() {
            return Err("missing bearer token".into());
        }
        self.verifier
            .verify(token)
            .await
            .map(|_| ())
            .map_err(|e| format!("invalid push token: {e}"))
    }
}
