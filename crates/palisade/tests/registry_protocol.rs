//! Distribution-spec protocol conformance over real HTTP: uploads (monolithic, chunked,
//! resumable, cancel, mount), blobs (HEAD/GET/Range/DELETE), manifests of all four media
//! types, tags and catalog pagination, referrers, and rejection of bad input with spec errors
//! and nothing stored. Each test runs against Palisade and distribution 2.8.2 unless the
//! behaviour is one distribution 2.8.2 does not implement (noted per test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "registry_support.rs"]
#[macro_use]
mod support;

use support::{error_code, push_blob, push_image_manifest, raw_request, sha256, start, Kind, Opts};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn with_digest(loc: &str, digest: &str) -> String {
    let sep = if loc.contains('?') { '&' } else { '?' };
    format!("{loc}{sep}digest={digest}")
}

fn api_base_answers_with_version_header(kind: Kind) {
    let s = start(kind, &Opts::default());
    let r = s.client().get(s.url("/v2/")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-distribution-api-version"], "registry/2.0");
}

fn monolithic_upload_head_get_range_delete(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let d = sha256(&data);
    if kind == Kind::Palisade {
        // Single-request monolithic upload (distribution 2.8.2 answers 202 and ignores the body).
        let r = c.post(s.url(&format!("/v2/mono/blobs/uploads/?digest={d}"))).body(data.clone()).send().unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    } else {
        assert_eq!(push_blob(&s, &c, "mono", &data), d);
    }
    let r = c.head(s.url(&format!("/v2/mono/blobs/{d}"))).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "100000");
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    let r = c.get(s.url(&format!("/v2/mono/blobs/{d}"))).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), data.as_slice());
    let r = c.get(s.url(&format!("/v2/mono/blobs/{d}"))).header("range", "bytes=10-19").send().unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), &data[10..20]);
    // Unknown blob and blob of another repository.
    let other = sha256(b"nope");
    let r = c.get(s.url(&format!("/v2/mono/blobs/{other}"))).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(&r.text().unwrap()), "BLOB_UNKNOWN");
    push_blob(&s, &c, "elsewhere", b"x");
    assert_eq!(c.head(s.url(&format!("/v2/elsewhere/blobs/{d}"))).send().unwrap().status(), 404);
    // Delete unlinks it from the repository.
    assert_eq!(c.delete(s.url(&format!("/v2/mono/blobs/{d}"))).send().unwrap().status(), 202);
    assert_eq!(c.head(s.url(&format!("/v2/mono/blobs/{d}"))).send().unwrap().status(), 404);
}

fn chunked_upload_with_status_and_gap_rejection(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let d = sha256(&data);
    let r = c.post(s.url("/v2/chunked/blobs/uploads/")).send().unwrap();
    assert_eq!(r.status(), 202);
    let mut loc = s.resolve(r.headers()["location"].to_str().unwrap());
    let (a, b) = data.split_at(120_000);
    let r = c
        .patch(&loc)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("0-{}", a.len() - 1))
        .body(a.to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-119999");
    loc = s.resolve(r.headers()["location"].to_str().unwrap());
    // Resumable status.
    let r = c.get(&loc).send().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-119999");
    // A chunk that leaves a gap is refused with 416 (distribution 2.8.2 does not check).
    let r = c
        .patch(&loc)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("130000-{}", 130_000 + b.len() - 1))
        .body(b.to_vec())
        .send()
        .unwrap();
    if kind == Kind::Palisade {
        assert_eq!(r.status(), 416);
        assert_eq!(r.headers()["range"], "0-119999");
        assert_eq!(error_code(&r.text().unwrap()), "BLOB_UPLOAD_INVALID");
        let r = c.get(&loc).send().unwrap();
        assert_eq!(r.headers()["range"], "0-119999", "the refused chunk stored nothing");
    } else {
        return;
    }
    let r = c
        .patch(&loc)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("120000-{}", 120_000 + b.len() - 1))
        .body(b.to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    loc = s.resolve(r.headers()["location"].to_str().unwrap());
    let r = c.put(with_digest(&loc, &d)).send().unwrap();
    assert_eq!(r.status(), 201);
    let got = c.get(s.url(&format!("/v2/chunked/blobs/{d}"))).send().unwrap().bytes().unwrap();
    assert_eq!(got.as_ref(), data.as_slice());
}

