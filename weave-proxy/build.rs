//! Builds weavewait (`../weavewait/src/main.rs`, standard library only) as a static executable
//! for the proxy to ship into containers: glibc's static libc with
//! `-C target-feature=+crt-static`, so it runs in any image (busybox, scratch). The proxy
//! embeds the result ([`weavewait::BINARY`]).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"))
        .join("../weavewait/src/main.rs");
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("weavewait");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET").expect("TARGET");
    let status = Command::new(&rustc)
        .args(["--edition", "2021", "--crate-name", "weavewait", "--crate-type", "bin"])
        .args(["--target", &target])
        .args(["-C", "opt-level=s", "-C", "panic=abort", "-C", "strip=symbols"])
        .args(["-C", "target-feature=+crt-static", "-C", "debuginfo=0"])
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("running {rustc} to build weavewait: {e}"));
    assert!(
        status.success(),
        "building weavewait statically failed ({status}); is glibc's libc.a installed?"
    );
}
