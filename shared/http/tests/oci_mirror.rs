//! Mirroring images between two real registries (Docker's reference registry, htpasswd basic
//! auth) on loopback: multi-arch indexes, only the missing blobs, digests kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use twincloud_core::ports::{ImageRegistries, Retry};
use twincloud_core::secret::Secret;
use twincloud_http::{OciRegistries, StaticLogin};
use twincloud_testkit::registry::{Registry, noise};

fn login(pair: &str) -> Arc<StaticLogin> {
    Arc::new(StaticLogin::from_pair(&Secret::new(pair)).unwrap())
}

#[tokio::test]
async fn a_multi_arch_image_is_copied_by_digest_and_a_second_one_sends_only_its_new_layer() {
    let ecr = Registry::start("AWS", "123456789012-auth-token").await;
    let ar = Registry::start("oauth2accesstoken", "ya29.test-token").await;
    let base = noise(3 << 20, 1);
    let index = ecr
        .push_index("aion-backend", "v1.0.0", std::slice::from_ref(&base))
        .await;
    let regs = OciRegistries::new()
        .unwrap()
        .with_login(&ecr.host, login("AWS:123456789012-auth-token"))
        .with_login(&ar.host, login("oauth2accesstoken:ya29.test-token"));
    let from = format!("{}/aion-backend", ecr.host);
    let to = format!("{}/prod/images/aion-backend", ar.host);

    assert_eq!(
        regs.resolve(&from, "v1.0.0").await.unwrap(),
        Some(index.clone())
    );
    assert_eq!(regs.resolve(&from, "v9").await.unwrap(), None);

    let first = regs
        .mirror(&from, &to, &index, Some("v1.0.0"))
        .await
        .unwrap();
    // The index and both platforms' manifests; config and own layer per platform plus the
    // shared base layer once.
    assert_eq!(first.manifests, 3, "{first:?}");
    assert_eq!(first.blobs_copied, 5, "{first:?}");
    assert!(first.bytes_sent >= base.len() as u64, "{first:?}");
    let (bytes, digest) = ar
        .manifest("prod/images/aion-backend", &index)
        .await
        .expect("copied");
    assert_eq!(digest, index, "the copy keeps the source's digest");
    assert_eq!(ecr.manifest("aion-backend", &index).await.unwrap().0, bytes);
    assert_eq!(
        ar.manifest("prod/images/aion-backend", "v1.0.0")
            .await
            .unwrap()
            .1,
        index,
        "tagged on the target too"
    );
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    for m in v["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap();
        assert!(
            ar.manifest("prod/images/aion-backend", d).await.is_some(),
            "platform {d}"
        );
    }

    // Again: nothing to send.
    let again = regs.mirror(&from, &to, &index, None).await.unwrap();
    assert_eq!(
        (again.manifests, again.blobs_copied, again.bytes_sent),
        (0, 0, 0)
    );

    // A new image sharing the base layer: only its own layer and config travel.
    let top = noise(64 << 10, 2);
    let v2 = ecr
        .push_image(
            "aion-backend",
            "v1.1.0",
            &[base.clone(), top.clone()],
            "amd64",
        )
        .await;
    let second = regs.mirror(&from, &to, &v2, None).await.unwrap();
    assert_eq!(
        (second.manifests, second.blobs_copied, second.blobs_present),
        (1, 2, 1)
    );
    assert!(
        second.bytes_sent < (top.len() + 4096) as u64,
        "only the new layer is sent: {second:?}"
    );
    assert!(
        ar.has_blob(
            "prod/images/aion-backend",
            &twincloud_testkit::registry::sha256(&top)
        )
        .await
    );
}

#[tokio::test]
async fn wrong_credentials_and_missing_images_are_clear_permanent_errors() {
    let ecr = Registry::start("AWS", "right").await;
    let ar = Registry::start("oauth2accesstoken", "right").await;
    let d = ecr
        .push_image("app", "v1", &[noise(1024, 3)], "amd64")
        .await;
    let from = format!("{}/app", ecr.host);
    let to = format!("{}/app", ar.host);
    let wrong = OciRegistries::new()
        .unwrap()
        .with_login(&ecr.host, login("AWS:right"))
        .with_login(&ar.host, login("oauth2accesstoken:wrong"));
    let e = wrong
        .mirror(&from, &to, &d, None)
        .await
        .expect_err("refused");
    assert_eq!(e.retry, Retry::Permanent, "{e:?}");
    assert!(e.message.contains("401"), "{}", e.message);
    let none = OciRegistries::new()
        .unwrap()
        .with_login(&ecr.host, login("AWS:right"));
    let e = none
        .mirror(&from, &to, &d, None)
        .await
        .expect_err("no login");
    assert!(e.message.contains("none is configured"), "{}", e.message);
    let ok = OciRegistries::new()
        .unwrap()
        .with_login(&ecr.host, login("AWS:right"))
        .with_login(&ar.host, login("oauth2accesstoken:right"));
    let absent = format!("sha256:{}", "0".repeat(64));
    let e = ok
        .mirror(&from, &to, &absent, None)
        .await
        .expect_err("absent");
    assert!(e.message.contains("does not exist"), "{}", e.message);
    let e = ok
        .mirror(&from, &to, "latest", None)
        .await
        .expect_err("a tag");
    assert!(e.message.contains("not a sha256 digest"), "{}", e.message);
}

#[tokio::test]
async fn throttling_and_5xx_from_the_target_registry_are_retried() {
    use twincloud_testkit::{Fault, FaultProxy};
    let src = Registry::start("AWS", "s").await;
    let dst = Registry::start("oauth2accesstoken", "d").await;
    let d = src.push_index("app", "v1", &[noise(256 << 10, 9)]).await;
    let proxy = FaultProxy::start(&format!("http://{}", dst.host)).await;
    proxy.inject("/blobs/uploads/", 2, Fault::unavailable());
    proxy.inject("/manifests/", 1, Fault::too_many_requests(0));
    let through = proxy.url().trim_start_matches("http://").to_owned();
    let regs = OciRegistries::new()
        .unwrap()
        .with_login(&src.host, login("AWS:s"))
        .with_login(&through, login("oauth2accesstoken:d"));
    let r = regs
        .mirror(
            &format!("{}/app", src.host),
            &format!("{through}/app"),
            &d,
            Some("v1"),
        )
        .await
        .unwrap();
    assert_eq!(r.manifests, 3, "{r:?}");
    assert_eq!(proxy.stats().faulted, 3);
    assert_eq!(dst.manifest("app", "v1").await.unwrap().1, d);
}

#[tokio::test]
async fn a_registry_that_is_down_is_named_without_its_url_and_says_connection_refused() {
    let regs = OciRegistries::new().unwrap();
    let e = regs.resolve("127.0.0.1:9/app", "v1").await.unwrap_err();
    assert_eq!(e.retry, Retry::Transient);
    let text = e.to_string();
    assert!(
        text.contains("127.0.0.1:9/app"),
        "the image is named: {text}"
    );
    assert!(!text.contains("http://"), "no URL in errors: {text}");
    assert!(
        text.to_ascii_lowercase().contains("connection refused"),
        "the cause is said: {text}"
    );
}
