//! The control side of one sleeve connection, as Weave's `sleeveForwarder`: heartbeats (fast
//! until acknowledged, then slow; 60 s without one is an error), learning the peer's UDP
//! address, the fragmentation test, path MTU discovery and the MTU binary search. Runs as an
//! async task; the packet path never waits for it.

use super::datapath::Shared;
use super::forwarder::{DataEvent, ForwarderRef, DEFAULT_MTU, UDP_OVERHEAD};
use super::udp::{path_mtu, send_batch, SendError};
use crate::overlay::forwarder::{Ctl, Up};
use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use weave_wire::sleeve::SpecialFrame;

pub const FAST_HEARTBEAT: Duration = Duration::from_millis(500);
pub const SLOW_HEARTBEAT: Duration = Duration::from_secs(10);
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(60);
const FRAG_TEST_INTERVAL: Duration = Duration::from_secs(5 * 60);
const FRAG_TEST_SIZE: usize = 60001;
const PMTU_PROBE_SIZE: usize = 60000;
const MTU_VERIFY_ATTEMPTS: u32 = 8;
const MTU_VERIFY_TIMEOUT: Duration = Duration::from_millis(10);
/// The lowest MTU the binary search assumes works (IPv4's minimum reassembly size).
const MTU_FLOOR: u32 = 552;

/// Sleeve control message sub-tags (Weave reuses mesh's reserved tags 1-3).
pub const CONNECTION_ESTABLISHED: u8 = 1;
pub const FRAGMENTATION_RECEIVED: u8 = 2;
pub const PMTU_VERIFIED: u8 = 3;

struct State {
    fwd: ForwarderRef,
    sh: Arc<Shared>,
    up: mpsc::Sender<Up>,
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
}

/// Runs until the control channel closes (connection stopped) or the data path fails.
pub async fn run(
    fwd: ForwarderRef,
    sh: Arc<Shared>,
    mut ctl: mpsc::Receiver<Ctl>,
    mut data: mpsc::Receiver<DataEvent>,
    up: mpsc::Sender<Up>,
) {
    let mut st = State {
        fwd,
        sh,
        up,
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
    };
    let _ = st.up.send(Up::Attrs(attrs(DEFAULT_MTU))).await;
    let far = Instant::now() + Duration::from_secs(86400 * 365);
    let result: Result<(), String> = loop {
        let r = tokio::select! {
            c = ctl.recv() => match c {
                None => break Ok(()),
                Some(Ctl::Confirm) => st.confirmed(),
                Some(Ctl::Control { tag, payload }) => st.control(tag, &payload).await,
            },
            d = data.recv() => match d {
                None => break Ok(()),
                Some(DataEvent::Special { from, frame }) => st.special(from, &frame).await,
                Some(DataEvent::TooBig) => st.too_big(),
            },
            _ = sleep_until(st.next_heartbeat.unwrap_or(far)) => st.send_heartbeat(),
            _ = sleep_until(st.heartbeat_deadline.unwrap_or(far)) => Err("timed out waiting for UDP heartbeat".to_string()),
            _ = sleep_until(st.next_frag_test.unwrap_or(far)) => {
                st.next_frag_test = Some(Instant::now() + FRAG_TEST_INTERVAL);
                st.send_frag_test()
            }
            _ = sleep_until(st.mtu_deadline.unwrap_or(far)) => st.mtu_test_failed(),
        };
        if let Err(e) = r {
            break Err(e);
        }
    };
    st.unregister();
    if let Err(e) = result {
        let _ = st.up.send(Up::Failed(e)).await;
    }
}

impl State {
    fn log_prefix(&self) -> String {
        let addr = self.fwd.addr().map(|a| a.to_string()).unwrap_or_else(|| "<nil>".into());
        format!("sleeve ->[{addr}|{}]:", self.fwd.remote)
    }

    fn unregister(&self) {
        let remote = self.fwd.remote;
        let fwd = &self.fwd;
        self.sh.fwds.rcu(|m| {
            let mut m = (**m).clone();
            if m.get(&remote).is_some_and(|f| Arc::ptr_eq(f, fwd)) {
                m.remove(&remote);
            }
            m
        });
    }

