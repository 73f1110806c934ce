//! Secret Manager references: `gcp-sm:projects/P/secrets/S/versions/V[#json-key]`.

use base64::Engine;
use serde::Deserialize;
use twincloud_core::ports::PortError;
use twincloud_core::secret::Secret;

use crate::context::GcpContext;

#[derive(Deserialize)]
struct AccessResponse {
    payload: Payload,
}

#[derive(Deserialize)]
struct Payload {
    data: String,
}

/// Accesses a secret version; with `key`, the secret must be a JSON object and that key's
/// string value is returned. Errors name the secret, never its value.
pub async fn resolve_secret(
    ctx: &GcpContext,
    name: &str,
    key: Option<&str>,
) -> Result<Secret, PortError> {
    let token = ctx.token().await?;
    let url = format!("{}/v1/{name}:access", ctx.secret_manager_base());
    let (resp, _) = ctx
        .retry()
        .send(|| ctx.authorized(ctx.request(reqwest::Method::GET, &url), token.as_deref()))
        .await
        .map_err(|f| PortError::new(format!("Secret Manager `{name}`: {}", f.message), f.retry))?;
    let perm = |m: String| PortError::permanent(m);
    let body: AccessResponse = resp
        .json()
        .await
        .map_err(|e| perm(format!("Secret Manager `{name}`: unreadable response: {e}")))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.payload.data)
        .map_err(|_| perm(format!("Secret Manager `{name}`: payload is not base64")))?;
    let text =
        String::from_utf8(bytes).map_err(|_| perm(format!("secret `{name}` is not UTF-8 text")))?;
    match key {
        None => Ok(Secret::new(text)),
        Some(k) => {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
                perm(format!(
                    "secret `{name}` is not a JSON object, so `#{k}` cannot be read"
                ))
            })?;
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .map(Secret::new)
                .ok_or_else(|| perm(format!("secret `{name}` has no string key `{k}`")))
        }
    }
}
