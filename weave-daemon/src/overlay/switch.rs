//! The task of one connection's overlay switch: it moves messages between the mesh, the
//! connection's forwarders and the switch's core (`weave_overlay::switch`), which decides.

use super::OverlayEvent;
use crate::mesh::ConnId;
use std::time::{Instant, SystemTime};
use tokio::sync::mpsc;
use weave_overlay::forwarder::{Ctl, Up};
use weave_overlay::switch::{self as core, Action, ConnSwitch};
use weave_wire::PeerName;

/// What the status shows about a connection's overlays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OverlayStatus {
    /// Each forwarder, in preference order.
    pub forwarders: Vec<ForwarderStatus>,
    /// Changes of the overlay in use, oldest first.
    pub switches: Vec<SwitchRecord>,
}

pub use weave_overlay::switch::ForwarderStatus;

#[derive(Clone, Debug, PartialEq)]
pub struct SwitchRecord {
    pub at: SystemTime,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: String,
}

impl OverlayStatus {
    /// The core's status, its times (monotonic) shown as wall-clock times.
    fn from_core(s: core::Status, now: Instant, wall: SystemTime) -> OverlayStatus {
        let switches = s
            .switches
            .into_iter()
            .map(|r| SwitchRecord {
                at: wall.checked_sub(now.saturating_duration_since(r.at)).unwrap_or(wall),
                from: r.from,
                to: r.to,
                reason: r.reason,
            })
            .collect();
        OverlayStatus { forwarders: s.forwarders, switches }
    }
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
    let mut fwds: Vec<Option<mpsc::Sender<Ctl>>> = Vec::new();
    let mut names = Vec::new();
    for (i, p) in prepared.into_iter().enumerate() {
        match p.fwd {
            Ok((c, mut up)) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(u) = up.recv().await {
                        if tx.send((i, u)).await.is_err() {
                            return;
                        }
                    }
                });
                fwds.push(Some(c));
                names.push((p.name.to_string(), Ok(())));
            }
            Err(e) => {
                fwds.push(None);
                names.push((p.name.to_string(), Err(e)));
            }
        }
    }
    drop(tx);
    let mut sw = ConnSwitch::new(remote, compat, names);
    sw.start(Instant::now());
    loop {
        let mut actions = sw.take_actions().into_iter().peekable();
        while let Some(a) = actions.next() {
            let status = |s| OverlayStatus::from_core(s, Instant::now(), SystemTime::now());
            let ev = match a {
                Action::Forward(i, c) => {
                    if let Some(Some(f)) = fwds.get(i) {
                        let _ = f.send(c).await;
                    }
                    continue;
                }
                Action::Stop(i) => {
                    fwds[i] = None;
                    continue;
                }
                Action::Established => OverlayEvent::Established,
                Action::Failed(e) => OverlayEvent::Failed(e),
                Action::Send(body) => OverlayEvent::Send(body),
                Action::Attrs(a) => match actions.next_if(|n| matches!(n, Action::Status(_))) {
                    Some(Action::Status(s)) => OverlayEvent::Switched(a, status(s)),
                    _ => OverlayEvent::Attrs(a),
                },
                Action::Status(s) => OverlayEvent::Status(status(s)),
            };
            let _ = events.send((conn, ev)).await;
        }
        if sw.done() {
            return;
        }
        tokio::select! {
            c = ctl.recv() => match c {
                None => return,
                Some(SwitchCtl::Confirm) => sw.confirm(),
                Some(SwitchCtl::Control { index, tag, payload }) => sw.control(index, tag, payload),
            },
            u = ups.recv() => match u {
                Some((i, up)) => sw.up(Instant::now(), i, up),
                None => return,
            },
        }
    }
}
