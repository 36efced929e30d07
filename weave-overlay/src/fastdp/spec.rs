//! What a peer's fastdp device is made from: one VXLAN device per peer, `vethwe-vx<peer short
//! id>`, listening on `--port`+1 with the VNI the peer sends us (its short id | ours << 12) and
//! sending with the VNI it expects (ours | its << 12), as Weave's fast datapath.
//!
//! The device's alias records what it was made for, so a restarted daemon can tell a device
//! it can adopt as it is from one it must replace.

use std::net::{Ipv4Addr, SocketAddrV4};
use weave_wire::PeerName;

/// Every fastdp device's name starts with this (and so with `vethwe`, which `weave reset`
/// removes).
pub const PREFIX: &str = "vethwe-vx";

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
