//! The mesh as the API shows it: the core's status in Weave's report shapes, joined with what
//! the shell knows of each connection (the overlay's attributes and switches, the kernel's RTT).

use crate::overlay::switch::OverlayStatus;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use weave_api::{BroadcastRoute, LocalConnectionStatus, PeerConnectionStatus, PeerStatus, UnicastRoute};
use weave_mesh::{ConnId, ConnectionStatus, MeshStatus, Peer, Routes, TargetState, TargetStatus};
use weave_wire::PeerName;

/// What the API shows about the mesh at one moment. The loop makes one after changes, so it
/// holds what the mesh and the connections share (pointers, mostly) and renders it (in work
/// that grows with the square of the peers, and for broadcast routes their cube) only when
/// something reads it.
#[derive(Debug, Clone, Default)]
pub struct MeshSnapshot {
    pub name: PeerName,
    pub nickname: String,
    pub uid: u64,
    pub short_id: u16,
    pub version: u64,
    topology: Vec<Arc<Peer>>,
    routes: Arc<Routes>,
    peers: OnceLock<Vec<PeerStatus>>,
    unicast_routes: OnceLock<Vec<UnicastRoute>>,
    broadcast_routes: OnceLock<Vec<BroadcastRoute>>,
    /// Our connections with the shell's view of each, and the connection maker's targets, as
    /// the mesh gave them; rendered into `connections` when read.
    raw_connections: Vec<(ConnectionStatus, ConnView)>,
    raw_targets: Vec<TargetStatus>,
    password: bool,
    /// The moment of the snapshot, monotonic and wall-clock: when targets are retried.
    at: Option<(Instant, SystemTime)>,
    connections: OnceLock<Vec<LocalConnectionStatus>>,
    pub targets: Vec<String>,
    pub termination_count: u64,
    /// The overlay switch's view of each connected peer's connection.
    pub overlays: BTreeMap<PeerName, Arc<OverlayStatus>>,
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

/// What the shell knows about one connection beyond the mesh core. Shared, so a snapshot
/// costs a few pointers per connection.
#[derive(Debug, Clone, Default)]
pub struct ConnView {
    /// The overlay's attributes (`name`, `mtu`, ...), as Weave's report shows them.
    pub attrs: Arc<BTreeMap<String, serde_json::Value>>,
    pub overlay: Option<Arc<OverlayStatus>>,
    pub rtt: Option<Rtt>,
    /// The sleeve cipher negotiated, when the connection has a session key.
    pub cipher: Option<&'static str>,
}

impl MeshSnapshot {
    /// The whole path to each reachable peer (`weave_mesh::unicast_paths`), computed now.
    pub fn unicast_paths(&self) -> BTreeMap<PeerName, Vec<PeerName>> {
        weave_mesh::unicast_paths(self.topology.iter().map(|p| &**p), self.name)
    }

    /// `password`: whether connections may be encrypted (`--password`), which their status
    /// says. `now` and `wall` are the same moment, to show when targets are retried.
    pub fn new(
        m: MeshStatus,
        password: bool,
        conn: impl Fn(ConnId) -> Option<ConnView>,
        now: Instant,
        wall: SystemTime,
    ) -> MeshSnapshot {
        let mut overlays = BTreeMap::new();
        let mut rtts = BTreeMap::new();
        let raw_connections: Vec<(ConnectionStatus, ConnView)> = m
            .connections
            .into_iter()
            .map(|c| {
                let view = conn(c.id).unwrap_or_default();
                if let Some(o) = &view.overlay {
                    overlays.insert(c.remote, o.clone());
                }
                if let Some(rtt) = &view.rtt {
                    rtts.insert(c.remote, rtt.clone());
                }
                (c, view)
            })
            .collect();
        let us = &m.ourself;
        MeshSnapshot {
            name: us.name,
            nickname: us.nickname.clone(),
            uid: us.uid,
            short_id: us.short_id,
            version: us.version,
            topology: m.peers,
            routes: m.routes,
            peers: OnceLock::new(),
            unicast_routes: OnceLock::new(),
            broadcast_routes: OnceLock::new(),
            raw_connections,
            raw_targets: m.targets,
            password,
            at: Some((now, wall)),
            connections: OnceLock::new(),
            targets: m.direct_peers,
            termination_count: m.termination_count,
            overlays,
            rtts,
        }
    }

