//! The overlay switch of one connection, as Weave's `overlaySwitchForwarder`: every overlay
//! both ends offer runs a forwarder; the best is the most preferred one that is established and
//! healthy, else the most preferred one still working. A forwarder that fails is dropped; when
//! none is left the connection fails. Every change of the best is recorded with its time and
//! reason.
//!
//! How the daemon drives it (one [`ConnSwitch`] per connection, all calls from its task):
//! * Start: [`negotiate`] the overlays, prepare a forwarder for each, then
//!   [`ConnSwitch::new`] with their names (or why one could not be made) and
//!   [`ConnSwitch::start`].
//! * The mesh confirmed the connection: [`ConnSwitch::confirm`]; a control message from the
//!   peer: [`ConnSwitch::control`]; a report from forwarder `i`: [`ConnSwitch::up`].
//! * After each call, perform [`ConnSwitch::take_actions`] in order; stop once
//!   [`ConnSwitch::done`].
//!
//! The switch itself never holds traffic back: which forwarder moves frames is each forwarder's
//! own business (fastdp's device is on the bridge only while it is healthy), and the switch
//! reports what they say. Flapping is damped where the traffic moves: see
//! [`crate::fastdp::control`].

mod negotiate;

pub use negotiate::{negotiate, Negotiated};

use crate::forwarder::{Ctl, Up};
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;
use weave_wire::PeerName;

/// The mesh tag of overlay-switch control messages (`[index][sub-tag][payload]`).
pub const OVERLAY_CONTROL_TAG: u8 = 7;
/// Switch records kept per connection.
pub const HISTORY: usize = 16;

/// What the status shows about a connection's overlays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
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
    pub at: Instant,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: String,
}

/// What the switch asks its task to do, in order.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Hand a message to forwarder `i`.
    Forward(usize, Ctl),
    /// Forwarder `i` failed: stop it (drop its control channel).
    Stop(usize),
    /// The connection carries frames: tell the mesh (once).
    Established,
    /// No forwarder is left: the mesh closes the connection.
    Failed(String),
    /// A message body (mesh tag and payload) to send on the connection.
    Send(Vec<u8>),
    /// Weave's connection attributes of the forwarder in use.
    Attrs(BTreeMap<String, serde_json::Value>),
    /// The status changed.
    Status(Status),
}

/// One overlay's forwarder on this connection.
struct Slot {
    name: String,
    /// False once the forwarder failed.
    live: bool,
    established: bool,
    on_hold: bool,
    reason: Option<String>,
    attrs: BTreeMap<String, serde_json::Value>,
}

impl Slot {
    fn working(&self) -> bool {
        self.live && !self.on_hold
    }

    fn status(&self) -> ForwarderStatus {
        let state = match (self.live, self.on_hold, self.established) {
            (false, _, _) => "failed",
            (_, true, _) => "unhealthy",
            (_, _, true) => "established",
            _ => "pending",
        };
        ForwarderStatus { name: self.name.clone(), state: state.to_string(), reason: self.reason.clone() }
    }
}

pub struct ConnSwitch {
    remote: PeerName,
    /// Compat mode: one sleeve forwarder whose control messages are raw mesh tags 1-3.
    compat: bool,
    slots: Vec<Slot>,
    best: Option<usize>,
    announced_established: bool,
    switches: VecDeque<SwitchRecord>,
    done: bool,
    actions: Vec<Action>,
}

impl ConnSwitch {
    /// `forwarders`: each overlay's name, in preference order, with `Err(why)` where the overlay
    /// could not make a forwarder for this connection.
    pub fn new(remote: PeerName, compat: bool, forwarders: Vec<(String, Result<(), String>)>) -> ConnSwitch {
        let slots = forwarders
            .into_iter()
            .map(|(name, made)| {
                if let Err(e) = &made {
                    tracing::info!(peer = %remote, "unable to use {name} for this connection: {e}");
                }
                Slot {
                    name,
                    live: made.is_ok(),
                    established: false,
                    on_hold: false,
                    reason: made.err(),
                    attrs: BTreeMap::new(),
                }
            })
            .collect();
        ConnSwitch {
            remote,
            compat,
            slots,
            best: None,
            announced_established: false,
            switches: VecDeque::new(),
            done: false,
            actions: Vec::new(),
        }
    }

