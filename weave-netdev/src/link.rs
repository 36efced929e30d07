//! Links: look up, create (bridge), bring up, delete.

use super::netlink::{NetdevError, Netlink};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

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
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(a) => link.mac = a.as_slice().try_into().ok(),
                LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
                LinkAttribute::Controller(i) => link.master = Some(*i),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            link.kind = match k {
                                InfoKind::Bridge => LinkKind::Bridge,
                                InfoKind::Veth => LinkKind::Veth,
                                InfoKind::Vxlan => LinkKind::Vxlan,
                                InfoKind::Tun => LinkKind::Tun,
                                other => LinkKind::Other(format!("{other:?}").to_lowercase()),
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

impl Netlink {
    /// The link called `name`, or `None` when there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, NetdevError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        match self.query(RouteNetlinkMessage::GetLink(msg), &|| format!("look up link {name}")) {
            Ok(msgs) => Ok(msgs.iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link in this namespace.
    pub fn links(&mut self) -> Result<Vec<Link>, NetdevError> {
        let msgs =
            self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), &|| "list links".into())?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })
            .collect())
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
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.execute(RouteNetlinkMessage::SetLink(msg), 0, &|| format!("set MAC of {}", link.name))
    }

    pub fn delete_link(&mut self, link: &Link) -> Result<(), NetdevError> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        self.execute(RouteNetlinkMessage::DelLink(msg), 0, &|| format!("delete link {}", link.name))
    }
}
