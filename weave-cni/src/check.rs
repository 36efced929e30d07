//! CHECK: what is wrong with an attachment, compared with what the runtime expects (the
//! `prevResult` of ADD) and with what ADD made. Pure over what was observed, so every rule is
//! tested without a kernel.
//!
//! Routes are checked only where ADD made them (the spec lets later plugins change others);
//! addresses must be on the interface and still reserved in IPAM for the container.

use crate::plan::Route;
use crate::records::Record;
use ipnet::Ipv4Net;
use weave_api::{CniProblem, CniProblemKind};

/// What the runtime expects.
#[derive(Debug, Default)]
pub struct Expected {
    pub netns: Option<String>,
    pub addrs: Vec<Ipv4Net>,
    pub routes: Vec<Ipv4Net>,
    pub ipam_only: bool,
}

/// The container's interface as found.
#[derive(Debug, Clone, Default)]
pub struct Iface {
    pub addrs: Vec<Ipv4Net>,
    pub routes: Vec<Route>,
    /// A veth whose peer is a port of the weave bridge.
    pub plugged: bool,
}

/// What was observed.
#[derive(Debug)]
pub struct Observed {
    /// The namespace could be opened (why not, otherwise).
    pub netns: Result<(), String>,
    /// The interface, if it is there.
    pub iface: Option<Iface>,
    /// What IPAM reserves for the container id.
    pub reserved: Vec<Ipv4Net>,
}

fn problem(kind: CniProblemKind, detail: String) -> CniProblem {
    CniProblem { kind, detail }
}

/// Every problem, worst first.
pub fn problems(rec: Option<&Record>, exp: &Expected, obs: &Observed) -> Vec<CniProblem> {
    let Some(rec) = rec else {
        return vec![problem(
            CniProblemKind::UnknownAttachment,
            "weave has no such attachment (it was never added, or it was deleted)".into(),
        )];
    };
    let mut out = Vec::new();
    let reserved = |out: &mut Vec<CniProblem>| {
        for a in &exp.addrs {
            if !obs.reserved.contains(a) {
                out.push(problem(
                    CniProblemKind::WrongAddress,
                    format!("{a} is not reserved for container {} in weave's IPAM", rec.container_id),
                ));
            }
        }
    };
    if exp.ipam_only {
        reserved(&mut out);
        return out;
    }
    if let (Some(asked), Some(had)) = (&exp.netns, &rec.netns) {
        if asked != had {
            out.push(problem(
                CniProblemKind::MissingNamespace,
                format!("CHECK names namespace {asked}, but ADD was given {had}"),
            ));
            return out;
        }
    }
    if let Err(why) = &obs.netns {
        out.push(problem(CniProblemKind::MissingNamespace, why.clone()));
        return out;
    }
    let Some(iface) = &obs.iface else {
        out.push(problem(
            CniProblemKind::MissingInterface,
            format!("interface {} is missing from the container", rec.ifname),
        ));
        return out;
    };
    if !iface.plugged {
        out.push(problem(
            CniProblemKind::Unplugged,
            format!("interface {} is not connected to the weave bridge", rec.ifname),
        ));
    }
    for a in &exp.addrs {
        if !iface.addrs.contains(a) {
            out.push(problem(
                CniProblemKind::WrongAddress,
                format!("interface {} lacks address {a}", rec.ifname),
            ));
        }
    }
    reserved(&mut out);
    for made in rec.routes.iter().filter(|r| exp.routes.contains(&r.dst)) {
        if !iface.routes.contains(made) {
            let via = made.gw.map(|g| format!(" via {g}")).unwrap_or_default();
            out.push(problem(CniProblemKind::MissingRoute, format!("route {}{via} is missing", made.dst)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::State;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn default_route() -> Route {
        Route { dst: net("0.0.0.0/0"), gw: Some("10.32.0.1".parse().unwrap()) }
    }

    fn rec() -> Record {
        Record {
            network: "weave".into(),
            container_id: "c1".into(),
            ifname: "eth0".into(),
            netns: Some("/run/netns/c1".into()),
            name: None,
            pod_namespace: None,
            addrs: vec![net("10.32.0.5/12")],
            gateway: Some("10.32.0.1".parse().unwrap()),
            routes: vec![default_route()],
            mtu: None,
            state: State::Ready,
        }
    }

    fn expected() -> Expected {
        Expected {
            netns: Some("/run/netns/c1".into()),
            addrs: vec![net("10.32.0.5/12")],
            routes: vec![net("0.0.0.0/0")],
            ipam_only: false,
        }
    }

    fn healthy() -> Observed {
        Observed {
            netns: Ok(()),
            iface: Some(Iface {
                addrs: vec![net("10.32.0.5/12")],
                routes: vec![default_route()],
                plugged: true,
            }),
            reserved: vec![net("10.32.0.5/12")],
        }
    }

    fn kinds(p: &[CniProblem]) -> Vec<CniProblemKind> {
        p.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn a_healthy_attachment_has_no_problem() {
        assert!(problems(Some(&rec()), &expected(), &healthy()).is_empty());
    }

    #[test]
    fn each_fault_is_named() {
        use CniProblemKind::*;
        assert_eq!(kinds(&problems(None, &expected(), &healthy())), [UnknownAttachment]);
        let mut other = expected();
        other.netns = Some("/run/netns/other".into());
        assert_eq!(kinds(&problems(Some(&rec()), &other, &healthy())), [MissingNamespace]);
        let gone = Observed { netns: Err("namespace /run/netns/c1 is gone".into()), ..healthy() };
        assert_eq!(kinds(&problems(Some(&rec()), &expected(), &gone)), [MissingNamespace]);
        let no_if = Observed { iface: None, ..healthy() };
        let p = problems(Some(&rec()), &expected(), &no_if);
        assert_eq!(kinds(&p), [MissingInterface]);
        assert!(p[0].detail.contains("eth0"));
        let mut o = healthy();
        o.iface.as_mut().unwrap().routes.clear();
        let p = problems(Some(&rec()), &expected(), &o);
        assert_eq!(kinds(&p), [MissingRoute]);
        assert!(p[0].detail.contains("0.0.0.0/0 via 10.32.0.1"), "{p:?}");
        let mut o = healthy();
        o.iface.as_mut().unwrap().addrs.clear();
        o.iface.as_mut().unwrap().plugged = false;
        assert_eq!(kinds(&problems(Some(&rec()), &expected(), &o)), [Unplugged, WrongAddress]);
        let o = Observed { reserved: vec![], ..healthy() };
        assert_eq!(kinds(&problems(Some(&rec()), &expected(), &o)), [WrongAddress]);
    }

    #[test]
    fn only_routes_add_made_are_checked_and_ipam_only_checks_reservations() {
        let mut e = expected();
        e.routes.push(net("192.168.0.0/16"));
        assert!(
            problems(Some(&rec()), &e, &healthy()).is_empty(),
            "a route a later plugin added is not ours"
        );
        let ipam = Expected { ipam_only: true, netns: None, routes: vec![], ..expected() };
        let nothing_there = Observed { netns: Err("no namespace".into()), iface: None, ..healthy() };
        assert!(problems(Some(&rec()), &ipam, &nothing_there).is_empty());
        let released = Observed { reserved: vec![], ..nothing_there };
        assert_eq!(kinds(&problems(Some(&rec()), &ipam, &released)), [CniProblemKind::WrongAddress]);
    }
}
