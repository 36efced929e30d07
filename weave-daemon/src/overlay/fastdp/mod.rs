//! fastdp: Weave's fast datapath on Linux's own VXLAN. Frames between peers travel through
//! the kernel with no userspace hop: the bridge `weave` has one VXLAN port per healthy fastdp
//! peer (see `device`), learns which MACs live behind which port, and floods local broadcasts
//! to every port itself (head-end replication). Userspace only makes the devices, runs the
//! heartbeats (`control`) and decides which devices are on the bridge.
//!
//! The sleeve's port is isolated like the VXLAN ports, so a frame that came from one overlay
//! path never leaves by another; sleeve skips neighbours the kernel already floods to. Devices
//! outlive the daemon: after a kill -9 the kernel keeps forwarding, and the next daemon adopts
//! what it finds (or removes it, once nothing has claimed it for a while).

pub mod control;
pub mod device;
pub mod start;

pub use weave_overlay::fastdp::heartbeat;

use self::control::FwdParams;
use self::device::Devices;
use crate::overlay::sleeve::Sleeve;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use weave_netdev::{LinkStats, Netlink};
use weave_overlay::forwarder::{Ctl, Up};
use weave_overlay::fxhash::FxHashMap;
use weave_wire::PeerName;

/// A device no connection has claimed for this long is removed.
const ORPHAN_GRACE: Duration = Duration::from_secs(10 * 60);
const REAP_INTERVAL: Duration = Duration::from_secs(30);

pub struct FastdpConfig {
    pub us: PeerName,
    /// Our VXLAN UDP port (`--port` + 1).
    pub listen_port: u16,
    pub mtu: u32,
    pub bridge: String,
    /// The sleeve's bridge port, isolated like the VXLAN ones.
    pub sleeve_port: String,
    /// Why encrypted connections cannot use fastdp here.
    pub encrypted_unavailable: String,
}

/// A peer's fastdp device as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    pub name: String,
    pub attached: bool,
    pub stats: LinkStats,
}

pub struct Fastdp {
    us: PeerName,
    listen_port: u16,
    mtu: u32,
    devices: Devices,
    sleeve: Arc<Sleeve>,
    /// Short ids of every known peer, ourselves included (published by the mesh).
    short_ids: ArcSwap<FxHashMap<PeerName, u16>>,
    /// Devices live connections use, with those connections' UIDs: one, except while a
    /// duplicate connection or a restarted peer's old one winds down.
    live: Mutex<Claims>,
    /// Devices nobody uses, since when.
    orphans: Mutex<HashMap<String, Instant>>,
    encrypted_unavailable: String,
}

impl Fastdp {
    /// Takes over the devices a previous daemon left (they keep forwarding until heartbeats
    /// say otherwise) and starts removing those nobody claims. Call on the async runtime.
    pub fn start(nl: Netlink, cfg: FastdpConfig, sleeve: Arc<Sleeve>) -> Result<Arc<Fastdp>, String> {
        let devices = Devices::new(nl, &cfg.bridge);
        devices.isolate(&cfg.sleeve_port)?;
        let now = Instant::now();
        let mut orphans = HashMap::new();
        for link in devices.list() {
            if link.master.is_some() {
                if let Some(peer) = link.alias.as_deref().and_then(device::alias_peer) {
                    sleeve.set_kernel_flood(peer, true);
                }
            }
            tracing::info!(
                device = link.name,
                on_bridge = link.master.is_some(),
                "fastdp: found a device from before"
            );
            orphans.insert(link.name, now);
        }
        let fd = Arc::new(Fastdp {
            us: cfg.us,
            listen_port: cfg.listen_port,
            mtu: cfg.mtu,
            devices,
            sleeve,
            short_ids: ArcSwap::from_pointee(Default::default()),
            live: Mutex::new(Claims::default()),
            orphans: Mutex::new(orphans),
            encrypted_unavailable: cfg.encrypted_unavailable,
        });
        tokio::spawn(reap(Arc::downgrade(&fd)));
        Ok(fd)
    }

