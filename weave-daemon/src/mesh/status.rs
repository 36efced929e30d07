//! Snapshots of the mesh for the API and status views, in Weave's report shapes.

use super::core::Mesh;
use super::maker::TargetState;
use crate::overlay::switch::OverlayStatus;
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};
use weave_api::{BroadcastRoute, LocalConnectionStatus, PeerConnectionStatus, PeerStatus, UnicastRoute};
use weave_wire::PeerName;

/// What the API shows about the mesh at one moment.
#[derive(Debug, Clone, Default)]
pub struct MeshSnapshot {
    pub name: PeerName,
    pub nickname: String,
    pub uid: u64,
    pub short_id: u16,
    pub version: u64,
    pub peers: Vec<PeerStatus>,
    pub unicast_routes: Vec<UnicastRoute>,
    pub broadcast_routes: Vec<BroadcastRoute>,
    pub connections: Vec<LocalConnectionStatus>,
    pub targets: Vec<String>,
    pub termination_count: u64,
    /// The overlay switch's view of each connected peer's connection.
    pub overlays: BTreeMap<PeerName, OverlayStatus>,
}

impl Mesh {
    pub fn snapshot(&mut self, now: Instant, wall: SystemTime) -> MeshSnapshot {
        self.ensure_routes();
        let nick = |name: &PeerName| self.peers.get(name).map(|p| p.nickname.clone()).unwrap_or_default();
        let peers = self
            .peers
            .iter()
            .map(|p| PeerStatus {
                name: p.name.to_string(),
                nick_name: p.nickname.clone(),
                uid: p.uid,
                short_id: p.short_id,
                version: p.version,
                connections: p
                    .conns
                    .iter()
                    .map(|(remote, c)| PeerConnectionStatus {
                        name: remote.to_string(),
                        nick_name: nick(remote),
                        address: c.remote_tcp_addr.clone(),
                        outbound: c.outbound,
                        established: c.established,
                    })
                    .collect(),
            })
            .collect();
        let unicast_routes = self
            .routes
            .unicast
            .iter()
            .map(|(dest, via)| UnicastRoute { dest: dest.to_string(), via: via.to_string() })
            .collect();
        let sources: Vec<PeerName> = self.routes.unicast.keys().copied().collect();
        let broadcast_routes = sources
            .into_iter()
            .map(|src| BroadcastRoute {
                source: src.to_string(),
                via: self.routes.broadcast(&self.peers, src).iter().map(|n| n.to_string()).collect(),
            })
            .collect();

        let mut connections = Vec::new();
        let mut overlays = BTreeMap::new();
        for c in self.conns.values().filter(|c| c.registered) {
            let remote = c.remote.expect("registered connections know their remote");
            if let Some(o) = &c.overlay {
                overlays.insert(remote, o.clone());
            }
            let mut attrs = c.attrs.clone();
            let overlay = attrs.get("name").and_then(|v| v.as_str()).unwrap_or("none").to_string();
            let mut info = format!("{overlay:<6} {remote}({})", nick(&remote));
            if self.cfg.password {
                if c.untrusted {
                    info = format!("{:<11} {info}", "encrypted");
                    if !attrs.is_empty() {
                        attrs.insert("encrypted".into(), true.into());
                    }
                } else {
                    info = format!("{:<11} {info}", "unencrypted");
                }
            }
            connections.push(LocalConnectionStatus {
                address: c.addr.clone(),
                outbound: c.outbound,
                state: if c.established { "established" } else { "pending" }.into(),
                info,
                attrs: (!attrs.is_empty()).then_some(attrs),
            });
        }
        for (address, t) in self.maker.targets() {
            let at = |i: Instant| {
                let wall_at = if i >= now { wall + (i - now) } else { wall - (now - i) };
                crate::timefmt::go_string(wall_at)
            };
            let until = t.try_after.map(at).unwrap_or_else(|| "never".into());
            let (state, info) = match (t.state, &t.last_error) {
                (TargetState::Waiting, None) => ("waiting", format!("until: {until}")),
                (TargetState::Waiting, Some(e)) => ("failed", format!("{e}, retry: {until}")),
                (TargetState::Attempting, None) => ("connecting", String::new()),
                (TargetState::Attempting, Some(e)) => ("retrying", e.clone()),
                _ => continue,
            };
            connections.push(LocalConnectionStatus {
                address: address.clone(),
                outbound: true,
                state: state.into(),
                info,
                attrs: None,
            });
        }
        let us = self.peers.ourself();
        MeshSnapshot {
            name: us.name,
            nickname: us.nickname.clone(),
            uid: us.uid,
            short_id: us.short_id,
            version: us.version,
            peers,
            unicast_routes,
            broadcast_routes,
            connections,
            targets: self.maker.direct_peers(false),
            termination_count: self.maker.termination_count,
            overlays,
        }
    }
}
