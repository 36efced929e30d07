//! The kernel side of attaching: veth pairs, addresses and routes in targets, the bridge's own
//! addresses. Blocking calls (netlink, setns threads); the service runs them off the runtime.
//!
//! A target gets a veth pair: `vethwepl*` on the bridge (hairpin on, its alias naming the
//! target, so `ps` needs no state of its own) and the interface inside the target (`ethwe`)
//! with the addresses, the multicast route, Weave's ARP tuning and a gratuitous ARP. An
//! interface counts as weave's only if it is a veth whose peer is a port of the weave bridge:
//! anything else of that name is left alone and the attach is refused.
//!
//! Each method that changes several things undoes its own partial work when a later change
//! fails; undoing carries on past failures and reports the first.

use super::error::AttachError;
use super::nat;
use super::target::{veth_names, NsRef, Target, HOST_VETH, PEER_VETH, PLUGIN_VETH};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use weave_netdev::{arp, sysctl, Link, LinkKind, Netlink, Netns};

/// The interface inside every attached target.
pub const CONTAINER_IF: &str = "ethwe";
/// The multicast route Weave adds inside targets.
const MULTICAST: &str = "224.0.0.0/4";

/// A target on the weave network as `weave ps` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attached {
    pub id: String,
    pub mac: [u8; 6],
    pub addrs: Vec<Ipv4Net>,
}

/// The target's interface as found.
#[derive(Debug, Clone, PartialEq)]
pub struct Iface {
    /// A veth to the weave bridge.
    pub ours: bool,
    pub addrs: Vec<Ipv4Net>,
}

/// What to plumb into a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Plumb {
    pub id: String,
    pub ifname: String,
    pub addrs: Vec<Ipv4Net>,
    pub multicast_route: bool,
    pub link: super::LinkOptions,
}

/// An interface in a target as it is now, for CNI's CHECK and `weave ps`.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub mac: [u8; 6],
    pub addrs: Vec<Ipv4Net>,
    /// Routes out of it: destination and next hop.
    pub routes: Vec<(Ipv4Net, Option<Ipv4Addr>)>,
    /// A veth to the weave bridge.
    pub ours: bool,
}

/// What plumbing did: undone by [`Kernel::undo_plumb`] with the same values.
#[derive(Debug, Clone, PartialEq)]
pub struct Plumbed {
    /// The interface was made now (it did not exist).
    pub created: bool,
    /// Addresses put on it now (it may have had others).
    pub added: Vec<Ipv4Net>,
    /// The target afterwards.
    pub target: Attached,
}

