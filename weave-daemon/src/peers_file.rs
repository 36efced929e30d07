//! `--peers-file`: the Kubernetes-style launch, as Weave's weave-kube. The peers come from a
//! file that something else keeps current (a DaemonSet's sidecar writing the node list, a
//! mounted ConfigMap), one `HOST` or `HOST:PORT` per line, `#` comments; the daemon reads it at
//! start and re-reads it when it changes, replacing its connection targets with its contents
//! (as `weave connect --replace`). IPAM's quorum is fixed at start from the list, as weave-kube
//! passes `--ipalloc-init consensus=<number of peers>`: the list names every node, this one too.
//!
//! The file is polled rather than watched with inotify: ConfigMap volumes and `mv` replace the
//! file (a new inode), which a watch on the old one would miss; one small read a few seconds
//! apart costs nothing.

use crate::mesh::router::MeshHandle;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the file is read again.
pub const RECHECK: Duration = Duration::from_secs(2);

/// The peers in `text`, each checked as a PEER argument; an error names the line.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut peers = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        for word in line.split_whitespace() {
            let p =
                crate::config::parse_peer_addr(word).map_err(|e| format!("line {}: {word:?}: {e}", n + 1))?;
            if !peers.contains(&p) {
                peers.push(p);
            }
        }
    }
    Ok(peers)
}

/// Reads and parses the file; errors name it.
pub fn read(path: &Path) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read --peers-file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("--peers-file {}: {e}", path.display()))
}

/// Re-reads `path` until `stop`, replacing the connection targets whenever its peers change.
/// A file that vanishes or goes bad keeps the targets as they were (and says so once).
pub async fn watch(path: PathBuf, mut current: Vec<String>, mesh: MeshHandle, stop: CancellationToken) {
    let mut tick = tokio::time::interval(RECHECK);
    let mut complained = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let p = path.clone();
        let read = tokio::task::spawn_blocking(move || read(&p)).await.unwrap_or_else(|e| Err(e.to_string()));
        match read {
            Ok(peers) => {
                complained = false;
                if peers != current {
                    tracing::info!(?peers, file = %path.display(), "peers file changed - replacing connection targets");
                    for e in mesh.connect(&peers, true).await {
                        tracing::warn!(file = %path.display(), "peer from the peers file: {e}");
                    }
                    current = peers;
                }
            }
            Err(e) if !complained => {
                tracing::warn!("{e}; keeping the connection targets {current:?}");
                complained = true;
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_peer_per_word_with_comments() {
        let text = "# nodes\n10.0.0.1\n10.0.0.2:6783  node3.example # the third\n\n10.0.0.1\n";
        assert_eq!(parse(text).unwrap(), ["10.0.0.1", "10.0.0.2:6783", "node3.example"]);
        assert_eq!(parse("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_bad_entry_names_its_line() {
        let e = parse("10.0.0.1\n10.0.0.2:0\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("10.0.0.2:0"), "{e}");
        assert!(read(Path::new("/nonexistent/peers")).unwrap_err().contains("/nonexistent/peers"));
    }
}
