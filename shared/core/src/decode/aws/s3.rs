//! S3 event notifications (`Records[].s3`, keys URL-encoded), read into aws_lambda_events'
//! `S3Event` with twincloud's checks on top (event names, required names, key encoding).

use aws_lambda_events::s3::S3Event;
use serde_json::Value;

use super::super::shape::Shape;
use super::super::{DecodeError, Decoded, fingerprint, typed};
use crate::signal::{Cloud, ObjectChange, ObjectStoreKind, Signal, SignalKind};

// ---------- S3 notifications ----------

/// What an S3 event type means for a copy of the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S3EventEffect {
    /// The key has new content.
    Created,
    /// The key is gone (deleted, expired, or hidden behind a delete marker).
    Removed,
    /// The content is what it was (restore, tags, ACL, replication, tiering notices).
    ContentUnchanged,
}

/// The event types of S3's notification documentation, by family.
fn s3_event_effect(name: &str) -> Option<S3EventEffect> {
    let family = name.split(':').next().unwrap_or(name);
    match family {
        "ObjectCreated" => Some(S3EventEffect::Created),
        "ObjectRemoved" | "LifecycleExpiration" => Some(S3EventEffect::Removed),
        "ObjectRestore"
        | "ObjectTagging"
        | "ObjectAcl"
        | "Replication"
        | "LifecycleTransition"
        | "IntelligentTiering"
        | "ReducedRedundancyLostObject" => Some(S3EventEffect::ContentUnchanged),
        _ => None,
    }
}

pub(super) fn s3_notification(value: Value) -> Result<Decoded, DecodeError> {
    let shape = Shape::S3Notification;
    let ev: S3Event = typed(shape, &value)?;
    if ev.records.is_empty() {
        return Err(DecodeError::field(shape, "Records", "is empty"));
    }
    let mut signals = Vec::with_capacity(ev.records.len());
    for (i, r) in ev.records.into_iter().enumerate() {
        let required = |v: Option<String>, field: &str| {
            v.filter(|s| !s.is_empty()).ok_or_else(|| {
                DecodeError::field(shape, format!("Records[{i}].{field}"), "is missing")
            })
        };
        let event_name = required(r.event_name, "eventName")?;
        let bucket = required(r.s3.bucket.name, "s3.bucket.name")?;
        let raw_key = required(r.s3.object.key, "s3.object.key")?;
        let created = match s3_event_effect(&event_name) {
            Some(S3EventEffect::Created) => true,
            Some(S3EventEffect::Removed) => false,
            // Restores, tagging, ACLs, replication and tiering notices leave the object's
            // content as it was: acknowledged, nothing to copy or delete.
            Some(S3EventEffect::ContentUnchanged) => continue,
            None => {
                return Err(DecodeError::field(
                    shape,
                    format!("Records[{i}].eventName"),
                    format!(
                        "`{event_name}` is not an S3 event type AWS documents (ObjectCreated:*, ObjectRemoved:*, LifecycleExpiration:*, ObjectRestore:*, ...)"
                    ),
                ));
            }
        };
        // S3 notifications URL-encode keys and write spaces as `+`.
        let plus_decoded = raw_key.replace('+', " ");
        let key = percent_encoding::percent_decode_str(&plus_decoded)
            .decode_utf8()
            .map_err(|_| {
                DecodeError::field(
                    shape,
                    format!("Records[{i}].s3.object.key"),
                    "not valid URL-encoded UTF-8",
                )
            })?
            .into_owned();
        let seq = r.s3.object.sequencer.clone().unwrap_or_default();
        // S3 notifications carry no delivery id; bucket, key and sequencer identify one change.
        let id = format!(
            "s3:{bucket}/{}@{}",
            fingerprint(key.as_bytes()),
            if seq.is_empty() {
                fingerprint(r.event_time.to_rfc3339().as_bytes())
            } else {
                seq
            }
        );
        signals.push(Signal {
            id,
            cloud: Cloud::Aws,
            shape: shape.name().into(),
            time: Some(r.event_time),
            kind: SignalKind::Object(ObjectChange {
                store: ObjectStoreKind::S3,
                bucket,
                key,
                created,
                size: r.s3.object.size.and_then(|n| u64::try_from(n).ok()),
                etag: r.s3.object.e_tag,
                sequencer: r.s3.object.sequencer,
            }),
            origin: crate::signal::Origin::Relayed,
        });
    }
    Ok(Decoded {
        shape,
        signals,
        raw: value,
    })
}
