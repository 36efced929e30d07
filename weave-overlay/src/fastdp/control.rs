//! The control core of one fastdp connection, as Weave's `fastDatapathForwarder`: make (or
//! adopt) the peer's VXLAN device, send heartbeats through it (fast until acknowledged, then
//! slow), acknowledge the peer's, and keep the device on the bridge exactly while the path is
//! established and healthy. With a weave peer (both sent `FastDPHeartbeat`) heartbeats are
//! acknowledged all along (once per [`ACK_EVERY`] intervals) and the timings are short, so a path
//! that dies in either direction is noticed by both ends within seconds; with a Weave Net peer,
//! Weave's 60 s rule applies.
//!
//! Damping: a path that stops carrying heartbeats is dropped at once (traffic must not wait on
//! a dead path), but one that comes back returns only after it has stayed healthy for a hold
//! time, [`HOLD_MIN`] at first. A path that fails again within [`STABLE`] of coming back doubles
//! the hold, up to [`HOLD_MAX`], so a flapping path settles on sleeve instead of moving traffic
//! back and forth. The hold is where the traffic moves (the device joins the bridge), so the
//! overlay switch, which follows what the forwarder reports, switches at most once per hold.
//! During the hold a weave peer's path must keep showing heartbeats (and acknowledgements) at
//! their pace: one [`RECOVER_MISSED`] intervals late starts the hold again. The timeout alone
//! ([`MISSED`] intervals) would learn of a path that failed again during the hold only that
//! late, and let it return after being up for as little as the hold less the timeout.
//! With the heartbeat timings of weave peers that keeps the contract: fallback within 15 s of
//! the path failing ([`MISSED`] intervals of [`OUR_INTERVAL`]: 10 s), return within 30 s of it
//! recovering (a heartbeat interval, 2 s, plus at most 16 s).
//!
//! Driving it: [`Control::start`], then on the mesh's confirmation [`Control::confirm`]; for
//! each valid heartbeat [`Control::heartbeat`]; for each control message [`Control::control`];
//! at [`Control::next_deadline`], [`Control::tick`]. After each call perform
//! [`Control::take_actions`] in order, answering `Open`, `SetAttached` and `CheckAttachment`
//! with [`Control::opened`], [`Control::attached`] and [`Control::attachment`] before anything
//! else. Stop after [`Action::Fail`].

use super::heartbeat::{MISSED, OUR_INTERVAL, WEAVE_FAST, WEAVE_SLOW, WEAVE_TIMEOUT};
use super::spec::DeviceSpec;
use crate::forwarder::Up;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use weave_wire::PeerName;

/// fastdp control message sub-tags (Weave's).
pub const HEARTBEAT_ACK: u8 = 0;
pub const CRYPTO_INIT_SA_REMOTE: u8 = 1;
/// How often the device's place on the bridge is checked against what it should be (someone
/// may have changed it behind our back).
pub const RECHECK: Duration = Duration::from_secs(30);
/// Between weave peers, heartbeats are acknowledged at most once per this many intervals
/// (the peer gives up after `MISSED` without one). The first heartbeat at least this many
/// intervals after the last acknowledgement is acknowledged, so acknowledgements are at most
/// `ACK_EVERY + 1` intervals apart while heartbeats flow, and one more for each lost one.
pub const ACK_EVERY: u32 = 2;
// Room for a lost heartbeat (or a late one) before the peer gives up on our acknowledgements.
const _: () = assert!(ACK_EVERY + 2 < MISSED);
/// Between weave peers, a path that came back and is waiting out its hold starts the hold again
/// when a heartbeat is this many intervals late (and an acknowledgement `ACK_EVERY` intervals
/// more): the hold judges the path on its heartbeats, not on the much longer timeout.
pub const RECOVER_MISSED: u32 = 2;
// Stricter than the timeout, with room for the acknowledgements' spacing.
const _: () = assert!(ACK_EVERY + RECOVER_MISSED < MISSED);
/// How long a path that came back must stay healthy before it carries traffic again.
pub const HOLD_MIN: Duration = Duration::from_secs(2);
pub const HOLD_MAX: Duration = Duration::from_secs(16);
/// A path that fails sooner than this after coming back is flapping: the next hold doubles.
pub const STABLE: Duration = Duration::from_secs(60);

