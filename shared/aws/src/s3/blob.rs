//! The S3 bucket client both stores stand on: the SDK client, the bucket and prefix, request
//! counts, the conditional-write headers, one mapping of failed calls to what they mean
//! (precondition lost, not found, Object Lock), and whole listings. It imports nothing of the
//! stores above it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::error::SdkError;
use twincloud_core::location::KeyPrefix;
use twincloud_core::ports::{ObjectError, PortError, Precondition};

use crate::context::AwsContext;
use crate::error::{HasStatus, classify, status};

/// What a failed call means, whichever store made it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// 412 Precondition Failed, or 409 ConditionalRequestConflict when writes race.
    Precondition,
    /// 404.
    NotFound,
    /// Refused by Object Lock (retention or a legal hold).
    Retained,
    /// Anything else, classified.
    Other(PortError),
}

/// A bucket and a prefix in it.
#[derive(Debug, Clone)]
pub(crate) struct S3Bucket {
    pub(crate) client: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    pub(crate) prefix: KeyPrefix,
    requests: Arc<AtomicU64>,
}

impl S3Bucket {
    pub(crate) fn new(ctx: &AwsContext, bucket: &str, prefix: &str) -> Self {
        S3Bucket {
            client: ctx.s3(),
            bucket: bucket.into(),
            prefix: KeyPrefix::new(prefix),
            requests: Arc::default(),
        }
    }

    /// Counts one request (for the sync summary and the benchmarks).
    pub(crate) fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests counted so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `s3://bucket/full_key`, for messages.
    pub(crate) fn s3(&self, full_key: &str) -> String {
        format!("s3://{}/{full_key}", self.bucket)
    }

    /// What a failed call on `full_key` means.
    pub(crate) fn failure<E, R>(&self, full_key: &str, e: SdkError<E, R>) -> Failure
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        match status(&e) {
            Some(412 | 409) => Failure::Precondition,
            Some(404) => Failure::NotFound,
            _ => {
                let p = classify(&self.s3(full_key), e);
                let m = p.message.to_ascii_lowercase();
                if m.contains("accessdenied") && (m.contains("lock") || m.contains("retention")) {
                    Failure::Retained
                } else {
                    Failure::Other(p)
                }
            }
        }
    }

    /// A failed call on object `key` (relative to the prefix) as an object-store error.
    pub(crate) fn object_error<E, R>(&self, key: &str, e: SdkError<E, R>) -> ObjectError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        match self.failure(&self.prefix.join(key), e) {
            Failure::Precondition => ObjectError::Changed(key.into()),
            Failure::NotFound => ObjectError::NotFound(key.into()),
            Failure::Retained => ObjectError::Retained(key.into()),
            Failure::Other(p) => ObjectError::Backend(p),
        }
    }

    /// Every object whose key starts with `full_prefix`, following pages.
    /// The objects under a prefix, page by page, stopping once `max` are read (whether more
    /// exist is the second value).
    pub(crate) async fn list_up_to(
        &self,
        full_prefix: &str,
        max: Option<usize>,
    ) -> Result<(Vec<aws_sdk_s3::types::Object>, bool), PortError> {
        let mut out = Vec::new();
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(full_prefix);
        if let Some(m) = max {
            // One more than asked: its presence says there are more.
            request =
                request.max_keys(i32::try_from(m.saturating_add(1).min(1000)).unwrap_or(1000));
        }
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            self.count();
            let page =
                page.map_err(|e| classify(&format!("listing {}", self.s3(full_prefix)), e))?;
            out.extend(page.contents().iter().cloned());
            if let Some(m) = max
                && out.len() > m
            {
                out.truncate(m);
                return Ok((out, true));
            }
        }
        Ok((out, false))
    }
}

/// The `If-Match` and `If-None-Match` values a precondition asks for.
pub(crate) fn precondition_headers(when: &Precondition) -> (Option<String>, Option<String>) {
    match when {
        Precondition::None => (None, None),
        Precondition::Absent => (None, Some("*".into())),
        Precondition::Matches(v) => (Some(v.0.clone()), None),
    }
}