fn cancelled_upload_is_gone(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let r = c.post(s.url("/v2/cancel/blobs/uploads/")).send().unwrap();
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    let r = c.patch(&loc).body(b"abc".to_vec()).send().unwrap();
    assert_eq!(r.status(), 202);
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    assert_eq!(c.delete(&loc).send().unwrap().status(), 204);
    let r = c.get(&loc).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(&r.text().unwrap()), "BLOB_UPLOAD_UNKNOWN");
}

fn wrong_digest_is_rejected_and_nothing_stored(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let claimed = sha256(b"what I claim");
    let r = c.post(s.url("/v2/bad/blobs/uploads/")).send().unwrap();
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    let r = c.put(with_digest(&loc, &claimed)).body(b"what I send".to_vec()).send().unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.text().unwrap()), "DIGEST_INVALID");
    for d in [claimed, sha256(b"what I send")] {
        assert_eq!(c.head(s.url(&format!("/v2/bad/blobs/{d}"))).send().unwrap().status(), 404);
        assert!(!s.storage_root_contains(d.trim_start_matches("sha256:")), "{d} stored");
    }
}

fn chunked_upload_with_wrong_final_digest_is_rejected(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let r = c.post(s.url("/v2/badchunk/blobs/uploads/")).send().unwrap();
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    let r = c.patch(&loc).header("content-type", "application/octet-stream").body(b"what I send".to_vec()).send().unwrap();
    assert_eq!(r.status(), 202);
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    let claimed = sha256(b"what I claim");
    let r = c.put(with_digest(&loc, &claimed)).send().unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.text().unwrap()), "DIGEST_INVALID");
    for d in [claimed, sha256(b"what I send")] {
        assert_eq!(c.head(s.url(&format!("/v2/badchunk/blobs/{d}"))).send().unwrap().status(), 404);
    }
}

fn cross_repository_mount(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let d = push_blob(&s, &c, "src/repo", b"shared layer");
    let r = c.post(s.url(&format!("/v2/dst/repo/blobs/uploads/?mount={d}&from=src/repo"))).send().unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    let r = c.get(s.url(&format!("/v2/dst/repo/blobs/{d}"))).send().unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), b"shared layer");
    // Mounting from a repository that lacks the blob falls back to a normal upload.
    let r = c.post(s.url(&format!("/v2/dst/repo/blobs/uploads/?mount={}&from=src/repo", sha256(b"absent")))).send().unwrap();
    assert_eq!(r.status(), 202);
}

