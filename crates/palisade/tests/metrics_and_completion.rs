//! Observability: `palisade up --metrics-addr` serves Prometheus metrics of the engine, the
//! registry and the trust server on a listener of its own, read back with the Prometheus
//! project's OpenMetrics parser (`prometheus_client`) after real traffic from the docker CLI,
//! skopeo and notary. And `palisade completion`: the scripts load in bash, zsh and fish and
//! complete the verbs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "registry_support.rs"]
#[allow(unused_macros)]
mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{free_port, stderr, stdout, Up, PALISADE};
use support::{build_image, skopeo};

/// Parses OpenMetrics text with prometheus_client; returns `(name, labels, value)` per sample.
fn parse(text: &str) -> Vec<(String, serde_json::Value, f64)> {
    let script = "import sys, json\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        out = [[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\n\
        print(json.dumps(out))";
    let mut child = Command::new("python3").args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "prometheus_client refused the exposition: {}\n{text}", stderr(&out));
    let samples: Vec<(String, serde_json::Value, f64)> = serde_json::from_slice(&out.stdout).unwrap();
    samples
}

#[test]
fn up_serves_prometheus_metrics_of_its_three_servers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let up = Up::start_with(&data, &["--metrics-addr", &metrics_addr]);
    let banner = up.lines.iter().find(|l| l.contains("Metrics:")).unwrap();
    assert!(banner.contains(&format!("http://{metrics_addr}/metrics")), "{banner}");

    // Traffic: the docker CLI, a skopeo push, a notary listing.
    let out = up.docker(&["ps", "-a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = up.docker(&["inspect", "no-such-container"]);
    assert!(!out.status.success());
    let ca = data.join("node/root-ca.crt");
    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, certs.path().join("ca.crt")).unwrap();
    let image = build_image("m1");
    let (ok, err) = skopeo(&[
        "copy",
        "--dest-cert-dir",
        certs.path().to_str().unwrap(),
        "--dest-creds",
        &format!("admin:{}", up.password()),
        &format!("oci:{}:m1", image.layout().display()),
        &format!("docker://{}/metrics/app:m1", up.registry()),
    ]);
    assert!(ok, "{err}");
    let out = Command::new("curl").args(["-s", "--cacert", ca.to_str().unwrap(), &format!("{}/v2/", up.trust_url())]).output().unwrap();
    assert!(out.status.success());

    let out = Command::new("curl").args(["-s", "-D", "-", &format!("http://{metrics_addr}/metrics")]).output().unwrap();
    let response = stdout(&out);
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.to_lowercase().contains("content-type: application/openmetrics-text"), "{head}");
    let samples = parse(body);
    let value = |name: &str, want: &[(&str, &str)]| -> Option<f64> {
        samples
            .iter()
            .filter(|(n, labels, _)| n == name && want.iter().all(|(k, v)| labels[*k] == *v))
            .map(|(_, _, v)| *v)
            .reduce(|a, b| a + b)
    };
    let requests = "palisade_http_requests_total";
    assert!(value(requests, &[("server", "engine"), ("route", "/containers/json"), ("status", "200")]) >= Some(1.0), "{body}");
    assert!(value(requests, &[("server", "engine"), ("route", "/containers/{reference}/json"), ("status", "404")]) >= Some(1.0), "{body}");
    assert!(value(requests, &[("server", "registry"), ("route", "upload"), ("method", "PUT"), ("status", "201")]) >= Some(3.0), "{body}");
    assert!(value(requests, &[("server", "registry"), ("route", "manifest"), ("method", "PUT"), ("status", "201")]) >= Some(1.0), "{body}");
    assert!(value(requests, &[("server", "trust"), ("route", "base")]) >= Some(1.0), "{body}");
    assert!(value("palisade_http_request_duration_seconds_count", &[("server", "registry"), ("route", "manifest")]) >= Some(1.0), "{body}");
    assert_eq!(value("palisade_http_requests_in_flight", &[("server", "registry"), ("route", "upload")]), Some(0.0), "{body}");
    // Labels are route kinds, never client-chosen paths.
    assert!(!body.contains("metrics/app"), "a repository name leaked into a label: {body}");
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let expiry = value("palisade_node_certificate_expiry_timestamp_seconds", &[]).unwrap();
    assert!(expiry > now + 3600.0 && expiry < now + 400.0 * 86400.0, "{expiry}");
    assert!(value("palisade_registry_scan_queue_depth", &[]).is_some(), "{body}");
}

#[test]
fn completion_scripts_load_in_bash_zsh_and_fish_and_complete_the_verbs() {
    let script = |shell: &str| {
        let out = Command::new(PALISADE).args(["completion", shell]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("palisade.{shell}"));
        std::fs::write(&path, &out.stdout).unwrap();
        (dir, path)
    };
    // Called as bash's `complete -F` calls it: command, current word, previous word.
    let (_d, bash) = script("bash");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(". {}; COMP_WORDS=(palisade pol); COMP_CWORD=1; _palisade palisade pol palisade; echo \"${{COMPREPLY[@]}}\"", bash.display()))
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "policy", "bash: {}", stderr(&out));
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(". {}; COMP_WORDS=(palisade policy ''); COMP_CWORD=2; _palisade palisade '' policy; echo \"${{COMPREPLY[@]}}\"", bash.display()))
        .output()
        .unwrap();
    let words = stdout(&out);
    for verb in ["set", "show", "test", "log"] {
        assert!(words.split_whitespace().any(|w| w == verb), "bash: {words}");
    }
    let (_d, fish) = script("fish");
    let out = Command::new("fish").arg("-c").arg(format!("source {}; complete -C 'palisade pol'", fish.display())).output().unwrap();
    assert!(stdout(&out).lines().any(|l| l.starts_with("policy")), "fish: {} {}", stdout(&out), stderr(&out));
    let (_d, zsh) = script("zsh");
    let out = Command::new("zsh").arg("-n").arg(&zsh).output().unwrap();
    assert!(out.status.success(), "zsh -n: {}", stderr(&out));
    assert!(std::fs::read_to_string(&zsh).unwrap().starts_with("#compdef palisade"));
    let out = Command::new(PALISADE).args(["completion", "tcsh"]).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("invalid value"), "{}", stderr(&out));
}