    /// Our connections, then the targets the connection maker is waiting on or dialling, in
    /// Weave's report shape.
    pub fn connections(&self) -> &[LocalConnectionStatus] {
        self.connections.get_or_init(|| self.render_connections())
    }

    /// The peer expected at a target's address (see `weave_mesh::Target::peer`).
    pub fn target_peer(&self, address: &str) -> Option<PeerName> {
        self.raw_targets.iter().find(|t| t.address == address).and_then(|t| t.peer)
    }

    fn render_connections(&self) -> Vec<LocalConnectionStatus> {
        let nicks: BTreeMap<PeerName, &str> =
            self.topology.iter().map(|p| (p.name, p.nickname.as_str())).collect();
        let nick = |name: &PeerName| nicks.get(name).copied().unwrap_or_default().to_string();
        let mut connections = Vec::new();
        for (c, view) in &self.raw_connections {
            let remote = c.remote;
            let mut attrs = (*view.attrs).clone();
            let overlay = attrs.get("name").and_then(|v| v.as_str()).unwrap_or("none").to_string();
            let mut info = format!("{overlay:<6} {remote}({})", nick(&remote));
            if self.password {
                if c.untrusted {
                    info = format!("{:<11} {info}", "encrypted");
                    if !attrs.is_empty() {
                        attrs.insert("encrypted".into(), true.into());
                        // Ours: `cipher=aes-256-gcm`, or `nacl` (Weave's, with Weave Net peers).
                        if let Some(cipher) = view.cipher {
                            attrs.insert("cipher".into(), cipher.into());
                        }
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
        let Some((now, wall)) = self.at else { return connections };
        for t in &self.raw_targets {
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
        connections
    }
}

impl MeshSnapshot {
    /// Every peer of the topology with the connections it announces.
    pub fn peers(&self) -> &[PeerStatus] {
        self.peers.get_or_init(|| {
            let nicks: BTreeMap<PeerName, &str> =
                self.topology.iter().map(|p| (p.name, p.nickname.as_str())).collect();
            self.topology
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
                            nick_name: nicks.get(remote).copied().unwrap_or_default().to_string(),
                            address: c.remote_tcp_addr.to_string(),
                            outbound: c.outbound,
                            established: c.established,
                        })
                        .collect(),
                })
                .collect()
        })
    }

    /// The names of the topology's peers.
    pub fn peer_names(&self) -> impl Iterator<Item = PeerName> + '_ {
        self.topology.iter().map(|p| p.name)
    }

    pub fn unicast_routes(&self) -> &[UnicastRoute] {
        self.unicast_routes.get_or_init(|| {
            self.routes
                .unicast
                .iter()
                .map(|(dest, via)| UnicastRoute { dest: dest.to_string(), via: via.to_string() })
                .collect()
        })
    }

