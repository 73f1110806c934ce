//! Verification of the OIDC tokens on HTTP calls: signature against Google's JWKS, issuer and
//! audience, then the account that signed in. Pub/Sub, Eventarc and Cloud Scheduler push as one
//! account (the push account); people and tools that may give commands are a short allow-list.
//!
//! Fails closed: an HTTP server without an audience refuses to start unless verification is
//! turned off by name (`TWINCLOUD_PUSH_AUTH=off`), on Cloud Run as on GKE, ECS or a VM (the
//! server listens on every interface).

use google_cloud_auth::credentials::idtoken::verifier::{Builder, Verifier};

/// Who a verified token says called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The push account (or any account, when none is configured): deliveries only.
    Delivery,
    /// An account in the command allow-list: its own payload may be a command.
    Commander(String),
}

/// Verifies `Authorization: Bearer` tokens of HTTP calls.
pub struct PushVerifier {
    verifier: Verifier,
    push_account: Option<String>,
    command_callers: Vec<String>,
}

impl std::fmt::Debug for PushVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushVerifier")
            .field("push_account", &self.push_account)
            .field("command_callers", &self.command_callers)
            .finish_non_exhaustive()
    }
}

/// Why the HTTP server will not start as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthSetupError(String);

impl PushVerifier {
    /// A verifier for tokens minted for `audience` (the service URL, or the audience the push
    /// subscriptions name). Tokens of `push_account` (any account when `None`) are deliveries;
    /// tokens of `command_callers` may also carry commands. `jwks_url` overrides Google's
    /// certificate URL (tests).
    pub fn new(
        audience: &str,
        push_account: Option<&str>,
        command_callers: &[String],
        jwks_url: Option<&str>,
    ) -> Self {
        let mut b = Builder::new([audience]);
        if let Some(u) = jwks_url {
            b = b.with_jwks_url(u);
        }
        PushVerifier {
            verifier: b.build(),
            push_account: push_account.map(str::to_ascii_lowercase),
            command_callers: command_callers
                .iter()
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect(),
        }
    }

    /// From the process environment; see [`PushVerifier::from_vars`].
    pub fn from_env() -> Result<Option<Self>, AuthSetupError> {
        Self::from_vars(|n| std::env::var(n).ok())
    }

    /// From `TWINCLOUD_PUSH_AUDIENCE`, `TWINCLOUD_PUSH_SERVICE_ACCOUNT`,
    /// `TWINCLOUD_COMMAND_CALLERS` (comma-separated emails) and `TWINCLOUD_PUSH_JWKS_URL`.
    /// `Ok(None)` (verification off) only when `TWINCLOUD_PUSH_AUTH=off` says so; without an
    /// audience, an error: the server must not start open (it listens on every interface).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, AuthSetupError> {
        let var = |n: &str| var(n).filter(|v| !v.trim().is_empty());
        let off = var("TWINCLOUD_PUSH_AUTH").is_some_and(|v| v.eq_ignore_ascii_case("off"));
        if let Some(v) = var("TWINCLOUD_PUSH_AUTH")
            && !v.eq_ignore_ascii_case("off")
            && !v.eq_ignore_ascii_case("on")
        {
            return Err(AuthSetupError(format!(
                "TWINCLOUD_PUSH_AUTH={v}: expected `on` or `off`"
            )));
        }
        let audience = var("TWINCLOUD_PUSH_AUDIENCE");
        match (audience, off) {
            (_, true) => Ok(None),
            (None, false) => Err(AuthSetupError(format!(
                "{}push-token verification needs TWINCLOUD_PUSH_AUDIENCE (the audience the push \
                 subscriptions and scheduler jobs put in their tokens, usually the service URL); \
                 set TWINCLOUD_PUSH_AUTH=off to serve without it (then only what stands in front \
                 of this server, such as Cloud Run's IAM, keeps callers out)",
                var("K_SERVICE").map_or(String::new(), |s| format!("on Cloud Run (service {s}) "))
            ))),
            (Some(audience), false) => {
                let callers: Vec<String> = var("TWINCLOUD_COMMAND_CALLERS")
                    .map(|v| v.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
                Ok(Some(Self::new(
                    &audience,
                    var("TWINCLOUD_PUSH_SERVICE_ACCOUNT").as_deref(),
                    &callers,
                    var("TWINCLOUD_PUSH_JWKS_URL").as_deref(),
                )))
            }
        }
    }