/// What a fastdp connection needs to know.
#[derive(Clone, Debug)]
pub struct Params {
    pub remote: PeerName,
    /// The peer's `FastDPHeartbeat` interval: it is a weave peer that acknowledges our
    /// heartbeats all along (once per `ACK_EVERY` intervals), not only the first.
    pub peer_interval: Option<Duration>,
    /// Our overlay MTU (a connection attribute).
    pub mtu: u32,
    /// Why this connection cannot use fastdp, when it is encrypted (password, not trusted).
    pub encrypted: Option<String>,
    /// Why no connection here could use encrypted fastdp (said when the peer asks for it).
    pub encrypted_unavailable: String,
}

/// What the core asks its task to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Tell the overlay switch.
    Up(Up),
    /// Make (or adopt) the device for this spec and listen for heartbeats on it; answer with
    /// [`Control::opened`].
    Open(DeviceSpec),
    /// Put the current device on the bridge or take it off; answer with [`Control::attached`].
    SetAttached(bool),
    /// Send a heartbeat through the current device.
    SendHeartbeat,
    /// Find out whether the current device is on the bridge; answer with
    /// [`Control::attachment`].
    CheckAttachment,
    /// fastdp cannot carry this connection: stop.
    Fail(String),
}

/// Why a device is being opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    Confirm,
    /// The short ids changed, and with them the VNIs.
    Respec,
    /// The device disappeared behind our back.
    Recheck,
}

pub struct Control {
    p: Params,
    interval: Duration,
    slow: Duration,
    timeout: Duration,
    confirmed: bool,
    spec: Option<DeviceSpec>,
    opening: Option<(Opening, DeviceSpec)>,
    next_heartbeat: Option<Instant>,
    last_rx: Instant,
    last_ack: Option<Instant>,
    /// When we last acknowledged one of the peer's heartbeats.
    last_ack_sent: Option<Instant>,
    established: bool,
    healthy: bool,
    /// Since when a path reported unhealthy has been healthy again.
    recovering: Option<Instant>,
    /// When the path last came back.
    returned: Option<Instant>,
    hold: Duration,
    /// Whether the device is on the bridge, as far as we know, and where we last asked it to be.
    attached: bool,
    target: bool,
    next_recheck: Instant,
    done: bool,
    actions: Vec<Action>,
}

/// Weave's connection attributes for fastdp: `name` and `mtu`.
pub fn attrs(mtu: u32) -> BTreeMap<String, serde_json::Value> {
    BTreeMap::from([("name".into(), "fastdp".into()), ("mtu".into(), mtu.into())])
}

impl Control {
    pub fn start(now: Instant, p: Params) -> Control {
        let (slow, timeout) = match p.peer_interval {
            Some(theirs) => {
                let slow = theirs.max(OUR_INTERVAL);
                (slow, slow * MISSED)
            }
            None => (WEAVE_SLOW, WEAVE_TIMEOUT),
        };
        let mut c = Control {
            interval: WEAVE_FAST,
            slow,
            timeout,
            confirmed: false,
            spec: None,
            opening: None,
            next_heartbeat: None,
            last_rx: now,
            last_ack: None,
            last_ack_sent: None,
            established: false,
            healthy: true,
            recovering: None,
            returned: None,
            hold: HOLD_MIN,
            attached: false,
            target: false,
            next_recheck: now + RECHECK,
            done: false,
            actions: Vec::new(),
            p,
        };
        c.actions.push(Action::Up(Up::Attrs(attrs(c.p.mtu))));
        c
    }

    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// The device we use (made for this spec), once open.
    pub fn spec(&self) -> Option<&DeviceSpec> {
        self.spec.as_ref()
    }

    /// Whether the device should be on the bridge now.
    pub fn wants_attached(&self) -> bool {
        self.established && self.healthy
    }

    /// The hold a path that comes back must wait out now.
    pub fn hold(&self) -> Duration {
        self.hold
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let mut d = self.next_recheck;
        if let Some(h) = self.next_heartbeat {
            d = d.min(h);
            if self.healthy || self.recovering.is_some() {
                let (rx_limit, ack_limit) = self.limits();
                d = d.min(self.last_rx + rx_limit);
                if let (Some(ack), true) = (self.last_ack, self.p.peer_interval.is_some()) {
                    d = d.min(ack + ack_limit);
                }
            }
            if let Some(since) = self.recovering {
                d = d.min(since + self.hold);
            }
        }
        Some(d)
    }

    fn fail(&mut self, e: String) {
        self.done = true;
        self.actions.push(Action::Fail(e));
    }

