//! What the mesh shows about itself at one moment, in its own terms. The daemon renders it in
//! Weave's report shapes, joined with what the overlay says about each connection.

use crate::core::{ConnId, Mesh};
use crate::maker::TargetState;
use crate::peers::Peer;
use crate::routes::Routes;
use std::sync::Arc;
use std::time::Instant;
use weave_wire::PeerName;

#[derive(Debug, Clone)]
pub struct MeshStatus {
    pub ourself: Arc<Peer>,
    /// Every peer of the topology, ourselves included, by name (shared with the mesh: a
    /// status costs a pointer per peer).
    pub peers: Vec<Arc<Peer>>,
    pub routes: Arc<Routes>,
    /// Our registered connections, by id.
    pub connections: Vec<ConnectionStatus>,
    /// Addresses the connection maker is waiting to dial or dialling.
    pub targets: Vec<TargetStatus>,
    /// The direct peers (command line, `weave connect`, persisted) as given.
    pub direct_peers: Vec<String>,
    /// Connections that ended, except those to ourselves.
    pub termination_count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStatus {
    pub id: ConnId,
    pub remote: PeerName,
    pub address: String,
    pub outbound: bool,
    pub established: bool,
    /// The remote is not in `--trusted-subnets` or does not trust us: with a password its
    /// traffic is encrypted.
    pub untrusted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetStatus {
    pub address: String,
    /// `Waiting` or `Attempting`: connected targets are connections.
    pub state: TargetState,
    pub last_error: Option<String>,
    /// When it is tried next; `None` means never.
    pub try_after: Option<Instant>,
    /// The peer expected at this address, when known.
    pub peer: Option<PeerName>,
}

impl Mesh {
    pub fn status(&mut self) -> MeshStatus {
        let routes = self.routes();
        let connections = self
            .conns
            .iter()
            .filter(|(_, c)| c.registered)
            .map(|(id, c)| ConnectionStatus {
                id: *id,
                remote: c.remote.expect("registered connections know their remote"),
                address: c.addr.clone(),
                outbound: c.outbound,
                established: c.established,
                untrusted: c.untrusted,
            })
            .collect();
        let targets = self
            .maker
            .targets()
            .iter()
            .filter(|(_, t)| matches!(t.state, TargetState::Waiting | TargetState::Attempting))
            .map(|(address, t)| TargetStatus {
                address: address.clone(),
                state: t.state,
                last_error: t.last_error.clone(),
                try_after: t.try_after,
                peer: t.peer,
            })
            .collect();
        MeshStatus {
            ourself: self
                .peers
                .shared()
                .find(|p| p.name == self.cfg.name)
                .expect("ourself is a peer")
                .clone(),
            peers: self.peers.shared().cloned().collect(),
            routes,
            connections,
            targets,
            direct_peers: self.maker.direct_peers(false),
            termination_count: self.maker.termination_count,
        }
    }
}
