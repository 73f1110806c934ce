//! S3 event notifications (`Records[].s3`, keys URL-encoded).

use serde::Deserialize;
use serde_json::Value;

use super::super::shape::Shape;
use super::super::time::parse_time;
use super::super::{DecodeError, Decoded, fingerprint, typed};
use super::eventbridge::{NamedBucket, S3ObjectRef};
use crate::signal::{Cloud, ObjectChange, ObjectStoreKind, Signal, SignalKind};

// ---------- S3 notifications ----------

#[derive(Deserialize)]
struct S3Event {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    event_time: String,
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: NamedBucket,
    object: S3ObjectRef,
}

pub(super) fn s3_notification(value: Value) -> Result<Decoded, DecodeError> {
    let shape = Shape::S3Notification;
    let ev: S3Event = typed(shape, &value)?;
    let mut signals = Vec::with_capacity(ev.records.len());
    for (i, r) in ev.records.into_iter().enumerate() {
        let created = if r.event_name.starts_with("ObjectCreated:") {
            true
        } else if r.event_name.starts_with("ObjectRemoved:") {
            false
        } else {
            return Err(DecodeError::field(
                shape,
                format!("Records[{i}].eventName"),
                format!(
                    "`{}` is neither ObjectCreated:* nor ObjectRemoved:*",
                    r.event_name
                ),
            ));
        };
        // S3 notifications URL-encode keys and write spaces as `+`.
        let plus_decoded = r.s3.object.key.replace('+', " ");
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
            "s3:{}/{}@{}",
            r.s3.bucket.name,
            fingerprint(key.as_bytes()),
            if seq.is_empty() {
                fingerprint(r.event_time.as_bytes())
            } else {
                seq
            }
        );
        signals.push(Signal {
            id,
            cloud: Cloud::Aws,
            shape: shape.name().into(),
            time: parse_time(&r.event_time),
            kind: SignalKind::Object(ObjectChange {
                store: ObjectStoreKind::S3,
                bucket: r.s3.bucket.name,
                key,
                created,
                size: r.s3.object.size,
                etag: r.s3.object.etag,
                sequencer: r.s3.object.sequencer,
            }),
        });
    }
    if signals.is_empty() {
        return Err(DecodeError::field(shape, "Records", "is empty"));
    }
    Ok(Decoded {
        shape,
        signals,
        raw: value,
    })
}
