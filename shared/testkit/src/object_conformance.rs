//! The conformance suite every [`ObjectStore`] must pass: listing order and resumption,
//! awkward keys, metadata, ranged and version-pinned reads, verified and conditional writes,
//! multipart / resumable uploads, deletes.

use futures_util::StreamExt;
use twincloud_core::digest::ContentDigest;
use twincloud_core::ports::{
    ObjectError, ObjectMeta, ObjectStore, Precondition, PutRequest, Version,
};

/// What the backend under test keeps.
#[derive(Debug, Clone, Copy)]
pub struct ObjectBackend {
    /// Whether headers and user metadata survive (buckets: yes; directories: no, the content
    /// type is guessed from the extension).
    pub keeps_metadata: bool,
}

async fn keys(o: &dyn ObjectStore, prefix: &str, after: Option<&str>) -> Vec<String> {
    o.list(prefix, after)
        .map(|r| r.unwrap().key)
        .collect()
        .await
}

fn request(key: &str, body: &[u8]) -> PutRequest {
    let (md5, crc32c) = ContentDigest::of(body);
    PutRequest {
        md5: Some(md5),
        crc32c: Some(crc32c),
        ..PutRequest::new(key, body.len() as u64)
    }
}

/// Runs the suite against an empty store.
pub async fn object_store(o: &dyn ObjectStore, backend: ObjectBackend) {
    assert!(keys(o, "", None).await.is_empty());
    assert_eq!(o.get("absent").await.unwrap(), None);
    assert!(o.head("absent").await.unwrap().is_none());
    // Keys whose bytewise order differs from a naive directory walk's ("a-b" < "a/…" < "a0").
    let names = [
        "a.txt",
        "a-b",
        "a/x",
        "a/y/z",
        "a0",
        "dir/b.bin",
        "spaces and+plus/ünïcödé €.pdf",
        "zero",
    ];
    for k in names {
        let body: Vec<u8> = if k == "zero" {
            vec![]
        } else {
            format!("content of {k}").into_bytes()
        };
        o.put_bytes(k, &body).await.unwrap();
    }
    let mut want: Vec<String> = names.iter().map(|k| (*k).to_owned()).collect();
    want.sort();
    assert_eq!(
        keys(o, "", None).await,
        want,
        "listing in bytewise key order"
    );
    assert_eq!(keys(o, "a/", None).await, vec!["a/x", "a/y/z"]);
    assert_eq!(
        keys(o, "", Some("a/x")).await,
        want.iter()
            .filter(|k| k.as_str() > "a/x")
            .cloned()
            .collect::<Vec<_>>(),
        "a listing resumes after a key"
    );
    // A listed digest is the content's, never a guess; sizes are exact.
    let listed: Vec<_> = o.list("", None).map(|r| r.unwrap()).collect().await;
    for info in &listed {
        let body = o.get(&info.key).await.unwrap().unwrap();
        let (md5, crc) = ContentDigest::of(&body);
        assert_eq!(info.size, body.len() as u64, "size of {}", info.key);
        if let Some(m) = &info.md5 {
            assert_eq!(m, &md5, "md5 of {}", info.key);
        }
        if let Some(c) = &info.crc32c {
            assert_eq!(c, &crc, "crc32c of {}", info.key);
        }
        assert!(info.version.is_some(), "version of {}", info.key);
    }
    assert_eq!(o.get("zero").await.unwrap(), Some(vec![]));

    // Headers and metadata, and the digests twincloud stores.
    let body = b"<h1>hello</h1>".to_vec();
    let mut req = request("site/index.html", &body);
    req.meta = ObjectMeta {
        content_type: Some("text/html; charset=utf-8".into()),
        cache_control: Some("max-age=60".into()),
        user: [("tenant".to_owned(), "acme".to_owned())].into(),
    };
    req.source_version = Some("src-v1".into());
    o.put(&req, body.clone()).await.unwrap();
    let head = o.head("site/index.html").await.unwrap().unwrap();
    assert_eq!(head.info.size, body.len() as u64);
    assert_eq!(head.info.md5.as_deref(), req.md5.as_deref());
    if backend.keeps_metadata {
        assert_eq!(head.meta, req.meta, "headers and user metadata kept");
        assert_eq!(head.info.source_version.as_deref(), Some("src-v1"));
        assert_eq!(head.info.crc32c.as_deref(), req.crc32c.as_deref());
    } else {
        assert_eq!(head.meta.content_type.as_deref(), Some("text/html"));
    }

    // Ranged reads, and reads pinned to a version.
    assert_eq!(
        o.read("site/index.html", 4..9, None).await.unwrap(),
        b"hello"
    );
    let v1 = head.info.version.clone().unwrap();
    assert_eq!(
        o.read("site/index.html", 0..4, Some(&v1)).await.unwrap(),
        b"<h1>"
    );
    // Some stores' versions have a coarse clock: make sure the next write is a new version.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    o.put_bytes("site/index.html", b"<h1>changed!</h1>")
        .await
        .unwrap();
    assert!(matches!(
        o.read("site/index.html", 0..4, Some(&v1)).await,
        Err(ObjectError::Changed(_))
    ));
    assert!(matches!(
        o.read("missing", 0..4, None).await,
        Err(ObjectError::NotFound(_))
    ));

    // Conditional writes: absent, and a stale version, are refused as `Changed`.
    let absent = PutRequest {
        when: Precondition::Absent,
        ..request("site/index.html", b"x")
    };
    assert!(matches!(
        o.put(&absent, b"x".to_vec()).await,
        Err(ObjectError::Changed(_))
    ));
    let stale = PutRequest {
        when: Precondition::Matches(Version(v1.clone())),
        ..request("site/index.html", b"x")
    };
    assert!(matches!(
        o.put(&stale, b"x".to_vec()).await,
        Err(ObjectError::Changed(_))
    ));
    let current = o.head("site/index.html").await.unwrap().unwrap().info;
    let fresh = PutRequest {
        when: Precondition::Matches(Version(current.version.unwrap())),
        ..request("site/index.html", b"third")
    };
    o.put(&fresh, b"third".to_vec()).await.unwrap();
    let new = PutRequest {
        when: Precondition::Absent,
        ..request("site/new", b"n")
    };
    o.put(&new, b"n".to_vec()).await.unwrap();

    // A body that does not match its MD5 is refused and stores nothing.
    let lie = PutRequest {
        md5: Some(ContentDigest::of(b"something else").0),
        ..request("site/corrupt", b"body")
    };
    assert!(o.put(&lie, b"body".to_vec()).await.is_err());
    assert!(o.head("site/corrupt").await.unwrap().is_none());

    // A large object in parts: nothing visible until it is finished, then exactly the bytes.
    let part = usize::try_from(o.part_size()).unwrap();
    let big: Vec<u8> = (0..2 * part + 1000).map(|i| (i % 251) as u8).collect();
    let mut req = request("big/blob.bin", &big);
    req.meta.content_type = Some("application/x-test".into());
    let mut up = o.begin_upload(&req).await.unwrap();
    let chunks: Vec<&[u8]> = big.chunks(part).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        up.write(chunk.to_vec()).await.unwrap();
        // GCS completes a resumable upload with its last chunk; before it, nothing shows.
        if i + 1 < chunks.len() {
            assert!(o.head("big/blob.bin").await.unwrap().is_none());
        }
    }
    up.finish(req.md5.as_deref().unwrap()).await.unwrap();
    assert_eq!(o.get("big/blob.bin").await.unwrap().unwrap(), big);
    let head = o.head("big/blob.bin").await.unwrap().unwrap();
    assert_eq!(head.info.md5.as_deref(), req.md5.as_deref(), "stored MD5");
    if backend.keeps_metadata {
        assert_eq!(
            head.meta.content_type.as_deref(),
            Some("application/x-test")
        );
    }
    assert_eq!(
        o.read("big/blob.bin", o.part_size() - 2..o.part_size() + 2, None)
            .await
            .unwrap(),
        big[part - 2..part + 2].to_vec()
    );
    // A stream of unknown length (a database dump): the same, and nothing visible before the
    // finish even after the last chunk, whose size only the finish knows.
    let streamed = PutRequest::streamed("big/streamed.bin");
    let mut up = o.begin_upload(&streamed).await.unwrap();
    for chunk in &chunks {
        up.write(chunk.to_vec()).await.unwrap();
        assert!(o.head("big/streamed.bin").await.unwrap().is_none());
    }
    up.finish(&ContentDigest::of(&big).0).await.unwrap();
    assert_eq!(o.get("big/streamed.bin").await.unwrap().unwrap(), big);
    // An empty stream is an empty object.
    let mut up = o
        .begin_upload(&PutRequest::streamed("big/empty-stream"))
        .await
        .unwrap();
    up.write(Vec::new()).await.unwrap();
    up.finish(&ContentDigest::of(b"").0).await.unwrap();
    assert_eq!(o.get("big/empty-stream").await.unwrap().unwrap(), b"");
    // A stream given up leaves nothing.
    let mut up = o
        .begin_upload(&PutRequest::streamed("big/streamed-aborted"))
        .await
        .unwrap();
    up.write(big[..part].to_vec()).await.unwrap();
    up.abort().await;
    assert!(o.head("big/streamed-aborted").await.unwrap().is_none());
    // An aborted upload leaves nothing.
    let mut up = o.begin_upload(&request("big/aborted", &big)).await.unwrap();
    up.write(big[..part].to_vec()).await.unwrap();
    up.abort().await;
    assert!(o.head("big/aborted").await.unwrap().is_none());

    // Deletes: absent is fine.
    o.delete("a.txt", &Precondition::None).await.unwrap();
    o.delete("a.txt", &Precondition::None).await.unwrap();
    assert_eq!(o.get("a.txt").await.unwrap(), None);
    for bad in ["", "../escape", "a//b", "/abs"] {
        assert!(
            o.put_bytes(bad, b"x").await.is_err(),
            "key {bad:?} accepted"
        );
    }
    assert!(o.requests() > 0, "requests are counted");
}
