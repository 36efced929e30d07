//! The overlay switch of one connection, as Weave's `overlaySwitchForwarder`: every overlay both
//! ends offer runs a forwarder; the best is the most preferred one that is established and
//! healthy, else the most preferred one still working. A forwarder that fails is dropped; when
//! none is left the connection fails. Every change of the best is recorded with its reason.

use super::forwarder::{Ctl, Up};
use super::{OverlayEvent, OVERLAY_CONTROL_TAG};
use crate::mesh::ConnId;
use std::collections::BTreeMap;
use std::time::SystemTime;
use tokio::sync::mpsc;
use weave_wire::PeerName;

/// Switch records kept per connection.
const HISTORY: usize = 16;

/// What the status shows about a connection's overlays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OverlayStatus {
    /// Each forwarder, in preference order.
    pub forwarders: Vec<ForwarderStatus>,
    /// Changes of the overlay in use, oldest first.
    pub switches: Vec<SwitchRecord>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ForwarderStatus {
    pub name: String,
    /// `pending`, `established`, `unhealthy` or `failed`.
    pub state: String,
    /// Why it is unhealthy or failed.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SwitchRecord {
    pub at: SystemTime,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: String,
}

/// Messages from the mesh to a connection's switch task.
#[derive(Debug)]
pub enum SwitchCtl {
    Confirm,
    /// A control message for the forwarder at `index`.
    Control {
        index: u8,
        tag: u8,
        payload: Vec<u8>,
    },
}

/// A forwarder as its overlay prepared it for this connection.
pub struct Prepared {
    pub name: &'static str,
    /// The forwarder's channels, or why the overlay could not make one.
    pub fwd: Result<(mpsc::Sender<Ctl>, mpsc::Receiver<Up>), String>,
}

/// One overlay's forwarder on this connection.
struct Slot {
    name: &'static str,
    /// `None` once the forwarder failed.
    ctl: Option<mpsc::Sender<Ctl>>,
    established: bool,
    on_hold: bool,
    reason: Option<String>,
    attrs: BTreeMap<String, serde_json::Value>,
}

impl Slot {
    fn status(&self) -> ForwarderStatus {
        let state = match (&self.ctl, self.on_hold, self.established) {
            (None, _, _) => "failed",
            (_, true, _) => "unhealthy",
            (_, _, true) => "established",
            _ => "pending",
        };
        ForwarderStatus { name: self.name.to_string(), state: state.to_string(), reason: self.reason.clone() }
    }
}

struct ConnSwitch {
    conn: ConnId,
    remote: PeerName,
    /// Compat mode: one sleeve forwarder whose control messages are raw tags 1-3.
    compat: bool,
    slots: Vec<Slot>,
    best: Option<usize>,
    announced_established: bool,
    status: OverlayStatus,
    events: mpsc::Sender<(ConnId, OverlayEvent)>,
}