    /// Picks the first overlay to use.
    pub fn start(&mut self, now: Instant) {
        self.choose_best(now, "connection started");
    }

    /// The actions to perform, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// No forwarder is left; the connection has failed.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The overlay in use.
    pub fn best(&self) -> Option<&str> {
        self.best.map(|b| self.slots[b].name.as_str())
    }

    pub fn status(&self) -> Status {
        Status {
            forwarders: self.slots.iter().map(Slot::status).collect(),
            switches: self.switches.iter().cloned().collect(),
        }
    }

    /// The mesh confirmed the connection: every forwarder starts its heartbeats.
    pub fn confirm(&mut self) {
        for (i, s) in self.slots.iter().enumerate() {
            if s.live {
                self.actions.push(Action::Forward(i, Ctl::Confirm));
            }
        }
    }

    /// A control message from the peer's forwarder `index` (its index in the same agreed list).
    pub fn control(&mut self, index: u8, tag: u8, payload: Vec<u8>) {
        match self.slots.get(index as usize) {
            Some(s) if s.live => {
                self.actions.push(Action::Forward(index as usize, Ctl::Control { tag, payload }))
            }
            Some(_) => {}
            None => {
                tracing::info!(peer = %self.remote, "ignoring a control message for overlay {index}, which we do not run")
            }
        }
    }

    /// A report from forwarder `i`.
    pub fn up(&mut self, now: Instant, i: usize, up: Up) {
        if i >= self.slots.len() || self.done {
            return;
        }
        match up {
            Up::Established => {
                self.slots[i].established = true;
                if !self.announced_established {
                    self.announced_established = true;
                    self.actions.push(Action::Established);
                }
                let reason = format!("{} established", self.slots[i].name);
                self.choose_best(now, &reason);
            }
            Up::Failed(e) => {
                tracing::info!(peer = %self.remote, "{}: {e}", self.slots[i].name);
                self.slots[i].live = false;
                self.actions.push(Action::Stop(i));
                let reason = format!("{} failed: {e}", self.slots[i].name);
                self.slots[i].reason = Some(e);
                self.choose_best(now, &reason);
            }
            Up::SendControl { tag, payload } => {
                let mut body = if self.compat { vec![tag] } else { vec![OVERLAY_CONTROL_TAG, i as u8, tag] };
                body.extend(payload);
                self.actions.push(Action::Send(body));
            }
            Up::Attrs(a) => {
                self.slots[i].attrs = a;
                if self.best == Some(i) {
                    self.actions.push(Action::Attrs(self.slots[i].attrs.clone()));
                }
            }
            Up::Health { healthy, reason } => {
                self.slots[i].on_hold = !healthy;
                self.slots[i].reason = (!healthy).then(|| reason.clone());
                self.choose_best(now, &reason);
            }
        }
    }

    /// Weave's `chooseBest`: records and reports a change; fails the connection when nothing
    /// works any more.
    fn choose_best(&mut self, now: Instant, reason: &str) {
        let established = self.slots.iter().position(|s| s.working() && s.established);
        let best = established.or_else(|| self.slots.iter().position(Slot::working));
        let changed = best != self.best;
        if changed {
            let name = |b: Option<usize>| b.map(|b| self.slots[b].name.clone());
            tracing::info!(peer = %self.remote, "overlay: using {} ({reason})", name(best).as_deref().unwrap_or("nothing"));
            self.switches.push_back(SwitchRecord {
                at: now,
                from: name(self.best),
                to: name(best),
                reason: reason.to_string(),
            });
            if self.switches.len() > HISTORY {
                self.switches.pop_front();
            }
            self.best = best;
        }
        if let Some(b) = best.filter(|_| changed) {
            if !self.slots[b].attrs.is_empty() {
                self.actions.push(Action::Attrs(self.slots[b].attrs.clone()));
            }
        }
        self.actions.push(Action::Status(self.status()));
        if best.is_none() {
            self.done = true;
            self.actions.push(Action::Failed(format!("no working forwarders to {}", self.remote)));
        }
    }
}

#[cfg(test)]
mod tests;