/// The kernel operations the attach service needs. A trait so its unit tests can fail each
/// one on purpose; [`NetKernel`] is the real one.
pub trait Kernel: Send + Sync + 'static {
    /// The interface `ifname` in the target, if there is one.
    fn inspect(&self, ns: &Netns, ifname: &str) -> Result<Option<Iface>, AttachError>;
    /// The interface `ifname` in the target with its MAC and routes, if there is one.
    fn observe(&self, ns: &Netns, ifname: &str) -> Result<Option<Observed>, AttachError>;
    /// Makes the interface when missing (refusing one that is not weave's) and adds `addrs`.
    fn plumb(&self, ns: &Netns, p: &Plumb) -> Result<Plumbed, AttachError>;
    /// Takes `added` off the interface, or deletes it when `delete_if` (with what is left of
    /// its veth on the host); `ns` is `None` when the target is gone.
    fn undo_plumb(
        &self,
        ns: Option<&Netns>,
        id: &str,
        ifname: &str,
        added: &[Ipv4Net],
        delete_if: bool,
    ) -> Result<(), AttachError>;
    /// Removes `addrs` (all when `None`) from weave's interface, deleting it when none is left.
    /// Returns what was removed.
    fn remove_addrs(
        &self,
        ns: &Netns,
        ifname: &str,
        addrs: Option<&[Ipv4Net]>,
    ) -> Result<Vec<Ipv4Net>, AttachError>;
    /// The ids of the targets with a veth on the bridge (their aliases).
    fn port_ids(&self) -> Result<Vec<String>, AttachError>;
    /// Every attached target. Ids that do not say where their namespace is (containers) are
    /// found in `located`, or left out.
    fn list(&self, located: &BTreeMap<String, NsRef>) -> Result<Vec<Attached>, AttachError>;
    /// The bridge as `weave ps` shows it first (`weave:expose`).
    fn bridge(&self) -> Result<Attached, AttachError>;
    /// Puts `addrs` on the bridge (recording whether they are masqueraded); returns those it
    /// did not have.
    fn expose(&self, addrs: &[Ipv4Net], masquerade: bool) -> Result<Vec<Ipv4Net>, AttachError>;
    /// Takes `addrs` (all when `None`) off the bridge; returns those removed.
    fn hide(&self, addrs: Option<&[Ipv4Net]>) -> Result<Vec<Ipv4Net>, AttachError>;
    /// Removes veths that only an interrupted attach leaves: temporary container ends still on
    /// the host, and host ends whose peer never left the host. Returns their names.
    fn sweep(&self) -> Result<Vec<String>, AttachError>;
    /// The Docker plugin's pair for an endpoint: `host` on the bridge (hairpin, up), `peer`
    /// left on the host for Docker to move. A whole pair is reused. Returns `peer`'s MAC.
    fn create_endpoint(&self, host: &str, peer: &str) -> Result<[u8; 6], AttachError>;
    /// Whether the pair of `host` is whole: on the bridge and up, its peer on the host or
    /// moved into a container.
    fn endpoint_whole(&self, host: &str) -> Result<bool, AttachError>;
    /// Deletes the pair of `host` (and a `peer` left alone on the host); `false` when there
    /// was nothing.
    fn delete_endpoint(&self, host: &str, peer: &str) -> Result<bool, AttachError>;
    /// Host ends of the plugin's pairs whose container end is still on the host.
    fn unjoined_endpoints(&self) -> Result<Vec<String>, AttachError>;
}

/// The kernel, for the daemon's bridge.
pub struct NetKernel {
    pub bridge: String,
    pub mtu: u32,
    /// Where the masquerade settings of exposed addresses are kept.
    pub data_dir: PathBuf,
}

/// Carries on past failures, keeping the first.
#[derive(Default)]
struct FirstError(Option<AttachError>);

impl FirstError {
    fn note<T>(&mut self, r: Result<T, impl Into<AttachError>>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let e = e.into();
                tracing::warn!("undoing an attach: {e}");
                self.0.get_or_insert(e);
                None
            }
        }
    }

    fn result(self) -> Result<(), AttachError> {
        self.0.map_or(Ok(()), Err)
    }
}

impl NetKernel {
    fn host_and_bridge(&self) -> Result<(Netlink, Link), AttachError> {
        let mut host = Netlink::open()?;
        let bridge =
            host.link_by_name(&self.bridge)?.ok_or_else(|| AttachError::NoBridge(self.bridge.clone()))?;
        Ok((host, bridge))
    }

    /// Creates the veth pair, plugs the host end into the bridge and moves the other end into
    /// the target as `ifname`. On failure nothing of it is left.
    fn create_interface(
        &self,
        host: &mut Netlink,
        inner: &mut Netlink,
        bridge: &Link,
        ns: &Netns,
        p: &Plumb,
    ) -> Result<(), AttachError> {
        let (id, ifname, link) = (p.id.as_str(), p.ifname.as_str(), &p.link);
        let (hname, pname) = veth_names(id);
        // Leftovers of an interrupted attach of this target (not another target's veth whose
        // name happens to hash the same: creating ours then fails with EEXIST).
        remove_host_leftovers(host, id)?;
        host.create_veth(&hname, &pname, Some(link.mtu.unwrap_or(self.mtu)))?;
        let result = (|| -> Result<(), AttachError> {
            let vanished = || AttachError::Internal(format!("veth {hname} vanished after it was created"));
            let h = host.link_by_name(&hname)?.ok_or_else(vanished)?;
            host.set_alias(&h, id)?;
            host.set_master(&h, Some(bridge.index))?;
            host.set_hairpin(&h, link.hairpin)?;
            host.set_up(&h, true)?;
            let p = host.link_by_name(&pname)?.ok_or_else(vanished)?;
            host.move_to_netns(&p, ns)?;
            let p = inner.link_by_name(&pname)?.ok_or_else(vanished)?;
            inner.rename(&p, ifname)?;
            let e = inner.link_by_name(ifname)?.ok_or_else(vanished)?;
            inner.set_up(&e, true)?;
            // Weave's ARP tuning: notice moved addresses quickly.
            ns.run(|| -> Result<(), weave_netdev::NetdevError> {
                for (k, v) in
                    [("base_reachable_time", "5"), ("delay_first_probe_time", "2"), ("ucast_solicit", "1")]
                {
                    sysctl::write(&format!("net/ipv4/neigh/{ifname}/{k}"), v)?;
                }
                Ok(())
            })??;
            Ok(())
        })();
        if result.is_err() {
            // Deleting one end of a veth deletes the other, wherever it went.
            if let Ok(Some(h)) = host.link_by_name(&hname) {
                let _ = host.delete_link(&h);
            }
        }
        result
    }
}

