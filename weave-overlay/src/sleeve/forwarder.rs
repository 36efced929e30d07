//! One sleeve connection's shared state: where the peer is, the overlay MTU, the crypto, and
//! counters. The datapath threads read it per packet; the control task (heartbeats, MTU
//! discovery) writes it, as its core ([`super::control`]) says.

use arc_swap::ArcSwapOption;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use weave_wire::crypto::aead::Binding;
use weave_wire::crypto::suite::Ends;
use weave_wire::crypto::{PacketOpener, PacketSealer, SessionKey, SleeveCipher};
use weave_wire::PeerName;

/// UDP/IPv4 headers in front of every sleeve payload.
pub const UDP_OVERHEAD: usize = 28;
/// The largest UDP payload.
pub const MAX_UDP_PAYLOAD: usize = 65535 - UDP_OVERHEAD;
/// Before MTU discovery the overlay MTU is unbounded, as Weave's `DefaultMTU`.
pub const DEFAULT_MTU: u32 = 65535;

/// Encryption state of an untrusted connection with a password: the cipher it negotiated
/// (NaCl with Weave Net peers), a sealer per path and one opener.
pub struct Crypto {
    pub cipher: SleeveCipher,
    pub enc: Mutex<PacketSealer>,
    pub enc_df: Mutex<PacketSealer>,
    pub dec: Mutex<PacketOpener>,
}

impl Crypto {
    /// Weave's NaCl sleeve crypto; `outbound`: we dialled.
    pub fn new(key: &SessionKey, outbound: bool) -> Crypto {
        let ends = Ends { us: [0; 6], peer: [0; 6], outbound };
        Crypto::with_cipher(key, SleeveCipher::Nacl, &Binding::new(([0; 6], ""), ([0; 6], "")), ends)
    }

    /// The connection's sleeve crypto with the cipher the handshake negotiated.
    pub fn with_cipher(key: &SessionKey, cipher: SleeveCipher, binding: &Binding, ends: Ends) -> Crypto {
        Crypto {
            cipher,
            enc: Mutex::new(PacketSealer::new(key, cipher, binding, ends, false)),
            enc_df: Mutex::new(PacketSealer::new(key, cipher, binding, ends, true)),
            dec: Mutex::new(PacketOpener::new(key, cipher, binding, ends)),
        }
    }
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

/// Hands a [`DataEvent`] to the control task without waiting (dropping it if the task is
/// behind).
pub type Notify = Box<dyn Fn(DataEvent) + Send + Sync>;

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
    pub notify: Notify,
    pub counters: Counters,
}

impl Forwarder {
    /// A forwarder before MTU discovery.
    pub fn new(
        remote: PeerName,
        conn_uid: u64,
        addr: Option<SocketAddrV4>,
        crypto: Option<Crypto>,
        notify: Notify,
    ) -> Forwarder {
        Forwarder {
            remote,
            conn_uid,
            addr: ArcSwapOption::new(addr.map(Arc::new)),
            mtu: AtomicU32::new(DEFAULT_MTU),
            max_payload: AtomicU32::new(MAX_UDP_PAYLOAD as u32),
            stack_frag: AtomicBool::new(false),
            crypto,
            notify,
            counters: Counters::default(),
        }
    }

    /// Bytes a DF packet adds around a frame: UDP/IP, sender name, crypto, frame header, Ethernet.
    pub fn overhead_df(&self) -> usize {
        let crypto = if self.crypto.is_some() { 8 + 16 } else { 0 };
        UDP_OVERHEAD + 6 + crypto + 14 + 14
    }

    pub fn encrypted(&self) -> bool {
        self.crypto.is_some()
    }

    /// The cipher of the connection's packets, `None` when they travel in the clear.
    pub fn cipher(&self) -> Option<SleeveCipher> {
        self.crypto.as_ref().map(|c| c.cipher)
    }

    /// The cipher's name in metrics: `none` for clear packets.
    pub fn cipher_name(&self) -> &'static str {
        self.cipher().map_or("none", |c| c.name())
    }

    pub fn addr(&self) -> Option<SocketAddrV4> {
        self.addr.load().as_deref().copied()
    }

    pub fn mtu(&self) -> u32 {
        self.mtu.load(Ordering::Relaxed)
    }

    /// Hands an event to the control task; dropped if the task is behind.
    pub fn notify(&self, e: DataEvent) {
        (self.notify)(e)
    }

    /// A special frame from `us`, alone in a packet for the DF or non-DF path, sealed when the
    /// connection is encrypted.
    pub fn special_packet(&self, us: PeerName, df: bool, frame: &[u8]) -> Result<Vec<u8>, String> {
        let mut buf = Vec::with_capacity(frame.len() + 60);
        buf.extend_from_slice(&us.bytes());
        if self.encrypted() {
            buf.extend_from_slice(&[0u8; 24]);
        }
        buf.extend_from_slice(&us.bytes());
        buf.extend_from_slice(&self.remote.bytes());
        buf.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        buf.extend_from_slice(frame);
        if let Some(c) = &self.crypto {
            let enc = if df { &c.enc_df } else { &c.enc };
            enc.lock()
                .unwrap_or_else(|e| e.into_inner())
                .seal_in_place(&mut buf[6..])
                .map_err(|e| e.to_string())?;
        }
        Ok(buf)
    }
}

pub type ForwarderRef = Arc<Forwarder>;
