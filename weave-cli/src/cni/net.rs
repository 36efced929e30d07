//! `weave-net`: containers on the weave network, as Weave's CNI plugin with spec 1.1.0's
//! commands. ADD asks the daemon for the interface (addresses from weave's IPAM keyed by the
//! container id unless `ipam.type` delegates), DEL removes it and is tolerant of whatever is
//! already gone, CHECK compares the attachment with the runtime's `prevResult`, GC removes
//! attachments the runtime no longer lists, STATUS says whether ADD can be served.

use super::daemon::cni_error;
use super::delegate;
use super::env::Command;
use super::error::{self, CniError};
use super::types::{CniResult, Dns, Interface, IpConfig, Route};
use super::Invocation;
use weave_api::{
    CniAddRequest, CniAttachment, CniAttachmentKey, CniCheckRequest, CniGcRequest, CniIp, CniProblemKind,
    CniRoute,
};

/// The bridge the daemon plugs containers into.
const BRIDGE: &str = "weave";

pub async fn exec(inv: &Invocation) -> Result<Option<CniResult>, CniError> {
    check_conf(inv)?;
    match inv.env.command {
        Command::Add => add(inv).await.map(Some),
        Command::Del => del(inv).await.map(|_| None),
        Command::Check => check(inv).await.map(|_| None),
        Command::Gc => gc(inv).await.map(|_| None),
        Command::Status => status(inv).await.map(|_| None),
        Command::Version => unreachable!("VERSION is answered before the configuration is read"),
    }
}

/// Weave's keys that weave-net does not do, refused as Weave refuses them.
fn check_conf(inv: &Invocation) -> Result<(), CniError> {
    let c = &inv.conf;
    if c.is_gateway == Some(true) {
        return Err(CniError::unsupported_field(
            "isGateway",
            true,
            "weave-net gives containers the bridge's address as gateway itself; remove isGateway",
        ));
    }
    if c.ip_masq == Some(true) {
        return Err(CniError::unsupported_field(
            "ipMasq",
            true,
            "weave masquerades for exposed subnets (`weave expose`); remove ipMasq",
        ));
    }
    if let Some(b) = c.bridge.as_deref() {
        if b != BRIDGE {
            return Err(CniError::unsupported_field(
                "bridge",
                b,
                "weave-net plugs containers into the weave daemon's bridge \"weave\"; remove bridge or set it to \"weave\"",
            ));
        }
    }
    if let Some(subnet) = inv.conf.ipam.as_ref().and_then(|i| i.subnet.as_deref()) {
        if subnet.parse::<ipnet::Ipv4Net>().is_err() {
            return Err(CniError::invalid_config(
                format!("ipam.subnet {subnet:?} is not an IPv4 CIDR"),
                "give a subnet of weave's range, such as 10.32.0.0/12",
            ));
        }
    }
    Ok(())
}

/// The delegated IPAM plugin, if `ipam.type` names one (empty or absent: weave's own).
fn ipam_plugin(inv: &Invocation) -> Option<&str> {
    inv.conf.ipam.as_ref().and_then(|i| i.plugin_type.as_deref()).filter(|t| !t.is_empty())
}

