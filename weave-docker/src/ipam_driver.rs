//! libnetwork's remote IPAM driver, as Weave's (`plugin/ipam/driver.go`), on weave's own IPAM:
//! Docker containers, `weave attach` targets and CNI pods share one ring.
//!
//! A pool is named `weave-<subnet>-<iprange>`; its "gateway" is the subnet's network address,
//! which is never allocated. Addresses are allocated anonymously (filed under the address, as
//! Weave's `_`); the event watcher hands each to its container once the container runs, so the
//! container's death and removal follow Weave's rules (freed 30 s after death unless it starts
//! again, at once when removed). Docker releases an endpoint's address whenever the container
//! stops, also on `docker restart`: a container's address released by Docker is kept for it, and
//! the next request in that pool within [`RESTART_WINDOW`] gets it back (Docker says not which
//! container asks, so a restart is recognised by timing; see the report).

use crate::plugin::{answer, empty, parse, PluginError, PluginResult};
use crate::ports::{Addresses, PortError};
use crate::Shared;
use ipnet::Ipv4Net;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Docker's option marking a request for the network's gateway.
const REQUEST_TYPE: &str = "RequestAddressType";
const GATEWAY_TYPE: &str = "com.docker.network.gateway";
/// How long after Docker releases a container's address a request is taken to be the same
/// container starting again (`docker restart`, a restart policy).
pub const RESTART_WINDOW: Duration = Duration::from_secs(10);
/// How long a request may wait for IPAM (consensus, space from other peers).
const ALLOCATE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct PoolReq {
    #[serde(rename = "Pool", default)]
    pool: String,
    #[serde(rename = "SubPool", default)]
    sub_pool: String,
    #[serde(rename = "V6", default)]
    v6: bool,
}

#[derive(Deserialize)]
struct ReleasePoolReq {
    #[serde(rename = "PoolID")]
    pool_id: String,
}

#[derive(Deserialize)]
struct AddressReq {
    #[serde(rename = "PoolID")]
    pool_id: String,
    #[serde(rename = "Address", default)]
    address: String,
    #[serde(rename = "Options", default)]
    options: Option<HashMap<String, String>>,
}

/// An address Docker released that still belongs to a container.
#[derive(Debug, Clone)]
struct Released {
    addr: Ipv4Addr,
    container: String,
    at: Instant,
}

pub struct IpamDriver {
    shared: Arc<Shared>,
    released: Mutex<Vec<Released>>,
}

