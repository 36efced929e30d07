//! What a service request asks for, checked: the one place a [`ServiceRequest`] becomes a
//! [`Spec`] (ports in range, addresses that parse, targets that name something), and the
//! rules that tell two services apart or in conflict. Pure: no I/O.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use weave_api::{Protocol, ServiceKind, ServiceRequest};

/// What a service's traffic goes to, for export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetRef {
    /// A target attached on this host, as the user named it (`netns:web`, a container).
    Local(String),
    /// A weave address, of a container on any host.
    Address(Ipv4Addr),
}

/// A weave address asked for: the prefix comes from IPAM's range when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeaveAddr {
    pub addr: Ipv4Addr,
    pub prefix: Option<u8>,
}

/// A checked request, as recorded in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Spec {
    Export {
        target: TargetRef,
        port: u16,
        proto: Protocol,
        publish_addr: Option<Ipv4Addr>,
        publish_port: u16,
    },
    Import {
        addr: Ipv4Addr,
        port: u16,
        proto: Protocol,
        weave: Option<WeaveAddr>,
        weave_port: u16,
        fqdn: Option<String>,
    },
    Bind {
        /// A target attached on this host, as the user named it.
        target: String,
        port: u16,
        proto: Protocol,
        weave: Option<WeaveAddr>,
        weave_port: u16,
        fqdn: Option<String>,
    },
}

/// A request that is wrong in itself ([`crate::ServiceError::Invalid`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// A port of 1-65535.
pub fn port(what: &str, p: u32) -> Result<u16, Invalid> {
    match u16::try_from(p) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(invalid(format!("{what} {p} is out of range: give a port from 1 to 65535"))),
    }
}

/// A unicast IPv4 address.
fn unicast(what: &str, s: &str) -> Result<Ipv4Addr, Invalid> {
    let a: Ipv4Addr =
        s.trim().parse().map_err(|_| invalid(format!("{what} {s:?} is not an IPv4 address")))?;
    if a.is_unspecified() || a.is_multicast() || a.is_broadcast() {
        return Err(invalid(format!("{what} {a} is not a unicast address")));
    }
    Ok(a)
}

/// A unicast address traffic can be forwarded to: the kernel drops what is routed to loopback
/// from another interface, so such a service could never answer.
fn forwardable(what: &str, s: &str) -> Result<Ipv4Addr, Invalid> {
    let a = unicast(what, s)?;
    if a.is_loopback() {
        return Err(invalid(format!(
            "{what} {a} is a loopback address, which the kernel does not forward to: give an address \
             this host reaches through a network interface"
        )));
    }
    Ok(a)
}

/// `IP` or `IP/PREFIX`.
pub fn weave_addr(s: &str) -> Result<WeaveAddr, Invalid> {
    let (ip, prefix) = match s.split_once('/') {
        Some((ip, p)) => {
            let p: u8 = p
                .parse()
                .ok()
                .filter(|p| (1..=32).contains(p))
                .ok_or_else(|| invalid(format!("weave address {s:?}: the prefix length must be 1-32")))?;
            (ip, Some(p))
        }
        None => (s, None),
    };
    Ok(WeaveAddr { addr: unicast("weave address", ip)?, prefix })
}

fn fqdn(f: Option<String>) -> Option<String> {
    f.map(|f| f.trim().to_string()).filter(|f| !f.is_empty())
}

impl Spec {
    /// Checks a request; nothing outside it is looked at (`check_target` checks how a local
    /// target is named).
    pub fn parse<E: std::fmt::Display>(
        req: ServiceRequest,
        check_target: impl Fn(&str) -> Result<(), E>,
    ) -> Result<Spec, Invalid> {
        Ok(match req {
            ServiceRequest::Export { target, port: p, protocol, publish_address, publish_port } => {
                let target = match target.trim().parse::<Ipv4Addr>() {
                    Ok(_) => TargetRef::Address(forwardable("target", &target)?),
                    Err(_) => {
                        check_target(&target).map_err(|e| invalid(e.to_string()))?;
                        TargetRef::Local(target)
                    }
                };
                let publish_addr = match publish_address.as_deref().map(str::trim) {
                    None | Some("") | Some("0.0.0.0") => None,
                    Some(a) => Some(unicast("publish address", a)?),
                };
                Spec::Export {
                    target,
                    port: port("port", p)?,
                    proto: protocol,
                    publish_addr,
                    publish_port: port("publish port", publish_port)?,
                }
            }
            ServiceRequest::Import { address, port: p, protocol, weave_address, weave_port, fqdn: f } => {
                Spec::Import {
                    addr: forwardable("address", &address)?,
                    port: port("port", p)?,
                    proto: protocol,
                    weave: weave_address.as_deref().map(weave_addr).transpose()?,
                    weave_port: port("weave port", weave_port)?,
                    fqdn: fqdn(f),
                }
            }
            ServiceRequest::Bind { target, port: p, protocol, weave_address, weave_port, fqdn: f } => {
                if target.trim().parse::<Ipv4Addr>().is_ok() {
                    return Err(invalid(format!(
                        "bind needs a target attached on this host (netns:NAME, a container, ...), not the address {target}"
                    )));
                }
                check_target(&target).map_err(|e| invalid(e.to_string()))?;
                Spec::Bind {
                    target,
                    port: port("port", p)?,
                    proto: protocol,
                    weave: weave_address.as_deref().map(weave_addr).transpose()?,
                    weave_port: port("weave port", weave_port)?,
                    fqdn: fqdn(f),
                }
            }
        })
    }