fn manifests_by_tag_and_digest(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let (bytes, d) = push_image_manifest(&s, &c, "lib/app", "v1", "one");
    let r = c.get(s.url("/v2/lib/app/manifests/v1")).header("accept", OCI_MANIFEST).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
    assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice());
    let r = c.head(s.url(&format!("/v2/lib/app/manifests/{d}"))).header("accept", OCI_MANIFEST).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], bytes.len().to_string().as_str());
    // Put by digest.
    let r = c
        .put(s.url(&format!("/v2/lib/app/manifests/{d}")))
        .header("content-type", OCI_MANIFEST)
        .body(bytes.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    // Docker schema 2 manifest with the same blobs.
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let docker = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": m["config"]["digest"], "size": m["config"]["size"]},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": m["layers"][0]["digest"], "size": m["layers"][0]["size"]}],
    }))
    .unwrap();
    let r = c.put(s.url("/v2/lib/app/manifests/docker")).header("content-type", DOCKER_MANIFEST).body(docker.clone()).send().unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let dd = sha256(&docker);
    // OCI index and Docker manifest list over them.
    for (media, tag, child_media, child, size) in
        [(OCI_INDEX, "index", OCI_MANIFEST, &d, bytes.len()), (DOCKER_LIST, "list", DOCKER_MANIFEST, &dd, docker.len())]
    {
        let idx = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": media,
            "manifests": [{"mediaType": child_media, "digest": child, "size": size, "platform": {"architecture": "amd64", "os": "linux"}}],
        }))
        .unwrap();
        let r = c.put(s.url(&format!("/v2/lib/app/manifests/{tag}"))).header("content-type", media).body(idx.clone()).send().unwrap();
        assert_eq!(r.status(), 201, "{media}: {}", r.text().unwrap());
        let r = c.get(s.url(&format!("/v2/lib/app/manifests/{tag}"))).header("accept", media).send().unwrap();
        assert_eq!(r.headers()["content-type"], media);
        assert_eq!(r.bytes().unwrap().as_ref(), idx.as_slice());
    }
    let tags: serde_json::Value = c.get(s.url("/v2/lib/app/tags/list")).send().unwrap().json().unwrap();
    let mut tags: Vec<String> = serde_json::from_value(tags["tags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, vec!["docker", "index", "list", "v1"]);
    // Delete by digest removes it.
    assert_eq!(c.delete(s.url(&format!("/v2/lib/app/manifests/{dd}"))).send().unwrap().status(), 202);
    let r = c.get(s.url(&format!("/v2/lib/app/manifests/{dd}"))).header("accept", DOCKER_MANIFEST).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(&r.text().unwrap()), "MANIFEST_UNKNOWN");
}

fn manifest_with_missing_blob_is_rejected(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let cd = push_blob(&s, &c, "lib/miss", b"{}");
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(b"never uploaded"), "size": 14}],
    }))
    .unwrap();
    let r = c.put(s.url("/v2/lib/miss/manifests/v1")).header("content-type", OCI_MANIFEST).body(m.clone()).send().unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.text().unwrap()), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(c.get(s.url("/v2/lib/miss/manifests/v1")).send().unwrap().status(), 404);
    assert!(!s.storage_root_contains(sha256(&m).trim_start_matches("sha256:")));
    // An index naming an unknown child manifest is rejected too.
    let idx = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(b"no such manifest"), "size": 10}],
    }))
    .unwrap();
    let r = c.put(s.url("/v2/lib/miss/manifests/idx")).header("content-type", OCI_INDEX).body(idx).send().unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.text().unwrap()), "MANIFEST_BLOB_UNKNOWN");
}

fn invalid_manifests_are_rejected(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    push_blob(&s, &c, "lib/inv", b"{}");
    let r = c.put(s.url("/v2/lib/inv/manifests/v1")).header("content-type", OCI_MANIFEST).body("{not json").send().unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.text().unwrap()), "MANIFEST_INVALID");
    // Unknown media type.
    let r = c
        .put(s.url("/v2/lib/inv/manifests/v2"))
        .header("content-type", "application/x-not-a-manifest")
        .body(r#"{"schemaVersion":2,"mediaType":"application/x-not-a-manifest"}"#)
        .send()
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(!error_code(&r.text().unwrap()).is_empty());
    // Digest reference that does not match the body.
    let (bytes, _) = push_image_manifest(&s, &c, "lib/inv", "good", "g");
    let r = c
        .put(s.url(&format!("/v2/lib/inv/manifests/{}", sha256(b"other"))))
        .header("content-type", OCI_MANIFEST)
        .body(bytes)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.text().unwrap()), "DIGEST_INVALID");
    let tags: serde_json::Value = c.get(s.url("/v2/lib/inv/tags/list")).send().unwrap().json().unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["good"]));
}

