//! This peer's own live names, kept in `<data-dir>/dns-entries.json` so a restarted daemon
//! (crash, `weave stop` then `weave launch`) still answers for the targets that stayed attached,
//! instead of tombstoning its own entries when the other peers gossip them back. Targets that
//! went away meanwhile lose their names at the next death check. Saves are flushed to disk
//! before they replace the old file; a damaged file is reported and kept aside, never ignored
//! or overwritten.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use weave_dns::Nameserver;

/// The file's name under the data directory (removed by `weave reset`).
pub const FILE: &str = "dns-entries.json";
/// Where a damaged file is moved (also removed by `weave reset`).
pub const DAMAGED: &str = "dns-entries.json.damaged";

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Saved {
    pub hostname: String,
    pub container_id: String,
    pub addr: Ipv4Addr,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Our live entries.
pub fn ours(ns: &Nameserver) -> Vec<Saved> {
    let us = ns.our_name();
    ns.entries()
        .iter()
        .filter(|e| e.origin == us && !e.is_tombstoned())
        .map(|e| Saved { hostname: e.hostname.clone(), container_id: e.container_id.clone(), addr: e.addr })
        .collect()
}

/// Writes atomically and durably: a temporary file, flushed to disk, renamed over the old one,
/// and the directory flushed so the rename survives a power cut.
pub fn save(path: &Path, entries: &[Saved]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let named = |op: &str, p: &Path, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{op} {}: {e}", p.display()))
    };
    let mut f = std::fs::File::create(&tmp).map_err(|e| named("create", &tmp, e))?;
    f.write_all(&serde_json::to_vec(entries)?).map_err(|e| named("write", &tmp, e))?;
    f.sync_all().map_err(|e| named("fsync", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| named("rename over", path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| named("fsync", dir, e))?;
    }
    Ok(())
}

/// What was saved; nothing when the file is missing. A damaged file is moved aside (to
/// `…json.damaged`, so the next save cannot overwrite what someone may want to read) and the
/// error says which file, what was wrong and what to do.
pub fn load(path: &Path) -> Result<Vec<Saved>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(format!("reading {}: {e}; this peer's DNS names were not restored", path.display()))
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        let aside = path.with_file_name(DAMAGED);
        let kept = match std::fs::rename(path, &aside) {
            Ok(()) => format!("it was moved to {}", aside.display()),
            Err(r) => format!("moving it aside failed ({r})"),
        };
        format!(
            "{} is damaged ({e}): this peer's DNS names were not restored and {kept}; \
             re-register them with `weave dns-add` (or re-attach the targets), then remove the damaged copy",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = std::env::temp_dir().join(format!("weave-dns-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = path(&dir);
        assert!(load(&p).unwrap().is_empty());
        let saved = vec![Saved {
            hostname: "a.weave.local.".into(),
            container_id: "netns:a".into(),
            addr: Ipv4Addr::new(10, 0, 0, 1),
        }];
        save(&p, &saved).unwrap();
        assert_eq!(load(&p).unwrap(), saved);
        assert!(!dir.join("dns-entries.json.tmp").exists());
        std::fs::write(&p, b"{broken").unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.contains(&p.display().to_string()) && e.contains("weave dns-add"), "{e}");
        // The damaged bytes are kept aside, and the next save does not touch them.
        assert_eq!(std::fs::read(dir.join("dns-entries.json.damaged")).unwrap(), b"{broken");
        assert!(load(&p).unwrap().is_empty());
        save(&p, &saved).unwrap();
        assert_eq!(std::fs::read(dir.join("dns-entries.json.damaged")).unwrap(), b"{broken");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
