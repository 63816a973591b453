//! Link settings for the `palisade` binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Every `palisade` process, the CLI verbs included, starts by applying about 23 000
    // relative relocations (this is a position-independent executable). Packed as DT_RELR
    // they take 7 KB instead of 560 KB of RELA entries for the dynamic loader to read.
    // Needs binutils >= 2.38 and glibc >= 2.36 (Debian 12).
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("-linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
