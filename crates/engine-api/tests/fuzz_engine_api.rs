#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Fuzzing the Engine API's request bodies and headers: every body type the routes read with
//! `JsonBody` (serde), then the `validate` methods the routes call before the backend sees
//! anything; list filters, `X-Registry-Auth` and the stream framing. Every case must return
//! (no panic) within the allocation bound; see `palisade_fuzzing`.

use palisade_engine_api::containers::types::{unframe, ContainerCreateRequest, RegistryAuth};
use palisade_engine_api::exec::ExecCreateRequest;
use palisade_engine_api::types::{
    validate_constraint, validate_secret_name, validate_swarm_name, InitRequest, JoinRequest, ListFilters,
    NetworkCreateRequest, NodeSpec, SecretFilters, SecretSpec, ServiceSpec, SwarmSpec, UnlockRequest,
};
use palisade_engine_api::volumes::types::{VolumeCreateRequest, VolumeFilters};
use palisade_fuzzing::json::{documents, hostile_string, hostile_value};
use palisade_fuzzing::{bounded, bounded_per_byte, fuzz, fuzz_cases, CountingAlloc};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Bodies as the docker CLI v28 sends them.
fn seeds() -> Vec<Value> {
    vec![
        json!({"Hostname": "", "User": "1000:1000", "Env": ["A=b"], "Cmd": ["sh", "-c", "true"], "Image": "busybox:latest",
               "WorkingDir": "/", "Entrypoint": null, "Labels": {"a": "b"}, "Volumes": {"/data": {}}, "ExposedPorts": {"80/tcp": {}},
               "HostConfig": {"CapAdd": ["NET_ADMIN"], "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"], "Memory": 67108864,
                 "PidsLimit": 100, "NetworkMode": "bridge", "Tmpfs": {"/run": "rw,size=64m"}, "Binds": ["/srv:/srv:ro"],
                 "Mounts": [{"Type": "volume", "Source": "v", "Target": "/v"}], "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                 "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}},
               "NetworkingConfig": {"EndpointsConfig": {"net": {"Aliases": ["web"]}}}}),
        json!({"Name": "web", "Labels": {},
               "TaskTemplate": {"ContainerSpec": {"Image": "busybox:latest", "Args": ["sleep", "1000"], "Init": false, "DNSConfig": {},
                 "Secrets": [{"File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 292}, "SecretID": "abc", "SecretName": "db_pw"}]},
                 "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {"Constraints": ["node.role==manager"]}, "ForceUpdate": 0},
               "Mode": {"Replicated": {"Replicas": 3}}, "UpdateConfig": {"Parallelism": 1, "Order": "stop-first"}, "EndpointSpec": {"Mode": "vip"}}),
        json!({"Name": "db_pw", "Labels": {}, "Data": "czNjcjN0"}),
        json!({"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "127.0.0.2", "ForceNewCluster": false, "AutoLockManagers": true,
               "Spec": {"Name": "default", "CAConfig": {"NodeCertExpiry": 7776000000000000_u64}, "EncryptionConfig": {"AutoLockManagers": true}}}),
        json!({"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "127.0.0.3", "RemoteAddrs": ["127.0.0.2:2377"],
               "JoinToken": "SWMTKN-1-0123456789abcdefghijklmnopqrstuvwxyz0123456789ab-0123456789abcdefghijklmno"}),
        json!({"UnlockKey": "SWMKEY-1-abc"}),
        json!({"Name": "n", "Labels": {}, "Role": "worker", "Availability": "active"}),
        json!({"Name": "net", "Driver": "bridge", "Internal": false, "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1"}]}}),
        json!({"Name": "v", "Driver": "local", "DriverOpts": {}, "Labels": {}}),
        json!({"User": "", "Privileged": false, "Tty": false, "AttachStdin": false, "AttachStdout": true, "AttachStderr": true,
               "Env": [], "Cmd": ["ls"], "WorkingDir": ""}),
    ]
}

/// Heap per input byte the body types may use. Types with a `#[serde(flatten)]` catch-all
/// (`ContainerCreateRequest`, `SwarmSpec`, `NetworkCreateRequest`, `VolumeCreateRequest`) make
/// serde buffer the whole body as `Content` and then build `Value`s from it while the buffer
/// lives: for nested arrays (`[[[…]]]`, two bytes a level) each level costs a 4-slot `Vec` of
/// each, about 130 bytes per input byte (found by this target: 33 MB for a 257 KB body). Linear,
/// so bounded, but above the default 64; with axum's 2 MB body limit a request can briefly hold
/// a few hundred MB.
const FLATTENED_BODY_BYTES_PER_INPUT_BYTE: usize = 192;

