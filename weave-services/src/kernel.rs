//! The kernel side of services: weave addresses on the bridge (export, import) or on a bound
//! target's interface, and the NAT tables of [`super::rules`]. Blocking calls: the service runs
//! them off the async runtime.

use super::rules::{self, BindRule, HostRule};
use crate::ports::Namespace;
use ipnet::Ipv4Net;
use weave_netdev::{arp, nft, sysctl, NetdevError, Netlink, Netns};

fn missing(what: &str, name: &str) -> NetdevError {
    NetdevError::new(format!("find {what} {name}"), std::io::Error::from_raw_os_error(libc::ENODEV))
}

/// Puts `addr` on the bridge (with its prefix, as expose does, so the host routes to the
/// subnet through it) and announces it.
pub fn bridge_add(bridge: &str, addr: Ipv4Net) -> Result<(), NetdevError> {
    let mut nl = Netlink::open()?;
    let br = nl.link_by_name(bridge)?.ok_or_else(|| missing("the bridge", bridge))?;
    if nl.addresses(br.index)?.contains(&addr) {
        return Ok(());
    }
    nl.add_address(&br, addr)?;
    if let Err(e) = arp::send_gratuitous_arp(bridge, addr.addr(), br.mac.unwrap_or_default()) {
        tracing::debug!("gratuitous ARP for {addr}: {e}");
    }
    Ok(())
}

/// Takes `addr` off the bridge; gone already is fine.
pub fn bridge_del(bridge: &str, addr: Ipv4Net) -> Result<(), NetdevError> {
    let mut nl = Netlink::open()?;
    let Some(br) = nl.link_by_name(bridge)? else { return Ok(()) };
    // Else deleting a subnet's first address deletes the others of the subnet with it.
    sysctl::write(&format!("net/ipv4/conf/{bridge}/promote_secondaries"), "1")?;
    match nl.del_address(&br, addr) {
        Err(e) if e.errno() == Some(libc::EADDRNOTAVAIL) => Ok(()),
        r => r,
    }
}

/// The addresses on the bridge now.
pub fn bridge_addrs(bridge: &str) -> Result<Vec<Ipv4Net>, NetdevError> {
    let mut nl = Netlink::open()?;
    match nl.link_by_name(bridge)? {
        Some(br) => nl.addresses(br.index),
        None => Ok(vec![]),
    }
}

/// Whether anything on the weave network answers ARP for `target`, asked from this host's
/// weave address `from` on the bridge: whether the container behind an address on another host
/// still exists. Three requests a second apart: a busy or briefly partitioned peer is not
/// taken for gone at once.
pub fn answers(bridge: &str, from: Ipv4Net, target: std::net::Ipv4Addr) -> Result<bool, NetdevError> {
    let mut nl = Netlink::open()?;
    let br = nl.link_by_name(bridge)?.ok_or_else(|| missing("the bridge", bridge))?;
    let mac = br.mac.unwrap_or_default();
    Ok(arp::probe(bridge, from.addr(), mac, target, 3, std::time::Duration::from_secs(1))?.is_some())
}

/// Rebuilds the host's table; switches forwarding on when something is to be forwarded.
pub fn apply_host(rules: &[HostRule]) -> Result<(), NetdevError> {
    if !rules.is_empty() {
        sysctl::write("net/ipv4/ip_forward", "1")?;
    }
    nft::apply_batch(&rules::host_batch(rules))
}

/// Removes the host's table (`weave reset`).
pub fn remove_host() -> Result<(), NetdevError> {
    nft::apply_batch(&rules::host_batch(&[]))
}

/// Whether the host's table is there.
pub fn host_table_present() -> bool {
    nft::table_exists("ip", rules::HOST_TABLE)
}

fn open(at: &impl Namespace, id: &str) -> Result<Netns, NetdevError> {
    at.open().map_err(|e| {
        NetdevError::new(format!("open the network namespace of {id}"), std::io::Error::other(e.to_string()))
    })
}

/// In a bound target's namespace: `add` on its weave interface (and `del` off it), then its
/// table rebuilt from `rules`. The table first when removing, so nothing points at a missing
/// address.
pub fn apply_bind<N: Namespace>(
    at: &N,
    id: &str,
    add: Option<Ipv4Net>,
    del: Option<Ipv4Net>,
    rules: &[BindRule],
) -> Result<(), NetdevError> {
    let ns = open(at, id)?;
    let mut nl = Netlink::open_in(&ns)?;
    let link = nl.link_by_name(N::IFNAME)?;
    if let (Some(a), Some(link)) = (del, &link) {
        ns.run(|| nft::apply_batch(&rules::bind_batch(rules)))??;
        match nl.del_address(link, a) {
            Err(e) if e.errno() == Some(libc::EADDRNOTAVAIL) => {}
            r => r?,
        }
        return Ok(());
    }
    if let Some(a) = add {
        let link = link.ok_or_else(|| missing(&format!("the interface of {id}"), N::IFNAME))?;
        if !nl.addresses(link.index)?.contains(&a) {
            nl.add_address(&link, a)?;
            let mac = link.mac.unwrap_or_default();
            let sent = ns.run(|| arp::send_gratuitous_arp(N::IFNAME, a.addr(), mac))?;
            if let Err(e) = sent {
                tracing::debug!("gratuitous ARP for {a}: {e}");
            }
        }
    }
    ns.run(|| nft::apply_batch(&rules::bind_batch(rules)))?
}

/// Whether the target's interface has `addr` and its table exists.
pub fn bind_present<N: Namespace>(at: &N, id: &str, addr: Ipv4Net) -> bool {
    let Ok(ns) = open(at, id) else { return false };
    let Ok(mut nl) = Netlink::open_in(&ns) else { return false };
    let has = match nl.link_by_name(N::IFNAME) {
        Ok(Some(l)) => nl.addresses(l.index).map(|a| a.contains(&addr)).unwrap_or(false),
        _ => false,
    };
    has && ns.run(|| nft::table_exists("ip", rules::BIND_TABLE)).unwrap_or(false)
}
