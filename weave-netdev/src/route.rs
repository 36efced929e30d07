//! IPv4 routes in the main table.

use crate::netlink::{NetdevError, Netlink};
use ipnet::Ipv4Net;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::Ipv4Addr;

/// A route of the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
    /// Output interface; `None` for routes without one (blackhole, multipath).
    pub dev: Option<u32>,
}

impl Netlink {
    /// Adds a unicast route to `dst` out of link `dev`, via `gateway` or directly attached.
    /// A route that exists already is not an error.
    pub fn add_route(
        &mut self,
        dst: Ipv4Net,
        dev: u32,
        gateway: Option<Ipv4Addr>,
    ) -> Result<(), NetdevError> {
        let mut msg = route_message(dst, dev, gateway);
        // What `ip route add` sends.
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.kind = RouteType::Unicast;
        msg.header.scope = if gateway.is_some() { RouteScope::Universe } else { RouteScope::Link };
        match self.execute(RouteNetlinkMessage::NewRoute(msg), NLM_F_CREATE | NLM_F_EXCL, &|| {
            format!("add route {}", describe(dst, dev, gateway))
        }) {
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Deletes the route (ESRCH when there is no such route).
    pub fn del_route(
        &mut self,
        dst: Ipv4Net,
        dev: u32,
        gateway: Option<Ipv4Addr>,
    ) -> Result<(), NetdevError> {
        let mut msg = route_message(dst, dev, gateway);
        // Scope "nowhere" matches a route of any scope, as `ip route del` does.
        msg.header.scope = RouteScope::NoWhere;
        self.execute(RouteNetlinkMessage::DelRoute(msg), 0, &|| {
            format!("delete route {}", describe(dst, dev, gateway))
        })
    }

    /// The IPv4 routes of the main table, all or only those out of link `dev`.
    pub fn routes(&mut self, dev: Option<u32>) -> Result<Vec<Route>, NetdevError> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let msgs = self.dump(RouteNetlinkMessage::GetRoute(req), &|| "list routes".into())?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => route_of(r),
                _ => None,
            })
            .filter(|r| dev.is_none() || r.dev == dev)
            .collect())
    }
}

fn route_message(dst: Ipv4Net, dev: u32, gateway: Option<Ipv4Addr>) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.destination_prefix_length = dst.prefix_len();
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    if dst.prefix_len() > 0 {
        msg.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(dst.network())));
    }
    msg.attributes.push(RouteAttribute::Oif(dev));
    if let Some(gw) = gateway {
        msg.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
    }
    msg
}

fn route_of(r: &RouteMessage) -> Option<Route> {
    if r.header.address_family != AddressFamily::Inet {
        return None;
    }
    let mut table = u32::from(r.header.table);
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut route = Route { dst: Ipv4Net::default(), gateway: None, dev: None };
    for a in &r.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = *ip,
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => route.gateway = Some(*ip),
            RouteAttribute::Oif(i) => route.dev = Some(*i),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    route.dst = Ipv4Net::new(dst, r.header.destination_prefix_length).ok()?;
    Some(route)
}

fn describe(dst: Ipv4Net, dev: u32, gateway: Option<Ipv4Addr>) -> String {
    match gateway {
        Some(gw) => format!("{dst} via {gw} on link {dev}"),
        None => format!("{dst} on link {dev}"),
    }
}
