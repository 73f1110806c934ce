//! Secrets Manager references: `aws-sm:ID[#json-key]`.

use twincloud_core::ports::PortError;
use twincloud_core::secret::Secret;

use crate::context::AwsContext;
use crate::error::classify;

/// Fetches a secret; with `key`, the secret must be a JSON object and the value of that key is
/// returned. Errors name the secret, never its value.
pub async fn resolve_secret(
    ctx: &AwsContext,
    id: &str,
    key: Option<&str>,
) -> Result<Secret, PortError> {
    let out = ctx
        .secrets()
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| classify(&format!("Secrets Manager secret `{id}`"), e))?;
    let text = out
        .secret_string()
        .ok_or_else(|| PortError::permanent(format!("secret `{id}` has no string value")))?;
    match key {
        None => Ok(Secret::new(text)),
        Some(k) => {
            let v: serde_json::Value = serde_json::from_str(text).map_err(|_| {
                PortError::permanent(format!(
                    "secret `{id}` is not a JSON object, so `#{k}` cannot be read"
                ))
            })?;
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .map(Secret::new)
                .ok_or_else(|| {
                    PortError::permanent(format!("secret `{id}` has no string key `{k}`"))
                })
        }
    }
}
