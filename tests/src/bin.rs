//! Where the binaries under test are: the cargo target directory of this test executable.

use std::path::PathBuf;

/// `target/<profile>`, found from the running test executable (`target/<profile>/deps/...`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a directory");
    let dir = if deps.ends_with("deps") { deps.parent().expect("deps has a parent") } else { deps };
    dir.to_path_buf()
}

/// The path of a workspace binary; panics with the command to build it when missing.
pub fn binary(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`)",
        p.display()
    );
    p
}
