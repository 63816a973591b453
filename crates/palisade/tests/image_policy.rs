//! The cluster's image policy, end to end: `palisade up` (manager, registry, trust server, scan
//! on push) and a worker that joined it, driven with the docker CLI, skopeo, notary and the
//! `palisade policy` verbs. One cluster, in the order an operator meets it:
//!
//! * `policy test` explains, rule by rule, a signed, an unsigned and a vulnerable image;
//! * `service create` of the signed image runs it pinned to the signed digest; the unsigned and
//!   the vulnerable ones are refused with the rule's name, and nothing is created;
//! * moving the tag to unsigned content changes nothing: a rescheduled task runs the digest;
//! * `docker run` of the unsigned image is refused on the manager and on the worker, whatever
//!   `DOCKER_CONTENT_TRUST` says;
//! * in audit mode the same images are allowed, with a warning, and recorded in the log;
//! * when enforcement returns, a task rescheduled from a spec the manager admitted under the
//!   audit (so no manager check stands between the spec and the worker) is rejected by the
//!   worker itself, with the reason in `service ps`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "registry_support.rs"]
#[allow(unused_macros)]
mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{stderr, stdout, wait_for, Node, Up};
use support::{build_image, import_zlib_advisory, notary_as as notary, skopeo_push_image as push, vulnerable_alpine_image};

const CONVERGE: Duration = Duration::from_secs(90);

fn ok(out: Output, what: &str, log: &dyn Fn() -> String) -> String {
    assert!(out.status.success(), "{what} failed: {}\n--- log ---\n{}", stderr(&out), log());
    stdout(&out)
}

fn refused(out: Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} unexpectedly succeeded: {}", stdout(&out));
    stderr(&out)
}

/// The `docker service ps` rows of `service`: (state, error), newest first.
fn task_states(up: &Up, service: &str) -> Vec<(String, String)> {
    let out = up.docker(&["service", "ps", service, "--no-trunc", "--format", "{{.CurrentState}}|{{.Error}}"]);
    stdout(&out).lines().filter_map(|l| l.split_once('|')).map(|(s, e)| (s.to_owned(), e.to_owned())).collect()
}

/// The running container of `service`'s task on `node` (by the swarm label).
fn task_container(node: &Node, service: &str) -> Option<String> {
    let out = node.docker(&["ps", "-q", "--filter", &format!("label=com.docker.swarm.service.name={service}")]);
    stdout(&out).lines().next().map(str::to_owned)
}

