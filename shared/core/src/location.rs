//! Locations of buckets and state: `s3://bucket/prefix`, `gs://bucket/prefix`, local paths.

use serde::Serialize;
use std::path::PathBuf;

/// A place that holds objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Location {
    /// A local directory (`file://` URL or plain path).
    Local {
        /// The directory.
        path: PathBuf,
    },
    /// An S3 bucket and key prefix.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, without a leading `/`; empty for the whole bucket.
        prefix: String,
    },
    /// A GCS bucket and object prefix.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Object prefix; empty for the whole bucket.
        prefix: String,
    },
}

/// Why a location string is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a location: {why} (expected s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX], file:///PATH or a path)"
)]
pub struct LocationError {
    text: String,
    why: &'static str,
}

impl std::str::FromStr for Location {
    type Err = LocationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| LocationError {
            text: s.into(),
            why,
        };
        let bucket_and_prefix = |rest: &str| -> Result<(String, String), LocationError> {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(err("the bucket name is empty"));
            }
            if !bucket.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_')
            }) {
                return Err(err(
                    "bucket names are lower-case letters, digits, `-`, `.` and `_`",
                ));
            }
            Ok((bucket.into(), prefix.trim_start_matches('/').into()))
        };
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = bucket_and_prefix(rest)?;
            return Ok(Location::S3 { bucket, prefix });
        }
        if let Some(rest) = s.strip_prefix("gs://") {
            let (bucket, prefix) = bucket_and_prefix(rest)?;
            return Ok(Location::Gcs { bucket, prefix });
        }
        if let Some(rest) = s.strip_prefix("file://") {
            if rest.is_empty() {
                return Err(err("the path is empty"));
            }
            return Ok(Location::Local { path: rest.into() });
        }
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        if s.contains("://") {
            return Err(err("unknown scheme"));
        }
        Ok(Location::Local { path: s.into() })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local { path } => write!(f, "{}", path.display()),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Location::Gcs { bucket, prefix } => write!(f, "gs://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme() {
        assert_eq!(
            "s3://b/p/q".parse(),
            Ok(Location::S3 {
                bucket: "b".into(),
                prefix: "p/q".into()
            })
        );
        assert_eq!(
            "gs://b".parse(),
            Ok(Location::Gcs {
                bucket: "b".into(),
                prefix: "".into()
            })
        );
        assert_eq!(
            "file:///tmp/x".parse(),
            Ok(Location::Local {
                path: "/tmp/x".into()
            })
        );
        assert_eq!(
            "./data".parse(),
            Ok(Location::Local {
                path: "./data".into()
            })
        );
        assert!("s3://".parse::<Location>().is_err());
        assert!("s3://Bad_Bucket".parse::<Location>().is_err());
        assert!("ftp://x".parse::<Location>().is_err());
    }
}

/// A key prefix inside a bucket: empty, or ending in exactly one `/`. Joins keys to full object
/// names and takes them off again, the same way for every store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// From a configured prefix (`a/b`, `/a/b/`, or empty).
    pub fn new(prefix: &str) -> Self {
        let p = prefix.trim_matches('/');
        KeyPrefix(if p.is_empty() {
            String::new()
        } else {
            format!("{p}/")
        })
    }

    /// The full object name of `key`.
    pub fn join(&self, key: &str) -> String {
        format!("{}{key}", self.0)
    }

    /// The key of a full object name under this prefix.
    pub fn strip<'a>(&self, full: &'a str) -> Option<&'a str> {
        full.strip_prefix(&self.0)
    }
}

#[cfg(test)]
mod key_prefix_tests {
    use super::KeyPrefix;

    #[test]
    fn joins_and_strips() {
        let p = KeyPrefix::new("/twincloud/prod/");
        assert_eq!(p.join("a/b"), "twincloud/prod/a/b");
        assert_eq!(p.strip("twincloud/prod/a/b"), Some("a/b"));
        assert_eq!(p.strip("other/a"), None);
        assert_eq!(KeyPrefix::new("").join("k"), "k");
    }
}
