//! One sleeve connection's shared state: where the peer is, the overlay MTU, the crypto, and
//! counters. The datapath threads read it per packet; the control task (heartbeats, MTU
//! discovery) writes it.

use arc_swap::ArcSwapOption;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use weave_wire::crypto::{SleeveDecryptor, SleeveEncryptor};
use weave_wire::PeerName;

/// UDP/IPv4 headers in front of every sleeve payload.
pub const UDP_OVERHEAD: usize = 28;
/// The largest UDP payload.
pub const MAX_UDP_PAYLOAD: usize = 65535 - UDP_OVERHEAD;
/// Before MTU discovery the overlay MTU is unbounded, as Weave's `DefaultMTU`.
pub const DEFAULT_MTU: u32 = 65535;

/// Encryption state of an untrusted connection with a password.
pub struct Crypto {
    pub enc: Mutex<SleeveEncryptor>,
    pub enc_df: Mutex<SleeveEncryptor>,
    pub dec: Mutex<SleeveDecryptor>,
}

/// Something the datapath hands to the forwarder's control task.
#[derive(Debug)]
pub enum DataEvent {
    /// A special frame (heartbeat, frag test, MTU test) from the peer, and where it came from.
    Special { from: SocketAddrV4, frame: Vec<u8> },
    /// A DF send was refused: the kernel's path MTU to the peer is smaller.
    TooBig,
}

#[derive(Default)]
pub struct Counters {
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub drops: AtomicU64,
}

pub struct Forwarder {
    pub remote: PeerName,
    pub conn_uid: u64,
    /// The peer's UDP address: known at once when we dialled, learnt from its first heartbeat
    /// otherwise.
    pub addr: ArcSwapOption<SocketAddrV4>,
    /// The overlay MTU for frames to this peer.
    pub mtu: AtomicU32,
    /// The largest UDP payload on the DF path.
    pub max_payload: AtomicU32,
    /// The peer confirmed that the kernel's fragmentation of non-DF packets reaches it.
    pub stack_frag: AtomicBool,
    pub crypto: Option<Crypto>,
    pub events: mpsc::Sender<DataEvent>,
    pub counters: Counters,
}

impl Forwarder {
    /// Bytes a DF packet adds around a frame: UDP/IP, sender name, crypto, frame header, Ethernet.
    pub fn overhead_df(&self) -> usize {
        let crypto = if self.crypto.is_some() { 8 + 16 } else { 0 };
        UDP_OVERHEAD + 6 + crypto + 14 + 14
    }

    pub fn encrypted(&self) -> bool {
        self.crypto.is_some()
    }

    pub fn addr(&self) -> Option<SocketAddrV4> {
        self.addr.load().as_deref().copied()
    }

    pub fn mtu(&self) -> u32 {
        self.mtu.load(Ordering::Relaxed)
    }

    /// Hands an event to the control task; drops it if the task is behind.
    pub fn notify(&self, e: DataEvent) {
        let _ = self.events.try_send(e);
    }
}

pub type ForwarderRef = Arc<Forwarder>;
