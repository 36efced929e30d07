//! The mesh as the API shows it: the core's status in Weave's report shapes, joined with what
//! the shell knows of each connection (the overlay's attributes and switches, the kernel's RTT).

use crate::overlay::switch::OverlayStatus;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use weave_api::{BroadcastRoute, LocalConnectionStatus, PeerConnectionStatus, PeerStatus, UnicastRoute};
use weave_mesh::{ConnId, MeshStatus, TargetState};
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
    /// The kernel's smoothed RTT of each connected peer's TCP connection, kept current by
    /// the connection (not only when the snapshot is made).
    pub rtts: BTreeMap<PeerName, Rtt>,
}

/// The kernel's RTT of one connection: written by its connection task, read by the API.
#[derive(Debug, Clone, Default)]
pub struct Rtt(Arc<AtomicU64>);

impl Rtt {
    pub fn set(&self, rtt: Duration) {
        // At least 1 µs: 0 means "not measured".
        self.0.store((rtt.as_micros() as u64).max(1), Ordering::Relaxed);
    }

    /// The last measurement, if any.
    pub fn get(&self) -> Option<Duration> {
        Some(self.0.load(Ordering::Relaxed)).filter(|us| *us > 0).map(Duration::from_micros)
    }
}

/// What the shell knows about one connection beyond the mesh core.
#[derive(Debug, Clone, Default)]
pub struct ConnView {
    /// The overlay's attributes (`name`, `mtu`, ...), as Weave's report shows them.
    pub attrs: BTreeMap<String, serde_json::Value>,
    pub overlay: Option<OverlayStatus>,
    pub rtt: Option<Rtt>,
}

impl MeshSnapshot {
    /// `password`: whether connections may be encrypted (`--password`), which their status
    /// says. `now` and `wall` are the same moment, to show when targets are retried.
    pub fn new(
        m: MeshStatus,
        password: bool,
        conn: impl Fn(ConnId) -> Option<ConnView>,
        now: Instant,
        wall: SystemTime,
    ) -> MeshSnapshot {
        let nicks: BTreeMap<PeerName, &str> = m.peers.iter().map(|p| (p.name, p.nickname.as_str())).collect();
        let nick = |name: &PeerName| nicks.get(name).copied().unwrap_or_default().to_string();
        let peers = m
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
        let unicast_routes = m
            .routes
            .unicast
            .iter()
            .map(|(dest, via)| UnicastRoute { dest: dest.to_string(), via: via.to_string() })
            .collect();
        let broadcast_routes = m
            .routes
            .broadcast
            .iter()
            .map(|(src, via)| BroadcastRoute {
                source: src.to_string(),
                via: via.iter().map(|n| n.to_string()).collect(),
            })
            .collect();

        let mut connections = Vec::new();
        let mut overlays = BTreeMap::new();
        let mut rtts = BTreeMap::new();
        for c in &m.connections {
            let view = conn(c.id).unwrap_or_default();
            let remote = c.remote;
            if let Some(o) = view.overlay {
                overlays.insert(remote, o);
            }
            if let Some(rtt) = view.rtt {
                rtts.insert(remote, rtt);
            }
            let mut attrs = view.attrs;
            let overlay = attrs.get("name").and_then(|v| v.as_str()).unwrap_or("none").to_string();
            let mut info = format!("{overlay:<6} {remote}({})", nick(&remote));
            if password {
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
                address: c.address.clone(),
                outbound: c.outbound,
                state: if c.established { "established" } else { "pending" }.into(),
                info,
                attrs: (!attrs.is_empty()).then_some(attrs),
            });
        }
        for t in &m.targets {
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
                address: t.address.clone(),
                outbound: true,
                state: state.into(),
                info,
                attrs: None,
            });
        }
        let us = &m.ourself;
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
            targets: m.direct_peers,
            termination_count: m.termination_count,
            overlays,
            rtts,
        }
    }
}
