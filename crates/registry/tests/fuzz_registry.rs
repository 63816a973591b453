#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Fuzzing the registry's untrusted inputs: manifest PUT bodies (parse, validate, store),
//! repository names, tags, digests and references, image references (the registry client's and
//! docker's, from `palisade-reference`), and bearer tokens.
//! Every case must return (no panic) within the allocation bound; see `palisade_fuzzing`.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use palisade_fuzzing::json::{documents, hostile_string, mutated};
use palisade_fuzzing::{bounded, fuzz, fuzz_cases, CountingAlloc};
use palisade_reference::ImageReference;
use palisade_registry::auth::{AccessEntry, TokenService};
use palisade_registry::client::ImageRef;
use palisade_registry::driver::InMemoryDriver;
use palisade_registry::storage::Store;
use palisade_registry::testing::push_blob;
use palisade_registry::{Digest, Manifest, MediaType, Reference, RepoName, Tag, MAX_NAME_LEN};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const REPO: &str = "lib/app";

/// A store holding a config and a layer blob and one image manifest in `REPO`, and the seeds:
/// manifests of each media type that would be accepted as they are.
fn store_and_seeds() -> (Store, Vec<Value>) {
    let store = Store::new(Arc::new(InMemoryDriver::new()));
    let repo: RepoName = REPO.parse().unwrap();
    let config = push_blob(&store, &repo, b"{}");
    let layer = push_blob(&store, &repo, b"layer");
    let image = json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciManifest.as_str(),
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.to_string(), "size": 5}],
        "annotations": {"org.opencontainers.image.title": "app"}
    });
    let image_bytes = serde_json::to_vec(&image).unwrap();
    let pushed = store.put_manifest(&repo, &"v1".parse().unwrap(), &image_bytes, None).unwrap();
    let child = json!({"mediaType": MediaType::OciManifest.as_str(), "digest": pushed.digest.to_string(), "size": image_bytes.len(),
        "platform": {"architecture": "amd64", "os": "linux"}});
    let seeds = vec![
        image.clone(),
        json!({"schemaVersion": 2, "mediaType": MediaType::OciIndex.as_str(), "manifests": [child.clone()]}),
        json!({"schemaVersion": 2, "mediaType": MediaType::DockerManifestList.as_str(), "manifests": [child]}),
        json!({
            "schemaVersion": 2,
            "mediaType": MediaType::DockerManifest.as_str(),
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config.to_string(), "size": 2},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                        "digest": Digest::sha256_of(b"elsewhere").to_string(), "size": 9, "urls": ["https://example.com/l"]}]
        }),
        json!({
            "schemaVersion": 2,
            "mediaType": MediaType::OciManifest.as_str(),
            "artifactType": "application/vnd.example.sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.to_string(), "size": 2},
            "layers": [],
            "subject": {"mediaType": MediaType::OciManifest.as_str(), "digest": pushed.digest.to_string(), "size": image_bytes.len()}
        }),
    ];
    (store, seeds)
}

/// How a push names its manifest and what `Content-Type` it sends.
#[derive(Debug, Clone)]
struct Push {
    by_digest: bool,
    content_type: Option<String>,
}

fn push() -> impl Strategy<Value = Push> {
    let content_type = proptest::option::of(prop_oneof![
        proptest::sample::select(
            [MediaType::OciManifest, MediaType::OciIndex, MediaType::DockerManifest, MediaType::DockerManifestList]
                .map(|m| m.as_str().to_owned())
                .to_vec()
        ),
        hostile_string(),
    ]);
    (any::<bool>(), content_type).prop_map(|(by_digest, content_type)| Push { by_digest, content_type })
}

/// A manifest PUT runs `Store::put_manifest_tagged` as the http layer does. Whatever the body:
/// no panic, bounded allocation; and what is accepted is a manifest that parses, stored
/// byte for byte under the digest of those bytes.
#[test]
fn fuzz_manifest_put() {
    let (_, seeds) = store_and_seeds();
    let accepted = std::cell::Cell::new(0u32);
    fuzz_cases("registry_manifest_put", 256, (documents(seeds), push()), |(bytes, push)| {
        let (store, _) = store_and_seeds();
        let repo: RepoName = REPO.parse().unwrap();
        let reference = if push.by_digest { Reference::Digest(Digest::sha256_of(&bytes)) } else { Reference::Tag("t".parse().unwrap()) };
        let put = bounded(bytes.len(), || store.put_manifest_tagged(&repo, &reference, &bytes, push.content_type.as_deref(), &[]))?;
        if let Ok(put) = put {
            prop_assert!(Manifest::parse(&bytes, push.content_type.as_deref()).is_ok());
            prop_assert_eq!(&put.digest, &Digest::sha256_of(&bytes));
            let stored = store.get_manifest(&repo, &reference).unwrap();
            prop_assert_eq!(&stored.bytes[..], &bytes[..]);
            accepted.set(accepted.get() + 1);
        }
        Ok(())
    });
    assert!(accepted.get() > 0, "some near-valid manifests must be accepted, or the generator is off");
}

