//! The CNI operations over the attach service: ADD (an interface with Weave's gateway and
//! routes, or an address only for `weave-ipam`), DEL, CHECK, GC, STATUS and the list `weave ps`
//! shows. Every attachment is a row of [`records`] from before its ADD starts until its DEL
//! ends, so nothing a kill -9 interrupts is lost.

use crate::backend::{Addresses, Attached, Backend, Interface, Plumb};
use crate::check::{self, Expected, Iface, Observed};
use crate::error::CniFailure;
use crate::plan::{self, Route};
use crate::records::{self, Record, State};
use ipnet::Ipv4Net;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use weave_api::{
    CniAddRequest, CniAttachment, CniAttachmentKey, CniCheckRequest, CniCheckResult, CniDeleted, CniDns,
    CniGcRequest, CniGcResult, CniInterface, CniIp, CniIpamRequest, CniRoute, CniStatus,
};
use weave_netdev::format_mac;
use weave_store::Store;

/// The MTUs an interface may be given.
const MTU_RANGE: std::ops::RangeInclusive<u32> = 576..=65535;

pub struct CniService<B: Backend> {
    /// The attach service, IPAM and weaveDNS.
    daemon: B,
    store: Store,
    /// Where weaveDNS listens, for the containers' resolver.
    dns_listen: SocketAddr,
    bridge: String,
    /// The interfaces' MTU unless the configuration gives one (the overlay's).
    mtu: u32,
}

type Failure<B> = CniFailure<<B as Backend>::Error>;

fn invalid<E>(what: impl Into<String>) -> CniFailure<E> {
    CniFailure::Invalid(what.into())
}

fn parse_net<E>(s: &str, what: &str) -> Result<Ipv4Net, CniFailure<E>> {
    s.parse().map_err(|_| invalid(format!("{what} {s:?} is not an IPv4 address in CIDR notation")))
}

fn parse_ip<E>(s: &str, what: &str) -> Result<Ipv4Addr, CniFailure<E>> {
    s.parse().map_err(|_| invalid(format!("{what} {s:?} is not an IPv4 address")))
}

fn parse_routes<E>(routes: &[CniRoute]) -> Result<Vec<Route>, CniFailure<E>> {
    routes
        .iter()
        .map(|r| {
            Ok(Route {
                dst: parse_net(&r.dst, "route destination")?,
                gw: r.gw.as_deref().map(|g| parse_ip(g, "route gateway")).transpose()?,
            })
        })
        .collect()
}

impl<B: Backend> CniService<B> {
    pub fn new(
        daemon: B,
        store: Store,
        dns_listen: SocketAddr,
        bridge: &str,
        mtu: u32,
    ) -> Arc<CniService<B>> {
        Arc::new(CniService { daemon, store, dns_listen, bridge: bridge.to_string(), mtu })
    }

    /// The id of a CNI target: the container id, which must read as one.
    fn check_id(&self, id: &str) -> Result<(), Failure<B>> {
        if self.daemon.is_container_id(id) {
            return Ok(());
        }
        Err(invalid(format!(
            "container id {id:?} is not one: letters, digits, '_', '.' and '-', starting with a letter or digit"
        )))
    }

    fn records(&self) -> Result<Vec<Record>, Failure<B>> {
        Ok(records::all(&self.store)?)
    }

    fn record(&self, id: &str, ifname: &str) -> Result<Option<Record>, Failure<B>> {
        Ok(records::get(&self.store, id, ifname)?)
    }

    fn put(&self, r: &Record) -> Result<(), Failure<B>> {
        Ok(records::put(&self.store, r)?)
    }