fn invalid_names_are_rejected(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let ct = format!("Content-Type: {OCI_INDEX}\r\n");
    let mut paths = vec!["/v2/a/../escape/manifests/v1", "/v2/UPPER/manifests/v1", "/v2/a//b/manifests/v1", "/v2/-x/manifests/v1"];
    if kind == Kind::Palisade {
        // distribution 2.8.2 decodes %2f and stores the manifest under a/b.
        paths.push("/v2/a%2fb/manifests/v1");
    }
    for path in paths {
        let (status, body) = raw_request(s.addr, "PUT", path, m, &ct);
        assert!(!(200..300).contains(&status), "{path}: {status}");
        if kind == Kind::Palisade {
            assert_eq!(status, 400, "{path}");
            assert_eq!(error_code(&body), "NAME_INVALID", "{path}");
        }
    }
    let cat: serde_json::Value = c.get(s.url("/v2/_catalog")).send().unwrap().json().unwrap();
    assert_eq!(cat["repositories"], serde_json::json!([]));
    assert!(!s.storage_root_contains("escape") && !s.storage_root_contains("UPPER"));
    if kind == Kind::Palisade {
        let r = c.get(s.url("/v2/lib/x/manifests/bad:tag")).send().unwrap();
        assert_eq!(error_code(&r.text().unwrap()), "DIGEST_INVALID");
        // A malformed tag names no manifest (404, as the OCI conformance suite v1.1.1 expects);
        // pushing to one is refused.
        let r = c.get(s.url(&format!("/v2/lib/x/manifests/{}", "t".repeat(129)))).send().unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(error_code(&r.text().unwrap()), "MANIFEST_UNKNOWN");
        let (status, body) = raw_request(s.addr, "PUT", &format!("/v2/lib/x/manifests/{}", "t".repeat(129)), m, &ct);
        assert_eq!((status, error_code(&body).as_str()), (400, "TAG_INVALID"));
    }
}

fn catalog_pagination_with_link_headers(kind: Kind) {
    let s = start(kind, &Opts::default());
    let c = s.client();
    for r in ["p/a", "p/b", "p/c"] {
        push_image_manifest(&s, &c, r, "latest", r);
    }
    let r = c.get(s.url("/v2/_catalog?n=2")).send().unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("rel=\"next\""), "{link}");
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["p/a", "p/b"]));
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let v: serde_json::Value = c.get(s.resolve(next)).send().unwrap().json().unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["p/c"]));
}

both_kinds!(
    api_base_answers_with_version_header,
    monolithic_upload_head_get_range_delete,
    chunked_upload_with_status_and_gap_rejection,
    cancelled_upload_is_gone,
    wrong_digest_is_rejected_and_nothing_stored,
    chunked_upload_with_wrong_final_digest_is_rejected,
    cross_repository_mount,
    manifests_by_tag_and_digest,
    manifest_with_missing_blob_is_rejected,
    invalid_manifests_are_rejected,
    invalid_names_are_rejected,
    catalog_pagination_with_link_headers,
);

// ---- Behaviour distribution 2.8.2 does not implement (OCI v1.1 referrers, tag pagination
// ---- caps, manifest size cap): Palisade only.