    fn confirmed(&mut self) -> Result<(), String> {
        if self.heartbeat_interval.is_some() {
            return Ok(());
        }
        let (remote, fwd) = (self.fwd.remote, self.fwd.clone());
        self.sh.fwds.rcu(|m| {
            let mut m = (**m).clone();
            m.insert(remote, fwd.clone());
            m
        });
        self.heartbeat_interval = Some(FAST_HEARTBEAT);
        if self.fwd.addr().is_some() {
            self.send_heartbeat()?;
        }
        self.heartbeat_deadline = Some(Instant::now() + HEARTBEAT_TIMEOUT);
        Ok(())
    }

    fn send_heartbeat(&mut self) -> Result<(), String> {
        let interval = self.heartbeat_interval.unwrap_or(FAST_HEARTBEAT);
        self.next_heartbeat = Some(Instant::now() + interval);
        let frame = SpecialFrame::Heartbeat { conn_uid: self.fwd.conn_uid }.to_frame();
        self.send_special(true, &frame)
    }

    async fn special(&mut self, from: SocketAddrV4, frame: &[u8]) -> Result<(), String> {
        match SpecialFrame::classify(frame) {
            Some(SpecialFrame::Heartbeat { conn_uid }) => {
                if conn_uid != self.fwd.conn_uid {
                    return Ok(());
                }
                match self.fwd.addr() {
                    None => {
                        self.fwd.addr.store(Some(Arc::new(from)));
                        if self.heartbeat_interval.is_some() {
                            self.send_heartbeat()?;
                        }
                    }
                    Some(a) if a != from => {
                        tracing::info!("{} Peer UDP address changed to {from}", self.log_prefix());
                        self.fwd.addr.store(Some(Arc::new(from)));
                    }
                    Some(_) => {}
                }
                if !self.acked_heartbeat {
                    self.acked_heartbeat = true;
                    self.send_control(CONNECTION_ESTABLISHED, vec![]).await;
                }
                if self.heartbeat_deadline.is_some() {
                    self.heartbeat_deadline = Some(Instant::now() + HEARTBEAT_TIMEOUT);
                }
                Ok(())
            }
            Some(SpecialFrame::FragTest) => {
                if frame[14..].iter().all(|&b| b == 0) {
                    self.send_control(FRAGMENTATION_RECEIVED, vec![]).await;
                }
                Ok(())
            }
            // Weave answers every other special frame as an MTU test (the PMTU probe never
            // arrives: the sender's kernel refuses it).
            _ => {
                let mtu = (frame.len().saturating_sub(14)) as u16;
                self.send_control(PMTU_VERIFIED, mtu.to_be_bytes().to_vec()).await;
                Ok(())
            }
        }
    }

    async fn control(&mut self, tag: u8, payload: &[u8]) -> Result<(), String> {
        match tag {
            CONNECTION_ESTABLISHED => {
                if self.heartbeat_interval != Some(SLOW_HEARTBEAT) {
                    self.heartbeat_interval = Some(SLOW_HEARTBEAT);
                    if self.next_heartbeat.is_some() {
                        self.next_heartbeat = Some(Instant::now() + SLOW_HEARTBEAT);
                    }
                    if !self.established {
                        self.established = true;
                        let _ = self.up.send(Up::Established).await;
                    }
                }
                self.next_frag_test = Some(Instant::now() + FRAG_TEST_INTERVAL);
                self.send_frag_test()?;
                // Refused by our own kernel: that refusal starts path MTU discovery.
                self.send_special(true, &vec![0u8; PMTU_PROBE_SIZE])
            }
            FRAGMENTATION_RECEIVED => {
                self.fwd.stack_frag.store(true, Ordering::Relaxed);
                Ok(())
            }
            PMTU_VERIFIED => {
                let Some(b) = payload.get(..2) else {
                    tracing::info!("{} Received truncated MTUTestAck", self.log_prefix());
                    return Ok(());
                };
                let mtu = u16::from_be_bytes([b[0], b[1]]) as u32;
                if mtu != self.mtu_candidate {
                    return Ok(());
                }
                self.mtu_highest_good = mtu;
                self.search_mtu()
            }
            other => {
                tracing::info!("{} Ignoring unknown control message tag: {other}", self.log_prefix());
                Ok(())
            }
        }
    }

    fn send_frag_test(&mut self) -> Result<(), String> {
        self.fwd.stack_frag.store(false, Ordering::Relaxed);
        self.send_special(false, &vec![0u8; FRAG_TEST_SIZE])
    }