/// A pool id's parts.
pub fn split_pool_id(id: &str) -> Result<(Ipv4Net, Ipv4Net), PluginError> {
    let bad = || PluginError::new(format!("Unrecognized pool ID: {id}"));
    let mut parts = id.split('-');
    let (Some("weave"), Some(subnet), Some(range), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let subnet: Ipv4Net = subnet.parse().map_err(|_| bad())?;
    let range: Ipv4Net = range.parse().map_err(|_| bad())?;
    Ok((subnet.trunc(), range.trunc()))
}

fn parse_cidr(what: &str, s: &str) -> Result<Ipv4Net, PluginError> {
    s.parse::<Ipv4Net>().map(|n| n.trunc()).map_err(|_| {
        PluginError::new(format!("invalid {what} {s:?}: expected an IPv4 CIDR such as 10.32.0.0/12"))
    })
}

fn ipam_error(e: PortError) -> PluginError {
    PluginError::new(e.to_string())
}

impl IpamDriver {
    pub fn new(shared: Arc<Shared>) -> IpamDriver {
        IpamDriver { shared, released: Mutex::new(Vec::new()) }
    }

    fn ipam(&self) -> Result<&Arc<dyn Addresses>, PluginError> {
        self.shared.ipam.as_ref().ok_or_else(|| {
            PluginError::new("IP address allocation must be enabled to use the weavemesh IPAM driver (--ipalloc-range is empty)")
        })
    }

    pub async fn capabilities(&self, _body: &[u8]) -> PluginResult {
        answer(serde_json::json!({ "RequiresMACAddress": false }))
    }

    pub async fn default_address_spaces(&self, _body: &[u8]) -> PluginResult {
        answer(serde_json::json!({
            "LocalDefaultAddressSpace": "weavelocal",
            "GlobalDefaultAddressSpace": "weaveglobal",
        }))
    }

    pub async fn request_pool(&self, body: &[u8]) -> PluginResult {
        let req: PoolReq = parse("IpamDriver.RequestPool", body)?;
        if req.v6 {
            return Err(PluginError::new(
                "weave allocates IPv4 addresses only: create the network without --ipv6",
            ));
        }
        let subnet =
            if req.pool.is_empty() { self.ipam()?.default_subnet() } else { parse_cidr("pool", &req.pool)? };
        let range = if req.sub_pool.is_empty() {
            subnet
        } else {
            parse_cidr("sub-pool (--ip-range)", &req.sub_pool)?
        };
        if !subnet.contains(&range) {
            return Err(PluginError::new(format!("the IP range {range} is not inside the subnet {subnet}")));
        }
        tracing::info!(%subnet, %range, "[ipam] RequestPool");
        answer(serde_json::json!({
            "PoolID": format!("weave-{subnet}-{range}"),
            "Pool": subnet.to_string(),
            "Data": { GATEWAY_TYPE: subnet.to_string() },
        }))
    }

    pub async fn release_pool(&self, body: &[u8]) -> PluginResult {
        let req: ReleasePoolReq = parse("IpamDriver.ReleasePool", body)?;
        split_pool_id(&req.pool_id)?;
        empty()
    }

    pub async fn request_address(&self, body: &[u8]) -> PluginResult {
        let req: AddressReq = parse("IpamDriver.RequestAddress", body)?;
        let (subnet, range) = split_pool_id(&req.pool_id)?;
        let options = req.options.unwrap_or_default();
        let ipam = self.ipam()?;
        let addr = if req.address.is_empty() {
            match self.restarting(range).await {
                Some(a) => a,
                None => {
                    let alloc =
                        ipam.allocate_or_explain(weave_ipam::allocator::NO_CONTAINER_ID, range, false);
                    let c = tokio::time::timeout(ALLOCATE_TIMEOUT, alloc)
                        .await
                        .map_err(|_| PluginError::new(format!("no address in {range} within {ALLOCATE_TIMEOUT:?}: is IPAM waiting for consensus (weave status ipam)?")))?
                        .map_err(ipam_error)?;
                    c.addr()
                }
            }
        } else {
            let ip: Ipv4Addr = req.address.parse().map_err(|_| {
                PluginError::new(format!("invalid address {:?}: expected an IPv4 address", req.address))
            })?;
            if !subnet.contains(&ip) {
                return Err(PluginError::new(format!("address {ip} is not in the pool's subnet {subnet}")));
            }
            // The gateway we made up is the network address: nothing to claim.
            if ip != subnet.network() || options.get(REQUEST_TYPE).map(String::as_str) != Some(GATEWAY_TYPE) {
                let cidr = Ipv4Net::new(ip, subnet.prefix_len()).expect("prefix of a parsed net");
                ipam.claim(weave_ipam::allocator::NO_CONTAINER_ID, cidr, false, false)
                    .await
                    .map_err(ipam_error)?;
            }
            ip
        };
        let net = Ipv4Net::new(addr, subnet.prefix_len()).expect("prefix of a parsed net");
        tracing::info!(pool = %req.pool_id, address = %net, "[ipam] RequestAddress");
        answer(serde_json::json!({ "Address": net.to_string(), "Data": {} }))
    }

    pub async fn release_address(&self, body: &[u8]) -> PluginResult {
        let req: AddressReq = parse("IpamDriver.ReleaseAddress", body)?;
        let (subnet, _) = split_pool_id(&req.pool_id)?;
        let ip: Ipv4Addr = req.address.parse().map_err(|_| {
            PluginError::new(format!("invalid address {:?}: expected an IPv4 address", req.address))
        })?;
        if ip == subnet.network() {
            return empty();
        }
        let ipam = self.ipam()?;
        tracing::info!(pool = %req.pool_id, address = %ip, "[ipam] ReleaseAddress");
        match ipam.owner_of(ip) {
            None => Err(PluginError::new(format!("address {ip} is not allocated on this peer"))),
            // Anonymous: the container never ran with it.
            Some(owner) if owner == ip.to_string() => match ipam.release_all(&owner).await {
                Ok(()) => empty(),
                Err(e) => Err(ipam_error(e)),
            },
            Some(container) => {
                let mut released = self.released.lock().expect("released lock");
                released.retain(|r| r.addr != ip && r.at.elapsed() < RESTART_WINDOW);
                released.push(Released { addr: ip, container: container.clone(), at: Instant::now() });
                drop(released);
                // Left to the container's lifecycle, unless it still runs without it
                // (`docker network disconnect`).
                self.shared.check_disconnected(container, ip);
                empty()
            }
        }
    }

    /// The address a container had, when Docker just released it and it is still that
    /// container's: taken back as an anonymous allocation for the starting endpoint.
    async fn restarting(&self, range: Ipv4Net) -> Option<Ipv4Addr> {
        let ipam = self.shared.ipam.as_ref()?;
        loop {
            let candidate = {
                let mut released = self.released.lock().expect("released lock");
                released.retain(|r| r.at.elapsed() < RESTART_WINDOW);
                let i = released.iter().rposition(|r| range.contains(&r.addr))?;
                released.remove(i)
            };
            if ipam.owner_of(candidate.addr).as_deref() != Some(candidate.container.as_str()) {
                continue;
            }
            match ipam.transfer(candidate.addr, &candidate.addr.to_string()).await {
                Ok(_) => {
                    tracing::info!(address = %candidate.addr, container = %candidate.container, "[ipam] giving a restarting container its address back");
                    return Some(candidate.addr);
                }
                Err(e) => tracing::warn!(address = %candidate.addr, "taking back a released address: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_ids_are_weaves() {
        let (s, r) = split_pool_id("weave-10.32.0.0/12-10.32.1.0/24").unwrap();
        assert_eq!((s.to_string().as_str(), r.to_string().as_str()), ("10.32.0.0/12", "10.32.1.0/24"));
        for bad in [
            "weavepool",
            "weave-10.32.0.0/12",
            "weave-x-y",
            "other-10.0.0.0/8-10.0.0.0/8",
            "weave-1/8-1/8-1/8",
        ] {
            assert_eq!(split_pool_id(bad).unwrap_err().message, format!("Unrecognized pool ID: {bad}"));
        }
    }
}