async fn add(inv: &Invocation) -> Result<CniResult, CniError> {
    let prev = inv.prev_result()?;
    let ipam = inv.conf.ipam.clone().unwrap_or_default();
    let mut req = CniAddRequest {
        network: inv.network().to_string(),
        container_id: inv.env.container_id().to_string(),
        ifname: inv.env.ifname().to_string(),
        netns: inv.env.netns.clone().unwrap_or_default(),
        name: inv.env.args.pod_name.clone(),
        pod_namespace: inv.env.args.pod_namespace.clone(),
        labels: inv.conf.labels(),
        ips: vec![],
        subnet: ipam.subnet.clone(),
        gateway: ipam.gateway.map(|g| g.to_string()),
        routes: ipam.routes.iter().flatten().map(to_api_route).collect(),
        mtu: inv.conf.mtu,
        hairpin: inv.conf.hairpin_mode.unwrap_or(true),
    };
    let mut delegated_dns = Dns::default();
    let delegate = ipam_plugin(inv);
    if let Some(plugin) = delegate {
        let r = delegate::run(inv, plugin, Command::Add)?.unwrap_or_default();
        let ips = r.ips.iter().filter(|ip| ip.address.addr().is_ipv4());
        req.ips = ips
            .map(|ip| CniIp { address: ip.address.to_string(), gateway: ip.gateway.map(|g| g.to_string()) })
            .collect();
        if req.ips.is_empty() {
            let _ = delegate::run(inv, plugin, Command::Del);
            return Err(CniError::new(
                error::DELEGATE_FAILURE,
                format!("IPAM plugin {plugin} gave no IPv4 address"),
                "weave's network is IPv4: configure the IPAM plugin with an IPv4 range",
            ));
        }
        req.routes = r.routes.iter().filter(|r| r.dst.addr().is_ipv4()).map(to_api_route).collect();
        req.gateway = None;
        delegated_dns = r.dns;
    }
    let attached = match inv.client().cni_add(&req).await {
        Ok(a) => a,
        Err(e) => {
            // The spec: when ADD fails after the delegated plugin's ADD, run its DEL.
            if let Some(plugin) = delegate {
                let _ = delegate::run(inv, plugin, Command::Del);
            }
            return Err(cni_error(e, Command::Add));
        }
    };
    let mut ours = result_of(&attached);
    // DNS: the configuration's (as Weave), else the IPAM plugin's, else weaveDNS.
    ours.dns = match (&inv.conf.dns, delegated_dns.is_empty()) {
        (Some(d), _) => d.clone(),
        (None, false) => delegated_dns,
        (None, true) => ours.dns,
    };
    Ok(match prev {
        Some(p) => p.merge(ours),
        None => ours,
    })
}

fn to_api_route(r: &Route) -> CniRoute {
    CniRoute { dst: r.dst.to_string(), gw: r.gw.map(|g| g.to_string()) }
}

/// The CNI result of an attachment the daemon made.
pub fn result_of(a: &CniAttachment) -> CniResult {
    let interfaces: Vec<Interface> = a
        .interfaces
        .iter()
        .map(|i| Interface {
            name: i.name.clone(),
            mac: Some(i.mac.clone()),
            mtu: if i.sandbox.is_some() { a.mtu } else { None },
            sandbox: i.sandbox.clone(),
            socket_path: None,
            pci_id: None,
        })
        .collect();
    let container = interfaces.iter().position(|i| i.sandbox.is_some());
    let ips = a
        .ips
        .iter()
        .filter_map(|ip| {
            Some(IpConfig {
                address: ip.address.parse().ok()?,
                gateway: ip.gateway.as_deref().and_then(|g| g.parse().ok()),
                interface: container,
            })
        })
        .collect();
    let routes = a
        .routes
        .iter()
        .filter_map(|r| Some(Route::new(r.dst.parse().ok()?, r.gw.as_deref().and_then(|g| g.parse().ok()))))
        .collect();
    let dns = a
        .dns
        .as_ref()
        .map(|d| Dns {
            nameservers: d.nameservers.clone(),
            domain: d.domain.clone(),
            search: d.search.clone(),
            options: d.options.clone(),
        })
        .unwrap_or_default();
    CniResult { interfaces, ips, routes, dns }
}

async fn del(inv: &Invocation) -> Result<(), CniError> {
    inv.client()
        .cni_del(inv.env.container_id(), inv.env.ifname())
        .await
        .map_err(|e| cni_error(e, Command::Del))?;
    if let Some(plugin) = ipam_plugin(inv) {
        delegate::run(inv, plugin, Command::Del)?;
    }
    Ok(())
}

