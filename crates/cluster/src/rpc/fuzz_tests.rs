//! Fuzzing the cluster port's request bodies as its server deserialises them: the join call
//! (served without a client certificate), node calls, control calls and raft messages. Every
//! case must return (no panic) within the allocation bound; see `palisade_fuzzing`.
//!
//! The wire types are crate-private, so this lives here rather than under `tests/`; the counting
//! allocator therefore serves the crate's whole unit-test binary (it only counts).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use palisade_fuzzing::json::documents;
use palisade_fuzzing::{bounded, fuzz_cases, CountingAlloc};
use palisade_store::RaftRpc;
use serde_json::{json, Value};

use super::{ControlCall, ControlReply, JoinCertRequest, NodeCall};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----\nMIGbMEMCAQAwADBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABA==\n-----END CERTIFICATE REQUEST-----\n";

fn join() -> Value {
    json!({
        "token": "SWMTKN-1-0123456789abcdefghijklmnopqrstuvwxyz0123456789ab-0123456789abcdefghijklmno",
        "csr_pem": CSR,
        "description": {"hostname": "n1", "os": "linux", "architecture": "x86_64", "nano_cpus": 2000000000_i64,
                        "memory_bytes": 1073741824_i64, "engine_version": "28.0.0", "plugins": [["Network", "bridge"]], "trust_root_pem": ""},
        "advertise_addr": "127.0.0.2",
        "listen_port": 2377,
        "availability": "active"
    })
}

/// Bodies of each call, built from the wire types themselves where they are simple, by hand
/// where a field is another module's (a node description, a raft vote).
fn seeds() -> Vec<Value> {
    let description = join()["description"].clone();
    let raft_vote = json!({"leader_id": {"term": 3, "node_id": 1}, "committed": true});
    vec![
        join(),
        json!({"Heartbeat": {"description": description, "policy_version": 4}}),
        json!({"Renew": {"csr_pem": CSR}}),
        json!("RaftJoin"),
        json!({"Assignments": {"node": "abcdefghijklmnopqrstuvwxy", "known": 7}}),
        json!({"TaskFiles": {"task_id": "t1"}}),
        json!({"AttachableNetwork": {"reference": "dbnet"}}),
        json!({"AttachContainer": {"network_id": "n1", "container_id": "abc123", "names": ["box", "alias"], "ipv4": "10.0.1.9", "run": "0a1b"}}),
        json!({"DetachContainer": {"container_id": "abc123"}}),
        json!({"Attached": "10.0.1.9/24"}),
        json!({"LogPublish": {"subscription": "s", "task_id": "t1", "lines": [[1, "hello"], [2, "err"]], "ended": false}}),
        json!({"TaskReports": {"reports": [{"task_id": "t1", "status": {"state": "Running", "timestamp": "2024-01-01T00:00:00Z",
            "message": "", "err": "", "container_id": "c", "pid": 1, "exit_code": null}}]}}),
        json!("Summary"),
        json!({"NodeUpdate": {"reference": "n1", "version": 3, "spec": {"name": "", "labels": {"a": "b"}, "role": "manager", "availability": "drain"}}}),
        json!({"SecretCreate": {"name": "pw", "labels": {}, "data": "czNjcjN0"}}),
        json!({"SecretUpdate": {"reference": "pw", "version": 2, "name": "pw", "labels": {"a": "b"}}}),
        json!({"ConfigUpdate": {"reference": "app", "version": 2, "name": "app", "labels": {}, "data": "czNjcjN0"}}),
        json!({"PolicySet": {"text": "mode = \"audit\"\n"}}),
        json!({"NetworkCreate": {"name": "dbnet", "labels": {}, "attachable": false, "subnet": "10.0.1.0/24", "gateway": null, "encrypted": true}}),
        json!({"NetworkRemove": {"reference": "dbnet"}}),
        // What a worker parses: its assignments, with an overlay network and its key.
        json!({"Assignments": {"version": 9, "tasks": [], "logs": [], "overlay": {"networks": [{"id": "n1", "name": "dbnet", "vni": 4097,
            "subnet": "10.0.1.0/24", "gateway": "10.0.1.1", "keys": [{"generation": 2, "key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}],
            "peers": [{"node_id": "abcdefghijklmnopqrstuvwxy", "addr": "127.0.0.3"}],
            "attachments": [{"task_id": "t1", "addr": "10.0.1.3", "mac": "02:42:0a:00:01:03"}],
            "containers": [{"names": ["box"], "addr": "10.0.1.9"}]}]}}}),
        json!({"LogsOpen": {"reference": "web", "task": false, "follow": true, "tail": 10}}),
        json!({"LogsNext": {"subscription": "s", "cursor": 0}}),
        json!({"Join": {"request": join(), "peer_ip": "127.0.0.9"}}),
        json!({"Node": {"peer_cert_der": [48, 130, 1, 0], "call": "RaftLeave"}}),
        json!({"Vote": {"vote": raft_vote, "last_log_id": {"leader_id": {"term": 3, "node_id": 1}, "index": 9}}}),
        json!({"AppendEntries": {"vote": raft_vote, "prev_log_id": null, "entries": [], "leader_commit": null}}),
    ]
}

/// Every body type the cluster port reads, on every document: no panic, bounded allocation.
/// The seeds themselves must parse as something, or the generator tests nothing.
#[test]
fn fuzz_cluster_rpc_bodies() {
    let parses = |bytes: &[u8]| -> usize {
        usize::from(serde_json::from_slice::<JoinCertRequest>(bytes).is_ok())
            + usize::from(serde_json::from_slice::<NodeCall>(bytes).is_ok())
            + usize::from(serde_json::from_slice::<ControlCall>(bytes).is_ok_and(|c| c.is_read() || !c.is_read()))
            + usize::from(serde_json::from_slice::<ControlReply>(bytes).is_ok())
            + usize::from(RaftRpc::decode(bytes).is_ok())
    };
    for seed in seeds() {
        assert!(parses(&serde_json::to_vec(&seed).unwrap()) > 0, "seed parses as nothing: {seed}");
    }
    fuzz_cases("cluster_rpc_bodies", 256, documents(seeds()), |bytes| {
        bounded(bytes.len(), || parses(&bytes))?;
        Ok(())
    });
}