    /// Removes every fastdp device (when starting with `--no-fastdp`).
    pub fn remove_all(nl: Netlink) {
        let devices = Devices::new(nl, "");
        for link in devices.list() {
            match devices.delete(&link.name) {
                Ok(()) => tracing::info!(device = link.name, "removed a fastdp device (fastdp is off)"),
                Err(e) => tracing::warn!(device = link.name, "removing a fastdp device: {e}"),
            }
        }
    }

    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }

    /// The mesh's current short ids, ourselves included.
    pub fn set_short_ids(&self, ids: FxHashMap<PeerName, u16>) {
        self.short_ids.store(Arc::new(ids));
    }

    /// Starts the fastdp forwarder of a connection.
    pub fn prepare(self: &Arc<Self>, p: FwdParams) -> (mpsc::Sender<Ctl>, mpsc::Receiver<Up>) {
        let (ctl_tx, ctl_rx) = mpsc::channel(16);
        let (up_tx, up_rx) = mpsc::channel(16);
        tokio::spawn(control::run(self.clone(), p, ctl_rx, up_tx));
        (ctl_tx, up_rx)
    }

    /// A connection to `peer` will not use fastdp: a device left for it (from before a restart,
    /// or from when it offered fastdp) must not keep pulling its traffic into the kernel path.
    pub fn release_peer(self: &Arc<Self>, peer: PeerName) {
        let fd = self.clone();
        tokio::task::spawn_blocking(move || {
            for link in fd.devices.list() {
                let live = fd.live.lock().unwrap_or_else(|e| e.into_inner()).contains(&link.name);
                if !live && link.alias.as_deref().and_then(device::alias_peer) == Some(peer) {
                    fd.sleeve.set_kernel_flood(peer, false);
                    fd.forget(&link.name);
                    match fd.devices.delete(&link.name) {
                        Ok(()) => {
                            tracing::info!(device = link.name, %peer, "removed the fastdp device of a peer now on sleeve")
                        }
                        Err(e) => tracing::warn!(device = link.name, "removing a fastdp device: {e}"),
                    }
                }
            }
        });
    }

    /// Each peer's device, on the bridge or not, with its counters.
    pub fn devices(&self) -> HashMap<PeerName, DeviceStatus> {
        self.devices
            .list()
            .into_iter()
            .filter_map(|l| {
                let peer = l.alias.as_deref().and_then(device::alias_peer)?;
                let status = DeviceStatus {
                    attached: l.master.is_some(),
                    stats: l.stats.unwrap_or_default(),
                    name: l.name,
                };
                Some((peer, status))
            })
            .collect()
    }

    fn claim(&self, name: &str, conn_uid: u64) {
        self.orphans.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        self.live.lock().unwrap_or_else(|e| e.into_inner()).claim(name, conn_uid);
    }

    /// A connection no longer uses the device; it is orphaned once no connection does.
    fn unclaim(&self, name: &str, conn_uid: u64) {
        if self.live.lock().unwrap_or_else(|e| e.into_inner()).unclaim(name, conn_uid) {
            self.orphans.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), Instant::now());
        }
    }

    fn forget(&self, name: &str) {
        self.orphans.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
    }
}

/// The connections using each device: one, except while a duplicate connection or a
/// restarted peer's old one winds down. Two connections to one peer claim its device in either
/// order and end in either order; the device is unused only when both have.
#[derive(Debug, Default)]
struct Claims(HashMap<String, Vec<u64>>);

impl Claims {
    fn claim(&mut self, name: &str, conn_uid: u64) {
        let uids = self.0.entry(name.to_string()).or_default();
        if !uids.contains(&conn_uid) {
            uids.push(conn_uid);
        }
    }

    /// Whether that left the device unused.
    fn unclaim(&mut self, name: &str, conn_uid: u64) -> bool {
        let Some(uids) = self.0.get_mut(name) else { return false };
        uids.retain(|u| *u != conn_uid);
        let unused = uids.is_empty();
        if unused {
            self.0.remove(name);
        }
        unused
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// Removes devices nobody has claimed for [`ORPHAN_GRACE`].
async fn reap(fd: Weak<Fastdp>) {
    loop {
        tokio::time::sleep(REAP_INTERVAL).await;
        let Some(fd) = fd.upgrade() else { return };
        let expired: Vec<String> = fd
            .orphans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, since)| since.elapsed() >= ORPHAN_GRACE)
            .map(|(name, _)| name.clone())
            .collect();
        for name in expired {
            let fd2 = fd.clone();
            let n = name.clone();
            let peer = tokio::task::spawn_blocking(move || {
                // A connection may have claimed it since the list was made.
                if fd2.live.lock().unwrap_or_else(|e| e.into_inner()).contains(&n) {
                    return Ok(None);
                }
                let link = fd2.devices.list().into_iter().find(|l| l.name == n);
                let peer = link.and_then(|l| l.alias).as_deref().and_then(device::alias_peer);
                fd2.devices.delete(&n).map(|()| Some(peer))
            })
            .await;
            match peer {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(peer))) => {
                    fd.forget(&name);
                    if let Some(peer) = peer {
                        fd.sleeve.set_kernel_flood(peer, false);
                    }
                    tracing::info!(
                        device = name,
                        "removed a fastdp device no connection used for {}s",
                        ORPHAN_GRACE.as_secs()
                    );
                }
                Ok(Err(e)) => tracing::warn!(device = name, "removing an unused fastdp device: {e}"),
                Err(e) => tracing::warn!(device = name, "removing an unused fastdp device: {e}"),
            }
        }
    }
}

/// The short id we had when we made the fastdp devices on this host, if there are any.
pub fn previous_short_id() -> Option<u16> {
    let devices = Devices::new(Netlink::open().ok()?, "");
    devices.list().iter().find_map(|l| l.alias.as_deref().and_then(device::alias_our_short))
}

#[cfg(test)]
mod tests {
    use super::Claims;

    #[test]
    fn a_device_two_connections_claimed_is_unused_only_when_both_have_let_go() {
        let mut c = Claims::default();
        // The duplicate the mesh drops claimed last and lets go first.
        c.claim("vethwe-vx1", 7);
        c.claim("vethwe-vx1", 8);
        assert!(!c.unclaim("vethwe-vx1", 8), "7 still uses it");
        assert!(c.contains("vethwe-vx1"));
        // Claiming again (a remade device) does not count twice.
        c.claim("vethwe-vx1", 7);
        assert!(c.unclaim("vethwe-vx1", 7));
        assert!(!c.contains("vethwe-vx1"));
        assert!(!c.unclaim("vethwe-vx1", 7), "nothing to let go of");
    }
}
