//! The control core of one sleeve connection, as Weave's `sleeveForwarder`: heartbeats (fast
//! until acknowledged, then slow; 60 s without one is an error), learning the peer's UDP
//! address, the fragmentation test, path MTU discovery and the MTU binary search.
//!
//! Driving it: [`Control::start`]; [`Control::confirm`] when the mesh confirms the connection;
//! [`Control::control`] for each control message from the peer's sleeve forwarder;
//! [`Control::special`] for each special frame the datapath hands over; [`Control::too_big`]
//! when a DF send was refused (with the kernel's path MTU to the peer); [`Control::tick`] at
//! [`Control::next_deadline`]. After each call perform [`Control::take_actions`] in order (a
//! `Send` refused as too big is answered with `too_big` at once). Stop after [`Action::Fail`].

use super::forwarder::{DEFAULT_MTU, UDP_OVERHEAD};
use crate::forwarder::Up;
use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};
use weave_wire::sleeve::SpecialFrame;

pub const FAST_HEARTBEAT: Duration = Duration::from_millis(500);
pub const SLOW_HEARTBEAT: Duration = Duration::from_secs(10);
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(60);
pub const FRAG_TEST_INTERVAL: Duration = Duration::from_secs(5 * 60);
const MTU_VERIFY_ATTEMPTS: u32 = 8;
const MTU_VERIFY_TIMEOUT: Duration = Duration::from_millis(10);
/// The lowest MTU the binary search assumes works (IPv4's minimum reassembly size).
pub const MTU_FLOOR: u32 = 552;

/// Sleeve control message sub-tags (Weave reuses mesh's reserved tags 1-3).
pub const CONNECTION_ESTABLISHED: u8 = 1;
pub const FRAGMENTATION_RECEIVED: u8 = 2;
pub const PMTU_VERIFIED: u8 = 3;

/// A special frame to send alone in a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Heartbeat,
    /// Bigger than any path MTU, on the path the kernel may fragment: does the peer get it?
    FragTest,
    /// Bigger than any path MTU, with DF: our kernel refuses it, which starts the MTU search.
    PmtuProbe,
    /// A frame of this overlay MTU, with DF: the peer answers the sizes that arrive.
    MtuTest(u32),
}

impl Special {
    /// Whether it goes on the DF path.
    pub fn df(&self) -> bool {
        !matches!(self, Special::FragTest)
    }

    /// The frame (an all-zero Ethernet header marks it special).
    pub fn frame(&self, conn_uid: u64) -> Vec<u8> {
        match self {
            Special::Heartbeat => SpecialFrame::Heartbeat { conn_uid }.to_frame(),
            Special::FragTest => SpecialFrame::FragTest.to_frame(),
            Special::PmtuProbe => SpecialFrame::PmtuProbe.to_frame(),
            Special::MtuTest(mtu) => vec![0; *mtu as usize + 14],
        }
    }
}

/// What the core asks its task to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Tell the overlay switch.
    Up(Up),
    /// Put the forwarder in the datapath's table: the connection is confirmed.
    Register,
    /// The peer's UDP address (learnt from its heartbeat, or changed).
    SetAddr(SocketAddrV4),
    /// Send a special frame to the peer's address.
    Send(Special),
    /// The overlay MTU for frames to the peer.
    SetMtu(u32),
    /// The largest UDP payload on the DF path.
    SetMaxPayload(u32),
    /// Whether the peer gets the kernel's fragments of non-DF packets.
    SetStackFrag(bool),
    /// The connection's sleeve is dead: stop.
    Fail(String),
}

pub struct Control {
    conn_uid: u64,
    /// Bytes a DF packet adds around a frame (see `Forwarder::overhead_df`).
    overhead_df: u32,
    addr: Option<SocketAddrV4>,
    heartbeat_interval: Option<Duration>,
    next_heartbeat: Option<Instant>,
    heartbeat_deadline: Option<Instant>,
    acked_heartbeat: bool,
    established: bool,
    next_frag_test: Option<Instant>,
    mtu_deadline: Option<Instant>,
    mtu_tests_sent: u32,
    mtu_highest_good: u32,
    mtu_lowest_bad: u32,
    mtu_candidate: u32,
    /// The MTU last announced.
    mtu: u32,
    done: bool,
    actions: Vec<Action>,
}

/// Weave's connection attributes for sleeve: `name` and `mtu`.
pub fn attrs(mtu: u32) -> BTreeMap<String, serde_json::Value> {
    BTreeMap::from([("name".to_string(), "sleeve".into()), ("mtu".to_string(), mtu.into())])
}

