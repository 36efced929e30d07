//! Plugging namespaces into the weave network: `weave attach`, `detach` and `ps`.
//!
//! A target gets a veth pair: `vethwepl*` on the bridge (hairpin on, its alias naming the
//! target, so `ps` and `detach` need no state of their own) and `ethwe` inside the target with
//! the addresses, the multicast route, Weave's ARP tuning and a gratuitous ARP. Attaching again
//! only adds what is missing; detaching removes exactly the addresses asked for, and the
//! interface when none are left.

pub mod target;

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use target::Target;
use weave_netdev::{arp, sysctl, Netlink, Netns};

/// The interface inside every attached target.
pub const CONTAINER_IF: &str = "ethwe";
/// The multicast route Weave adds inside targets.
const MULTICAST: &str = "224.0.0.0/4";

/// An attached target as `weave ps` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attached {
    pub id: String,
    pub mac: [u8; 6],
    pub addrs: Vec<Ipv4Net>,
}

/// Parses Weave's explicit address forms: `CIDR` and `ip:CIDR` (a host address with its prefix).
pub fn parse_addr(s: &str) -> Result<Ipv4Net, String> {
    let cidr = s.strip_prefix("ip:").unwrap_or(s);
    cidr.parse::<Ipv4Net>()
        .map_err(|_| format!("invalid address {s:?}: expected CIDR or ip:CIDR, such as 10.32.0.5/12"))
}

fn err(what: impl std::fmt::Display) -> String {
    what.to_string()
}

/// Attaches `target` to `bridge` with `addrs`. Idempotent.
pub fn attach(
    nl: &mut Netlink,
    bridge: &str,
    target: &Target,
    addrs: &[Ipv4Net],
    mtu: u32,
    multicast_route: bool,
) -> Result<Attached, String> {
    let ns = target.open()?;
    let mut inner = Netlink::open_in(&ns).map_err(err)?;
    if inner.link_by_name(CONTAINER_IF).map_err(err)?.is_none() {
        create_interface(nl, &mut inner, bridge, target, &ns, mtu)?;
    }
    let ethwe =
        inner.link_by_name(CONTAINER_IF).map_err(err)?.ok_or("ethwe vanished after it was created")?;
    let existing = inner.addresses(ethwe.index).map_err(err)?;
    let mut added = Vec::new();
    for a in addrs {
        if !existing.contains(a) {
            inner.add_address(&ethwe, *a).map_err(err)?;
            added.push(*a);
        }
    }
    if multicast_route {
        let route: Ipv4Net = MULTICAST.parse().expect("constant");
        inner.add_route(route, ethwe.index, None).map_err(err)?;
    }
    let mac = ethwe.mac.unwrap_or_default();
    if !added.is_empty() {
        let ips: Vec<Ipv4Addr> = added.iter().map(|a| a.addr()).collect();
        // Tell the segment where the addresses are now (they may have lived elsewhere before).
        ns.run(move || {
            for ip in ips {
                if let Err(e) = arp::send_gratuitous_arp(CONTAINER_IF, ip, mac) {
                    tracing::debug!("gratuitous ARP for {ip}: {e}");
                }
            }
        })
        .map_err(err)?;
    }
    let addrs = inner.addresses(ethwe.index).map_err(err)?;
    Ok(Attached { id: target.id(), mac, addrs })
}

fn create_interface(
    nl: &mut Netlink,
    inner: &mut Netlink,
    bridge: &str,
    target: &Target,
    ns: &Netns,
    mtu: u32,
) -> Result<(), String> {
    let (host, peer) = target.veth_names();
    let bridge =
        nl.link_by_name(bridge).map_err(err)?.ok_or("the weave bridge is missing: is weave running?")?;
    // A leftover from an interrupted attach is replaced.
    if let Some(old) = nl.link_by_name(&host).map_err(err)? {
        nl.delete_link(&old).map_err(err)?;
    }
    nl.create_veth(&host, &peer, Some(mtu)).map_err(err)?;
    let result = (|| -> Result<(), String> {
        let h = nl.link_by_name(&host).map_err(err)?.ok_or("veth vanished after it was created")?;
        nl.set_alias(&h, &target.id()).map_err(err)?;
        nl.set_master(&h, Some(bridge.index)).map_err(err)?;
        nl.set_hairpin(&h, true).map_err(err)?;
        nl.set_up(&h, true).map_err(err)?;
        let p = nl.link_by_name(&peer).map_err(err)?.ok_or("veth peer vanished after it was created")?;
        nl.move_to_netns(&p, ns).map_err(err)?;
        let p = inner.link_by_name(&peer).map_err(err)?.ok_or("veth peer did not arrive in the target")?;
        inner.rename(&p, CONTAINER_IF).map_err(err)?;
        let e = inner.link_by_name(CONTAINER_IF).map_err(err)?.ok_or("ethwe vanished after the rename")?;
        inner.set_up(&e, true).map_err(err)?;
        // Weave's ARP tuning: notice moved addresses quickly.
        ns.run(|| -> Result<(), String> {
            for (k, v) in
                [("base_reachable_time", "5"), ("delay_first_probe_time", "2"), ("ucast_solicit", "1")]
            {
                sysctl::write(&format!("net/ipv4/neigh/{CONTAINER_IF}/{k}"), v).map_err(err)?;
            }
            Ok(())
        })
        .map_err(err)??;
        Ok(())
    })();
    if result.is_err() {
        // Leave nothing half-made behind.
        if let Ok(Some(h)) = nl.link_by_name(&host) {
            let _ = nl.delete_link(&h);
        }
    }
    result
}