/// Chunks sent concurrently to one upload are applied one at a time: each acknowledged chunk
/// lands whole where its `Range` answer says, so the blob reassembled from those answers is
/// exactly what the registry stored (its digest verifies). distribution 2.8.2 does not
/// serialise them.
#[test]
fn concurrent_chunks_to_one_upload_never_interleave_palisade() {
    let s = start(Kind::Palisade, &Opts::default());
    let c = s.client();
    let r = c.post(s.url("/v2/race/blobs/uploads/")).send().unwrap();
    let loc = s.resolve(r.headers()["location"].to_str().unwrap());
    const CHUNK: usize = 256 * 1024;
    let placed: Vec<(u64, u8)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let (c, loc) = (c.clone(), loc.clone());
                scope.spawn(move || {
                    let r = c.patch(&loc).header("content-type", "application/octet-stream").body(vec![i; CHUNK]).send().unwrap();
                    assert_eq!(r.status(), 202);
                    let end: u64 = r.headers()["range"].to_str().unwrap().split('-').nth(1).unwrap().parse().unwrap();
                    (end + 1 - CHUNK as u64, i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut data = vec![0u8; 8 * CHUNK];
    for (start, byte) in &placed {
        let start = usize::try_from(*start).unwrap();
        data[start..start + CHUNK].fill(*byte);
    }
    let mut starts: Vec<u64> = placed.iter().map(|p| p.0).collect();
    starts.sort_unstable();
    assert_eq!(starts, (0..8).map(|k| k * CHUNK as u64).collect::<Vec<_>>(), "{placed:?}");
    let r = c.put(with_digest(&loc, &sha256(&data))).send().unwrap();
    assert_eq!(r.status(), 201, "stored bytes differ from the acknowledged chunks");
}

#[test]
fn tags_pagination_caps_n_and_rejects_garbage_palisade() {
    let s = start(Kind::Palisade, &Opts::default());
    let c = s.client();
    for t in ["t1", "t2", "t3", "t4", "t5"] {
        push_image_manifest(&s, &c, "pg", t, "same");
    }
    let r = c.get(s.url("/v2/pg/tags/list?n=2")).send().unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(link, "</v2/pg/tags/list?n=2&last=t2>; rel=\"next\"");
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["tags"], serde_json::json!(["t1", "t2"]));
    let v: serde_json::Value = c.get(s.url("/v2/pg/tags/list?n=2&last=t4")).send().unwrap().json().unwrap();
    assert_eq!(v["tags"], serde_json::json!(["t5"]));
    // Huge n is capped (the page is still bounded), not an allocation of n entries.
    let r = c.get(s.url("/v2/pg/tags/list?n=18446744073709551615")).send().unwrap();
    assert_eq!(r.status(), 200);
    // Not a number at all → PAGINATION_NUMBER_INVALID.
    let r = c.get(s.url("/v2/pg/tags/list?n=1e999")).send().unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.text().unwrap()), "PAGINATION_NUMBER_INVALID");
    let r = c.get(s.url("/v2/_catalog?n=-5")).send().unwrap();
    assert_eq!(error_code(&r.text().unwrap()), "PAGINATION_NUMBER_INVALID");
    let r = c.get(s.url("/v2/nosuch/tags/list")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(&r.text().unwrap()), "NAME_UNKNOWN");
}

#[test]
fn oversized_manifest_is_rejected_palisade() {
    let s = start(Kind::Palisade, &Opts::default());
    let c = s.client();
    let (bytes, _) = push_image_manifest(&s, &c, "big", "ok", "x");
    let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    m["annotations"] = serde_json::json!({ "pad": "x".repeat(4 * 1024 * 1024 + 1) });
    let big = serde_json::to_vec(&m).unwrap();
    let r = c.put(s.url("/v2/big/manifests/huge")).header("content-type", OCI_MANIFEST).body(big.clone()).send().unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(&r.text().unwrap()), "MANIFEST_INVALID");
    assert_eq!(c.get(s.url("/v2/big/manifests/huge")).send().unwrap().status(), 404);
    assert!(!s.storage_root_contains(sha256(&big).trim_start_matches("sha256:")));
}

#[test]
fn referrers_api_with_artifact_type_filter_palisade() {
    let s = start(Kind::Palisade, &Opts::default());
    let c = s.client();
    let (subject_bytes, subject) = push_image_manifest(&s, &c, "lib/signed", "v1", "subj");
    let empty = push_blob(&s, &c, "lib/signed", b"{}");
    let mut referrers = Vec::new();
    for (artifact, payload) in [("application/vnd.example.sig", "sig"), ("application/vnd.example.sbom", "sbom")] {
        let layer = push_blob(&s, &c, "lib/signed", payload.as_bytes());
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": payload.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_bytes.len()},
            "annotations": {"org.example": payload},
        }))
        .unwrap();
        let d = sha256(&m);
        let r = c.put(s.url(&format!("/v2/lib/signed/manifests/{d}"))).header("content-type", OCI_MANIFEST).body(m).send().unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], subject.as_str());
        referrers.push(d);
    }
    let r = c.get(s.url(&format!("/v2/lib/signed/referrers/{subject}"))).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    let r = c.get(s.url(&format!("/v2/lib/signed/referrers/{subject}?artifactType=application/vnd.example.sbom"))).send().unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let v: serde_json::Value = r.json().unwrap();
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], referrers[1].as_str());
    assert_eq!(list[0]["artifactType"], "application/vnd.example.sbom");
    assert_eq!(list[0]["annotations"]["org.example"], "sbom");
    // Deleting a referrer removes it from the list; unknown subjects give an empty index.
    assert_eq!(c.delete(s.url(&format!("/v2/lib/signed/manifests/{}", referrers[0]))).send().unwrap().status(), 202);
    let v: serde_json::Value = c.get(s.url(&format!("/v2/lib/signed/referrers/{subject}"))).send().unwrap().json().unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    let v: serde_json::Value = c.get(s.url(&format!("/v2/lib/signed/referrers/{}", sha256(b"x")))).send().unwrap().json().unwrap();
    assert_eq!(v["manifests"], serde_json::json!([]));
    let r = c.get(s.url("/v2/lib/signed/referrers/sha256:zz")).send().unwrap();
    assert_eq!(error_code(&r.text().unwrap()), "DIGEST_INVALID");
}

