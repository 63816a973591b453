//! Java archives: `pom.properties` (groupId:artifactId), a manifest's Implementation-* fields,
//! jars inside jars; matched with Maven version ordering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;

use common::*;
use palisade_scan::{Ecosystem, Scanner};

fn jar(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        z.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

#[test]
fn jars_and_nested_jars() {
    let inner = jar(&[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\nImplementation-Vendor-Id: org.yaml\nImplementation-Title: snakeyaml\nImplementation-Version: 1.33\n".to_vec())]);
    let outer = jar(&[
        ("META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties", b"groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n".to_vec()),
        ("BOOT-INF/lib/snakeyaml-1.33.jar", inner),
    ]);
    let layer = LayerBuilder::new().file("app/app.jar", &outer).file("app/not-a-jar.jar", b"plain text").tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let inv = Scanner::new().archive(&archive).unwrap();
    let got: Vec<(Ecosystem, &str, &str, &str)> =
        inv.packages.iter().map(|p| (p.ecosystem, p.name.as_str(), p.version.as_str(), p.location.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (Ecosystem::Maven, "org.apache.logging.log4j:log4j-core", "2.14.1", "/app/app.jar"),
            (Ecosystem::Maven, "org.yaml:snakeyaml", "1.33", "/app/app.jar!/BOOT-INF/lib/snakeyaml-1.33.jar"),
        ]
    );
    let db = db_with(
        dir.path(),
        &[
            osv("LOG4SHELL", "Maven", "org.apache.logging.log4j:log4j-core", &[("introduced", "2.0-beta9"), ("fixed", "2.15.0")]),
            osv("YAML-FIXED", "Maven", "org.yaml:snakeyaml", &[("introduced", "0"), ("fixed", "1.32")]),
            osv("YAML-OPEN", "Maven", "org.yaml:snakeyaml", &[("introduced", "0"), ("fixed", "2.0")]),
        ],
    );
    let r = scan_archive(&archive, &db);
    assert_eq!(found(&r), set(&[("LOG4SHELL", "org.apache.logging.log4j:log4j-core"), ("YAML-OPEN", "org.yaml:snakeyaml")]));
}
