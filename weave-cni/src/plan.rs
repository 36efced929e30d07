//! What a CNI attachment's interface gets beside its addresses, as Weave's plugin decides it:
//! the gateway and the routes. Pure, so the rules are tested without a kernel.
//!
//! Weave: when neither a gateway nor routes are configured, the gateway is the bridge's address
//! in the container's subnet (the bridge gets one, as `weave:expose`, when it has none there).
//! Without configured routes the container gets a default route through the gateway, preceded
//! by a link route to the gateway itself when it lies outside the subnet; configured routes go
//! through their own next hop, or the gateway.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub dst: Ipv4Net,
    /// Next hop; `None` for a route straight out of the interface.
    pub gw: Option<Ipv4Addr>,
}

const DEFAULT: Ipv4Net = match Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0) {
    Ok(n) => n,
    Err(_) => panic!("0.0.0.0/0 is a network"),
};

/// The bridge's address in `addr`'s subnet, if it has one.
pub fn bridge_gateway(addr: Ipv4Net, bridge: &[Ipv4Net]) -> Option<Ipv4Addr> {
    bridge.iter().find(|b| b.trunc() == addr.trunc()).map(|b| b.addr())
}

/// Whether the gateway comes from the bridge: neither a gateway nor routes were configured.
pub fn wants_bridge_gateway(gateway: Option<Ipv4Addr>, configured: &[Route]) -> bool {
    gateway.is_none() && configured.is_empty()
}

/// The routes to add for an interface with `addr`.
pub fn routes(addr: Ipv4Net, gateway: Option<Ipv4Addr>, configured: &[Route]) -> Vec<Route> {
    if configured.is_empty() {
        let Some(gw) = gateway else { return vec![] };
        let mut out = Vec::new();
        if !addr.trunc().contains(&gw) {
            out.push(Route { dst: Ipv4Net::new(gw, 32).expect("/32 is valid"), gw: None });
        }
        out.push(Route { dst: DEFAULT, gw: Some(gw) });
        return out;
    }
    configured.iter().map(|r| Route { dst: r.dst.trunc(), gw: r.gw.or(gateway) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_bridge_is_the_gateway_of_its_subnet() {
        let bridge = [net("10.40.0.1/16"), net("10.32.0.1/12")];
        assert_eq!(bridge_gateway(net("10.32.0.7/12"), &bridge), Some(ip("10.32.0.1")));
        assert_eq!(bridge_gateway(net("10.40.3.3/16"), &bridge), Some(ip("10.40.0.1")));
        assert_eq!(bridge_gateway(net("10.50.0.2/16"), &bridge), None);
        assert!(wants_bridge_gateway(None, &[]));
        assert!(!wants_bridge_gateway(Some(ip("10.32.0.1")), &[]));
    }

    #[test]
    fn routes_follow_weaves_plugin() {
        // Nothing configured: a default route through the gateway.
        assert_eq!(
            routes(net("10.32.0.7/12"), Some(ip("10.32.0.1")), &[]),
            [Route { dst: net("0.0.0.0/0"), gw: Some(ip("10.32.0.1")) }]
        );
        // A gateway outside the subnet is reached over a link route first.
        assert_eq!(
            routes(net("10.32.0.7/24"), Some(ip("10.40.0.1")), &[]),
            [
                Route { dst: net("10.40.0.1/32"), gw: None },
                Route { dst: net("0.0.0.0/0"), gw: Some(ip("10.40.0.1")) }
            ]
        );
        assert!(routes(net("10.32.0.7/12"), None, &[]).is_empty());
        // Configured routes keep their next hop or take the gateway; host bits are cleared.
        let conf = [
            Route { dst: net("10.1.0.9/16"), gw: None },
            Route { dst: net("0.0.0.0/0"), gw: Some(ip("10.32.0.2")) },
        ];
        assert_eq!(
            routes(net("10.32.0.7/12"), Some(ip("10.32.0.1")), &conf),
            [
                Route { dst: net("10.1.0.0/16"), gw: Some(ip("10.32.0.1")) },
                Route { dst: net("0.0.0.0/0"), gw: Some(ip("10.32.0.2")) }
            ]
        );
        assert_eq!(
            routes(net("10.32.0.7/12"), None, &conf[..1]),
            [Route { dst: net("10.1.0.0/16"), gw: None }]
        );
    }
}
