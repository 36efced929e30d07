//! The host's networks weaveDNS answers: the subnets on the weave bridge (where exposed hosts
//! and containers are) and, when `--dns-listen-address` is a specific address (Weave's launcher
//! binds the Docker bridge's), the subnets of the interface holding it. With the Docker
//! integration on, Docker's bridges too: containers on Docker's `weave` network query weaveDNS
//! through `docker_gwbridge` (Docker gives them no other way out), and containers on Docker's
//! own bridge through `docker0`; both hold only this host's containers, as the weave bridge.

use ipnet::IpNet;
use std::net::IpAddr;
use weave_netdev::Netlink;

/// The subnets of `bridges` (those that exist) and of the link holding `listen` (unless
/// unspecified or loopback).
pub fn local_nets(bridges: &[String], listen: IpAddr) -> Result<Vec<IpNet>, String> {
    let mut nl = Netlink::open().map_err(|e| e.to_string())?;
    let mut nets = Vec::new();
    for bridge in bridges {
        if let Some(link) = nl.link_by_name(bridge).map_err(|e| e.to_string())? {
            nets.extend(
                nl.addresses(link.index)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|n| IpNet::from(n.trunc())),
            );
        }
    }
    if let IpAddr::V4(ip) = listen {
        if !ip.is_unspecified() && !ip.is_loopback() {
            for link in nl.links().map_err(|e| e.to_string())? {
                let addrs = nl.addresses(link.index).map_err(|e| e.to_string())?;
                if addrs.iter().any(|a| a.addr() == ip) {
                    nets.extend(addrs.into_iter().map(|n| IpNet::from(n.trunc())));
                }
            }
        }
    }
    Ok(nets)
}
