//! Issue #21 item 10: protocol corners. `PUT` on a blob URL is 405 (it fell through to delete);
//! a manifest GET/HEAD by a malformed tag is 404 as the OCI conformance suite v1.1.1 expects;
//! the `delete` switch distribution has (`[storage] delete = false`: 405 `UNSUPPORTED`, nothing
//! removed); and `PUT /manifests/<digest>?tag=…` from distribution-spec's next version.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "registry_support.rs"]
#[macro_use]
mod support;

use support::{error_code, push_blob, push_image_manifest, start, Kind, Opts};

fn put_on_a_blob_url_is_405_and_deletes_nothing(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let d = push_blob(&s, &c, "app", b"precious");
    let r = c.put(s.url(&format!("/v2/app/blobs/{d}"))).body("x").send().unwrap();
    assert_eq!(r.status(), 405);
    for method in [reqwest::Method::POST, reqwest::Method::PATCH] {
        assert_eq!(c.request(method.clone(), s.url(&format!("/v2/app/blobs/{d}"))).send().unwrap().status(), 405, "{method}");
    }
    let r = c.get(s.url(&format!("/v2/app/blobs/{d}"))).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), b"precious");
}

/// The OCI conformance suite v1.1.1 (`01_pull_test.go`): "GET nonexistent manifest should
/// return 404" with the reference `.INVALID_MANIFEST_NAME`; HEAD likewise.
fn manifest_by_malformed_tag_is_404(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    push_image_manifest(&s, &c, "app", "v1", "a");
    for tag in [".INVALID_MANIFEST_NAME", "-x", &"a".repeat(129)] {
        let r = c.get(s.url(&format!("/v2/app/manifests/{tag}"))).send().unwrap();
        assert_eq!(r.status(), 404, "GET {tag}");
        if kind == Kind::Palisade {
            assert_eq!(error_code(&r.text().unwrap()), "MANIFEST_UNKNOWN");
        }
        assert_eq!(c.head(s.url(&format!("/v2/app/manifests/{tag}"))).send().unwrap().status(), 404, "HEAD {tag}");
    }
}

both_kinds!(put_on_a_blob_url_is_405_and_deletes_nothing, manifest_by_malformed_tag_is_404);

#[test]
fn delete_switch_off_refuses_deletes_and_keeps_content_palisade() {
    let s = start(Kind::Palisade, &Opts { palisade_config: Some("[storage]\ndelete = false\n".into()), ..Opts::default() });
    let c = s.client();
    let (_, md) = push_image_manifest(&s, &c, "app", "v1", "a");
    let bd = push_blob(&s, &c, "app", b"blob");
    for path in [format!("/v2/app/blobs/{bd}"), format!("/v2/app/manifests/{md}"), "/v2/app/manifests/v1".to_owned()] {
        let r = c.delete(s.url(&path)).send().unwrap();
        assert_eq!(r.status(), 405, "DELETE {path}");
        assert_eq!(error_code(&r.text().unwrap()), "UNSUPPORTED");
    }
    assert_eq!(c.get(s.url(&format!("/v2/app/blobs/{bd}"))).send().unwrap().status(), 200);
    assert_eq!(c.get(s.url(&format!("/v2/app/manifests/{md}"))).send().unwrap().status(), 200);
    assert_eq!(c.get(s.url("/v2/app/manifests/v1")).send().unwrap().status(), 200);
    // Cancelling an upload is no delete of content and stays allowed.
    let r = c.post(s.url("/v2/app/blobs/uploads/")).send().unwrap();
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    assert_eq!(c.delete(&loc).send().unwrap().status(), 204);
}

#[test]
fn delete_switch_defaults_on_palisade() {
    let s = start(Kind::Palisade, &Opts::default());
    let c = s.client();
    let bd = push_blob(&s, &c, "app", b"blob");
    assert_eq!(c.delete(s.url(&format!("/v2/app/blobs/{bd}"))).send().unwrap().status(), 202);
}

/// distribution-spec (next version, PR #600): `PUT /v2/<name>/manifests/<digest>?tag=a&tag=b`
/// stores the manifest by digest, tags it with each tag and answers one `OCI-Tag` per tag.
/// Distribution 2.8.2 predates it.
#[test]
fn put_manifest_by_digest_with_tags_palisade() {
    let s = start(Kind::Palisade, &Opts::default());
    let c = s.client();
    let (m, d) = push_image_manifest(&s, &c, "app", "seed", "a");
    let put = |query: &str| {
        c.put(s.url(&format!("/v2/app/manifests/{d}?{query}")))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(m.clone())
            .send()
            .unwrap()
    };
    let r = put("tag=v1&tag=latest");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    let tags: Vec<&str> = r.headers().get_all("oci-tag").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(tags, ["v1", "latest"]);
    for tag in ["v1", "latest"] {
        let r = c.get(s.url(&format!("/v2/app/manifests/{tag}"))).send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    }
    // A malformed tag refuses the whole request and adds no tag.
    let r = put("tag=v2&tag=.bad");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.text().unwrap()), "TAG_INVALID");
    assert_eq!(c.get(s.url("/v2/app/manifests/v2")).send().unwrap().status(), 404);
    // Too many tags: 414.
    let many: Vec<String> = (0..100).map(|i| format!("tag=t{i}")).collect();
    assert_eq!(put(&many.join("&")).status(), 414);
    // `tag` on a tag reference is refused (the reference already names the tag).
    let r = c
        .put(s.url("/v2/app/manifests/v3?tag=v4"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(m.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}
