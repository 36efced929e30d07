//! Links: look up, create (bridge, veth), change (up, MAC, MTU, name, alias, namespace), delete.
//! Bridge-port settings live in `bridge.rs`, VXLAN in `vxlan.rs`.

use super::netlink::{NetdevError, Netlink};
use crate::netns::Netns;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, BridgePortState, In6AddrGenMode, InfoBridgePort, InfoData, InfoKind,
    InfoPortData, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;
use std::os::fd::{AsFd, AsRawFd};

/// What the kernel says about one link.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    pub mtu: u32,
    pub up: bool,
    pub kind: LinkKind,
    /// Index of the bridge this link is a port of.
    pub master: Option<u32>,
    /// IFLA_IFALIAS: free text; weave records there which container a veth belongs to.
    pub alias: Option<String>,
    /// Bridge-port settings, when the link is a port of a Linux bridge.
    pub bridge_port: Option<BridgePort>,
    /// Traffic counters (IFLA_STATS64).
    pub stats: Option<LinkStats>,
    /// IFLA_LINK: for a veth, the index of its peer (in the namespace `link_netnsid` names).
    pub peer_index: Option<u32>,
    /// IFLA_LINK_NETNSID: set when the peer lives in another network namespace.
    pub link_netnsid: Option<i32>,
}

/// The bridge-port settings weave changes (IFLA_BRPORT_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgePort {
    /// Frames may be sent back out of the port they came in on.
    pub hairpin: bool,
    /// Isolated ports cannot talk to each other, only to non-isolated ones.
    pub isolated: bool,
    /// The port is in STP state "forwarding".
    pub forwarding: bool,
    /// The bridge learns source MACs on this port.
    pub learning: bool,
}

/// A link's packet and byte counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LinkKind {
    Bridge,
    Veth,
    Vxlan,
    Tun,
    Other(String),
    Unknown,
}

impl Link {
    fn from_message(m: &LinkMessage) -> Link {
        let mut link = Link {
            index: m.header.index,
            name: String::new(),
            mac: None,
            mtu: 0,
            up: m.header.flags.contains(LinkFlags::Up),
            kind: LinkKind::Unknown,
            master: None,
            alias: None,
            bridge_port: None,
            stats: None,
            peer_index: None,
            link_netnsid: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(a) => link.mac = a.as_slice().try_into().ok(),
                LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
                LinkAttribute::Controller(i) => link.master = Some(*i),
                LinkAttribute::Link(i) => link.peer_index = Some(*i),
                LinkAttribute::LinkNetNsId(id) => link.link_netnsid = Some(*id),
                LinkAttribute::IfAlias(a) if !a.is_empty() => link.alias = Some(a.clone()),
                LinkAttribute::Stats64(s) => {
                    link.stats = Some(LinkStats {
                        rx_packets: s.rx_packets,
                        rx_bytes: s.rx_bytes,
                        tx_packets: s.tx_packets,
                        tx_bytes: s.tx_bytes,
                        rx_dropped: s.rx_dropped,
                        tx_dropped: s.tx_dropped,
                    })
                }
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            LinkInfo::Kind(k) => {
                                link.kind = match k {
                                    InfoKind::Bridge => LinkKind::Bridge,
                                    InfoKind::Veth => LinkKind::Veth,
                                    InfoKind::Vxlan => LinkKind::Vxlan,
                                    InfoKind::Tun => LinkKind::Tun,
                                    other => LinkKind::Other(format!("{other:?}").to_lowercase()),
                                }
                            }
                            LinkInfo::PortData(InfoPortData::BridgePort(attrs)) => {
                                let mut port = BridgePort::default();
                                for a in attrs {
                                    match a {
                                        InfoBridgePort::HairpinMode(on) => port.hairpin = *on,
                                        InfoBridgePort::Isolated(on) => port.isolated = *on,
                                        InfoBridgePort::Learning(on) => port.learning = *on,
                                        InfoBridgePort::State(s) => {
                                            port.forwarding = *s == BridgePortState::Forwarding
                                        }
                                        _ => {}
                                    }
                                }
                                link.bridge_port = Some(port);
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// Picks the links out of a reply.
pub(crate) fn links_of(msgs: &[RouteNetlinkMessage]) -> Vec<Link> {
    msgs.iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
            _ => None,
        })
        .collect()
}

impl Netlink {
    /// The link called `name`, or `None` when there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, NetdevError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        match self.query(RouteNetlinkMessage::GetLink(msg), &|| format!("look up link {name}")) {
            Ok(msgs) => Ok(links_of(&msgs).pop()),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The link with interface index `index`, or `None` when there is none.
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>, NetdevError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.query(RouteNetlinkMessage::GetLink(msg), &|| format!("look up link index {index}")) {
            Ok(msgs) => Ok(links_of(&msgs).pop()),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link in this namespace.
    pub fn links(&mut self) -> Result<Vec<Link>, NetdevError> {
        let msgs =
            self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), &|| "list links".into())?;
        Ok(links_of(&msgs))
    }

    /// Creates a Linux bridge with the given MAC (and MTU), down.
    pub fn create_bridge(&mut self, name: &str, mac: [u8; 6], mtu: Option<u32>) -> Result<(), NetdevError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.execute(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL, &|| {
            format!("create bridge {name}")
        })
    }

