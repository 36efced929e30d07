//! IPv4 addresses of links.

use crate::link::Link;
use crate::netlink::{NetdevError, Netlink};
use ipnet::Ipv4Net;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

impl Netlink {
    /// The IPv4 addresses (with prefix length) of the link with index `link_index`.
    pub fn addresses(&mut self, link_index: u32) -> Result<Vec<Ipv4Net>, NetdevError> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet;
        let msgs = self
            .dump(RouteNetlinkMessage::GetAddress(req), &|| format!("list addresses of link {link_index}"))?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a)
                    if a.header.index == link_index && a.header.family == AddressFamily::Inet =>
                {
                    address_of(a)
                }
                _ => None,
            })
            .collect())
    }

    /// Adds `addr` to the link; an address it already has is not an error.
    pub fn add_address(&mut self, link: &Link, addr: Ipv4Net) -> Result<(), NetdevError> {
        let msg = address_message(link, addr);
        match self.execute(RouteNetlinkMessage::NewAddress(msg), NLM_F_CREATE | NLM_F_EXCL, &|| {
            format!("add address {addr} to {}", link.name)
        }) {
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Removes `addr` from the link (EADDRNOTAVAIL when it does not have it).
    pub fn del_address(&mut self, link: &Link, addr: Ipv4Net) -> Result<(), NetdevError> {
        let msg = address_message(link, addr);
        self.execute(RouteNetlinkMessage::DelAddress(msg), 0, &|| {
            format!("delete address {addr} from {}", link.name)
        })
    }
}

fn address_message(link: &Link, addr: Ipv4Net) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = addr.prefix_len();
    msg.header.index = link.index;
    msg.attributes.push(AddressAttribute::Local(IpAddr::V4(addr.addr())));
    msg.attributes.push(AddressAttribute::Address(IpAddr::V4(addr.addr())));
    // As Weave's Go code (vishvananda/netlink) did: a broadcast address unless /31 or /32.
    if addr.prefix_len() < 31 {
        msg.attributes.push(AddressAttribute::Broadcast(addr.broadcast()));
    }
    msg
}

fn address_of(a: &AddressMessage) -> Option<Ipv4Net> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS differs only on point-to-point links.
    let local = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
        _ => None,
    });
    let address = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
        _ => None,
    });
    Ipv4Net::new(local.or(address)?, a.header.prefix_len).ok()
}