    pub fn kind(&self) -> ServiceKind {
        match self {
            Spec::Export { .. } => ServiceKind::Export,
            Spec::Import { .. } => ServiceKind::Import,
            Spec::Bind { .. } => ServiceKind::Bind,
        }
    }

    pub fn proto(&self) -> Protocol {
        match self {
            Spec::Export { proto, .. } | Spec::Import { proto, .. } | Spec::Bind { proto, .. } => *proto,
        }
    }

    /// The weave address asked for, if any.
    pub fn weave(&self) -> Option<WeaveAddr> {
        match self {
            Spec::Export { .. } => None,
            Spec::Import { weave, .. } | Spec::Bind { weave, .. } => *weave,
        }
    }

    pub fn weave_port(&self) -> Option<u16> {
        match self {
            Spec::Export { .. } => None,
            Spec::Import { weave_port, .. } | Spec::Bind { weave_port, .. } => Some(*weave_port),
        }
    }

    pub fn fqdn(&self) -> Option<&str> {
        match self {
            Spec::Export { .. } => None,
            Spec::Import { fqdn, .. } | Spec::Bind { fqdn, .. } => fqdn.as_deref(),
        }
    }

    /// The local target this service follows, as the user named it.
    pub fn local_target(&self) -> Option<&str> {
        match self {
            Spec::Export { target: TargetRef::Local(t), .. } | Spec::Bind { target: t, .. } => Some(t),
            _ => None,
        }
    }

    /// Whether its weave address lives on the bridge (export, import) rather than in the target.
    pub fn on_bridge(&self) -> bool {
        !matches!(self, Spec::Bind { .. })
    }

