//! Bridge ports: attaching links to a Linux bridge and the per-port settings weave needs
//! (hairpin for containers that talk to themselves via the bridge, isolation for VXLAN ports).

use crate::link::Link;
use crate::netlink::{NetdevError, Netlink};
use netlink_packet_route::link::{
    InfoBridgePort, InfoPortData, InfoPortKind, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

impl Netlink {
    /// Makes `link` a port of the bridge with index `bridge`, or detaches it with `None`.
    pub fn set_master(&mut self, link: &Link, bridge: Option<u32>) -> Result<(), NetdevError> {
        // IFLA_MASTER 0 means "no master".
        let attrs = vec![LinkAttribute::Controller(bridge.unwrap_or(0))];
        self.set_link(link, attrs, &|| match bridge {
            Some(b) => format!("set master of {} to link {b}", link.name),
            None => format!("detach {} from its bridge", link.name),
        })
    }

    /// Turns hairpin mode of a bridge port on or off.
    pub fn set_hairpin(&mut self, link: &Link, on: bool) -> Result<(), NetdevError> {
        self.set_bridge_port(link, InfoBridgePort::HairpinMode(on), &|| {
            format!("set hairpin {} on bridge port {}", on_off(on), link.name)
        })
    }

    /// Isolates a bridge port (IFLA_BRPORT_ISOLATED): isolated ports forward only to
    /// non-isolated ones, so traffic from one VXLAN port never goes back out of another.
    pub fn set_bridge_port_isolated(&mut self, link: &Link, on: bool) -> Result<(), NetdevError> {
        self.set_bridge_port(link, InfoBridgePort::Isolated(on), &|| {
            format!("set isolated {} on bridge port {}", on_off(on), link.name)
        })
    }

    /// Turns MAC learning of a bridge port on or off.
    pub fn set_bridge_port_learning(&mut self, link: &Link, on: bool) -> Result<(), NetdevError> {
        self.set_bridge_port(link, InfoBridgePort::Learning(on), &|| {
            format!("set learning {} on bridge port {}", on_off(on), link.name)
        })
    }

    /// Every link whose master is the link with index `master`.
    pub fn links_with_master(&mut self, master: u32) -> Result<Vec<Link>, NetdevError> {
        Ok(self.links()?.into_iter().filter(|l| l.master == Some(master)).collect())
    }

    /// Changes one bridge-port option through the port's IFLA_LINKINFO slave data, as
    /// `ip link set X type bridge_slave ...` does. RTM_SETLINK ignores IFLA_LINKINFO, so this
    /// is an RTM_NEWLINK without NLM_F_CREATE on the existing link.
    fn set_bridge_port(
        &mut self,
        link: &Link,
        option: InfoBridgePort,
        op: &dyn Fn() -> String,
    ) -> Result<(), NetdevError> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![option])),
        ]));
        self.execute(RouteNetlinkMessage::NewLink(msg), 0, op)
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}