    /// One line for the start-up log: what is verified.
    pub fn describe(&self) -> String {
        format!(
            "push-token verification on: deliveries from {}; commands from {}",
            self.push_account.as_deref().unwrap_or(
                "ANY Google account holding a token for this audience (set TWINCLOUD_PUSH_SERVICE_ACCOUNT to the push account)"
            ),
            if self.command_callers.is_empty() {
                "nobody (TWINCLOUD_COMMAND_CALLERS is empty)".to_owned()
            } else {
                self.command_callers.join(", ")
            }
        )
    }

    /// Verifies a token; the error says why it was refused (never echoes the token).
    pub async fn verify(&self, token: &str) -> Result<Caller, String> {
        if token.is_empty() {
            return Err("missing bearer token".into());
        }
        let claims = self
            .verifier
            .verify(token)
            .await
            .map_err(|e| format!("invalid push token: {e}"))?;
        let email = claims
            .get("email")
            .and_then(|e| e.as_str())
            .map(str::to_ascii_lowercase);
        // Google's ID tokens for service accounts and people say `email_verified: true`; a
        // token that does not is refused.
        let verified = claims
            .get("email_verified")
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        let Some(email) = email.filter(|_| verified) else {
            return Err("the token names no verified account (email claim)".into());
        };
        if self.command_callers.contains(&email) {
            return Ok(Caller::Commander(email));
        }
        match &self.push_account {
            Some(p) if *p != email => Err(format!(
                "the token's account {email} is neither the push account nor in TWINCLOUD_COMMAND_CALLERS"
            )),
            _ => Ok(Caller::Delivery),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn cloud_run_without_an_audience_does_not_start() {
        let e = PushVerifier::from_vars(vars(&[("K_SERVICE", "twincloud-failover")]))
            .expect_err("must refuse");
        assert!(e.to_string().contains("TWINCLOUD_PUSH_AUDIENCE"), "{e}");
        assert!(e.to_string().contains("TWINCLOUD_PUSH_AUTH=off"), "{e}");
    }

    #[test]
    fn verification_is_off_only_when_said_or_off_cloud_run() {
        let off = PushVerifier::from_vars(vars(&[
            ("K_SERVICE", "twincloud-failover"),
            ("TWINCLOUD_PUSH_AUTH", "off"),
        ]));
        assert!(matches!(off, Ok(None)));
        // Off Cloud Run too (GKE, ECS, a VM): no audience, no start, unless off by name.
        let e = PushVerifier::from_vars(vars(&[])).expect_err("must refuse");
        assert!(e.to_string().contains("TWINCLOUD_PUSH_AUTH=off"), "{e}");
        let e = PushVerifier::from_vars(vars(&[("TWINCLOUD_PUSH_AUTH", "on")]))
            .expect_err("`on` without an audience must refuse");
        assert!(e.to_string().contains("TWINCLOUD_PUSH_AUDIENCE"), "{e}");
        assert!(matches!(
            PushVerifier::from_vars(vars(&[("TWINCLOUD_PUSH_AUTH", "off")])),
            Ok(None)
        ));
        assert!(PushVerifier::from_vars(vars(&[("TWINCLOUD_PUSH_AUTH", "maybe")])).is_err());
        let on = PushVerifier::from_vars(vars(&[
            ("K_SERVICE", "twincloud-failover"),
            ("TWINCLOUD_PUSH_AUDIENCE", "https://x.run.app"),
            (
                "TWINCLOUD_COMMAND_CALLERS",
                "oncall@acme.example, ,Ops@Acme.example",
            ),
        ]))
        .expect("valid")
        .expect("on");
        assert_eq!(
            on.command_callers,
            vec!["oncall@acme.example", "ops@acme.example"]
        );
        assert!(on.describe().contains("oncall@acme.example"));
    }
}
