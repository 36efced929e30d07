//! The overlay: how frames travel between peers. The overlay switch gives each mesh
//! connection the forwarders both ends support (sleeve today; fastdp joins it), relays their
//! control messages over the TCP connection (tag 7: `[index][sub-tag][payload]`, or raw tags
//! 1-3 with peers that announce no overlays) and reports when the data path is established.

pub mod frame;
pub mod fxhash;
pub mod gso;
pub mod maccache;
pub mod sleeve;
pub mod tap;

use self::sleeve::control::{Ctl, Up};
use self::sleeve::{Sleeve, SleeveParams};
use crate::mesh::ConnId;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use weave_wire::PeerName;

/// Overlays we offer, in preference order.
pub const OVERLAYS: &[&str] = &["sleeve"];
/// The mesh tag of overlay-switch control messages.
const OVERLAY_CONTROL_TAG: u8 = 7;

/// What the overlay of a connection reports to the mesh.
#[derive(Debug)]
pub enum OverlayEvent {
    Established,
    Failed(String),
    /// A message body (tag and payload) to send on the connection.
    Send(Vec<u8>),
    Attrs(BTreeMap<String, serde_json::Value>),
}

/// Everything the overlay needs about a new connection.
pub struct OverlayParams {
    pub remote: PeerName,
    pub conn_uid: u64,
    pub outbound: bool,
    pub remote_tcp: SocketAddr,
    pub session_key: Option<[u8; 32]>,
    /// The peer's `Overlays` feature; `None` when it sent none (Weave's compat mode).
    pub peer_overlays: Option<Vec<String>>,
}

struct ConnOverlay {
    ctl: mpsc::Sender<Ctl>,
    /// Compat mode: sleeve control messages travel as raw tags 1-3.
    compat: bool,
    sleeve_index: u8,
}

pub struct OverlaySwitch {
    sleeve: Arc<Sleeve>,
    conns: HashMap<ConnId, ConnOverlay>,
    events: mpsc::Sender<(ConnId, OverlayEvent)>,
}

impl OverlaySwitch {
    pub fn new(sleeve: Arc<Sleeve>, events: mpsc::Sender<(ConnId, OverlayEvent)>) -> OverlaySwitch {
        OverlaySwitch { sleeve, conns: HashMap::new(), events }
    }

    pub fn sleeve(&self) -> &Arc<Sleeve> {
        &self.sleeve
    }

    /// Sets up the overlay of a connection, before it is confirmed.
    pub fn prepare(&mut self, conn: ConnId, p: OverlayParams) -> Result<(), String> {
        let compat = p.peer_overlays.is_none();
        let sleeve_index = match &p.peer_overlays {
            None => 0,
            Some(theirs) => {
                // Both ends order the common overlays by the dialling side's preference.
                let ours: Vec<String> = OVERLAYS.iter().map(|s| s.to_string()).collect();
                let order = if p.outbound { &ours } else { theirs };
                let common: Vec<&String> =
                    order.iter().filter(|o| ours.contains(o) && theirs.contains(o)).take(256).collect();
                match common.iter().position(|o| o.as_str() == "sleeve") {
                    Some(i) => i as u8,
                    None => return Err("no overlays in common with peer".into()),
                }
            }
        };
        let (ctl, mut up) = self.sleeve.prepare(SleeveParams {
            remote: p.remote,
            conn_uid: p.conn_uid,
            outbound: p.outbound,
            remote_tcp: p.remote_tcp,
            session_key: p.session_key,
        });
        let events = self.events.clone();
        let _ = events.try_send((conn, OverlayEvent::Attrs(sleeve::control::initial_attrs())));
        tokio::spawn(async move {
            while let Some(u) = up.recv().await {
                let ev = match u {
                    Up::Established => OverlayEvent::Established,
                    Up::Failed(e) => OverlayEvent::Failed(e),
                    Up::Attrs(a) => OverlayEvent::Attrs(a),
                    Up::SendControl { tag, payload } => {
                        let mut body =
                            if compat { vec![tag] } else { vec![OVERLAY_CONTROL_TAG, sleeve_index, tag] };
                        body.extend(payload);
                        OverlayEvent::Send(body)
                    }
                };
                if events.send((conn, ev)).await.is_err() {
                    return;
                }
            }
        });
        self.conns.insert(conn, ConnOverlay { ctl, compat, sleeve_index });
        Ok(())
    }

    pub fn confirm(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.ctl.try_send(Ctl::Confirm);
        }
    }

    /// A control message from the peer (mesh tags 1-3 or 7).
    pub fn control(&mut self, conn: ConnId, tag: u8, payload: &[u8]) {
        let Some(c) = self.conns.get(&conn) else { return };
        let (sub_tag, body) = match (tag, c.compat) {
            (OVERLAY_CONTROL_TAG, false) => match payload {
                [index, sub, rest @ ..] if *index == c.sleeve_index => (*sub, rest),
                [_, _, ..] => return, // another forwarder's, which we do not run
                _ => {
                    tracing::info!(conn, "ignoring a truncated overlay control message");
                    return;
                }
            },
            (1..=3, true) => (tag, payload),
            _ => return,
        };
        let _ = c.ctl.try_send(Ctl::Control { tag: sub_tag, payload: body.to_vec() });
    }

    /// The connection is gone: its forwarder stops.
    pub fn stop(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }
}
