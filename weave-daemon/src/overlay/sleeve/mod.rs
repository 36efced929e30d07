//! Sleeve: Weave's userspace overlay over UDP `--port`. The bridge's local port (a TAP device)
//! is read and written by dedicated datapath threads; each connection's control logic is an
//! async task. See `datapath` for the packet path and `control` for heartbeats and MTU.

pub mod control;
pub mod datapath;
pub mod forwarder;
pub mod udp;

use self::datapath::{LocalPort, Shared};
use self::forwarder::{Counters, Crypto, Forwarder, DEFAULT_MTU, MAX_UDP_PAYLOAD};
use crate::overlay::forwarder::{Ctl, Up};
use crate::overlay::fxhash::FxHashSet;
use crate::overlay::maccache::MacCache;
use arc_swap::{ArcSwap, ArcSwapOption};
use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use weave_mesh::Routes;
use weave_wire::crypto::{SessionKey, SleeveDecryptor, SleeveEncryptor};
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
}

pub struct Sleeve {
    sh: Arc<Shared>,
    flood_lock: Mutex<()>,
}

impl Sleeve {
    /// Binds UDP `bind` and starts the datapath threads over `port`.
    pub fn start(us: PeerName, bind: SocketAddrV4, port: Box<dyn LocalPort>) -> std::io::Result<Sleeve> {
        let sockets = udp::Sockets::bind(bind)?;
        let sh = Arc::new(Shared {
            us,
            routes: ArcSwap::from_pointee(Routes::default()),
            fwds: ArcSwap::from_pointee(Default::default()),
            macs: MacCache::default(),
            sockets,
            port,
            kernel_flood: ArcSwap::from_pointee(Default::default()),
            rejected: Default::default(),
        });
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name.into()).spawn(f).map(|_| ())
        };
        let s = sh.clone();
        spawn("weave-capture", Box::new(move || datapath::capture_loop(s)))?;
        for df in [false, true] {
            let s = sh.clone();
            spawn(
                if df { "weave-recv-df" } else { "weave-recv" },
                Box::new(move || datapath::receive_loop(s, df)),
            )?;
        }
        Ok(Sleeve { sh, flood_lock: Mutex::new(()) })
    }

    /// Creates the forwarder of a new connection and starts its control task. Returns the
    /// channels to drive it and hear from it.
    pub fn prepare(&self, p: SleeveParams) -> (mpsc::Sender<Ctl>, mpsc::Receiver<Up>) {
        let (events_tx, events_rx) = mpsc::channel(64);
        let crypto = p.session_key.as_ref().map(|key| Crypto {
            enc: Mutex::new(SleeveEncryptor::new(key, p.outbound, false)),
            enc_df: Mutex::new(SleeveEncryptor::new(key, p.outbound, true)),
            dec: Mutex::new(SleeveDecryptor::new(key, p.outbound)),
        });
        let addr = match (p.outbound, p.remote_tcp) {
            (true, SocketAddr::V4(a)) => Some(Arc::new(a)),
            _ => None,
        };
        let fwd = Arc::new(Forwarder {
            remote: p.remote,
            conn_uid: p.conn_uid,
            addr: ArcSwapOption::new(addr),
            mtu: AtomicU32::new(DEFAULT_MTU),
            max_payload: AtomicU32::new(MAX_UDP_PAYLOAD as u32),
            stack_frag: AtomicBool::new(false),
            crypto,
            events: events_tx,
            counters: Counters::default(),
        });
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