impl Control {
    /// `addr`: the peer's UDP address when we dialled it (else learnt from its heartbeats).
    pub fn start(conn_uid: u64, addr: Option<SocketAddrV4>, overhead_df: u32) -> Control {
        Control {
            conn_uid,
            overhead_df,
            addr,
            heartbeat_interval: None,
            next_heartbeat: None,
            heartbeat_deadline: None,
            acked_heartbeat: false,
            established: false,
            next_frag_test: None,
            mtu_deadline: None,
            mtu_tests_sent: 0,
            mtu_highest_good: 0,
            mtu_lowest_bad: 0,
            mtu_candidate: 0,
            mtu: DEFAULT_MTU,
            done: false,
            actions: vec![Action::Up(Up::Attrs(attrs(DEFAULT_MTU)))],
        }
    }

    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    pub fn addr(&self) -> Option<SocketAddrV4> {
        self.addr
    }

    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    pub fn established(&self) -> bool {
        self.established
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        [self.next_heartbeat, self.heartbeat_deadline, self.next_frag_test, self.mtu_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    fn fail(&mut self, e: String) {
        self.done = true;
        self.actions.push(Action::Fail(e));
    }

    fn send(&mut self, s: Special) {
        if self.addr.is_some() && !self.done {
            self.actions.push(Action::Send(s));
        }
    }

    fn up(&mut self, u: Up) {
        self.actions.push(Action::Up(u));
    }

    /// The mesh confirmed the connection: heartbeats start.
    pub fn confirm(&mut self, now: Instant) {
        if self.heartbeat_interval.is_some() || self.done {
            return;
        }
        self.actions.push(Action::Register);
        self.heartbeat_interval = Some(FAST_HEARTBEAT);
        if self.addr.is_some() {
            self.send_heartbeat(now);
        }
        self.heartbeat_deadline = Some(now + HEARTBEAT_TIMEOUT);
    }

    fn send_heartbeat(&mut self, now: Instant) {
        let interval = self.heartbeat_interval.unwrap_or(FAST_HEARTBEAT);
        self.next_heartbeat = Some(now + interval);
        self.send(Special::Heartbeat);
    }

    pub fn tick(&mut self, now: Instant) {
        if self.done {
            return;
        }
        if self.heartbeat_deadline.is_some_and(|d| now >= d) {
            return self.fail("timed out waiting for UDP heartbeat".to_string());
        }
        if self.next_heartbeat.is_some_and(|h| now >= h) {
            self.send_heartbeat(now);
        }
        if self.next_frag_test.is_some_and(|t| now >= t) {
            self.next_frag_test = Some(now + FRAG_TEST_INTERVAL);
            self.send_frag_test();
        }
        if self.mtu_deadline.is_some_and(|t| now >= t) {
            self.mtu_test_failed(now);
        }
    }

    /// A special frame from the peer (sent to us from `from`).
    pub fn special(&mut self, now: Instant, from: SocketAddrV4, frame: &[u8]) {
        if self.done {
            return;
        }
        match SpecialFrame::classify(frame) {
            Some(SpecialFrame::Heartbeat { conn_uid }) => {
                if conn_uid != self.conn_uid {
                    return;
                }
                match self.addr {
                    None => {
                        self.addr = Some(from);
                        self.actions.push(Action::SetAddr(from));
                        if self.heartbeat_interval.is_some() {
                            self.send_heartbeat(now);
                        }
                    }
                    Some(a) if a != from => {
                        tracing::info!(conn_uid, "sleeve: the peer's UDP address changed to {from}");
                        self.addr = Some(from);
                        self.actions.push(Action::SetAddr(from));
                    }
                    Some(_) => {}
                }
                if !self.acked_heartbeat {
                    self.acked_heartbeat = true;
                    self.up(Up::SendControl { tag: CONNECTION_ESTABLISHED, payload: vec![] });
                }
                if self.heartbeat_deadline.is_some() {
                    self.heartbeat_deadline = Some(now + HEARTBEAT_TIMEOUT);
                }
            }
            Some(SpecialFrame::FragTest) => {
                if frame[14..].iter().all(|&b| b == 0) {
                    self.up(Up::SendControl { tag: FRAGMENTATION_RECEIVED, payload: vec![] });
                }
            }
            // Weave answers every other special frame as an MTU test (the PMTU probe never
            // arrives: the sender's kernel refuses it).
            _ => {
                let mtu = (frame.len().saturating_sub(14)) as u16;
                self.up(Up::SendControl { tag: PMTU_VERIFIED, payload: mtu.to_be_bytes().to_vec() });
            }
        }
    }

    /// A control message from the peer's sleeve forwarder.
    pub fn control(&mut self, now: Instant, tag: u8, payload: &[u8]) {
        if self.done {
            return;
        }
        match tag {
            CONNECTION_ESTABLISHED => {
                if self.heartbeat_interval != Some(SLOW_HEARTBEAT) {
                    self.heartbeat_interval = Some(SLOW_HEARTBEAT);
                    if self.next_heartbeat.is_some() {
                        self.next_heartbeat = Some(now + SLOW_HEARTBEAT);
                    }
                    if !self.established {
                        self.established = true;
                        self.up(Up::Established);
                    }
                }
                self.next_frag_test = Some(now + FRAG_TEST_INTERVAL);
                self.send_frag_test();
                // Refused by our own kernel: that refusal starts path MTU discovery.
                self.send(Special::PmtuProbe);
            }
            FRAGMENTATION_RECEIVED => self.actions.push(Action::SetStackFrag(true)),
            PMTU_VERIFIED => {
                let Some(b) = payload.get(..2) else {
                    tracing::info!(conn_uid = self.conn_uid, "sleeve: received a truncated MTUTestAck");
                    return;
                };
                let mtu = u16::from_be_bytes([b[0], b[1]]) as u32;
                if mtu != self.mtu_candidate {
                    return;
                }
                self.mtu_highest_good = mtu;
                self.search_mtu(now);
            }
            other => tracing::info!(
                conn_uid = self.conn_uid,
                "sleeve: ignoring unknown control message tag {other}"
            ),
        }
    }

    fn send_frag_test(&mut self) {
        self.actions.push(Action::SetStackFrag(false));
        self.send(Special::FragTest);
    }

    /// A DF send was refused: start (or restart) the MTU search below the kernel's path MTU
    /// (`pmtu`, or why it could not be read).
    pub fn too_big(&mut self, now: Instant, pmtu: Result<u32, String>) {
        if self.done || self.addr.is_none() {
            return;
        }
        let pmtu = match pmtu {
            Ok(p) => p,
            Err(e) => return self.fail(e),
        };
        let mtu = pmtu.saturating_sub(self.overhead_df);
        if self.mtu_candidate != 0 && mtu >= self.mtu_candidate {
            return;
        }
        self.mtu_highest_good = MTU_FLOOR;
        self.mtu_lowest_bad = mtu + 1;
        self.mtu_candidate = mtu;
        self.mtu_tests_sent = 0;
        self.actions.push(Action::SetMaxPayload(pmtu.saturating_sub(UDP_OVERHEAD as u32)));
        self.set_mtu(mtu);
        self.send_mtu_test(now);
    }

    fn send_mtu_test(&mut self, now: Instant) {
        tracing::debug!(conn_uid = self.conn_uid, "sleeve: MTU test, candidate {}", self.mtu_candidate);
        self.send(Special::MtuTest(self.mtu_candidate));
        self.mtu_deadline = Some(now + MTU_VERIFY_TIMEOUT * (1 << self.mtu_tests_sent));
        self.mtu_tests_sent += 1;
    }

    fn mtu_test_failed(&mut self, now: Instant) {
        self.mtu_deadline = None;
        if self.mtu_tests_sent < MTU_VERIFY_ATTEMPTS {
            return self.send_mtu_test(now);
        }
        self.mtu_lowest_bad = self.mtu_candidate;
        self.search_mtu(now);
    }

    fn search_mtu(&mut self, now: Instant) {
        if self.mtu_highest_good + 1 >= self.mtu_lowest_bad {
            let mtu = self.mtu_highest_good;
            tracing::info!(conn_uid = self.conn_uid, "sleeve: effective MTU verified at {mtu}");
            self.mtu_deadline = None;
            self.mtu_candidate = 0;
            let payload = mtu + self.overhead_df - UDP_OVERHEAD as u32;
            self.actions.push(Action::SetMaxPayload(payload));
            self.set_mtu(mtu);
            return;
        }
        self.mtu_candidate = (self.mtu_highest_good + self.mtu_lowest_bad) / 2;
        self.mtu_tests_sent = 0;
        self.send_mtu_test(now);
    }

    fn set_mtu(&mut self, mtu: u32) {
        self.mtu = mtu;
        self.actions.push(Action::SetMtu(mtu));
        self.up(Up::Attrs(attrs(mtu)));
    }
}

#[cfg(test)]
mod tests;
