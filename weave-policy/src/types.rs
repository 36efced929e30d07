//! The validated, normalised form of a NetworkPolicy that the rest of the crate works on, and the
//! inputs it is evaluated against (targets and namespaces).
//!
//! Every Kubernetes default is already applied here: a missing protocol is TCP, missing
//! `policyTypes` are defaulted, a peer with only a podSelector is scoped to the policy's own
//! namespace. Nothing downstream re-reads the Kubernetes object.

use crate::selector::Selector;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

/// The label every namespace carries, as Kubernetes sets it.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// `namespace/name`, the identity of a policy (as `kubectl` names them).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct PolicyId {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Transport protocols a NetworkPolicy port can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    pub fn from_number(n: u8) -> Option<Protocol> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Kubernetes' spelling (`TCP`, `UDP`, `SCTP`), case-sensitive as the API server checks it.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which ports of a protocol an entry of `ports` allows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ports {
    /// `protocol` given without `port`: every port.
    All,
    /// `port`, or `port`..=`endPort`.
    Range(u16, u16),
    /// A named port, resolved against the destination's declared ports.
    Named(String),
}

/// One entry of a rule's `ports`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMatch {
    pub protocol: Protocol,
    pub ports: Ports,
}

/// Which namespaces a pod peer looks in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NamespaceScope {
    /// Only the policy's own namespace (a peer with just a podSelector).
    Own(String),
    /// Every namespace the selector matches.
    Selected(Selector),
}

/// An ipBlock: `cidr` less the `except` ranges.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpBlock {
    pub cidr: Ipv4Net,
    pub except: Vec<Ipv4Net>,
}

impl IpBlock {
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.cidr.contains(&a) && !self.except.iter().any(|e| e.contains(&a))
    }

    /// The block as disjoint inclusive address ranges, in order (what an interval set holds).
    pub fn ranges(&self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        let mut out = vec![(u32::from(self.cidr.network()), u32::from(self.cidr.broadcast()))];
        for e in &self.except {
            let (lo, hi) = (u32::from(e.network()), u32::from(e.broadcast()));
            out = out
                .into_iter()
                .flat_map(|(a, b)| {
                    let mut parts = Vec::with_capacity(2);
                    if hi < a || lo > b {
                        parts.push((a, b));
                    } else {
                        if lo > a {
                            parts.push((a, lo - 1));
                        }
                        if hi < b {
                            parts.push((hi + 1, b));
                        }
                    }
                    parts
                })
                .collect();
        }
        out.into_iter().map(|(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b))).collect()
    }
}

/// One entry of a rule's `from`/`to`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    Pods { namespaces: NamespaceScope, pods: Selector },
    Block(IpBlock),
}

/// One ingress or egress rule. `None` for peers or ports means "any", as an absent or empty
/// list does in Kubernetes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Rule {
    pub peers: Option<Vec<Peer>>,
    pub ports: Option<Vec<PortMatch>>,
}

/// Traffic direction, from the selected target's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated policy. `ingress`/`egress` are `None` when the policy does not have that type
/// (it neither isolates nor allows in that direction), `Some(rules)` when it does (no rules:
/// deny all in that direction).
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub id: PolicyId,
    pub selector: Selector,
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
    /// The object as given (normalised JSON), for listing, persistence and gossip.
    pub source: serde_json::Value,
}

impl Policy {
    pub fn rules(&self, dir: Direction) -> Option<&[Rule]> {
        match dir {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

/// A port a target declares by name (a container port's name in Kubernetes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct NamedPort {
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
}

/// Anything attached to the weave network: a container, a pod, a namespace.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub id: String,
    pub namespace: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<NamedPort>,
    #[serde(default)]
    pub addrs: Vec<Ipv4Addr>,
    /// The peer (host) it is attached on: that host's kernel enforces for it.
    pub host: String,
}

impl Target {
    /// The port number `name` means on this target for `protocol`, as Kubernetes resolves named
    /// ports against a pod's container ports.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports.iter().find(|p| p.name == name && p.protocol == protocol).map(|p| p.port)
    }
}