async fn check(inv: &Invocation) -> Result<(), CniError> {
    let Some(prev) = inv.prev_result()? else {
        return Err(CniError::invalid_config(
            "CHECK needs the prevResult of ADD",
            "the runtime passes the result of the last ADD as prevResult",
        ));
    };
    // Our interface is the one with CNI_IFNAME inside the container; its addresses are ours.
    let ours = prev.interfaces.iter().position(|i| i.name == inv.env.ifname() && i.sandbox.is_some());
    let addresses = prev
        .ips
        .iter()
        .filter(|ip| ip.address.addr().is_ipv4() && (ip.interface.is_none() || ip.interface == ours))
        .map(|ip| ip.address.to_string())
        .collect();
    let req = CniCheckRequest {
        netns: inv.env.netns.clone(),
        addresses,
        routes: prev.routes.iter().filter(|r| r.dst.addr().is_ipv4()).map(to_api_route).collect(),
        ipam_only: false,
    };
    let found = inv
        .client()
        .cni_check(inv.env.container_id(), inv.env.ifname(), &req)
        .await
        .map_err(|e| cni_error(e, Command::Check))?;
    if let Some(first) = found.problems.first() {
        let code = match first.kind {
            CniProblemKind::UnknownAttachment | CniProblemKind::MissingNamespace => error::UNKNOWN_CONTAINER,
            CniProblemKind::MissingInterface => error::INTERFACE_MISSING,
            CniProblemKind::WrongAddress => error::ADDRESS_MISMATCH,
            CniProblemKind::MissingRoute => error::ROUTE_MISSING,
            CniProblemKind::Unplugged => error::UNPLUGGED,
        };
        let all: Vec<&str> = found.problems.iter().map(|p| p.detail.as_str()).collect();
        return Err(CniError::new(
            code,
            all.join("; "),
            "the container's network is not as ADD left it: delete and re-add it (restart the container or pod)",
        ));
    }
    if let Some(plugin) = ipam_plugin(inv) {
        delegate::run(inv, plugin, Command::Check)?;
    }
    Ok(())
}

async fn gc(inv: &Invocation) -> Result<(), CniError> {
    let Some(valid) = &inv.conf.valid_attachments else {
        return Err(CniError::invalid_config(
            "GC needs cni.dev/valid-attachments",
            "the runtime lists the attachments that are still valid (an empty list removes them all)",
        ));
    };
    let req = CniGcRequest {
        network: inv.network().to_string(),
        valid: valid
            .iter()
            .map(|a| CniAttachmentKey { container_id: a.container_id.clone(), ifname: a.ifname.clone() })
            .collect(),
    };
    let done = inv.client().cni_gc(&req).await.map_err(|e| cni_error(e, Command::Gc))?;
    // The spec: forward GC to delegated plugins, even when ours had errors.
    let delegated = ipam_plugin(inv).map(|p| delegate::run(inv, p, Command::Gc));
    if !done.errors.is_empty() {
        return Err(CniError::new(
            error::DAEMON_FAILURE,
            format!("GC could not remove everything: {}", done.errors.join("; ")),
            "the rest was removed; the runtime's next GC tries again",
        ));
    }
    if let Some(Err(e)) = delegated {
        return Err(e);
    }
    Ok(())
}

async fn status(inv: &Invocation) -> Result<(), CniError> {
    let s = inv.client().cni_status().await.map_err(|e| cni_error(e, Command::Status))?;
    if !s.ready {
        return Err(CniError::new(
            error::NOT_AVAILABLE,
            format!("weave is not ready: {}", s.reason.unwrap_or_else(|| "no reason given".into())),
            s.hint.unwrap_or_else(|| "wait; the runtime asks again".into()),
        ));
    }
    match ipam_plugin(inv) {
        Some(plugin) => {
            delegate::run(inv, plugin, Command::Status)?;
        }
        None if !s.ipam => return Err(CniError::new(
            error::NOT_AVAILABLE,
            "weave's IPAM is off (the daemon runs with an empty --ipalloc-range), and this network uses it",
            "give the network's ipam a \"type\" with its own addresses, or run weave with an --ipalloc-range",
        )),
        None => {}
    }
    Ok(())
}