    /// A DF send was refused: start (or restart) the MTU search below the kernel's path MTU.
    fn too_big(&mut self) -> Result<(), String> {
        let Some(addr) = self.fwd.addr() else { return Ok(()) };
        let pmtu = match path_mtu(SocketAddr::V4(addr)) {
            Ok(p) => p,
            Err(e) => return Err(e.to_string()),
        };
        let overhead = self.fwd.overhead_df() as u32;
        let mtu = pmtu.saturating_sub(overhead);
        if self.mtu_candidate != 0 && mtu >= self.mtu_candidate {
            return Ok(());
        }
        self.mtu_highest_good = MTU_FLOOR;
        self.mtu_lowest_bad = mtu + 1;
        self.mtu_candidate = mtu;
        self.mtu_tests_sent = 0;
        self.fwd.max_payload.store(pmtu.saturating_sub(UDP_OVERHEAD as u32), Ordering::Relaxed);
        self.set_mtu(mtu);
        self.send_mtu_test()
    }

    fn send_mtu_test(&mut self) -> Result<(), String> {
        tracing::debug!("{} sendMTUTest: mtu candidate {}", self.log_prefix(), self.mtu_candidate);
        self.send_special(true, &vec![0u8; self.mtu_candidate as usize + 14])?;
        self.mtu_deadline = Some(Instant::now() + MTU_VERIFY_TIMEOUT * (1 << self.mtu_tests_sent));
        self.mtu_tests_sent += 1;
        Ok(())
    }

    fn mtu_test_failed(&mut self) -> Result<(), String> {
        self.mtu_deadline = None;
        if self.mtu_tests_sent < MTU_VERIFY_ATTEMPTS {
            return self.send_mtu_test();
        }
        self.mtu_lowest_bad = self.mtu_candidate;
        self.search_mtu()
    }

    fn search_mtu(&mut self) -> Result<(), String> {
        if self.mtu_highest_good + 1 >= self.mtu_lowest_bad {
            let mtu = self.mtu_highest_good;
            tracing::info!("{} Effective MTU verified at {mtu}", self.log_prefix());
            self.mtu_deadline = None;
            self.mtu_candidate = 0;
            let payload = mtu + self.fwd.overhead_df() as u32 - UDP_OVERHEAD as u32;
            self.fwd.max_payload.store(payload, Ordering::Relaxed);
            self.set_mtu(mtu);
            return Ok(());
        }
        self.mtu_candidate = (self.mtu_highest_good + self.mtu_lowest_bad) / 2;
        self.mtu_tests_sent = 0;
        self.send_mtu_test()
    }

    fn set_mtu(&self, mtu: u32) {
        self.fwd.mtu.store(mtu, Ordering::Relaxed);
        let _ = self.up.try_send(Up::Attrs(attrs(mtu)));
    }

    async fn send_control(&self, tag: u8, payload: Vec<u8>) {
        let _ = self.up.send(Up::SendControl { tag, payload }).await;
    }

    /// Sends one special frame alone in a packet on the DF or non-DF path.
    fn send_special(&mut self, df: bool, frame: &[u8]) -> Result<(), String> {
        let Some(addr) = self.fwd.addr() else { return Ok(()) };
        let us = self.sh.us;
        let mut buf = Vec::with_capacity(frame.len() + 60);
        buf.extend_from_slice(&us.bytes());
        if self.fwd.encrypted() {
            buf.extend_from_slice(&[0u8; 24]);
        }
        buf.extend_from_slice(&us.bytes());
        buf.extend_from_slice(&self.fwd.remote.bytes());
        buf.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        buf.extend_from_slice(frame);
        if let Some(c) = &self.fwd.crypto {
            let enc = if df { &c.enc_df } else { &c.enc };
            enc.lock()
                .unwrap_or_else(|e| e.into_inner())
                .seal_in_place(&mut buf[6..])
                .map_err(|e| e.to_string())?;
        }
        let mut too_big = false;
        let mut other = None;
        send_batch(self.sh.sockets.get(df), &[(addr, &buf)], |_, e| match e {
            SendError::TooBig => too_big = true,
            SendError::Other(e) => other = Some(e),
        });
        if too_big {
            return self.too_big();
        }
        if let Some(e) = other {
            // Unreachable peers are normal while a connection comes up; heartbeats time out.
            tracing::debug!("{} send: {e}", self.log_prefix());
        }
        Ok(())
    }
}

/// Weave's connection attributes for sleeve: `name` and `mtu`.
pub fn attrs(mtu: u32) -> BTreeMap<String, serde_json::Value> {
    BTreeMap::from([("name".to_string(), "sleeve".into()), ("mtu".to_string(), mtu.into())])
}