    /// CNI ADD of weave-net.
    pub async fn add(&self, req: CniAddRequest) -> Result<CniAttachment, Failure<B>> {
        self.check_id(&req.container_id)?;
        if !req.netns.starts_with('/') {
            return Err(invalid(format!("netns {:?} is not a path", req.netns)));
        }
        self.daemon.check_labels(&req.labels).map_err(|e| invalid(format!("args.cni.labels: {e}")))?;
        if let Some(m) = req.mtu.filter(|m| !MTU_RANGE.contains(m)) {
            return Err(invalid(format!(
                "mtu {m} is out of range: give {}..={}",
                MTU_RANGE.start(),
                MTU_RANGE.end()
            )));
        }
        let explicit: Vec<(Ipv4Net, Option<Ipv4Addr>)> = req
            .ips
            .iter()
            .map(|ip| {
                Ok((
                    parse_net(&ip.address, "address")?,
                    ip.gateway.as_deref().map(|g| parse_ip(g, "gateway")).transpose()?,
                ))
            })
            .collect::<Result<_, Failure<B>>>()?;
        let configured = parse_routes(&req.routes)?;
        let mut gateway = req.gateway.as_deref().map(|g| parse_ip(g, "gateway")).transpose()?;
        gateway = gateway.or_else(|| explicit.iter().find_map(|(_, g)| *g));

        let prior = self.record(&req.container_id, &req.ifname)?;
        if let Some(p) = &prior {
            if p.netns.is_some() && p.state == State::Ready {
                return Err(CniFailure::Conflict(format!(
                    "container {} already has interface {} on network {}",
                    req.container_id, req.ifname, p.network
                )));
            }
        }
        if let Some(other) =
            self.records()?.into_iter().find(|r| r.container_id == req.container_id && r.ifname != req.ifname)
        {
            return Err(CniFailure::Conflict(format!(
                "container {} is attached already as {} (network {}): weave gives a container one interface",
                req.container_id, other.ifname, other.network
            )));
        }

        // The subnet decides the gateway; addresses and the subnet come from the request or IPAM.
        let (specs, subnet) = match explicit.first() {
            Some((a, _)) => (explicit.iter().map(|(a, _)| format!("ip:{a}")).collect(), a.trunc()),
            None => {
                let ipam = self.daemon.ipam().ok_or(CniFailure::IpamDisabled)?;
                let subnet = match &req.subnet {
                    Some(s) => ipam.parse_subnet(s).map_err(|e| invalid(format!("ipam.subnet: {e}")))?,
                    None => ipam.default_subnet(),
                };
                (vec![format!("net:{subnet}")], subnet)
            }
        };
        if let Some(ipam) = self.daemon.ipam() {
            // Refused before anything changes (the gateway would be allocated there first).
            if explicit.is_empty() && !ipam.universe().contains(&subnet) {
                return Err(invalid(format!(
                    "subnet {subnet} is outside weave's IP range {}: give ipam.subnet inside it, or leave it out",
                    ipam.universe()
                )));
            }
        }
        if plan::wants_bridge_gateway(gateway, &configured) {
            gateway = Some(self.bridge_gateway(subnet).await?);
        }
        let routes = plan::routes(subnet, gateway, &configured);

        let mut rec = Record {
            network: req.network.clone(),
            container_id: req.container_id.clone(),
            ifname: req.ifname.clone(),
            netns: Some(req.netns.clone()),
            name: req.name.clone(),
            pod_namespace: req.pod_namespace.clone(),
            addrs: vec![],
            gateway,
            routes: routes.clone(),
            mtu: req.mtu,
            state: State::Adding,
        };
        self.put(&rec)?;
        let spec = Plumb {
            container_id: req.container_id.clone(),
            netns: PathBuf::from(&req.netns),
            ifname: req.ifname.clone(),
            addrs: specs,
            name: req.name.clone(),
            namespace: req.pod_namespace.clone(),
            labels: req.labels.clone(),
            mtu: req.mtu,
            hairpin: req.hairpin,
            routes: routes.iter().map(|r| (r.dst, r.gw)).collect(),
        };
        let attached = match self.daemon.attach(spec).await {
            Ok(a) => a,
            Err(e) => {
                // Back to what was there: nothing, or weave-ipam's address-only row.
                let restored = match &prior {
                    Some(p) => records::put(&self.store, p),
                    None => records::remove(&self.store, &req.container_id, &req.ifname),
                };
                if let Err(s) = restored {
                    tracing::warn!(container = %req.container_id, "forgetting the failed ADD: {s}");
                }
                return Err(CniFailure::Backend(e));
            }
        };
        rec.addrs = attached.addrs.clone();
        rec.state = State::Ready;
        self.put(&rec)?;
        tracing::info!(container = %rec.container_id, ifname = %rec.ifname, addrs = ?rec.addrs, "CNI ADD");
        Ok(self.view(&rec, Some(&attached)).await)
    }

    /// The bridge's address in `subnet`, exposing one (as Weave's plugin does) when it has none.
    async fn bridge_gateway(&self, subnet: Ipv4Net) -> Result<Ipv4Addr, Failure<B>> {
        let bridge = self.daemon.bridge().await.map_err(CniFailure::Backend)?;
        if let Some(gw) = plan::bridge_gateway(subnet, &bridge.addrs) {
            return Ok(gw);
        }
        let exposed = self.daemon.expose(subnet).await.map_err(CniFailure::Backend)?;
        exposed
            .iter()
            .find(|a| a.trunc() == subnet)
            .map(|a| a.addr())
            .ok_or_else(|| CniFailure::Internal(format!("exposing {subnet} gave no address in it")))
    }