    pub fn broadcast_routes(&self) -> &[BroadcastRoute] {
        self.broadcast_routes.get_or_init(|| {
            self.routes
                .broadcast()
                .into_iter()
                .map(|(src, via)| BroadcastRoute {
                    source: src.to_string(),
                    via: via.iter().map(|n| n.to_string()).collect(),
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::switch::{ForwarderStatus, OverlayStatus};
    use weave_mesh::{Handshaked, Mesh, MeshConfig};
    use weave_wire::protocol::Features;

    /// A mesh with an untrusted, established connection (id 1) to 02:00:00:00:00:02 (`host2`).
    fn mesh_with_a_connection(now: Instant) -> (Mesh, PeerName) {
        let us = PeerName(0x0200_0000_0001);
        let cfg = MeshConfig {
            name: us,
            nickname: "host1".into(),
            uid: 1,
            short_id: 1,
            port: 6783,
            conn_limit: 0,
            discovery: true,
            gossip_interval: Duration::from_secs(30),
            external_overlay: false,
        };
        let mut mesh = Mesh::new(cfg, now, 7);
        let them = PeerName(0x0200_0000_0002);
        let features = Features {
            name: them,
            nick_name: "host2".into(),
            short_id: Some(2),
            uid: 2,
            conn_id: 9,
            trusted: false,
            overlays: None,
            fastdp_heartbeat_ms: None,
            sleeve_ciphers: None,
        };
        let hs = Handshaked {
            features,
            outbound: true,
            remote_addr: "10.0.0.2:6783".into(),
            accept_new_peer: true,
            conn_uid: 9,
            trust_remote: false,
        };
        mesh.connection_ready(now, 1, hs);
        (mesh, them)
    }

    #[test]
    fn the_overlays_view_and_the_rtt_join_the_meshs_status_by_connection() {
        let now = Instant::now();
        let (mut mesh, them) = mesh_with_a_connection(now);
        let rtt = Rtt::default();
        rtt.set(Duration::from_micros(420));
        let overlay = OverlayStatus {
            forwarders: vec![ForwarderStatus {
                name: "sleeve".into(),
                state: "established".into(),
                reason: None,
            }],
            switches: vec![],
        };
        let view = ConnView {
            attrs: Arc::new(BTreeMap::from([("name".to_string(), serde_json::Value::from("sleeve"))])),
            overlay: Some(Arc::new(overlay.clone())),
            rtt: Some(rtt.clone()),
            cipher: Some("aes-256-gcm"),
        };
        let s = MeshSnapshot::new(
            mesh.status(),
            true,
            |id| (id == 1).then(|| view.clone()),
            now,
            SystemTime::now(),
        );
        assert_eq!(s.connections().len(), 1, "{:?}", s.connections());
        let c = &s.connections()[0];
        assert_eq!((c.state.as_str(), c.address.as_str()), ("established", "10.0.0.2:6783"));
        // Weave's info column: encryption, overlay, peer(nick).
        assert_eq!(c.info, "encrypted   sleeve 02:00:00:00:00:02(host2)");
        assert_eq!(c.attrs.as_ref().unwrap()["encrypted"], serde_json::Value::from(true));
        assert_eq!(c.attrs.as_ref().unwrap()["cipher"], serde_json::Value::from("aes-256-gcm"));
        assert_eq!(s.overlays.get(&them).map(|o| &**o), Some(&overlay));
        // The RTT cell stays live: a later measurement shows without a new snapshot.
        rtt.set(Duration::from_micros(900));
        assert_eq!(s.rtts[&them].get(), Some(Duration::from_micros(900)));
        // host2 has not announced the connection back yet: no route over it, but our peer
        // announces it.
        assert_eq!(s.unicast_routes().len(), 1, "ourselves only: {:?}", s.unicast_routes());
        let us = s.peers().iter().find(|p| p.nick_name == "host1").expect("ourselves");
        assert_eq!(us.connections[0].nick_name, "host2");
    }

    #[test]
    fn without_a_password_or_an_overlay_the_info_says_none() {
        let now = Instant::now();
        let (mut mesh, them) = mesh_with_a_connection(now);
        let s = MeshSnapshot::new(mesh.status(), false, |_| None, now, SystemTime::now());
        assert_eq!(s.connections()[0].info, "none   02:00:00:00:00:02(host2)");
        assert_eq!(s.connections()[0].attrs, None);
        assert!(!s.overlays.contains_key(&them) && !s.rtts.contains_key(&them));
    }
}