/// Whether `link` (in a target) is a veth whose peer is a port of `bridge` on the host.
fn is_ours(host: &mut Netlink, bridge: &Link, link: &Link) -> Result<bool, AttachError> {
    if link.kind != LinkKind::Veth || link.link_netnsid.is_none() {
        return Ok(false);
    }
    let Some(peer) = link.peer_index else { return Ok(false) };
    Ok(host.link_by_index(peer)?.is_some_and(|h| {
        h.master == Some(bridge.index) && h.kind == LinkKind::Veth && h.peer_index == Some(link.index)
    }))
}

/// Deletes the host ends an interrupted attach of `id` left: its temporary container end still
/// on the host, and its host end when the peer never left the host or the alias says it is
/// `id`'s.
fn remove_host_leftovers(host: &mut Netlink, id: &str) -> Result<(), AttachError> {
    let (hname, pname) = veth_names(id);
    if let Some(p) = host.link_by_name(&pname)? {
        if p.kind == LinkKind::Veth {
            delete_quietly(host, &p)?;
        }
    }
    if let Some(h) = host.link_by_name(&hname)? {
        if h.kind == LinkKind::Veth && (h.link_netnsid.is_none() || h.alias.as_deref() == Some(id)) {
            delete_quietly(host, &h)?;
        }
    }
    Ok(())
}

/// Makes the kernel keep the other addresses of a subnet when its first (primary) address is
/// deleted: by default it deletes them all with it, so detaching one of two addresses in a
/// subnet would take both.
fn keep_secondaries(ns: &Netns, ifname: &str) -> Result<(), AttachError> {
    let key = format!("net/ipv4/conf/{ifname}/promote_secondaries");
    Ok(ns.run(|| sysctl::write(&key, "1"))??)
}

/// Deletes an address; one already gone is fine.
fn del_address_quietly(nl: &mut Netlink, link: &Link, a: Ipv4Net) -> Result<(), AttachError> {
    match nl.del_address(link, a) {
        Err(e) if e.errno() == Some(libc::EADDRNOTAVAIL) => Ok(()),
        r => Ok(r?),
    }
}

/// Deletes a link; one already gone (a veth goes with its peer) is fine.
fn delete_quietly(nl: &mut Netlink, link: &Link) -> Result<(), AttachError> {
    match nl.delete_link(link) {
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(()),
        r => Ok(r?),
    }
}

impl NetKernel {
    /// The bridge's ports that are weave's host veths: attach's (`vethwepl*`) and the Docker
    /// plugin's (`vethwl*`, whose alias the Docker watcher sets to the container's id).
    fn ports(&self) -> Result<Vec<Link>, AttachError> {
        let mut nl = Netlink::open()?;
        let Some(br) = nl.link_by_name(&self.bridge)? else { return Ok(vec![]) };
        Ok(nl
            .links_with_master(br.index)?
            .into_iter()
            .filter(|p| p.name.starts_with(HOST_VETH) || p.name.starts_with(PLUGIN_VETH))
            .collect())
    }
}