    /// CNI ADD of weave-ipam: an address for the container, recorded without an interface.
    pub async fn ipam_add(&self, req: CniIpamRequest) -> Result<CniAttachment, Failure<B>> {
        self.check_id(&req.container_id)?;
        let ipam = self.daemon.ipam().ok_or(CniFailure::IpamDisabled)?;
        let subnet = match &req.subnet {
            Some(s) => ipam.parse_subnet(s).map_err(|e| invalid(format!("ipam.subnet: {e}")))?,
            None => ipam.default_subnet(),
        };
        let prior = self.record(&req.container_id, &req.ifname)?;
        let addr = ipam.allocate(&req.container_id, subnet).await.map_err(CniFailure::Backend)?;
        let rec = match prior {
            Some(mut p) => {
                if !p.addrs.contains(&addr) {
                    p.addrs.push(addr);
                }
                p
            }
            None => Record {
                network: req.network.clone(),
                container_id: req.container_id.clone(),
                ifname: req.ifname.clone(),
                netns: None,
                name: None,
                pod_namespace: None,
                addrs: vec![addr],
                gateway: None,
                routes: vec![],
                mtu: None,
                state: State::Ready,
            },
        };
        self.put(&rec)?;
        Ok(self.view(&rec, None).await)
    }

    /// CNI DEL: the interface (when its namespace is still there), every address of the
    /// container and its names; then the row. What is already gone is fine.
    pub async fn delete(&self, id: &str, ifname: &str) -> Result<CniDeleted, Failure<B>> {
        self.check_id(id)?;
        let rec = self.record(id, ifname)?;
        let at = rec.as_ref().and_then(|r| r.netns.as_ref()).map(PathBuf::from);
        let had_if = match &at {
            Some(at) => matches!(self.daemon.observe(at.clone(), id, ifname).await, Ok(Some(o)) if o.ours),
            None => false,
        };
        let removed = self.daemon.detach(id, at, ifname).await.map_err(CniFailure::Backend)?;
        records::remove(&self.store, id, ifname)?;
        if rec.is_some() || !removed.is_empty() {
            tracing::info!(container = %id, %ifname, released = ?removed, "CNI DEL");
        }
        Ok(CniDeleted {
            container_id: id.to_string(),
            ifname: ifname.to_string(),
            released: removed.iter().map(|a| a.to_string()).collect(),
            interface_removed: had_if,
        })
    }

    /// CNI CHECK.
    pub async fn check(
        &self,
        id: &str,
        ifname: &str,
        req: CniCheckRequest,
    ) -> Result<CniCheckResult, Failure<B>> {
        self.check_id(id)?;
        let exp = Expected {
            netns: req.netns.clone(),
            addrs: req.addresses.iter().map(|a| parse_net(a, "address")).collect::<Result<_, _>>()?,
            routes: parse_routes(&req.routes)?.into_iter().map(|r| r.dst).collect(),
            ipam_only: req.ipam_only,
        };
        let rec = self.record(id, ifname)?;
        let reserved = self.daemon.ipam().map(|i| i.owned_by(id)).unwrap_or_default();
        let mut obs = Observed { netns: Ok(()), iface: None, reserved };
        if let Some(path) = rec.as_ref().and_then(|r| r.netns.clone()).filter(|_| !req.ipam_only) {
            match self.daemon.observe(PathBuf::from(&path), id, ifname).await {
                Ok(Some(o)) => {
                    let routes = o.routes.iter().map(|(dst, gw)| Route { dst: *dst, gw: *gw }).collect();
                    obs.iface = Some(Iface { addrs: o.addrs, routes, plugged: o.ours })
                }
                Ok(None) => {}
                Err(e) => obs.netns = Err(e.to_string()),
            }
        }
        let problems = check::problems(rec.as_ref(), &exp, &obs);
        Ok(CniCheckResult { ok: problems.is_empty(), problems })
    }

    /// CNI GC: every attachment of the network that the runtime does not list goes, as by DEL.
    /// Carries on past failures and reports each.
    pub async fn gc(&self, req: CniGcRequest) -> Result<CniGcResult, Failure<B>> {
        let valid = |r: &Record| {
            req.valid.contains(&CniAttachmentKey {
                container_id: r.container_id.clone(),
                ifname: r.ifname.clone(),
            })
        };
        let mut out = CniGcResult::default();
        for r in self.records()?.into_iter().filter(|r| r.network == req.network && !valid(r)) {
            match self.delete(&r.container_id, &r.ifname).await {
                Ok(d) => out.removed.push(d),
                Err(e) => out.errors.push(format!("{} {}: {e}", r.container_id, r.ifname)),
            }
        }
        if !out.removed.is_empty() {
            tracing::info!(network = %req.network, removed = out.removed.len(), "CNI GC");
        }
        Ok(out)
    }