    /// Creates a veth pair `name` <-> `peer`, both down and in this socket's namespace.
    pub fn create_veth(&mut self, name: &str, peer: &str, mtu: Option<u32>) -> Result<(), NetdevError> {
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes.push(LinkAttribute::IfName(peer.into()));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        if let Some(mtu) = mtu {
            peer_msg.attributes.push(LinkAttribute::Mtu(mtu));
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.execute(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL, &|| {
            format!("create veth {name} (peer {peer})")
        })
    }

    /// Sends RTM_SETLINK for `link` carrying `attrs`.
    pub(crate) fn set_link(
        &mut self,
        link: &Link,
        attrs: Vec<LinkAttribute>,
        op: &dyn Fn() -> String,
    ) -> Result<(), NetdevError> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.attributes = attrs;
        self.execute(RouteNetlinkMessage::SetLink(msg), 0, op)
    }

    /// Sets the link up or down.
    pub fn set_up(&mut self, link: &Link, up: bool) -> Result<(), NetdevError> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.header.change_mask = LinkFlags::Up;
        if up {
            msg.header.flags = LinkFlags::Up;
        }
        let what = if up { "up" } else { "down" };
        self.execute(RouteNetlinkMessage::SetLink(msg), 0, &|| format!("set link {} {what}", link.name))
    }

    /// Changes the link's MAC address.
    pub fn set_mac(&mut self, link: &Link, mac: [u8; 6]) -> Result<(), NetdevError> {
        self.set_link(link, vec![LinkAttribute::Address(mac.to_vec())], &|| {
            format!("set MAC of {}", link.name)
        })
    }

    pub fn set_mtu(&mut self, link: &Link, mtu: u32) -> Result<(), NetdevError> {
        self.set_link(link, vec![LinkAttribute::Mtu(mtu)], &|| format!("set MTU of {} to {mtu}", link.name))
    }

    /// Renames the link. The kernel refuses (EBUSY) while most kinds of link are up.
    pub fn rename(&mut self, link: &Link, new_name: &str) -> Result<(), NetdevError> {
        self.set_link(link, vec![LinkAttribute::IfName(new_name.into())], &|| {
            format!("rename {} to {new_name}", link.name)
        })
    }

    /// Sets IFLA_IFALIAS; an empty alias removes it.
    pub fn set_alias(&mut self, link: &Link, alias: &str) -> Result<(), NetdevError> {
        self.set_link(link, vec![LinkAttribute::IfAlias(alias.into())], &|| {
            format!("set alias of {} to {alias:?}", link.name)
        })
    }

    /// Gives the link no IPv6 addresses of its own (`addrgenmode none`): a bridge port needs
    /// none, and each link-local address adds a `fe80::/64` route that every IPv6 route lookup
    /// in the namespace walks, and router solicitations and MLD reports sent through the port.
    /// Set before the link goes up, when the kernel would make the address.
    pub fn set_no_ipv6_addresses(&mut self, link: &Link) -> Result<(), NetdevError> {
        let mode = AfSpecInet6::AddrGenMode(In6AddrGenMode::None);
        self.set_link(link, vec![LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![mode])])], &|| {
            format!("set addrgenmode none on {}", link.name)
        })
    }

    /// Moves the link into another namespace (it keeps its name and index there when free,
    /// loses its addresses and goes down). Afterwards it is reachable only through a socket
    /// opened in `ns`.
    pub fn move_to_netns(&mut self, link: &Link, ns: &Netns) -> Result<(), NetdevError> {
        let fd = ns.as_fd().as_raw_fd();
        self.set_link(link, vec![LinkAttribute::NetNsFd(fd)], &|| {
            format!("move {} to network namespace {}", link.name, ns.label())
        })
    }

    pub fn delete_link(&mut self, link: &Link) -> Result<(), NetdevError> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        self.execute(RouteNetlinkMessage::DelLink(msg), 0, &|| format!("delete link {}", link.name))
    }
}

/// A MAC as `ip link` prints it.
pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
