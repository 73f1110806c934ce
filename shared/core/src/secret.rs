//! Secret references and redacted secret values.

use serde::{Deserialize, Serialize};

/// Where a secret lives. Configuration holds only these references, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    /// `env:NAME`: an environment variable of the function.
    Env(String),
    /// `aws-sm:NAME_OR_ARN[#json-key]`: AWS Secrets Manager.
    AwsSecretsManager {
        /// Secret id (name or ARN).
        id: String,
        /// Key inside a JSON secret, when the secret is a JSON object.
        key: Option<String>,
    },
    /// `gcp-sm:projects/P/secrets/S[/versions/V][#json-key]`: GCP Secret Manager.
    GcpSecretManager {
        /// Secret version resource name (`versions/latest` is appended when absent).
        name: String,
        /// Key inside a JSON secret.
        key: Option<String>,
    },
}

/// Why a secret reference is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefError {
    /// The text has no known scheme: it looks like a literal value.
    #[error(
        "expected a secret reference (`env:NAME`, `aws-sm:ID`, `gcp-sm:projects/P/secrets/S`), not a literal value"
    )]
    NotAReference,
    /// A known scheme with nothing after it or a malformed name. The text is not kept: a
    /// malformed reference is often a secret pasted in the wrong place.
    #[error("malformed `{scheme}` secret reference ({chars} characters, not shown): {problem}")]
    Malformed {
        /// The scheme it starts with (`env:`, `aws-sm:`, `gcp-sm:`).
        scheme: &'static str,
        /// Its length, to help find it without showing it.
        chars: usize,
        /// What is wrong.
        problem: &'static str,
    },
}

impl std::str::FromStr for SecretRef {
    type Err = SecretRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let split_key = |rest: &str| match rest.split_once('#') {
            Some((id, key)) if !key.is_empty() => (id.to_owned(), Some(key.to_owned())),
            _ => (rest.to_owned(), None),
        };
        if let Some(name) = s.strip_prefix("env:") {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(SecretRefError::Malformed {
                    scheme: "env:",
                    chars: s.chars().count(),
                    problem: "an environment variable name is letters, digits and `_`",
                });
            }
            return Ok(SecretRef::Env(name.into()));
        }
        if let Some(rest) = s.strip_prefix("aws-sm:") {
            let (id, key) = split_key(rest);
            if id.is_empty() {
                return Err(SecretRefError::Malformed {
                    scheme: "aws-sm:",
                    chars: s.chars().count(),
                    problem: "the secret id is empty",
                });
            }
            return Ok(SecretRef::AwsSecretsManager { id, key });
        }
        if let Some(rest) = s.strip_prefix("gcp-sm:") {
            let (mut name, key) = split_key(rest);
            let parts: Vec<&str> = name.split('/').collect();
            let ok = matches!(parts.as_slice(), ["projects", p, "secrets", s] if !p.is_empty() && !s.is_empty())
                || matches!(parts.as_slice(), ["projects", p, "secrets", s, "versions", v] if !p.is_empty() && !s.is_empty() && !v.is_empty());
            if !ok {
                return Err(SecretRefError::Malformed {
                    scheme: "gcp-sm:",
                    chars: s.chars().count(),
                    problem: "expected projects/PROJECT/secrets/SECRET[/versions/VERSION]",
                });
            }
            if parts.len() == 4 {
                name.push_str("/versions/latest");
            }
            return Ok(SecretRef::GcpSecretManager { name, key });
        }
        Err(SecretRefError::NotAReference)
    }
}

impl TryFrom<String> for SecretRef {
    type Error = SecretRefError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SecretRef> for String {
    fn from(r: SecretRef) -> String {
        r.to_string()
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let with_key = |f: &mut std::fmt::Formatter<'_>, key: &Option<String>| match key {
            Some(k) => write!(f, "#{k}"),
            None => Ok(()),
        };
        match self {
            SecretRef::Env(n) => write!(f, "env:{n}"),
            SecretRef::AwsSecretsManager { id, key } => {
                write!(f, "aws-sm:{id}")?;
                with_key(f, key)
            }
            SecretRef::GcpSecretManager { name, key } => {
                write!(f, "gcp-sm:{name}")?;
                with_key(f, key)
            }
        }
    }
}

/// A resolved secret value. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print_back() {
        for s in [
            "env:SLACK_URL",
            "aws-sm:prod/slack#url",
            "aws-sm:arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
            "gcp-sm:projects/p/secrets/s/versions/3",
        ] {
            let r: SecretRef = s.parse().expect(s);
            assert_eq!(r.to_string(), s);
        }
        let r: SecretRef = "gcp-sm:projects/p/secrets/s".parse().expect("parses");
        assert_eq!(r.to_string(), "gcp-sm:projects/p/secrets/s/versions/latest");
    }

    #[test]
    fn literals_and_malformed_are_rejected() {
        assert_eq!(
            "https://hooks.slack.com/x".parse::<SecretRef>(),
            Err(SecretRefError::NotAReference)
        );
        assert!(matches!(
            "env:".parse::<SecretRef>(),
            Err(SecretRefError::Malformed { .. })
        ));
        assert!(matches!(
            "env:A-B".parse::<SecretRef>(),
            Err(SecretRefError::Malformed { .. })
        ));
        assert!(matches!(
            "gcp-sm:secrets/x".parse::<SecretRef>(),
            Err(SecretRefError::Malformed { .. })
        ));
    }

    #[test]
    fn a_malformed_reference_is_not_echoed() {
        let hook = "env:https://hooks.slack.com/services/T000/B000/XXXXXXXX";
        let e = hook.parse::<SecretRef>().expect_err("malformed");
        let text = e.to_string();
        assert!(!text.contains("hooks.slack.com"), "{text}");
        assert!(
            text.contains("`env:`") && text.contains("55 characters"),
            "{text}"
        );
        let cfg = format!(
            "[notify]\n[[notify.channels]]\nname = \"ops\"\nkind = \"slack\"\nwebhook = \"{hook}\"\n"
        );
        let err = crate::config::Config::parse("twincloud.toml", &cfg)
            .expect_err("invalid")
            .to_string();
        assert!(!err.contains("hooks.slack.com"), "{err}");
    }

    #[test]
    fn secret_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }
}