    /// CNI STATUS: whether ADD can be served now.
    pub async fn status(&self) -> CniStatus {
        let attachments = self.records().map(|r| r.len() as u32).unwrap_or(0);
        let mut s = CniStatus {
            ready: true,
            reason: None,
            hint: None,
            ipam: self.daemon.ipam().is_some(),
            attachments,
        };
        if let Err(e) = self.daemon.bridge().await {
            s.ready = false;
            s.reason = Some(e.to_string());
            s.hint = Some("the daemon makes the bridge when it starts; see its log".into());
            return s;
        }
        if let Some(ipam) = self.daemon.ipam() {
            let state = ipam.state();
            if state.starts_with("all IP ranges owned by unreachable peers") {
                s.ready = false;
                s.reason = Some(format!("IPAM: {state}"));
                s.hint = Some(
                    "`weave status ipam` shows the ranges; `weave rmpeer PEER` takes over a dead peer's"
                        .into(),
                );
            }
        }
        s
    }

    /// Every attachment, as the CNI result describes it.
    pub async fn list(&self) -> Result<Vec<CniAttachment>, Failure<B>> {
        let mut out = Vec::new();
        for r in self.records()? {
            out.push(self.view(&r, None).await);
        }
        Ok(out)
    }

    /// The attachments with an interface, as `weave ps` lists targets.
    pub async fn ps(&self) -> Vec<Attached> {
        let mut out = Vec::new();
        for r in self.records().unwrap_or_default() {
            let Some(path) = &r.netns else { continue };
            if let Ok(Some(o)) = self.daemon.observe(PathBuf::from(path), &r.container_id, &r.ifname).await {
                if o.ours {
                    out.push(Attached { id: r.container_id.clone(), mac: o.mac, addrs: o.addrs });
                }
            }
        }
        out
    }

    /// An attachment as the API shows it; `attached` is what ADD just made, if it was ADD.
    async fn view(&self, r: &Record, attached: Option<&Interface>) -> CniAttachment {
        let mut interfaces = Vec::new();
        if let Some(path) = &r.netns {
            let bridge_mac = self.daemon.bridge().await.map(|b| b.mac).unwrap_or_default();
            interfaces.push(CniInterface {
                name: self.bridge.clone(),
                mac: format_mac(&bridge_mac),
                sandbox: None,
            });
            let host = self.daemon.host_veth(&r.container_id);
            interfaces.push(CniInterface {
                mac: host_mac(&host).map(|m| format_mac(&m)).unwrap_or_default(),
                name: host,
                sandbox: None,
            });
            let mac = match attached {
                Some(a) => Some(a.mac),
                None => self
                    .daemon
                    .observe(PathBuf::from(path), &r.container_id, &r.ifname)
                    .await
                    .ok()
                    .flatten()
                    .map(|o| o.mac),
            };
            interfaces.push(CniInterface {
                name: r.ifname.clone(),
                mac: mac.map(|m| format_mac(&m)).unwrap_or_default(),
                sandbox: Some(path.clone()),
            });
        }
        let gateway = r.gateway.map(|g| g.to_string());
        CniAttachment {
            network: r.network.clone(),
            container_id: r.container_id.clone(),
            ifname: r.ifname.clone(),
            netns: r.netns.clone(),
            name: r.name.clone(),
            pod_namespace: r.pod_namespace.clone(),
            interfaces,
            ips: r.addrs.iter().map(|a| CniIp { address: a.to_string(), gateway: gateway.clone() }).collect(),
            routes: r
                .routes
                .iter()
                .map(|x| CniRoute { dst: x.dst.to_string(), gw: x.gw.map(|g| g.to_string()) })
                .collect(),
            dns: self.resolver(r.gateway),
            mtu: r.netns.as_ref().map(|_| r.mtu.unwrap_or(self.mtu)),
        }
    }

    /// weaveDNS as the container's resolver: its listen address, or the container's gateway
    /// (the bridge) when it listens everywhere.
    fn resolver(&self, gateway: Option<Ipv4Addr>) -> Option<CniDns> {
        let domain = self.daemon.dns_domain()?;
        let server = match self.dns_listen.ip() {
            std::net::IpAddr::V4(ip) if !ip.is_unspecified() => ip,
            _ => gateway?,
        };
        let domain = domain.trim_end_matches('.').to_string();
        Some(CniDns {
            nameservers: vec![server.to_string()],
            domain: None,
            search: vec![domain],
            options: vec![],
        })
    }
}

/// The MAC of a host-side veth.
fn host_mac(name: &str) -> Option<[u8; 6]> {
    let mut nl = weave_netdev::Netlink::open().ok()?;
    nl.link_by_name(name).ok()??.mac
}
