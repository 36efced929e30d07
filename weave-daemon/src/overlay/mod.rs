//! The overlay's shell: how frames travel between peers. The overlay switch gives each mesh
//! connection a forwarder for every overlay both ends offer (fastdp, sleeve), relays their
//! control messages over the TCP connection (tag 7: `[index][sub-tag][payload]`, or raw tags
//! 1-3 with peers that announce no overlays) and picks the best one. The decisions are the
//! pure cores' of `weave_overlay`; the tasks here move their messages and timers, and own the
//! devices (`tap`, `fastdp::device`) and sockets (`sleeve::udp`).

pub mod fastdp;
pub mod sleeve;
pub mod switch;
pub mod tap;

use self::fastdp::control::FwdParams;
use self::fastdp::heartbeat::OUR_INTERVAL;
use self::fastdp::Fastdp;
use self::sleeve::{Sleeve, SleeveParams};
use self::switch::{OverlayStatus, Prepared, SwitchCtl};
use crate::mesh::ConnId;
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use weave_overlay::forwarder::{Ctl, Up};
use weave_overlay::switch::{negotiate, OVERLAY_CONTROL_TAG};
use weave_wire::crypto::aead::Binding;
use weave_wire::crypto::{SessionKey, SleeveCipher};
use weave_wire::PeerName;

/// What the overlay of a connection reports to the mesh.
#[derive(Debug)]
pub enum OverlayEvent {
    Established,
    Failed(String),
    /// A message body (tag and payload) to send on the connection.
    Send(Vec<u8>),
    Attrs(BTreeMap<String, serde_json::Value>),
    Status(OverlayStatus),
    /// A switch of forwarder: the new one's attributes and the status that records the
    /// switch, together, so no status reader sees one without the other.
    Switched(BTreeMap<String, serde_json::Value>, OverlayStatus),
}

/// Everything the overlay needs about a new connection.
pub struct OverlayParams {
    pub remote: PeerName,
    pub conn_uid: u64,
    pub outbound: bool,
    pub remote_tcp: SocketAddr,
    pub local_tcp: Option<SocketAddr>,
    pub session_key: Option<SessionKey>,
    /// The sleeve cipher negotiated in the handshake, and what binds its keys.
    pub sleeve_cipher: SleeveCipher,
    pub binding: Binding,
    /// The peer's `Overlays` feature; `None` when it sent none (Weave's compat mode).
    pub peer_overlays: Option<Vec<String>>,
    /// The peer's `FastDPHeartbeat` feature (it is a weave peer).
    pub peer_fastdp_heartbeat_ms: Option<u32>,
}

pub struct OverlaySwitch {
    sleeve: Arc<Sleeve>,
    fastdp: Option<Arc<Fastdp>>,
    /// Each connection's switch task, and whether it is in compat mode.
    conns: HashMap<ConnId, (mpsc::Sender<SwitchCtl>, bool)>,
    events: mpsc::Sender<(ConnId, OverlayEvent)>,
}

impl OverlaySwitch {
    pub fn new(
        sleeve: Arc<Sleeve>,
        fastdp: Option<Arc<Fastdp>>,
        events: mpsc::Sender<(ConnId, OverlayEvent)>,
    ) -> OverlaySwitch {
        OverlaySwitch { sleeve, fastdp, conns: HashMap::new(), events }
    }

    pub fn sleeve(&self) -> &Arc<Sleeve> {
        &self.sleeve
    }

    pub fn fastdp(&self) -> Option<&Arc<Fastdp>> {
        self.fastdp.as_ref()
    }

    /// The overlays we offer, in preference order (our `Overlays` feature).
    pub fn overlays(&self) -> Vec<String> {
        let mut o = Vec::new();
        if self.fastdp.is_some() {
            o.push("fastdp".to_string());
        }
        o.push("sleeve".to_string());
        o
    }

