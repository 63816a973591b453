//! A Go binary built by Debian's golang toolchain is detected with its module versions (the
//! build info embedded in the binary), and matched against Go advisories, stdlib included.
//! The dependency comes from a file-system module proxy made here, so nothing is fetched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use common::*;
use palisade_scan::{Ecosystem, Scanner};

fn go_version() -> String {
    let out = Command::new("go").args(["env", "GOVERSION"]).output().expect("go must be installed (golang-go; scripts/test installs it)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `example.com/vulnlib@v1.2.3` in GOPROXY file layout.
fn module_proxy(dir: &Path) {
    let at = dir.join("example.com/vulnlib/@v");
    std::fs::create_dir_all(&at).unwrap();
    std::fs::write(at.join("list"), "v1.2.3\n").unwrap();
    std::fs::write(at.join("v1.2.3.info"), r#"{"Version":"v1.2.3","Time":"2023-01-01T00:00:00Z"}"#).unwrap();
    let gomod = "module example.com/vulnlib\n\ngo 1.19\n";
    std::fs::write(at.join("v1.2.3.mod"), gomod).unwrap();
    let mut z = zip::ZipWriter::new(std::fs::File::create(at.join("v1.2.3.zip")).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("example.com/vulnlib@v1.2.3/go.mod", opts).unwrap();
    z.write_all(gomod.as_bytes()).unwrap();
    z.start_file("example.com/vulnlib@v1.2.3/lib.go", opts).unwrap();
    z.write_all(b"package vulnlib\n\nfunc Hello() string { return \"hello\" }\n").unwrap();
    z.finish().unwrap();
}

#[test]
fn go_binary_modules_and_stdlib() {
    let dir = tmp();
    let proxy = dir.path().join("proxy");
    module_proxy(&proxy);
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("go.mod"), "module example.com/app\n\ngo 1.19\n\nrequire example.com/vulnlib v1.2.3\n").unwrap();
    std::fs::write(src.join("main.go"), "package main\n\nimport (\n\t\"fmt\"\n\t\"example.com/vulnlib\"\n)\n\nfunc main() { fmt.Println(vulnlib.Hello()) }\n").unwrap();
    let out = Command::new("go")
        .args(["build", "-mod=mod", "-o", "app", "."])
        .current_dir(&src)
        .env("GOPROXY", format!("file://{}", proxy.display()))
        .env("GOSUMDB", "off")
        .env("GOFLAGS", "")
        .env("GOPATH", dir.path().join("gopath"))
        .env("GOCACHE", dir.path().join("gocache"))
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "go build: {}", String::from_utf8_lossy(&out.stderr));
    let binary = std::fs::read(src.join("app")).unwrap();
    let go = go_version();
    let stdlib = palisade_scan::version::go_toolchain_version(&go);

    let layer = LayerBuilder::new().file_mode("usr/local/bin/app", &binary, 0o755).file("usr/local/bin/not-elf", b"#!/bin/sh\n").tar();
    let archive = path(&dir, "image.tar");
    let ids = docker_archive(&archive, &[layer]);
    let inv = Scanner::new().archive(&archive).unwrap();
    let got: Vec<(Ecosystem, &str, &str)> = inv.packages.iter().map(|p| (p.ecosystem, p.name.as_str(), p.version.as_str())).collect();
    assert_eq!(got, [(Ecosystem::Go, "example.com/vulnlib", "v1.2.3"), (Ecosystem::Go, "stdlib", stdlib.as_str())]);
    assert!(inv.packages.iter().all(|p| p.location.path == "/usr/local/bin/app" && p.location.layer == ids[0]));

    let (major_minor, patch) = stdlib.rsplit_once('.').unwrap();
    let next = format!("{major_minor}.{}", patch.parse::<u32>().unwrap() + 1);
    let db = db_with(
        dir.path(),
        &[
            osv("GO-ABOVE", "Go", "example.com/vulnlib", &[("introduced", "0"), ("fixed", "1.2.4")]),
            osv("GO-EQUAL", "Go", "example.com/vulnlib", &[("introduced", "0"), ("fixed", "1.2.3")]),
            osv("GO-STDLIB", "Go", "stdlib", &[("introduced", "0"), ("fixed", &next)]),
            osv("GO-STDLIB-OLD", "Go", "stdlib", &[("introduced", "0"), ("fixed", "1.18.0")]),
        ],
    );
    let r = scan_archive(&archive, &db);
    assert_eq!(found(&r), set(&[("GO-ABOVE", "example.com/vulnlib"), ("GO-STDLIB", "stdlib")]), "{:#?}", r.findings);
}