/// Runs a connection's switch until the mesh drops `ctl` (connection stopped) or no forwarder
/// is left. Dropping a forwarder's `ctl` stops it.
pub async fn run(
    conn: ConnId,
    remote: PeerName,
    compat: bool,
    prepared: Vec<Prepared>,
    mut ctl: mpsc::Receiver<SwitchCtl>,
    events: mpsc::Sender<(ConnId, OverlayEvent)>,
) {
    // Each forwarder's reports are funnelled into one channel, tagged with its index.
    let (tx, mut ups) = mpsc::channel::<(usize, Up)>(64);
    let mut slots = Vec::new();
    for (i, p) in prepared.into_iter().enumerate() {
        let (ctl, reason) = match p.fwd {
            Ok((ctl, mut up)) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(u) = up.recv().await {
                        if tx.send((i, u)).await.is_err() {
                            return;
                        }
                    }
                });
                (Some(ctl), None)
            }
            Err(e) => {
                tracing::info!(conn, peer = %remote, "unable to use {} for this connection: {e}", p.name);
                (None, Some(e))
            }
        };
        slots.push(Slot {
            name: p.name,
            ctl,
            established: false,
            on_hold: false,
            reason,
            attrs: BTreeMap::new(),
        });
    }
    drop(tx);
    let mut sw = ConnSwitch {
        conn,
        remote,
        compat,
        slots,
        best: None,
        announced_established: false,
        status: OverlayStatus::default(),
        events,
    };
    if !sw.choose_best("connection started").await {
        return;
    }
    loop {
        tokio::select! {
            c = ctl.recv() => match c {
                None => return,
                Some(SwitchCtl::Confirm) => {
                    for c in sw.slots.iter().filter_map(|s| s.ctl.as_ref()) {
                        let _ = c.send(Ctl::Confirm).await;
                    }
                }
                Some(SwitchCtl::Control { index, tag, payload }) => match sw.slots.get(index as usize) {
                    Some(Slot { ctl: Some(c), .. }) => {
                        let _ = c.send(Ctl::Control { tag, payload }).await;
                    }
                    Some(_) => {}
                    None => tracing::info!(conn, "ignoring a control message for overlay {index}, which we do not run"),
                },
            },
            u = ups.recv() => match u {
                Some((i, up)) => {
                    if !sw.handle(i, up).await {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}

impl ConnSwitch {
    async fn emit(&self, ev: OverlayEvent) {
        let _ = self.events.send((self.conn, ev)).await;
    }

    /// Handles one forwarder report; false when the connection has no forwarder left.
    async fn handle(&mut self, i: usize, up: Up) -> bool {
        match up {
            Up::Established => {
                self.slots[i].established = true;
                if !self.announced_established {
                    self.announced_established = true;
                    self.emit(OverlayEvent::Established).await;
                }
                let reason = format!("{} established", self.slots[i].name);
                return self.choose_best(&reason).await;
            }
            Up::Failed(e) => {
                tracing::info!(conn = self.conn, peer = %self.remote, "{}: {e}", self.slots[i].name);
                self.slots[i].ctl = None;
                let reason = format!("{} failed: {e}", self.slots[i].name);
                self.slots[i].reason = Some(e);
                return self.choose_best(&reason).await;
            }
            Up::SendControl { tag, payload } => {
                let mut body = if self.compat { vec![tag] } else { vec![OVERLAY_CONTROL_TAG, i as u8, tag] };
                body.extend(payload);
                self.emit(OverlayEvent::Send(body)).await;
            }
            Up::Attrs(a) => {
                self.slots[i].attrs = a;
                if self.best == Some(i) {
                    self.emit(OverlayEvent::Attrs(self.slots[i].attrs.clone())).await;
                }
            }
            Up::Health { healthy, reason } => {
                self.slots[i].on_hold = !healthy;
                self.slots[i].reason = (!healthy).then(|| reason.clone());
                return self.choose_best(&reason).await;
            }
        }
        true
    }

    /// Weave's `chooseBest`; records and reports a change. False when nothing works any more.
    async fn choose_best(&mut self, reason: &str) -> bool {
        let working = |s: &&Slot| s.ctl.is_some() && !s.on_hold;
        let established = self.slots.iter().position(|s| working(&s) && s.established);
        let best = established.or_else(|| self.slots.iter().position(|s| working(&s)));
        let changed = best != self.best;
        if changed {
            let name = |b: Option<usize>| b.map(|b| self.slots[b].name.to_string());
            tracing::info!(conn = self.conn, peer = %self.remote, "overlay: using {} ({reason})", name(best).unwrap_or_else(|| "nothing".into()));
            self.status.switches.push(SwitchRecord {
                at: SystemTime::now(),
                from: name(self.best),
                to: name(best),
                reason: reason.to_string(),
            });
            if self.status.switches.len() > HISTORY {
                self.status.switches.remove(0);
            }
            self.best = best;
        }
        self.status.forwarders = self.slots.iter().map(Slot::status).collect();
        if let Some(b) = best.filter(|_| changed) {
            if !self.slots[b].attrs.is_empty() {
                self.emit(OverlayEvent::Attrs(self.slots[b].attrs.clone())).await;
            }
        }
        self.emit(OverlayEvent::Status(self.status.clone())).await;
        if best.is_none() {
            self.emit(OverlayEvent::Failed(format!("no working forwarders to {}", self.remote))).await;
        }
        best.is_some()
    }
}
