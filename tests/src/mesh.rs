//! Mesh-level conveniences: waiting for connections and peers as the API reports them.

use crate::cluster::Host;
use crate::wait::wait_for;
use std::time::Duration;
use weave_api::{Connection, Peer};

impl Host {
    /// `weave status connections -o json`.
    pub fn connections(&self) -> Result<Vec<Connection>, String> {
        let out = self.weave(&["status", "connections", "-o", "json"]);
        if !out.ok() {
            return Err(out.stderr.trim().to_string());
        }
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))
    }

    /// `weave status peers -o json`.
    pub fn peers(&self) -> Result<Vec<Peer>, String> {
        let out = self.weave(&["status", "peers", "-o", "json"]);
        if !out.ok() {
            return Err(out.stderr.trim().to_string());
        }
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))
    }

    /// Peer names this host has established connections to.
    pub fn established_peers(&self) -> Result<Vec<String>, String> {
        let mut v: Vec<String> = self
            .connections()?
            .into_iter()
            .filter(|c| c.state == "established")
            .filter_map(|c| c.peer)
            .collect();
        v.sort();
        Ok(v)
    }

    /// Waits until this host's established connections go to exactly `peers`.
    pub fn wait_established_to(&self, peers: &[&Host], timeout: Duration) {
        let mut want: Vec<String> = peers.iter().map(|h| h.peer_name()).collect();
        want.sort();
        wait_for(&format!("{} established to {want:?}", self.nickname()), timeout, || {
            let got = self.established_peers()?;
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        });
    }

    /// Waits until the daemon here answers and is ready.
    pub fn wait_ready(&self) {
        wait_for(&format!("{} ready", self.nickname()), Duration::from_secs(20), || {
            self.status().and_then(|s| if s.ready { Ok(()) } else { Err("not ready".into()) })
        });
    }
}