/// A digest reference that is not the body's digest is refused, whatever the body.
#[test]
fn fuzz_manifest_put_digest_mismatch() {
    let (_, seeds) = store_and_seeds();
    fuzz("registry_manifest_digest_mismatch", mutated(seeds), |bytes| {
        let (store, _) = store_and_seeds();
        let repo: RepoName = REPO.parse().unwrap();
        let other = Reference::Digest(Digest::sha256_of(b"something else"));
        let put = bounded(bytes.len(), || store.put_manifest(&repo, &other, &bytes, None))?;
        prop_assert!(put.is_err());
        Ok(())
    });
}

/// Names, tags, digests and references from path segments, and `HOST/REPO[:TAG|@DIGEST]`
/// image references: no panic, bounded; what parses keeps the documented invariants.
#[test]
fn fuzz_names_and_references() {
    let digestish = prop_oneof![
        hostile_string(),
        ("sha256|sha512|sha384|SHA256", "[0-9a-fA-F]{60,130}").prop_map(|(a, h)| format!("{a}:{h}")),
        ("[a-z0-9.:-]{1,20}", "[a-z0-9._/-]{0,300}", "[:@]?", hostile_string()).prop_map(|(h, n, s, r)| format!("{h}/{n}{s}{r}")),
    ];
    fuzz("registry_names", digestish, |s| {
        bounded(s.len(), || -> Result<(), TestCaseError> {
            if let Ok(name) = s.parse::<RepoName>() {
                prop_assert!(name.as_str().len() <= MAX_NAME_LEN);
                prop_assert!(name.components().all(|c| !c.is_empty() && c != "." && c != ".."));
                prop_assert_eq!(name.to_string().parse::<RepoName>().unwrap(), name);
            }
            if let Ok(tag) = s.parse::<Tag>() {
                prop_assert!(tag.as_str().len() <= 128 && !tag.as_str().contains('/'));
            }
            if let Ok(digest) = s.parse::<Digest>() {
                prop_assert_eq!(digest.to_string(), s.clone());
            }
            if let Ok(reference) = s.parse::<Reference>() {
                prop_assert_eq!(reference.to_string(), s.clone());
            }
            if let Ok(image) = s.parse::<ImageRef>() {
                prop_assert!(!image.registry.is_empty() && !image.registry.contains('/'));
            }
            if let Ok(image) = ImageReference::parse(&s) {
                // Both printed forms read back as the same reference.
                prop_assert_eq!(ImageReference::parse(&image.to_string()).unwrap(), image.clone());
                prop_assert_eq!(ImageReference::parse(&image.familiar()).unwrap(), image.clone());
                prop_assert!(!image.host().is_empty() && !image.host().contains('/'));
            }
            Ok(())
        })?
    });
}

/// Bearer tokens: the issued token with its header or claims rewritten (the signature kept),
/// re-signed by another key, or mangled as text. No panic, bounded; nothing but the issued
/// token itself verifies.
#[test]
fn fuzz_bearer_token_verify() {
    let service = TokenService::new("palisade-registry", "palisade-registry", 300, None).unwrap();
    let attacker = TokenService::new("palisade-registry", "palisade-registry", 300, None).unwrap();
    let issued = service.issue(Some("alice"), vec![AccessEntry::repository(REPO, &["pull"])]).unwrap().token;
    let forged = attacker.issue(Some("root"), vec![AccessEntry::repository(REPO, &["*"])]).unwrap().token;
    let parts: Vec<String> = issued.split('.').map(str::to_owned).collect();
    let decode = |p: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    let (header, claims) = (decode(&parts[0]), decode(&parts[1]));
    let mut alg_none = header.clone();
    alg_none["alg"] = json!("none");
    let mut hs256 = header.clone();
    hs256["alg"] = json!("HS256");
    let token = prop_oneof![
        (mutated(vec![header, alg_none, hs256]), any::<bool>()).prop_map({
            let parts = parts.clone();
            move |(h, keep_sig)| {
                let sig = if keep_sig { parts[2].as_str() } else { "" };
                format!("{}.{}.{sig}", URL_SAFE_NO_PAD.encode(h), parts[1])
            }
        }),
        mutated(vec![claims]).prop_map({
            let parts = parts.clone();
            move |c| format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(c), parts[2])
        }),
        (0..issued.len(), any::<u8>()).prop_map({
            let issued = issued.clone();
            move |(at, b)| {
                let mut bytes = issued.clone().into_bytes();
                bytes[at] = b;
                String::from_utf8_lossy(&bytes).into_owned()
            }
        }),
        Just(forged),
        hostile_string(),
    ];
    fuzz("registry_bearer_token", token, |token| {
        let verified = bounded(token.len(), || service.verify(&token))?;
        if verified.is_ok() {
            prop_assert_eq!(&token, &issued, "only the issued token verifies");
        }
        Ok(())
    });
}
