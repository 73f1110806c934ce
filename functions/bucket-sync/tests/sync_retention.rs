//! Destination objects under retention or a hold are left alone, with a count and no failure.
//! Neither emulator keeps GCS holds or S3 Object Lock, so the destination here is a directory
//! whose listing marks some keys retained and refuses to replace or delete them, as the
//! providers do.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use twincloud_bucket_sync::engine::{SyncOptions, sync};
use twincloud_core::planner::sync::DeletePolicy;
use twincloud_core::ports::{
    ObjectError, ObjectHead, ObjectListing, ObjectStore, Precondition, PutRequest, Upload,
};
use twincloud_local::LocalObjectStore;

/// A directory whose `locked` keys behave as under a retention policy.
struct Locked {
    inner: LocalObjectStore,
    locked: BTreeSet<String>,
}

impl Locked {
    fn check(&self, key: &str) -> Result<(), ObjectError> {
        if self.locked.contains(key) {
            Err(ObjectError::Retained(key.into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl ObjectStore for Locked {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn list(&self, prefix: &str, start_after: Option<&str>) -> ObjectListing {
        let locked = self.locked.clone();
        Box::pin(self.inner.list(prefix, start_after).map(move |r| {
            r.map(|mut i| {
                i.retained = locked.contains(&i.key);
                i
            })
        }))
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        Ok(self.inner.head(key).await?.map(|mut h| {
            h.info.retained = self.locked.contains(key);
            h
        }))
    }
    async fn read(
        &self,
        key: &str,
        range: Range<u64>,
        version: Option<&str>,
    ) -> Result<Vec<u8>, ObjectError> {
        self.inner.read(key, range, version).await
    }
    async fn put(&self, req: &PutRequest, body: Vec<u8>) -> Result<(), ObjectError> {
        self.check(&req.key)?;
        self.inner.put(req, body).await
    }
    async fn begin_upload(&self, req: &PutRequest) -> Result<Box<dyn Upload>, ObjectError> {
        self.check(&req.key)?;
        self.inner.begin_upload(req).await
    }
    async fn delete(&self, key: &str, when: &Precondition) -> Result<(), ObjectError> {
        self.check(key)?;
        self.inner.delete(key, when).await
    }
}

#[tokio::test]
async fn retained_destination_objects_are_left_alone_and_counted() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = LocalObjectStore::new(a.path());
    let plain = LocalObjectStore::new(b.path());
    for (k, v) in [("kept.pdf", "new"), ("free.pdf", "new")] {
        source.put_bytes(k, v.as_bytes()).await.unwrap();
    }
    for (k, v) in [
        ("kept.pdf", "old!"),
        ("free.pdf", "old!"),
        ("legal-hold.csv", "x"),
    ] {
        plain.put_bytes(k, v.as_bytes()).await.unwrap();
    }
    let destination: Arc<dyn ObjectStore> = Arc::new(Locked {
        inner: plain.clone(),
        locked: ["kept.pdf", "legal-hold.csv"]
            .into_iter()
            .map(String::from)
            .collect(),
    });
    let s = sync(
        Arc::new(source),
        destination,
        SyncOptions {
            deletes: DeletePolicy {
                enabled: true,
                max_count: 10,
                max_fraction: 1.0,
            },
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (s.copied, s.retained, s.failed, s.deleted),
        (1, 2, 0, 0),
        "{s:?}"
    );
    assert_eq!(plain.get("kept.pdf").await.unwrap().unwrap(), b"old!");
    assert_eq!(plain.get("free.pdf").await.unwrap().unwrap(), b"new");
    assert!(plain.head("legal-hold.csv").await.unwrap().is_some());
}