    /// The mesh confirmed the connection. `spec`: the device for the current short ids, or why
    /// there is none.
    pub fn confirm(&mut self, spec: Result<DeviceSpec, String>) {
        if self.done || self.confirmed {
            return;
        }
        if let Some(why) = self.p.encrypted.clone() {
            return self.fail(why);
        }
        match spec {
            Ok(spec) => self.open(Opening::Confirm, spec),
            Err(e) => self.fail(e),
        }
    }

    fn open(&mut self, why: Opening, spec: DeviceSpec) {
        self.spec = None;
        self.opening = Some((why, spec.clone()));
        self.actions.push(Action::Open(spec));
    }

    /// The answer to [`Action::Open`]: whether the device (made, or adopted as it was) is on
    /// the bridge. An adopted device stays where it is until heartbeats say otherwise.
    pub fn opened(&mut self, now: Instant, result: Result<bool, String>) {
        let Some((why, spec)) = self.opening.take() else { return };
        match result {
            Ok(attached) => {
                self.spec = Some(spec);
                self.attached = attached;
                self.target = attached;
                match why {
                    Opening::Confirm => {
                        self.confirmed = true;
                        self.last_rx = now;
                        self.send_heartbeat(now);
                    }
                    Opening::Respec => {
                        self.send_heartbeat(now);
                        self.evaluate(now);
                        // The new device starts off the bridge: put it where the old one was.
                        self.sync_attachment();
                    }
                    Opening::Recheck => self.sync_attachment(),
                }
            }
            Err(e) if why == Opening::Recheck => {
                // Tried again with the next heartbeat (there is no device to send it through).
                tracing::warn!(peer = %self.p.remote, "fastdp: {e}");
            }
            Err(e) => self.fail(e),
        }
    }

    fn send_heartbeat(&mut self, now: Instant) {
        self.actions.push(Action::SendHeartbeat);
        self.next_heartbeat = Some(now + self.interval);
    }

    /// Timers. `spec`: the device for the current short ids (asked only when a heartbeat is
    /// due; they can change after a collision or a restarted peer, and the VNIs with them).
    pub fn tick(&mut self, now: Instant, spec: impl FnOnce() -> Result<DeviceSpec, String>) {
        if self.done {
            return;
        }
        if self.opening.is_none() && self.next_heartbeat.is_some_and(|h| now >= h) {
            match spec() {
                Err(e) => return self.fail(e),
                Ok(spec) if Some(&spec) != self.spec.as_ref() => {
                    tracing::info!(peer = %self.p.remote, "fastdp: short ids changed; remaking the device");
                    if self.spec.is_some() {
                        self.target = false;
                        self.actions.push(Action::SetAttached(false));
                    }
                    self.next_heartbeat = Some(now + self.interval);
                    return self.open(Opening::Respec, spec);
                }
                Ok(_) => self.send_heartbeat(now),
            }
        }
        self.evaluate(now);
        if now >= self.next_recheck {
            self.next_recheck = now + RECHECK;
            if self.spec.is_some() && self.opening.is_none() {
                self.actions.push(Action::CheckAttachment);
            }
        }
    }