/// Removes `addrs` (all when empty) from the target; the interface goes when none is left.
/// Returns the addresses removed.
pub fn detach(target: &Target, addrs: &[Ipv4Net]) -> Result<Vec<Ipv4Net>, String> {
    let ns = target.open()?;
    let mut inner = Netlink::open_in(&ns).map_err(err)?;
    let Some(ethwe) = inner.link_by_name(CONTAINER_IF).map_err(err)? else { return Ok(vec![]) };
    let existing = inner.addresses(ethwe.index).map_err(err)?;
    let remove: Vec<Ipv4Net> = if addrs.is_empty() {
        existing.clone()
    } else {
        existing.iter().filter(|a| addrs.contains(a)).copied().collect()
    };
    for a in &remove {
        inner.del_address(&ethwe, *a).map_err(err)?;
    }
    if existing.len() == remove.len() {
        inner.delete_link(&ethwe).map_err(err)?;
    }
    Ok(remove)
}

/// Whether a bridge port is one of ours: `weave attach`'s (`vethwepl*`) or the Docker plugin's
/// (`vethwl*`).
fn is_our_port(name: &str) -> bool {
    name.starts_with("vethwepl") || name.starts_with("vethwl")
}

/// The aliases (target ids) of our ports on the bridge.
pub fn port_aliases(nl: &mut Netlink, bridge: &str) -> Result<Vec<String>, String> {
    let Some(br) = nl.link_by_name(bridge).map_err(err)? else { return Ok(vec![]) };
    Ok(nl
        .links_with_master(br.index)
        .map_err(err)?
        .into_iter()
        .filter(|p| is_our_port(&p.name))
        .filter_map(|p| p.alias)
        .collect())
}

/// Every attached target: bridge ports that are our veths, by the alias naming their target.
pub fn list(nl: &mut Netlink, bridge: &str) -> Result<Vec<Attached>, String> {
    list_with(nl, bridge, &|a| Target::parse(a).ok())
}

/// As [`list`], with `resolve` turning an alias into its target (Docker containers need Docker).
pub fn list_with(
    nl: &mut Netlink,
    bridge: &str,
    resolve: &dyn Fn(&str) -> Option<Target>,
) -> Result<Vec<Attached>, String> {
    let Some(br) = nl.link_by_name(bridge).map_err(err)? else { return Ok(vec![]) };
    let mut out: Vec<Attached> = Vec::new();
    for port in nl.links_with_master(br.index).map_err(err)? {
        if !is_our_port(&port.name) {
            continue;
        }
        let Some(id) = port.alias.clone() else { continue };
        if out.iter().any(|a| a.id == id) {
            continue;
        }
        let Some(target) = resolve(&id) else { continue };
        // A target that went away leaves its veth behind until the kernel removes it.
        let Ok(ns) = target.open() else { continue };
        let Ok(mut inner) = Netlink::open_in(&ns) else { continue };
        // `ethwe` from attach; Docker names the plugin's `ethwe0`, `ethwe1`, ...
        let Ok(links) = inner.links() else { continue };
        let mut ifs: Vec<_> = links.into_iter().filter(|l| l.name.starts_with(CONTAINER_IF)).collect();
        ifs.sort_by(|a, b| a.name.cmp(&b.name));
        let Some(first) = ifs.first() else { continue };
        let mut addrs = Vec::new();
        for l in &ifs {
            addrs.extend(inner.addresses(l.index).map_err(err)?);
        }
        out.push(Attached { id, mac: first.mac.unwrap_or_default(), addrs });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The bridge itself, as `weave ps` shows it first.
pub fn expose_entry(nl: &mut Netlink, bridge: &str) -> Result<Option<Attached>, String> {
    let Some(br) = nl.link_by_name(bridge).map_err(err)? else { return Ok(None) };
    let addrs = nl.addresses(br.index).map_err(err)?;
    Ok(Some(Attached { id: "weave:expose".into(), mac: br.mac.unwrap_or_default(), addrs }))
}

/// A MAC as `ip link` prints it.
pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