/// Whether `bytes` parse as a `T` that `check` accepts.
fn body<T: DeserializeOwned>(bytes: &[u8], check: impl FnOnce(&T) -> bool) -> bool {
    serde_json::from_slice::<T>(bytes).is_ok_and(|v| check(&v))
}

/// Every request body type on every document, with the routes' validation.
#[test]
fn fuzz_request_bodies() {
    fuzz_cases("engine_api_bodies", 256, documents(seeds()), |bytes| {
        bounded_per_byte(FLATTENED_BODY_BYTES_PER_INPUT_BYTE, bytes.len(), || {
            body::<ContainerCreateRequest>(&bytes, |_| true);
            body::<ServiceSpec>(&bytes, |s| s.validate().is_ok() && s.replicas().is_some());
            body::<SecretSpec>(&bytes, |s| s.validate_for_create().is_ok() | s.validate_config_for_create().is_ok());
            body::<InitRequest>(&bytes, |_| true);
            body::<JoinRequest>(&bytes, |_| true);
            body::<SwarmSpec>(&bytes, |_| true);
            body::<UnlockRequest>(&bytes, |_| true);
            body::<NodeSpec>(&bytes, |_| true);
            body::<NetworkCreateRequest>(&bytes, |_| true);
            body::<VolumeCreateRequest>(&bytes, |_| true);
            body::<ExecCreateRequest>(&bytes, |_| true);
        })
    });
}

/// Regression (found by `fuzz_request_bodies`): deeply nested arrays in a flattened body stay
/// within the documented per-byte allowance, and past the default one — the cost is real.
#[test]
fn flattened_bodies_of_nested_arrays_cost_a_known_linear_amount() {
    let chain = format!("{}\"127.0.0.2:2377\"{}", "[".repeat(72), "]".repeat(72));
    let body = format!(r#"{{"Image":"busybox","Labels":{{}},"X":[{}]}}"#, vec![chain; 1700].join(","));
    let parse = || serde_json::from_slice::<ContainerCreateRequest>(body.as_bytes()).is_ok();
    assert!(bounded_per_byte(FLATTENED_BODY_BYTES_PER_INPUT_BYTE, body.len(), parse).unwrap());
    assert!(bounded(body.len(), parse).is_err(), "the cost is above the default allowance; update the comment if it falls");
}

/// Validation of service specs that parse: a spec that validates stays valid after a
/// serialise/parse round trip (what the cluster stores is what was checked).
#[test]
fn fuzz_service_spec_round_trip() {
    fuzz("engine_api_service_spec", documents(seeds()), |bytes| {
        let Ok(spec) = serde_json::from_slice::<ServiceSpec>(&bytes) else { return Ok(()) };
        if bounded(bytes.len(), || spec.validate())?.is_ok() {
            let again: ServiceSpec = serde_json::from_slice(&serde_json::to_vec(&spec).unwrap()).unwrap();
            prop_assert!(again.validate().is_ok());
        }
        Ok(())
    });
}

/// Query filters (JSON in a query parameter), `X-Registry-Auth` (base64 JSON), names and
/// constraints, and the attach stream's frame decoder.
#[test]
fn fuzz_filters_headers_and_names() {
    let filters = prop_oneof![
        hostile_value().prop_map(|v| v.to_string()),
        hostile_string(),
        Just(r#"{"name":{"web":true},"label":{"a=b":true}}"#.to_owned()),
    ];
    fuzz("engine_api_filters_headers", (filters, proptest::collection::vec(any::<u8>(), 0..512)), |(text, frame)| {
        bounded(text.len() + frame.len(), || {
            let _ = ListFilters::parse(Some(&text), &["name", "label", "id", "mode"]);
            let _ = SecretFilters::parse(Some(&text));
            let _ = VolumeFilters::parse(Some(&text));
            let _ = RegistryAuth::from_header(&text);
            let _ = validate_secret_name(&text);
            let _ = validate_swarm_name(&text);
            let _ = validate_constraint(&text);
            let mut buffer = frame.clone();
            let frames = unframe(&mut buffer);
            frames.iter().map(|(_, d)| d.len()).sum::<usize>() <= frame.len()
        })
        .and_then(|fits| if fits { Ok(()) } else { Err(proptest::test_runner::TestCaseError::fail("frames longer than input")) })
    });
}
