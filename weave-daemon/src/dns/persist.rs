//! This peer's own live names, kept in `<data-dir>/dns-entries.json` so a restarted daemon
//! (crash, `weave stop` then `weave launch`) still answers for the targets that stayed attached,
//! instead of tombstoning its own entries when the other peers gossip them back. Targets that
//! went away meanwhile lose their names at the next death check.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use weave_dns::Nameserver;

/// The file's name under the data directory (removed by `weave reset`).
pub const FILE: &str = "dns-entries.json";

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

/// Writes atomically (temporary file, then rename).
pub fn save(path: &Path, entries: &[Saved]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(entries)?)?;
    std::fs::rename(&tmp, path)
}

/// What was saved; nothing when the file is missing. A damaged file is reported and ignored
/// (names are re-registered by the next attach or `dns-add`).
pub fn load(path: &Path) -> Vec<Saved> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return vec![],
        Err(e) => {
            tracing::warn!("reading {}: {e}", path.display());
            return vec![];
        }
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        tracing::warn!("ignoring {}: {e}", path.display());
        vec![]
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
        assert!(load(&p).is_empty());
        let saved = vec![Saved {
            hostname: "a.weave.local.".into(),
            container_id: "netns:a".into(),
            addr: Ipv4Addr::new(10, 0, 0, 1),
        }];
        save(&p, &saved).unwrap();
        assert_eq!(load(&p), saved);
        std::fs::write(&p, b"{broken").unwrap();
        assert!(load(&p).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
