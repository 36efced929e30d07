//! VXLAN devices, for fastdp (weave's kernel data path), which encapsulates
//! overlay traffic in VXLAN between peers; their forwarding entries are in `fdb.rs`.

use crate::netlink::{NetdevError, Netlink};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage, VxlanDf,
};
use netlink_packet_route::RouteNetlinkMessage;
use std::net::Ipv4Addr;

/// How to create a VXLAN device (see [`Netlink::create_vxlan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanConfig {
    /// VXLAN network identifier; ignored for `external` devices.
    pub vni: u32,
    /// UDP port the device sends to and listens on (weave's fastdp uses 6784).
    pub dst_port: u16,
    /// Source address of encapsulated packets; the kernel picks one by route when `None`.
    pub local: Option<Ipv4Addr>,
    /// Learn remote MACs from received packets. Weave programs the FDB itself, so usually off.
    pub learning: bool,
    /// "external" / collect_metadata: the VNI and remote come per packet from tunnel metadata
    /// (as the Open vSwitch data path does) instead of from the device.
    pub external: bool,
    pub mtu: Option<u32>,
    /// Set DF on the outer IPv4 header, so frames too big for the underlay are dropped rather
    /// than fragmented (fastdp relies on this to check the path MTU with its heartbeats).
    pub df: bool,
    /// TTL of the outer header; the kernel's default (inherit/64) when `None`.
    pub ttl: Option<u8>,
}

impl VxlanConfig {
    /// A device for `vni` on `dst_port`, no learning, not external, default MTU.
    pub fn new(vni: u32, dst_port: u16) -> VxlanConfig {
        VxlanConfig {
            vni,
            dst_port,
            local: None,
            learning: false,
            external: false,
            mtu: None,
            df: false,
            ttl: None,
        }
    }
}

impl Netlink {
    /// Creates a VXLAN device, down.
    pub fn create_vxlan(&mut self, name: &str, config: &VxlanConfig) -> Result<(), NetdevError> {
        let mut data = Vec::new();
        // iproute2 refuses "external" together with an id; the kernel treats the id as a default.
        if !config.external {
            data.push(InfoVxlan::Id(config.vni));
        }
        data.push(InfoVxlan::Port(config.dst_port));
        if let Some(local) = config.local {
            data.push(InfoVxlan::Local(local));
        }
        data.push(InfoVxlan::Learning(config.learning));
        if config.external {
            data.push(InfoVxlan::CollectMetadata(true));
        }
        if config.df {
            data.push(InfoVxlan::Df(VxlanDf::Set));
        }
        if let Some(ttl) = config.ttl {
            data.push(InfoVxlan::Ttl(ttl));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        if let Some(mtu) = config.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(data)),
        ]));
        self.execute(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL, &|| {
            let vni = if config.external { "external".to_string() } else { format!("vni {}", config.vni) };
            format!("create vxlan {name} ({vni}, port {})", config.dst_port)
        })
    }
}
