//! fastdp's kernel devices: one VXLAN device per peer, made from a `DeviceSpec` (its name, VNIs
//! and alias: see `weave_overlay::fastdp::spec`). The kernel demultiplexes the shared UDP port
//! by VNI. The device joins the bridge `weave` (isolated, so frames from one peer never go back
//! out to another) only while fastdp to that peer is healthy.

use std::sync::Mutex;
use weave_netdev::{Link, LinkKind, LinkStats, Netlink, VxlanConfig};

pub use weave_overlay::fastdp::spec::{alias_our_short, alias_peer, DeviceSpec, PREFIX};

const ZERO_MAC: [u8; 6] = [0; 6];

/// What [`Devices::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ensured {
    pub index: u32,
    /// The device was there already, made for the same spec.
    pub adopted: bool,
}

/// The netlink side of fastdp. Calls block briefly; async callers use `spawn_blocking`.
pub struct Devices {
    nl: Mutex<Netlink>,
    bridge: String,
}

impl Devices {
    pub fn new(nl: Netlink, bridge: &str) -> Devices {
        Devices { nl: Mutex::new(nl), bridge: bridge.to_string() }
    }

    fn nl(&self) -> std::sync::MutexGuard<'_, Netlink> {
        self.nl.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes sure `spec`'s device exists and is up: adopts one made for the same spec (leaving
    /// it on or off the bridge as it is), replaces one made for anything else.
    pub fn ensure(&self, spec: &DeviceSpec) -> Result<Ensured, String> {
        let name = spec.name();
        let alias = spec.alias();
        let mut nl = self.nl();
        if let Some(link) = nl.link_by_name(&name).map_err(|e| e.to_string())? {
            if link.kind == LinkKind::Vxlan && link.alias.as_deref() == Some(alias.as_str()) {
                if !link.up {
                    nl.set_up(&link, true).map_err(|e| e.to_string())?;
                }
                return Ok(Ensured { index: link.index, adopted: true });
            }
            tracing::info!(device = name, "replacing a fastdp device made for something else");
            nl.delete_link(&link).map_err(|e| e.to_string())?;
        }
        let config = VxlanConfig {
            local: spec.local,
            mtu: Some(spec.mtu),
            // DF: a heartbeat as big as the MTU then also proves the underlay carries it.
            df: true,
            ttl: Some(64),
            ..VxlanConfig::new(spec.vni_rx(), spec.listen_port)
        };
        nl.create_vxlan(&name, &config).map_err(|e| e.to_string())?;
        let link = nl.link_by_name(&name).map_err(|e| e.to_string())?.ok_or("the new device vanished")?;
        let setup = |nl: &mut Netlink| -> Result<(), weave_netdev::NetdevError> {
            nl.set_alias(&link, &alias)?;
            // One per peer: link-local addresses on them slow every IPv6 lookup on the host.
            // Best effort: a kernel without IPv6 refuses it, and has nothing to slow.
            if let Err(e) = nl.set_no_ipv6_addresses(&link) {
                tracing::debug!(device = name, "{e}");
            }
            let port = (spec.remote.port() != spec.listen_port).then_some(spec.remote.port());
            nl.fdb_add_port(link.index, ZERO_MAC, Some(*spec.remote.ip()), Some(spec.vni_tx()), port)?;
            nl.set_up(&link, true)
        };
        if let Err(e) = setup(&mut nl) {
            let _ = nl.delete_link(&link);
            return Err(e.to_string());
        }
        Ok(Ensured { index: link.index, adopted: false })
    }

    /// Puts the device on the bridge (an isolated, learning port) or takes it off, which
    /// also drops every MAC the bridge learnt there.
    pub fn attach(&self, name: &str, on: bool) -> Result<(), String> {
        let mut nl = self.nl();
        let link =
            nl.link_by_name(name).map_err(|e| e.to_string())?.ok_or_else(|| format!("{name} is gone"))?;
        if !on {
            return if link.master.is_some() {
                nl.set_master(&link, None).map_err(|e| e.to_string())
            } else {
                Ok(())
            };
        }
        let bridge = nl
            .link_by_name(&self.bridge)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the bridge {} is gone", self.bridge))?;
        if link.master != Some(bridge.index) {
            nl.set_master(&link, Some(bridge.index)).map_err(|e| e.to_string())?;
        }
        let port = nl.link_by_index(link.index).map_err(|e| e.to_string())?.and_then(|l| l.bridge_port);
        if !port.is_some_and(|p| p.isolated) {
            nl.set_bridge_port_isolated(&link, true).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Points the bridge's entries for `macs` at the device's port: MACs learnt on the
    /// sleeve's port while fastdp was down would otherwise keep their traffic on sleeve until
    /// they age out (or forever, if the peer's daemon is gone and only its kernel forwards).
    pub fn take_macs(&self, name: &str, macs: &[[u8; 6]]) -> Result<(), String> {
        let mut nl = self.nl();
        let link =
            nl.link_by_name(name).map_err(|e| e.to_string())?.ok_or_else(|| format!("{name} is gone"))?;
        for mac in macs {
            nl.bridge_fdb_move(link.index, *mac).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Whether the device is on the bridge; `None` when there is no such device.
    pub fn attached(&self, name: &str) -> Option<bool> {
        let link = self.nl().link_by_name(name).ok()??;
        Some(link.master.is_some())
    }

    /// Isolates a bridge port (the sleeve's), so frames from VXLAN ports never reach it.
    pub fn isolate(&self, name: &str) -> Result<(), String> {
        let mut nl = self.nl();
        let link =
            nl.link_by_name(name).map_err(|e| e.to_string())?.ok_or_else(|| format!("{name} is missing"))?;
        nl.set_bridge_port_isolated(&link, true).map_err(|e| e.to_string())
    }

    /// The fastdp devices there are, with their counters.
    pub fn list(&self) -> Vec<Link> {
        match self.nl().links() {
            Ok(links) => links.into_iter().filter(|l| l.name.starts_with(PREFIX)).collect(),
            Err(e) => {
                tracing::warn!("listing fastdp devices: {e}");
                Vec::new()
            }
        }
    }

    pub fn counters(&self, name: &str) -> Option<LinkStats> {
        self.nl().link_by_name(name).ok()??.stats
    }

    pub fn delete(&self, name: &str) -> Result<(), String> {
        let mut nl = self.nl();
        match nl.link_by_name(name).map_err(|e| e.to_string())? {
            Some(link) => nl.delete_link(&link).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}