impl Kernel for NetKernel {
    fn inspect(&self, ns: &Netns, ifname: &str) -> Result<Option<Iface>, AttachError> {
        let mut inner = Netlink::open_in(ns)?;
        let Some(link) = inner.link_by_name(ifname)? else { return Ok(None) };
        let addrs = inner.addresses(link.index)?;
        let ours = match self.host_and_bridge() {
            Ok((mut host, bridge)) => is_ours(&mut host, &bridge, &link)?,
            Err(AttachError::NoBridge(_)) => false,
            Err(e) => return Err(e),
        };
        Ok(Some(Iface { ours, addrs }))
    }

    fn observe(&self, ns: &Netns, ifname: &str) -> Result<Option<Observed>, AttachError> {
        let mut inner = Netlink::open_in(ns)?;
        let Some(link) = inner.link_by_name(ifname)? else { return Ok(None) };
        let addrs = inner.addresses(link.index)?;
        let routes = inner.routes(Some(link.index))?.into_iter().map(|r| (r.dst, r.gateway)).collect();
        let ours = match self.host_and_bridge() {
            Ok((mut host, bridge)) => is_ours(&mut host, &bridge, &link)?,
            Err(AttachError::NoBridge(_)) => false,
            Err(e) => return Err(e),
        };
        Ok(Some(Observed { mac: link.mac.unwrap_or_default(), addrs, routes, ours }))
    }

    fn plumb(&self, ns: &Netns, p: &Plumb) -> Result<Plumbed, AttachError> {
        let (mut host, bridge) = self.host_and_bridge()?;
        let mut inner = Netlink::open_in(ns)?;
        let created = match inner.link_by_name(&p.ifname)? {
            Some(l) if is_ours(&mut host, &bridge, &l)? => false,
            Some(_) => {
                return Err(AttachError::InterfaceExists { id: p.id.clone(), ifname: p.ifname.clone() })
            }
            None => {
                self.create_interface(&mut host, &mut inner, &bridge, ns, p)?;
                true
            }
        };
        let mut added = Vec::new();
        let result = (|| -> Result<Link, AttachError> {
            let link = inner.link_by_name(&p.ifname)?.ok_or_else(|| {
                AttachError::Internal(format!("{} vanished after it was created", p.ifname))
            })?;
            keep_secondaries(ns, &p.ifname)?;
            let existing = inner.addresses(link.index)?;
            for a in &p.addrs {
                if !existing.contains(a) {
                    inner.add_address(&link, *a)?;
                    added.push(*a);
                }
            }
            if p.multicast_route {
                let route: Ipv4Net = MULTICAST.parse().expect("constant");
                inner.add_route(route, link.index, None)?;
            }
            // After the addresses: a next hop must be reachable when its route is added.
            for (dst, gw) in &p.link.routes {
                inner.add_route(*dst, link.index, *gw)?;
            }
            Ok(link)
        })();
        let link = match result {
            Ok(l) => l,
            Err(e) => {
                let _ = self.undo_plumb(Some(ns), &p.id, &p.ifname, &added, created);
                return Err(e);
            }
        };
        let mac = link.mac.unwrap_or_default();
        if !added.is_empty() {
            let ips: Vec<Ipv4Addr> = added.iter().map(|a| a.addr()).collect();
            let ifname = p.ifname.clone();
            // Tell the segment where the addresses are now (they may have lived elsewhere).
            ns.run(move || {
                for ip in ips {
                    if let Err(e) = arp::send_gratuitous_arp(&ifname, ip, mac) {
                        tracing::debug!("gratuitous ARP for {ip}: {e}");
                    }
                }
            })?;
        }
        let addrs = inner.addresses(link.index)?;
        Ok(Plumbed { created, added, target: Attached { id: p.id.clone(), mac, addrs } })
    }

