//! Sleeve: Weave's userspace overlay over UDP `--port`. The bridge's local port (a TAP device)
//! is read and written by dedicated datapath threads (`datapath`, running the packet path of
//! `weave_overlay::sleeve::datapath`); each connection's control is an async task (`control`,
//! driving `weave_overlay::sleeve::control`).

pub mod control;
pub mod datapath;
pub mod udp;

use self::udp::Sockets;
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use weave_mesh::Routes;
use weave_overlay::forwarder::{Ctl, Up};
use weave_overlay::fxhash::FxHashSet;
use weave_overlay::maccache::MacCache;
use weave_overlay::sleeve::datapath::Shared;
use weave_overlay::sleeve::forwarder::{Crypto, Forwarder};
use weave_overlay::sleeve::port::LocalPort;
use weave_wire::crypto::aead::Binding;
use weave_wire::crypto::suite::Ends;
use weave_wire::crypto::{SessionKey, SleeveCipher};
use weave_wire::PeerName;

/// What a new sleeve connection needs to know.
pub struct SleeveParams {
    pub remote: PeerName,
    pub conn_uid: u64,
    pub outbound: bool,
    /// The TCP address of the peer; when we dialled, its UDP address is the same.
    pub remote_tcp: SocketAddr,
    /// Set when the connection is encrypted (password, and not mutually trusted).
    pub session_key: Option<SessionKey>,
    /// The cipher the handshake negotiated, and what binds its keys to the negotiation.
    pub sleeve_cipher: SleeveCipher,
    pub binding: Binding,
}

pub struct Sleeve {
    sh: Arc<Shared>,
    flood_lock: Mutex<()>,
}

impl Sleeve {
    /// Binds UDP `bind` and starts the datapath threads over `port`.
    pub fn start(us: PeerName, bind: SocketAddrV4, port: Box<dyn LocalPort>) -> std::io::Result<Sleeve> {
        let sockets = Arc::new(Sockets::bind(bind).map_err(std::io::Error::other)?);
        let sh = Arc::new(Shared::new(us, Box::new(sockets.clone()), port));
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name.into()).spawn(f).map(|_| ())
        };
        let s = sh.clone();
        spawn("weave-capture", Box::new(move || datapath::capture_loop(s)))?;
        for df in [false, true] {
            let (s, so) = (sh.clone(), sockets.clone());
            spawn(
                if df { "weave-recv-df" } else { "weave-recv" },
                Box::new(move || datapath::receive_loop(s, so, df)),
            )?;
        }
        Ok(Sleeve { sh, flood_lock: Mutex::new(()) })
    }

    /// Creates the forwarder of a new connection and starts its control task. Returns the
    /// channels to drive it and hear from it.
    pub fn prepare(&self, p: SleeveParams) -> (mpsc::Sender<Ctl>, mpsc::Receiver<Up>) {
        let (events_tx, events_rx) = mpsc::channel(64);
        let ends = Ends { us: self.sh.us.bytes(), peer: p.remote.bytes(), outbound: p.outbound };
        let crypto =
            p.session_key.as_ref().map(|k| Crypto::with_cipher(k, p.sleeve_cipher, &p.binding, ends));
        let addr = match (p.outbound, p.remote_tcp) {
            (true, SocketAddr::V4(a)) => Some(a),
            _ => None,
        };
        let notify = Box::new(move |e| {
            let _ = events_tx.try_send(e);
        });
        let fwd = Arc::new(Forwarder::new(p.remote, p.conn_uid, addr, crypto, notify));
        let (ctl_tx, ctl_rx) = mpsc::channel(16);
        let (up_tx, up_rx) = mpsc::channel(16);
        tokio::spawn(control::run(fwd, self.sh.clone(), ctl_rx, events_rx, up_tx));
        (ctl_tx, up_rx)
    }

    pub fn set_routes(&self, routes: Arc<Routes>) {
        self.sh.routes.store(routes);
    }

    /// Peers that left the topology: forget their MACs.
    pub fn peers_removed(&self, peers: &[PeerName]) {
        for p in peers {
            self.sh.macs.delete_peer(*p);
        }
    }

    /// Whether the kernel (a fastdp port on the bridge) floods our local broadcasts to `peer`.
    pub fn set_kernel_flood(&self, peer: PeerName, on: bool) {
        // Updates are rare; read-copy-update under the lock keeps concurrent ones from racing.
        let _guard = self.flood_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut set = FxHashSet::clone(&self.sh.kernel_flood.load());
        let changed = if on { set.insert(peer) } else { set.remove(&peer) };
        if changed {
            self.sh.kernel_flood.store(Arc::new(set));
        }
    }

    pub fn macs(&self) -> &MacCache {
        &self.sh.macs
    }

    /// Per-peer traffic counters: (tx packets, tx bytes, rx packets, rx bytes, drops).
    /// Datagrams no connection could own (see `Shared::rejected`).
    pub fn rejected(&self) -> u64 {
        self.sh.rejected.load(Ordering::Relaxed)
    }

    /// Sleeve payload bytes (sent, received) since start, by cipher name (`none`: clear).
    pub fn cipher_bytes(&self) -> BTreeMap<&'static str, [u64; 2]> {
        let retired = self.sh.retired.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = retired.clone();
        for f in self.sh.fwds.load().values() {
            let t = out.entry(f.cipher_name()).or_default();
            t[0] += f.counters.tx_bytes.load(Ordering::Relaxed);
            t[1] += f.counters.rx_bytes.load(Ordering::Relaxed);
        }
        out
    }

    pub fn counters(&self) -> HashMap<PeerName, [u64; 5]> {
        self.sh
            .fwds
            .load()
            .iter()
            .map(|(p, f)| {
                let c = &f.counters;
                let v = [&c.tx_packets, &c.tx_bytes, &c.rx_packets, &c.rx_bytes, &c.drops]
                    .map(|a| a.load(Ordering::Relaxed));
                (*p, v)
            })
            .collect()
    }
}