    /// A heartbeat of this connection arrived whole through the device.
    pub fn heartbeat(&mut self, now: Instant) {
        if self.done {
            return;
        }
        self.last_rx = now;
        // Weave acknowledges the first heartbeat only. A weave peer wants acknowledgements
        // within its timeout (MISSED intervals): one every ACK_EVERY intervals keeps well inside
        // it, and each costs a message through both meshes, unlike the heartbeat itself.
        let due = match (self.last_ack_sent, self.p.peer_interval) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(sent), Some(_)) => now.saturating_duration_since(sent) >= self.slow * ACK_EVERY,
        };
        if due {
            self.last_ack_sent = Some(now);
            self.actions.push(Action::Up(Up::SendControl { tag: HEARTBEAT_ACK, payload: Vec::new() }));
        }
        self.evaluate(now);
    }

    /// A control message from the peer's fastdp forwarder.
    pub fn control(&mut self, now: Instant, tag: u8, _payload: &[u8]) {
        if self.done {
            return;
        }
        match tag {
            HEARTBEAT_ACK => {
                self.last_ack = Some(now);
                if !self.established {
                    self.established = true;
                    self.actions.push(Action::Up(Up::Established));
                    self.sync_attachment();
                }
                self.interval = self.slow;
                self.evaluate(now);
            }
            CRYPTO_INIT_SA_REMOTE => {
                let e = format!("the peer wants encrypted fastdp: {}", self.p.encrypted_unavailable);
                self.fail(e)
            }
            _ => tracing::info!(peer = %self.p.remote, "fastdp: ignoring unknown control message {tag}"),
        }
    }

    /// The answer to [`Action::SetAttached`].
    pub fn attached(&mut self, on: bool, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.attached = on;
                tracing::info!(peer = %self.p.remote, "fastdp device {} the bridge", if on { "joined" } else { "left" });
            }
            Err(e) => {
                tracing::warn!(peer = %self.p.remote, "fastdp: {e}");
                self.target = self.attached;
            }
        }
    }

    /// The answer to [`Action::CheckAttachment`]: whether the device is on the bridge, `None`
    /// when it is gone. Puts it back where it belongs if something else moved it.
    pub fn attachment(&mut self, actual: Option<bool>) {
        match actual {
            None => {
                let Some(spec) = self.spec.clone() else { return };
                tracing::warn!(peer = %self.p.remote, "fastdp: device {} disappeared; remaking it", spec.name());
                self.attached = false;
                self.target = false;
                self.open(Opening::Recheck, spec);
            }
            Some(actual) if actual != self.attached => {
                self.attached = actual;
                self.target = actual;
                self.sync_attachment();
            }
            Some(_) => {}
        }
    }

    /// How long the path may go without a heartbeat from the peer, and without an
    /// acknowledgement of ours, before it is judged unhealthy: the timeout while healthy; with a
    /// weave peer, much less for a path that came back and is waiting out its hold.
    fn limits(&self) -> (Duration, Duration) {
        match (self.healthy, self.p.peer_interval) {
            (false, Some(_)) => (self.slow * RECOVER_MISSED, self.slow * (ACK_EVERY + RECOVER_MISSED)),
            _ => (self.timeout, self.timeout),
        }
    }

    /// Why the path is unhealthy now, if it is: no heartbeat from the peer lately or, with a
    /// weave peer, no acknowledgement of ours (the path may have died in one direction only).
    fn unhealthy_reason(&self, now: Instant) -> Option<String> {
        let (rx_limit, ack_limit) = self.limits();
        let since_rx = now.saturating_duration_since(self.last_rx);
        if since_rx >= rx_limit {
            return Some(format!("no fastdp heartbeat from the peer for {}s", since_rx.as_secs()));
        }
        if let (Some(ack), Some(_)) = (self.last_ack, self.p.peer_interval) {
            let since_ack = now.saturating_duration_since(ack);
            if since_ack >= ack_limit {
                return Some(format!(
                    "the peer has not acknowledged our fastdp heartbeats for {}s",
                    since_ack.as_secs()
                ));
            }
        }
        None
    }

    /// Re-judges health after a heartbeat, an acknowledgement or a timer.
    fn evaluate(&mut self, now: Instant) {
        if !self.confirmed {
            return;
        }
        let bad = self.unhealthy_reason(now);
        match (self.healthy, bad) {
            (true, None) => {}
            (true, Some(reason)) => {
                tracing::info!(peer = %self.p.remote, "fastdp unhealthy: {reason}");
                self.healthy = false;
                self.recovering = None;
                // Weave: no aggressive heartbeats while the peer is not answering.
                self.interval = self.slow;
                let flapped = self.returned.is_some_and(|t| now.saturating_duration_since(t) < STABLE);
                self.hold = if flapped { (self.hold * 2).min(HOLD_MAX) } else { HOLD_MIN };
                self.sync_attachment();
                self.actions.push(Action::Up(Up::Health { healthy: false, reason }));
            }
            (false, Some(_)) => self.recovering = None,
            (false, None) => {
                let since = *self.recovering.get_or_insert(now);
                if now < since + self.hold {
                    return;
                }
                tracing::info!(peer = %self.p.remote, hold = self.hold.as_secs(), "fastdp healthy again");
                self.healthy = true;
                self.recovering = None;
                self.returned = Some(now);
                self.sync_attachment();
                let reason = format!("fastdp heartbeats resumed and kept up for {}s", self.hold.as_secs());
                self.actions.push(Action::Up(Up::Health { healthy: true, reason }));
            }
        }
    }

    /// The device belongs on the bridge exactly while fastdp is established and healthy.
    fn sync_attachment(&mut self) {
        let want = self.wants_attached();
        if want != self.target && self.spec.is_some() {
            self.target = want;
            self.actions.push(Action::SetAttached(want));
        }
    }
}

#[cfg(test)]
mod tests;