    /// Our `FastDPHeartbeat` feature.
    pub fn fastdp_heartbeat_ms(&self) -> Option<u32> {
        self.fastdp.as_ref().map(|_| OUR_INTERVAL.as_millis() as u32)
    }

    /// Sets up the overlay of a connection, before it is confirmed.
    pub fn prepare(&mut self, conn: ConnId, p: OverlayParams) -> Result<(), String> {
        let n = negotiate(&self.overlays(), p.peer_overlays.as_deref(), p.outbound)?;
        if let (Some(fd), false) = (&self.fastdp, n.overlays.iter().any(|o| o == "fastdp")) {
            fd.release_peer(p.remote);
        }
        let prepared = n
            .overlays
            .iter()
            .map(|name| match name.as_str() {
                "fastdp" => Prepared { name: "fastdp", fwd: self.prepare_fastdp(&p) },
                _ => Prepared { name: "sleeve", fwd: Ok(self.prepare_sleeve(&p)) },
            })
            .collect();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(switch::run(conn, p.remote, n.compat, prepared, rx, self.events.clone()));
        self.conns.insert(conn, (tx, n.compat));
        Ok(())
    }

    fn prepare_sleeve(&self, p: &OverlayParams) -> (mpsc::Sender<Ctl>, mpsc::Receiver<Up>) {
        self.sleeve.prepare(SleeveParams {
            remote: p.remote,
            conn_uid: p.conn_uid,
            outbound: p.outbound,
            remote_tcp: p.remote_tcp,
            session_key: p.session_key.clone(),
            sleeve_cipher: p.sleeve_cipher,
            binding: p.binding.clone(),
        })
    }

    fn prepare_fastdp(&self, p: &OverlayParams) -> Result<(mpsc::Sender<Ctl>, mpsc::Receiver<Up>), String> {
        let fd = self.fastdp.as_ref().ok_or("fastdp is off")?;
        let SocketAddr::V4(remote) = p.remote_tcp else {
            return Err("fastdp needs an IPv4 peer".into());
        };
        // Weave: the VXLAN port is the peer's mesh port + 1 when we dialled it; when it dialled
        // us we only know its ephemeral port, so we assume it listens where we do.
        let port = if p.outbound { remote.port().wrapping_add(1) } else { fd.listen_port() };
        let local = match p.local_tcp {
            Some(SocketAddr::V4(l)) => Some(*l.ip()),
            _ => None,
        };
        Ok(fd.prepare(FwdParams {
            remote: p.remote,
            conn_uid: p.conn_uid,
            remote_addr: SocketAddrV4::new(*remote.ip(), port),
            local,
            encrypted: p.session_key.is_some(),
            peer_interval: p.peer_fastdp_heartbeat_ms.map(|ms| Duration::from_millis(ms.into())),
        }))
    }

    pub fn confirm(&mut self, conn: ConnId) {
        if let Some((c, _)) = self.conns.get(&conn) {
            let _ = c.try_send(SwitchCtl::Confirm);
        }
    }

    /// A control message from the peer (mesh tags 1-3 or 7).
    pub fn control(&mut self, conn: ConnId, tag: u8, payload: &[u8]) {
        let Some((c, compat)) = self.conns.get(&conn) else { return };
        let msg = match (tag, compat) {
            (OVERLAY_CONTROL_TAG, false) => match payload {
                [index, sub, rest @ ..] => {
                    SwitchCtl::Control { index: *index, tag: *sub, payload: rest.to_vec() }
                }
                _ => {
                    tracing::info!(conn, "ignoring a truncated overlay control message");
                    return;
                }
            },
            // Compat mode's raw sleeve tags; sleeve is the only forwarder then.
            (1..=3, true) => SwitchCtl::Control { index: 0, tag, payload: payload.to_vec() },
            _ => return,
        };
        let _ = c.try_send(msg);
    }

    /// The connection is gone: its forwarders stop.
    pub fn stop(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }
}
