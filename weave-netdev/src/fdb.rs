//! Forwarding database entries of a device's own table (AF_BRIDGE neighbour messages with
//! NTF_SELF), i.e. `bridge fdb ... self`. For fastdp: a VXLAN device's FDB says
//! which peer (and VNI) each MAC lives behind; all-zero MAC entries list where to flood.

use crate::netlink::{NetdevError, Netlink};
use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::Ipv4Addr;

/// One entry of a device's forwarding table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbEntry {
    pub mac: [u8; 6],
    /// Remote VTEP, for VXLAN devices.
    pub dst: Option<Ipv4Addr>,
    /// The kernel reports the VNI only when it differs from the device's own.
    pub vni: Option<u32>,
}

impl Netlink {
    /// Adds a permanent entry to device `dev`'s own table. A unicast MAC is pointed at `dst`
    /// (replacing an earlier destination); the all-zero or a multicast MAC gets `dst` added to
    /// its list (VXLAN flooding). Adding an entry that exists is not an error.
    pub fn fdb_add(
        &mut self,
        dev: u32,
        mac: [u8; 6],
        dst: Option<Ipv4Addr>,
        vni: Option<u32>,
    ) -> Result<(), NetdevError> {
        self.fdb_add_port(dev, mac, dst, vni, None)
    }

    /// As [`Netlink::fdb_add`], sending to UDP `port` at `dst` rather than the device's port.
    pub fn fdb_add_port(
        &mut self,
        dev: u32,
        mac: [u8; 6],
        dst: Option<Ipv4Addr>,
        vni: Option<u32>,
        port: Option<u16>,
    ) -> Result<(), NetdevError> {
        let flood = mac == [0; 6] || mac[0] & 1 == 1;
        let flags = NLM_F_CREATE | if flood { NLM_F_APPEND } else { NLM_F_REPLACE };
        let mut msg = fdb_message(dev, mac, dst, vni);
        if let Some(port) = port {
            msg.attributes.push(NeighbourAttribute::Port(port));
        }
        match self.execute(RouteNetlinkMessage::NewNeighbour(msg), flags, &|| {
            format!("add fdb entry {}", describe(dev, mac, dst, vni))
        }) {
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Removes an entry; with `dst`, only that destination of the MAC's list. An unknown MAC is
    /// an error (ENOENT); VXLAN ignores a `dst` the MAC does not have.
    pub fn fdb_del(
        &mut self,
        dev: u32,
        mac: [u8; 6],
        dst: Option<Ipv4Addr>,
        vni: Option<u32>,
    ) -> Result<(), NetdevError> {
        let msg = fdb_message(dev, mac, dst, vni);
        self.execute(RouteNetlinkMessage::DelNeighbour(msg), 0, &|| {
            format!("delete fdb entry {}", describe(dev, mac, dst, vni))
        })
    }

    /// Points the bridge's entry for `mac` at bridge port `port`, as if the bridge had learnt
    /// it there (it ages, and later traffic may move it again): `bridge fdb replace MAC dev
    /// PORT master dynamic`.
    pub fn bridge_fdb_move(&mut self, port: u32, mac: [u8; 6]) -> Result<(), NetdevError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = port;
        msg.header.state = NeighbourState::Reachable;
        msg.header.flags = NeighbourFlags::Controller;
        msg.attributes.push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.execute(RouteNetlinkMessage::NewNeighbour(msg), NLM_F_CREATE | NLM_F_REPLACE, &|| {
            format!("move bridge fdb entry {}", describe(port, mac, None, None))
        })
    }

    /// The entries of device `dev`'s own table (not those a bridge learned on it).
    pub fn fdb_list(&mut self, dev: u32) -> Result<Vec<FdbEntry>, NetdevError> {
        let mut req = NeighbourMessage::default();
        req.header.family = AddressFamily::Bridge;
        // Filtering on our side: older kernels read a dump request's header as ifinfomsg.
        let msgs =
            self.dump(RouteNetlinkMessage::GetNeighbour(req), &|| format!("list fdb of link {dev}"))?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(n)
                    if n.header.ifindex == dev && n.header.flags.contains(NeighbourFlags::Own) =>
                {
                    entry_of(n)
                }
                _ => None,
            })
            .collect())
    }
}

fn fdb_message(dev: u32, mac: [u8; 6], dst: Option<Ipv4Addr>, vni: Option<u32>) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Bridge;
    msg.header.ifindex = dev;
    // VXLAN accepts only permanent or reachable entries.
    msg.header.state = NeighbourState::Permanent;
    msg.header.flags = NeighbourFlags::Own;
    msg.attributes.push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    if let Some(dst) = dst {
        msg.attributes.push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
    }
    if let Some(vni) = vni {
        msg.attributes.push(NeighbourAttribute::Vni(vni));
    }
    msg
}

fn entry_of(n: &NeighbourMessage) -> Option<FdbEntry> {
    let mut entry = FdbEntry { mac: [0; 6], dst: None, vni: None };
    let mut has_mac = false;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(m) => {
                entry.mac = m.as_slice().try_into().ok()?;
                has_mac = true;
            }
            // AF_BRIDGE messages carry the IPv4 destination as raw bytes.
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => entry.dst = Some(*ip),
            NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                entry.dst = <[u8; 4]>::try_from(b.as_slice()).ok().map(Ipv4Addr::from)
            }
            NeighbourAttribute::Vni(v) => entry.vni = Some(*v),
            _ => {}
        }
    }
    has_mac.then_some(entry)
}

fn describe(dev: u32, mac: [u8; 6], dst: Option<Ipv4Addr>, vni: Option<u32>) -> String {
    let m = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let mut s = format!("{m} on link {dev}");
    if let Some(dst) = dst {
        s += &format!(" dst {dst}");
    }
    if let Some(vni) = vni {
        s += &format!(" vni {vni}");
    }
    s
}