    fn undo_plumb(
        &self,
        ns: Option<&Netns>,
        id: &str,
        ifname: &str,
        added: &[Ipv4Net],
        delete_if: bool,
    ) -> Result<(), AttachError> {
        let mut errors = FirstError::default();
        let host = errors.note(self.host_and_bridge());
        if let (Some(ns), Some((mut host, bridge))) = (ns, host) {
            if let Some(mut inner) = errors.note(Netlink::open_in(ns)) {
                if let Some(Some(link)) = errors.note(inner.link_by_name(ifname)) {
                    if errors.note(is_ours(&mut host, &bridge, &link)) == Some(true) {
                        if delete_if {
                            errors.note(delete_quietly(&mut inner, &link));
                        } else {
                            errors.note(keep_secondaries(ns, ifname));
                            for a in added {
                                errors.note(del_address_quietly(&mut inner, &link, *a));
                            }
                        }
                    }
                }
                if delete_if {
                    // A container end moved in but not yet renamed.
                    let (_, pname) = veth_names(id);
                    if let Some(Some(p)) = errors.note(inner.link_by_name(&pname)) {
                        errors.note(delete_quietly(&mut inner, &p));
                    }
                }
            }
        }
        if delete_if {
            if let Some(mut host) = errors.note(Netlink::open()) {
                errors.note(remove_host_leftovers(&mut host, id));
            }
        }
        errors.result()
    }

    fn remove_addrs(
        &self,
        ns: &Netns,
        ifname: &str,
        addrs: Option<&[Ipv4Net]>,
    ) -> Result<Vec<Ipv4Net>, AttachError> {
        let mut inner = Netlink::open_in(ns)?;
        let Some(link) = inner.link_by_name(ifname)? else { return Ok(vec![]) };
        let (mut host, bridge) = self.host_and_bridge()?;
        if !is_ours(&mut host, &bridge, &link)? {
            tracing::warn!(ifname, ns = ns.label(), "not touching an interface weave did not make");
            return Ok(vec![]);
        }
        let existing = inner.addresses(link.index)?;
        let remove: Vec<Ipv4Net> = match addrs {
            None => existing.clone(),
            Some(want) => existing.iter().filter(|a| want.contains(a)).copied().collect(),
        };
        if existing.len() == remove.len() {
            delete_quietly(&mut inner, &link)?;
            return Ok(remove);
        }
        // Interfaces made before this setting existed have it off.
        keep_secondaries(ns, ifname)?;
        for a in &remove {
            del_address_quietly(&mut inner, &link, *a)?;
        }
        Ok(remove)
    }

    fn port_ids(&self) -> Result<Vec<String>, AttachError> {
        Ok(self.ports()?.into_iter().filter_map(|p| p.alias).collect())
    }

    fn list(&self, located: &BTreeMap<String, NsRef>) -> Result<Vec<Attached>, AttachError> {
        // A target's interfaces, by name: a Docker container on a plugin network has `ethwe0`
        // (Docker appends an index), and `ethwe` too when also attached with `weave attach`.
        type Ifaces = BTreeMap<String, ([u8; 6], Vec<Ipv4Net>)>;
        let mut found: BTreeMap<String, Ifaces> = BTreeMap::new();
        for port in self.ports()? {
            let (Some(id), Some(peer)) = (port.alias.clone(), port.peer_index) else { continue };
            let Some(at) = ns_of_id(&id).or_else(|| located.get(&id).cloned()) else { continue };
            // A target that went away leaves its veth behind until the kernel removes it.
            let Ok(ns) = at.open(&id) else { continue };
            let Ok(mut inner) = Netlink::open_in(&ns) else { continue };
            let Ok(Some(link)) = inner.link_by_index(peer) else { continue };
            if link.peer_index != Some(port.index) {
                continue;
            }
            let addrs = inner.addresses(link.index)?;
            found.entry(id).or_default().insert(link.name, (link.mac.unwrap_or_default(), addrs));
        }
        // One line per target: the MAC of its first interface, the addresses of all.
        let out = found
            .into_iter()
            .filter_map(|(id, ifs)| {
                let mac = ifs.values().next()?.0;
                let addrs = ifs.into_values().flat_map(|(_, a)| a).collect();
                Some(Attached { id, mac, addrs })
            })
            .collect();
        Ok(out)
    }

    fn bridge(&self) -> Result<Attached, AttachError> {
        let (mut nl, br) = self.host_and_bridge()?;
        let addrs = nl.addresses(br.index)?;
        Ok(Attached { id: nat::ID.into(), mac: br.mac.unwrap_or_default(), addrs })
    }