    /// The service's id: a digest of what was asked, so the same request twice is the same
    /// service (and answered as such) rather than a conflict.
    pub fn id(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        // FNV-1a: stable across runs and releases, unlike std's hasher.
        let h =
            json.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3));
        format!("svc-{:08x}", (h ^ (h >> 32)) as u32)
    }

    /// Why `self` cannot exist beside `other` (whose weave address is `other_weave`), if it
    /// cannot: a published port both take, or a weave address and port both answer at.
    pub fn conflict(
        &self,
        mine: Option<Ipv4Net>,
        other_id: &str,
        other: &Spec,
        other_weave: Option<Ipv4Net>,
    ) -> Option<String> {
        if let (
            Spec::Export { proto: p1, publish_addr: a1, publish_port: n1, .. },
            Spec::Export { proto: p2, publish_addr: a2, publish_port: n2, .. },
        ) = (self, other)
        {
            let overlap = a1.is_none() || a2.is_none() || a1 == a2;
            if p1 == p2 && n1 == n2 && overlap {
                let on = a2.map(|a| a.to_string()).unwrap_or_else(|| "every address".into());
                return Some(format!("{p1} port {n1} is published already by service {other_id} (on {on})"));
            }
        }
        if let (Some(a), Some(b)) = (mine, other_weave) {
            if a.addr() == b.addr()
                && !(matches!(self, Spec::Export { .. }) && matches!(other, Spec::Export { .. }))
            {
                return Some(format!("weave address {} is taken by service {other_id}", a.addr()));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the attach service's target syntax (the daemon's): no blanks.
    fn parse(req: ServiceRequest) -> Result<Spec, Invalid> {
        Spec::parse(req, |t| match t.contains(' ') {
            true => Err(format!("invalid target {t:?}")),
            false => Ok(()),
        })
    }

    fn export(target: &str, port: u32, publish: Option<&str>, pp: u32) -> ServiceRequest {
        ServiceRequest::Export {
            target: target.into(),
            port,
            protocol: Protocol::Tcp,
            publish_address: publish.map(String::from),
            publish_port: pp,
        }
    }

    #[test]
    fn requests_are_checked_and_bad_ones_named() {
        let s = parse(export("netns:web", 80, None, 8080)).unwrap();
        assert_eq!(
            s,
            Spec::Export {
                target: TargetRef::Local("netns:web".into()),
                port: 80,
                proto: Protocol::Tcp,
                publish_addr: None,
                publish_port: 8080
            }
        );
        let s = parse(export("10.32.0.9", 80, Some("10.99.0.1"), 80)).unwrap();
        assert!(matches!(s, Spec::Export { target: TargetRef::Address(_), publish_addr: Some(_), .. }));
        for (req, says) in [
            (export("netns:web", 0, None, 80), "port 0 is out of range"),
            (export("netns:web", 80, None, 70000), "publish port 70000 is out of range"),
            (export("a b", 80, None, 80), "invalid target"),
            (export("netns:web", 80, Some("10.1"), 80), "publish address \"10.1\" is not an IPv4"),
            (export("224.0.0.1", 80, None, 80), "not a unicast address"),
            (export("127.0.0.1", 80, None, 80), "target 127.0.0.1 is a loopback address"),
        ] {
            let e = parse(req).unwrap_err().to_string();
            assert!(e.contains(says), "{e} should say {says}");
        }
        let e = parse(ServiceRequest::Import {
            address: "127.0.0.53".into(),
            port: 53,
            protocol: Protocol::Udp,
            weave_address: None,
            weave_port: 53,
            fqdn: None,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("address 127.0.0.53 is a loopback address"), "{e}");
        let bind = |t: &str, w: &str| ServiceRequest::Bind {
            target: t.into(),
            port: 80,
            protocol: Protocol::Udp,
            weave_address: Some(w.into()),
            weave_port: 53,
            fqdn: Some(" ".into()),
        };
        let e = parse(bind("10.32.0.1", "10.32.9.9")).unwrap_err().to_string();
        assert!(e.contains("bind needs a target attached on this host"), "{e}");
        let e = parse(bind("netns:a", "10.32.9.9/40")).unwrap_err().to_string();
        assert!(e.contains("prefix length must be 1-32"), "{e}");
        let s = parse(bind("netns:a", "10.32.9.9/12")).unwrap();
        assert_eq!(s.weave(), Some(WeaveAddr { addr: "10.32.9.9".parse().unwrap(), prefix: Some(12) }));
        assert_eq!(s.fqdn(), None, "a blank name is no name");
        assert_eq!(s.local_target(), Some("netns:a"));
        assert!(!s.on_bridge());
    }

    #[test]
    fn ids_are_stable_per_request_and_differ_between_requests() {
        let a = parse(export("netns:web", 80, None, 8080)).unwrap();
        let b = parse(export("netns:web", 80, None, 8081)).unwrap();
        assert_eq!(a.id(), a.clone().id());
        assert_ne!(a.id(), b.id());
        assert!(a.id().starts_with("svc-") && a.id().len() == 12, "{}", a.id());
    }

    #[test]
    fn published_ports_and_weave_addresses_conflict() {
        let any = parse(export("netns:a", 80, None, 8080)).unwrap();
        let one = parse(export("netns:b", 81, Some("10.99.0.1"), 8080)).unwrap();
        let other = parse(export("netns:b", 81, Some("10.99.0.2"), 8080)).unwrap();
        assert!(any.conflict(None, "x", &one, None).unwrap().contains("tcp port 8080 is published already"));
        assert!(one.conflict(None, "x", &other, None).is_none(), "different host addresses");
        let udp = parse(ServiceRequest::Export {
            target: "netns:a".into(),
            port: 80,
            protocol: Protocol::Udp,
            publish_address: None,
            publish_port: 8080,
        })
        .unwrap();
        assert!(any.conflict(None, "x", &udp, None).is_none(), "different protocols");
        let w: Ipv4Net = "10.32.0.7/12".parse().unwrap();
        let imp = parse(ServiceRequest::Import {
            address: "192.168.1.1".into(),
            port: 80,
            protocol: Protocol::Tcp,
            weave_address: None,
            weave_port: 80,
            fqdn: None,
        })
        .unwrap();
        assert!(imp
            .conflict(Some(w), "x", &imp, Some(w))
            .unwrap()
            .contains("weave address 10.32.0.7 is taken"));
    }
}