#[test]
fn the_cluster_runs_only_what_its_policy_allows_checked_by_managers_and_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = Up::start(&data);
    let log = || up.log();
    // Public repositories: nodes pull and read trust data and scan results anonymously.
    let (status, body) = up.api("POST", "/api/v1/organisations", Some(serde_json::json!({"name": "apps"})));
    assert_eq!(status, 201, "{body}");
    for repo in ["apps/web", "apps/vuln", "apps/unsigned"] {
        let (status, body) = up.api("POST", "/api/v1/repositories", Some(serde_json::json!({"name": repo, "visibility": "public"})));
        assert_eq!(status, 201, "{repo}: {body}");
    }
    let ca = data.join("node/root-ca.crt");
    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    let (registry, trust) = (up.registry(), up.trust_url());
    let creds = format!("admin:{}", up.password());
    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, certs.path().join("ca.crt")).unwrap();

    // The advisory database knows a fixable critical flaw in the Alpine zlib of one image.
    import_zlib_advisory(&data, &dir.path().join("osv"));

    // Three images: signed, signed but vulnerable, unsigned.
    let web = build_image("web");
    let vulnerable = vulnerable_alpine_image("vuln");
    let unsigned = build_image("unsigned");
    let web_digest = push(&web, "web", &format!("{registry}/apps/web:v1"), certs.path(), &creds);
    let vuln_digest = push(&vulnerable, "vuln", &format!("{registry}/apps/vuln:v1"), certs.path(), &creds);
    let unsigned_digest = push(&unsigned, "unsigned", &format!("{registry}/apps/unsigned:v1"), certs.path(), &creds);
    assert_eq!(web_digest, web.manifest_digest, "skopeo pushed the manifest as built");

    // Sign web:v1 and vuln:v1 with notary (the repository key signs `targets`).
    let trust_dir = tempfile::tempdir().unwrap();
    for (repo, image, digest) in [("apps/web", &web, &web_digest), ("apps/vuln", &vulnerable, &vuln_digest)] {
        let gun = format!("{registry}/{repo}");
        let size = image.blob(digest).len().to_string();
        notary(trust_dir.path(), &trust, &ca, &creds, &["init", &gun, "-p"]);
        notary(trust_dir.path(), &trust, &ca, &creds, &["addhash", &gun, "v1", &size, "--sha256", digest.trim_start_matches("sha256:"), "-p"]);
    }
    let keys = notary(trust_dir.path(), &trust, &ca, &creds, &["key", "list"]);
    let roots: Vec<&str> = keys.lines().filter(|l| l.trim_start().starts_with("root")).collect();
    assert_eq!(roots.len(), 1, "notary signs both repositories with one root key: {keys}");
    let root_key = roots[0].split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(root_key.len(), 64, "{keys}");

    // A worker joins; tasks are placed on it.
    let worker = Node::start();
    worker.trust_registry_ca(&registry, &ca_pem);
    let token = ok(up.docker(&["swarm", "join-token", "-q", "worker"]), "join-token", &log).trim().to_owned();
    let manager = up.field("Cluster port:");
    let out = worker.join(&token, &manager);
    assert!(out.status.success(), "join: {}", stderr(&out));

    // `palisade up` started in audit mode; the operator now enforces signatures and scans.
    let shipped = ok(up.palisade(&["policy", "show"]), "policy show", &log);
    assert!(shipped.contains("mode = \"audit\""), "{shipped}");
    let banner = up.lines.iter().find(|l| l.contains("Image policy:")).unwrap();
    assert!(banner.contains("only audits") && banner.contains("palisade policy set FILE"), "{banner}");
    let policy = |mode: &str| {
        format!(
            "[[rule]]\nname = \"signed\"\nimages = [\"{registry}/apps/**\"]\nmode = \"{mode}\"\n\
             [rule.signatures]\nroot_keys = [\"{root_key}\"]\nserver = \"{trust}\"\n\n\
             [[rule]]\nname = \"no-critical\"\nimages = [\"{registry}/apps/**\"]\nmode = \"{mode}\"\n\
             [rule.vulnerabilities]\nrefuse = \"critical\"\nmax_age = \"1h\"\n"
        )
    };
    let set = |text: &str| {
        let file = common::write(dir.path(), "policy.toml", text);
        ok(up.palisade(&["policy", "set", file.to_str().unwrap()]), "policy set", &log)
    };
    // A bad document is refused whole and changes nothing.
    let bad = common::write(dir.path(), "bad.toml", "[[rule]]\nname = \"x\"\nimages = [\"*\"]\n[rule.signatures]\nroot_keys = []\n");
    let err = refused(up.palisade(&["policy", "set", bad.to_str().unwrap()]), "a policy without root keys");
    assert!(err.contains("root_keys"), "{err}");
    assert_eq!(ok(up.palisade(&["policy", "show"]), "policy show", &log), shipped);
    set(&policy("enforce"));
    assert!(ok(up.palisade(&["policy", "show"]), "policy show", &log).contains(&root_key));

    // `policy test` says which rule decided and why.
    let test = |image: &str| up.palisade(&["policy", "test", image]);
    let signed_text = ok(test(&format!("{registry}/apps/web:v1")), "policy test of the signed image", &log);
    assert!(signed_text.contains(": allowed") && signed_text.contains(&format!("runs as {registry}/apps/web@{web_digest}")), "{signed_text}");
    assert!(signed_text.contains("rule \"signed\" (enforce): passes") && signed_text.contains("signed by targets"), "{signed_text}");
    let out = test(&format!("{registry}/apps/unsigned:v1"));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("rule \"signed\" (enforce): REFUSES") && text.contains("has no trust data"), "{text}");
    let out = test(&format!("{registry}/apps/vuln:v1"));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("rule \"signed\" (enforce): passes"), "{text}");
    assert!(text.contains("rule \"no-critical\" (enforce): REFUSES") && text.contains("FIXTURE-CRIT"), "{text}");

    // The signed image runs, pinned to its signed digest, on the worker. The CLI is told not
    // to pin it itself (it would, to the registry's digest, as name:tag@digest): the manager
    // pins what it judged.
    let image = |repo: &str| format!("{registry}/{repo}:v1");
    ok(
        up.docker(&["service", "create", "--no-resolve-image", "-d", "--name", "web", "--constraint", "node.role==worker", &image("apps/web"), "/bin/busybox", "sleep", "1000"]),
        "service create web",
        &log,
    );
    let pinned = format!("{registry}/apps/web@{web_digest}");
    let spec_image = ok(up.docker(&["service", "inspect", "web", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"]), "inspect", &log);
    assert_eq!(spec_image.trim(), pinned);
    wait_for(CONVERGE, "web running on the worker", || task_container(&worker, "web").is_some());

    // Unsigned and vulnerable images are refused with the rule's name; nothing is created.
    let err = refused(up.docker(&["service", "create", "-d", "--name", "bad", &image("apps/unsigned"), "sleep", "1"]), "unsigned service");
    assert!(err.contains("image policy: rule \"signed\" refuses") && err.contains("apps/unsigned"), "{err}");
    let err = refused(up.docker(&["service", "create", "-d", "--name", "vuln", &image("apps/vuln"), "sleep", "1"]), "vulnerable service");
    assert!(err.contains("rule \"no-critical\" refuses") && err.contains("FIXTURE-CRIT"), "{err}");
    let services = ok(up.docker(&["service", "ls", "--format", "{{.Name}}"]), "service ls", &log);
    assert_eq!(services.trim(), "web", "nothing else was created");

    // The tag moves to unsigned content; a rescheduled task still runs the signed digest.
    let moved = push(&unsigned, "unsigned", &format!("{registry}/apps/web:v1"), certs.path(), &creds);
    assert_eq!(moved, unsigned_digest);
    let first = task_container(&worker, "web").unwrap();
    worker.docker_ok(&["kill", &first]);
    wait_for(CONVERGE, "web rescheduled", || task_container(&worker, "web").is_some_and(|c| c != first));
    let second = task_container(&worker, "web").unwrap();
    let runs = worker.docker_ok(&["inspect", &second, "--format", "{{.Config.Image}}"]);
    assert_eq!(runs.trim(), pinned, "the rescheduled task runs the signed digest");

    // docker run of the unsigned image: refused on every node, whatever the client asks.
    let client_config = tempfile::tempdir().unwrap();
    for (name, host) in [("manager", up.host()), ("worker", worker.host())] {
        let out = Command::new("docker")
            .args(["-H", &host, "run", "--rm", &image("apps/unsigned"), "/bin/busybox", "true"])
            .env("DOCKER_CONTENT_TRUST", "0")
            .env("DOCKER_CONFIG", client_config.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = refused(out, &format!("docker run of the unsigned image on the {name}"));
        assert!(err.contains("image policy: rule \"signed\" refuses"), "{name}: {err}");
    }

    // Audit mode: the same images are allowed, with the warning, and recorded.
    set(&policy("audit"));
    let out = up.docker(&["service", "create", "-d", "--name", "vuln", "--constraint", "node.role==worker", &image("apps/vuln"), "/bin/busybox", "sleep", "1000"]);
    let warned = stderr(&out);
    assert!(out.status.success() && warned.contains("rule \"no-critical\" would refuse"), "{warned}");
    let unsigned_pinned = format!("{registry}/apps/unsigned@{unsigned_digest}");
    let out = up.docker(&["service", "create", "-d", "--name", "late", "--constraint", "node.role==worker", &unsigned_pinned, "/bin/busybox", "sleep", "1000"]);
    assert!(out.status.success() && stderr(&out).contains("rule \"signed\" would refuse"), "{}", stderr(&out));
    wait_for(CONVERGE, "late running on the worker", || task_container(&worker, "late").is_some());
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&ok(up.palisade(&["policy", "log", "--json"]), "policy log", &log)).unwrap();
    let has = |kind: &str, action: &str, text: &str| {
        entries.iter().any(|e| e["Kind"] == kind && e["Action"].as_str().unwrap().contains(action) && e["Message"].as_str().unwrap().contains(text))
    };
    assert!(has("refused", "service create bad", "rule \"signed\""), "{entries:#?}");
    assert!(has("audited", "service create vuln", "FIXTURE-CRIT"), "{entries:#?}");
    assert!(has("audited", "service create late", "rule \"signed\""), "{entries:#?}");
    assert!(has("changed", "policy set", "signed (audit)"), "{entries:#?}");

    // Enforcement returns. The worker judges what it is asked to run by itself: the task
    // rescheduled from `late` (admitted under the audit) is rejected on the worker.
    set(&policy("enforce"));
    let running = task_container(&worker, "late").unwrap();
    // The worker holds the new policy once a heartbeat delivered it.
    wait_for(CONVERGE, "the worker to hold the enforcing policy", || {
        let out = worker.docker(&["run", "--rm", &image("apps/vuln"), "/bin/busybox", "true"]);
        !out.status.success() && stderr(&out).contains("rule \"no-critical\" refuses")
    });
    worker.docker_ok(&["kill", &running]);
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let states = task_states(&up, "late");
        if states.iter().any(|(state, error)| state.starts_with("Rejected") && error.contains("image policy: rule \"signed\" refuses")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no rejected task of late: {states:?}\n--- worker log ---\n{}", worker.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(task_container(&worker, "late").is_none(), "no container of the unsigned image runs");
    let entries = ok(up.palisade(&["policy", "log", "--json"]), "policy log", &log);
    assert!(entries.contains("container create late."), "the worker's refusal is in the log: {entries}");

    // Named signers with a threshold: a delegation `targets/alice` signs web:v1 too.
    let gun = format!("{registry}/apps/web");
    let signers = |list: &str, threshold: usize| {
        format!(
            "[[rule]]\nname = \"signers\"\nimages = [\"{gun}\"]\n[rule.signatures]\nroot_keys = [\"{root_key}\"]\n\
             server = \"{trust}\"\nsigners = [{list}]\nthreshold = {threshold}\n"
        )
    };
    let web_v1 = format!("{gun}:v1");
    set(&signers("\"alice\"", 1));
    let out = test(&web_v1);
    let text = stdout(&out);
    assert!(out.status.code() == Some(1) && text.contains("signed by [targets] only; the rule needs 1 of [alice]"), "{text}");
    let keys_dir = tempfile::tempdir().unwrap();
    let (alice_key, alice_crt) = (keys_dir.path().join("alice.key"), keys_dir.path().join("alice.crt"));
    let (made, text) = common::openssl(
        &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", alice_key.to_str().unwrap(),
          "-out", alice_crt.to_str().unwrap(), "-days", "30", "-subj", "/CN=alice"],
        None,
    );
    assert!(made, "{text}");
    notary(trust_dir.path(), &trust, &ca, &creds, &["delegation", "add", &gun, "targets/alice", alice_crt.to_str().unwrap(), "--all-paths", "-p"]);
    notary(trust_dir.path(), &trust, &ca, &creds, &["key", "import", alice_key.to_str().unwrap(), "--role", "targets/alice", "--gun", &gun]);
    let size = web.blob(&web_digest).len().to_string();
    notary(trust_dir.path(), &trust, &ca, &creds, &["addhash", &gun, "v1", &size, "--sha256", web_digest.trim_start_matches("sha256:"), "--roles", "targets/alice", "-p"]);
    let text = ok(test(&web_v1), "policy test with alice's signature", &log);
    assert!(text.contains("signed by alice (1 of 1 required)"), "{text}");
    set(&signers("\"targets\", \"alice\"", 2));
    let text = ok(test(&web_v1), "policy test with two signers", &log);
    assert!(text.contains("signed by targets, alice (2 of 2 required)"), "{text}");
    set(&signers("\"alice\", \"bob\"", 2));
    let out = test(&web_v1);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    // Registries and digest pinning: judged from the reference alone.
    set(&format!("[[rule]]\nname = \"local-pinned\"\nimages = [\"**\"]\nregistries = [\"{registry}\"]\nrequire_digest = true\n"));
    let text = stdout(&test("busybox:latest"));
    assert!(text.contains("registry docker.io is not allowed") && text.contains("must name a digest"), "{text}");
    let text = stdout(&test(&web_v1));
    assert!(text.contains("refused") && text.contains("must name a digest") && !text.contains("is not allowed"), "{text}");
    let text = ok(test(&format!("{gun}@{web_digest}")), "policy test of a pinned local image", &log);
    assert!(text.contains(": allowed"), "{text}");

    // Whoever may push can sign with a root of their own; trust on first use would take it,
    // the pinned root does not.
    set(&policy("enforce"));
    let intruder = tempfile::tempdir().unwrap();
    let target = format!("{registry}/apps/unsigned");
    let size = unsigned.blob(&unsigned_digest).len().to_string();
    notary(intruder.path(), &trust, &ca, &creds, &["init", &target, "-p"]);
    notary(intruder.path(), &trust, &ca, &creds, &["addhash", &target, "v1", &size, "--sha256", unsigned_digest.trim_start_matches("sha256:"), "-p"]);
    let out = test(&format!("{target}:v1"));
    let text = stdout(&out);
    assert!(out.status.code() == Some(1) && text.contains("not signed by a pinned root key"), "{text}");
    let err = refused(up.docker(&["service", "create", "-d", "--name", "intruder", &format!("{target}:v1"), "sleep", "1"]), "a service signed by another root");
    assert!(err.contains("not signed by a pinned root key"), "{err}");

    // Leave no container behind: the daemons are killed when the test ends.
    ok(up.docker(&["service", "rm", "web", "vuln", "late"]), "service rm", &log);
    wait_for(CONVERGE, "the worker's task containers to go", || {
        stdout(&worker.docker(&["ps", "-aq", "--filter", "label=com.docker.swarm.service.name"])).trim().is_empty()
    });
}