    fn expose(&self, addrs: &[Ipv4Net], masquerade: bool) -> Result<Vec<Ipv4Net>, AttachError> {
        let mut nl = Netlink::open()?;
        nat::expose(&mut nl, &self.bridge, &self.data_dir, addrs, masquerade)
    }

    fn hide(&self, addrs: Option<&[Ipv4Net]>) -> Result<Vec<Ipv4Net>, AttachError> {
        let mut nl = Netlink::open()?;
        nat::hide(&mut nl, &self.bridge, &self.data_dir, addrs)
    }

    fn sweep(&self) -> Result<Vec<String>, AttachError> {
        let mut nl = Netlink::open()?;
        let mut removed = Vec::new();
        for l in nl.links()? {
            let leftover = l.kind == LinkKind::Veth
                && (l.name.starts_with(PEER_VETH)
                    || (l.name.starts_with(HOST_VETH) && l.link_netnsid.is_none()));
            if leftover {
                delete_quietly(&mut nl, &l)?;
                removed.push(l.name);
            }
        }
        Ok(removed)
    }

    fn create_endpoint(&self, host: &str, peer: &str) -> Result<[u8; 6], AttachError> {
        let (mut nl, bridge) = self.host_and_bridge()?;
        if self.endpoint_whole(host)? {
            if let Some(p) = nl.link_by_name(peer)? {
                if p.kind == LinkKind::Veth {
                    return Ok(p.mac.unwrap_or_default());
                }
            }
        }
        // Leftovers of a create cut short (Docker repeats the call).
        self.delete_endpoint(host, peer)?;
        nl.create_veth(host, peer, Some(self.mtu))?;
        let result = (|| -> Result<[u8; 6], AttachError> {
            let vanished = |n: &str| AttachError::Internal(format!("veth {n} vanished after it was created"));
            let h = nl.link_by_name(host)?.ok_or_else(|| vanished(host))?;
            nl.set_master(&h, Some(bridge.index))?;
            nl.set_hairpin(&h, true)?;
            nl.set_up(&h, true)?;
            let p = nl.link_by_name(peer)?.ok_or_else(|| vanished(peer))?;
            Ok(p.mac.unwrap_or_default())
        })();
        if result.is_err() {
            if let Ok(Some(h)) = nl.link_by_name(host) {
                let _ = delete_quietly(&mut nl, &h);
            }
        }
        result
    }

    fn endpoint_whole(&self, host: &str) -> Result<bool, AttachError> {
        let (mut nl, bridge) = match self.host_and_bridge() {
            Ok(x) => x,
            Err(AttachError::NoBridge(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let Some(h) = nl.link_by_name(host)? else { return Ok(false) };
        Ok(h.kind == LinkKind::Veth && h.master == Some(bridge.index) && h.up && h.peer_index.is_some())
    }

    fn delete_endpoint(&self, host: &str, peer: &str) -> Result<bool, AttachError> {
        let mut nl = Netlink::open()?;
        let mut existed = false;
        for name in [host, peer] {
            if let Some(l) = nl.link_by_name(name)? {
                if l.kind == LinkKind::Veth {
                    delete_quietly(&mut nl, &l)?;
                    existed = true;
                }
            }
        }
        Ok(existed)
    }

    fn unjoined_endpoints(&self) -> Result<Vec<String>, AttachError> {
        let mut nl = Netlink::open()?;
        Ok(nl
            .links()?
            .into_iter()
            .filter(|l| {
                l.kind == LinkKind::Veth && l.name.starts_with(PLUGIN_VETH) && l.link_netnsid.is_none()
            })
            .map(|l| l.name)
            .collect())
    }
}

/// Where the namespace of the target an id names is, for the kinds whose id says so.
pub fn ns_of_id(id: &str) -> Option<NsRef> {
    match Target::parse(id).ok()? {
        Target::Netns(n) => Some(NsRef::Named(n)),
        Target::Path(p) => Some(NsRef::Path(p)),
        Target::Pid(p) => Some(NsRef::Pid(p)),
        Target::Container(_) => None,
    }
}

pub use weave_netdev::format_mac;
