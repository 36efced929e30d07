//! `weave setup-cni`: installs the CNI plugins `weave-net` and `weave-ipam` and the network
//! configuration `10-weave.conflist`, as Weave's; `weave reset` takes them away again.
//!
//! The configuration declares cniVersion 1.0.0 and no `cniVersions` list: runtimes of today
//! (podman 4.3's libcni) refuse a 1.1.0 configuration, and a newer runtime that picked 1.1.0
//! from a list would also hand it to portmap, which may not speak it. The plugins themselves
//! answer 1.1.0 to a runtime whose configuration asks for it.

use crate::output::{CmdResult, Failure};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const CONFLIST: &str = "10-weave.conflist";
pub const PLUGINS: [&str; 2] = ["weave-net", "weave-ipam"];

/// The network `weave`: weave-net, then portmap for published ports (as Weave's).
pub fn conflist() -> serde_json::Value {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "weave",
        "plugins": [
            {"name": "weave", "type": "weave-net", "hairpinMode": true},
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
        ]
    })
}

pub fn setup(bin_dir: &Path, conf_dir: &Path) -> CmdResult {
    for plugin in PLUGINS {
        let src = super::launch::sibling_binary(plugin)?;
        install_file(&src, &bin_dir.join(plugin), 0o755)?;
    }
    let conf = conf_dir.join(CONFLIST);
    if conf.exists() {
        // An administrator's edits (or Weave Net's own file, which works as well) are kept.
        eprintln!("weave: kept the existing {} (remove it to get weave's default)", conf.display());
        return Ok(());
    }
    let text = serde_json::to_string_pretty(&conflist()).expect("a JSON value serialises") + "\n";
    write_atomic(&conf, text.as_bytes(), 0o644)
}

/// Removes what `setup` installed; what is already gone is fine.
pub fn remove(bin_dir: &Path, conf_dir: &Path) -> CmdResult {
    let mut failures = Vec::new();
    let files = PLUGINS.iter().map(|p| bin_dir.join(p)).chain([conf_dir.join(CONFLIST)]);
    for f in files {
        match std::fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => failures.push(format!("remove {}: {e}", f.display())),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(failures.join("; ")))
    }
}

fn install_file(src: &Path, dst: &Path, mode: u32) -> CmdResult {
    let bytes = std::fs::read(src).map_err(|e| Failure::new(format!("read {}: {e}", src.display())))?;
    write_atomic(dst, &bytes, mode)
}

/// Writes beside `dst` and renames over it, so a runtime running the old plugin meanwhile
/// never sees half a file (and a running binary is replaced, not overwritten).
fn write_atomic(dst: &Path, bytes: &[u8], mode: u32) -> CmdResult {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = dst.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Failure::new(format!("create {}: {e}", dir.display())))?;
    let name = dst.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dst)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::new(format!("install {}: {e}", dst.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conflist_is_weaves_with_a_version_podman_accepts() {
        let c = conflist();
        assert_eq!(c["name"], "weave");
        assert_eq!(c["cniVersion"], "1.0.0");
        assert!(c.get("cniVersions").is_none());
        assert_eq!(c["plugins"][0]["type"], "weave-net");
        assert_eq!(c["plugins"][1]["type"], "portmap");
        assert_eq!(c["plugins"][1]["capabilities"]["portMappings"], true);
    }

    #[test]
    fn files_are_replaced_whole_and_removed_quietly() {
        let dir = std::env::temp_dir().join(format!("weave-cni-test-{}", std::process::id()));
        let f = dir.join("bin").join("weave-net");
        write_atomic(&f, b"one", 0o755).unwrap();
        write_atomic(&f, b"two", 0o755).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(dir.join("bin")).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        remove(&dir.join("bin"), &dir.join("conf")).unwrap();
        assert!(!f.exists());
        remove(&dir.join("bin"), &dir.join("conf")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