#[test]
fn gc_removes_only_unreferenced_blobs_palisade() {
    let mut s = start(Kind::Palisade, &Opts::default());
    let c = s.client();
    let (_, keep) = push_image_manifest(&s, &c, "gc/app", "v1", "keep");
    let (drop_bytes, dropped) = push_image_manifest(&s, &c, "gc/app", "v2", "drop");
    let orphan = push_blob(&s, &c, "gc/app", b"orphan blob");
    assert_eq!(c.delete(s.url(&format!("/v2/gc/app/manifests/{dropped}"))).send().unwrap().status(), 202);
    s.kill9();
    let gc = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["registry", "gc", "--root"])
            .arg(s.storage_root())
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let dry = gc(&["--dry-run"]);
    assert!(dry.contains(&format!("would delete blob {orphan}")), "{dry}");
    assert!(dry.contains(&format!("would delete blob {dropped}")), "{dry}");
    assert!(!dry.contains(&keep), "{dry}");
    assert!(s.storage_root_contains(orphan.trim_start_matches("sha256:")), "dry run deletes nothing");
    let real = gc(&[]);
    assert!(real.contains("gc: 3 blobs kept, 4 blobs deleted"), "{real}");
    assert!(!s.storage_root_contains(orphan.trim_start_matches("sha256:")));
    assert!(!s.storage_root_contains(sha256(&drop_bytes).trim_start_matches("sha256:")));
    s.restart();
    let c = s.client();
    let r = c.get(s.url("/v2/gc/app/manifests/v1")).send().unwrap();
    assert_eq!(r.headers()["docker-content-digest"], keep.as_str());
    let m: serde_json::Value = r.json().unwrap();
    for d in [&m["config"]["digest"], &m["layers"][0]["digest"]] {
        assert_eq!(c.head(s.url(&format!("/v2/gc/app/blobs/{}", d.as_str().unwrap()))).send().unwrap().status(), 200);
    }
    assert_eq!(c.head(s.url(&format!("/v2/gc/app/blobs/{orphan}"))).send().unwrap().status(), 404);
}

#[test]
fn sha512_blobs_are_verified_palisade() {
    use sha2::Digest as _;
    let s = start(Kind::Palisade, &Opts::default());
    let c = s.client();
    let data = b"sha512 content".to_vec();
    let d = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&data)));
    let r = c.post(s.url(&format!("/v2/h/blobs/uploads/?digest={d}"))).body(data.clone()).send().unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    assert_eq!(c.get(s.url(&format!("/v2/h/blobs/{d}"))).send().unwrap().bytes().unwrap().as_ref(), data.as_slice());
    let wrong = format!("sha512:{}", hex::encode(sha2::Sha512::digest(b"other")));
    let r = c.post(s.url(&format!("/v2/h/blobs/uploads/?digest={wrong}"))).body(data).send().unwrap();
    assert_eq!(error_code(&r.text().unwrap()), "DIGEST_INVALID");
    assert_eq!(c.head(s.url(&format!("/v2/h/blobs/{wrong}"))).send().unwrap().status(), 404);
}
