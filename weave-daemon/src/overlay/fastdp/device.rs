//! fastdp's kernel devices: one VXLAN device per peer, `vethwe-vx<peer short id>`, listening
//! on `--port`+1 with the VNI the peer sends us (its short id | ours << 12) and sending with the
//! VNI it expects (ours | its << 12), as Weave's fast datapath. The kernel demultiplexes the
//! shared UDP port by VNI. The device joins the bridge `weave` (isolated, so frames from one
//! peer never go back out to another) only while fastdp to that peer is healthy.
//!
//! The device's alias records what it was made for, so a restarted daemon can tell a device
//! it can adopt as it is from one it must replace.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Mutex;
use weave_netdev::{Link, LinkKind, LinkStats, Netlink, VxlanConfig};
use weave_wire::PeerName;

/// Every fastdp device's name starts with this (and so with `vethwe`, which `weave reset`
/// removes).
pub const PREFIX: &str = "vethwe-vx";
const ZERO_MAC: [u8; 6] = [0; 6];

/// Weave's VNI for frames from `src` to `dst` (12-bit short ids).
pub fn vni(src_short: u16, dst_short: u16) -> u32 {
    u32::from(src_short) | u32::from(dst_short) << 12
}

/// Everything a peer's device is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSpec {
    pub peer: PeerName,
    pub peer_short: u16,
    pub our_short: u16,
    /// The peer's VXLAN address: its IP and UDP port.
    pub remote: SocketAddrV4,
    /// The source address of our VXLAN packets (the local end of the mesh connection).
    pub local: Option<Ipv4Addr>,
    /// Our VXLAN UDP port.
    pub listen_port: u16,
    pub mtu: u32,
}

impl DeviceSpec {
    pub fn name(&self) -> String {
        format!("{PREFIX}{:03x}", self.peer_short)
    }

    pub fn vni_rx(&self) -> u32 {
        vni(self.peer_short, self.our_short)
    }

    pub fn vni_tx(&self) -> u32 {
        vni(self.our_short, self.peer_short)
    }

    /// The device's alias: a device whose alias matches was made for this very spec.
    pub fn alias(&self) -> String {
        let local = self.local.map(|l| l.to_string()).unwrap_or_else(|| "any".into());
        format!(
            "weave fastdp peer={} vni={}/{} remote={} local={local} port={} mtu={}",
            self.peer,
            self.vni_rx(),
            self.vni_tx(),
            self.remote,
            self.listen_port,
            self.mtu
        )
    }
}

/// The peer named in a fastdp device's alias.
pub fn alias_peer(alias: &str) -> Option<PeerName> {
    alias.strip_prefix("weave fastdp peer=")?.split(' ').next()?.parse().ok()
}

/// Our short id when a device was made, from its alias (its receive VNI is the peer's short id
/// | ours << 12).
pub fn alias_our_short(alias: &str) -> Option<u16> {
    let vnis = alias.split(' ').find_map(|w| w.strip_prefix("vni="))?;
    let rx: u32 = vnis.split('/').next()?.parse().ok()?;
    Some((rx >> 12) as u16 & 0xfff)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DeviceSpec {
        DeviceSpec {
            peer: PeerName(0x02_00_00_00_00_02),
            peer_short: 0x00b,
            our_short: 0x123,
            remote: "10.0.0.2:6784".parse().unwrap(),
            local: Some(Ipv4Addr::new(10, 0, 0, 1)),
            listen_port: 6784,
            mtu: 1376,
        }
    }

    #[test]
    fn vnis_follow_weave() {
        let s = spec();
        // Weave: srcShortID | dstShortID << 12.
        assert_eq!(s.vni_tx(), 0x123 | 0x00b << 12);
        assert_eq!(s.vni_rx(), 0x00b | 0x123 << 12);
        assert_eq!(s.name(), "vethwe-vx00b");
        assert!(s.name().len() <= 15);
        assert_eq!(vni(0xfff, 0xfff), 0xff_ffff);
    }

    #[test]
    fn alias_names_the_peer_and_changes_with_the_spec() {
        let s = spec();
        assert_eq!(alias_peer(&s.alias()), Some(s.peer));
        assert_eq!(alias_our_short(&s.alias()), Some(0x123));
        assert_eq!(alias_our_short("weave fastdp peer=02:00:00:00:00:02 vni=x/1"), None);
        assert_eq!(alias_peer("container:abc"), None);
        let moved = DeviceSpec { remote: "10.0.0.9:6784".parse().unwrap(), ..s.clone() };
        assert_ne!(moved.alias(), s.alias());
        let renumbered = DeviceSpec { our_short: 7, ..s.clone() };
        assert_ne!(renumbered.alias(), s.alias());
    }
}
