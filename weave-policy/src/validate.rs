//! Kubernetes' validation and defaulting of a NetworkPolicy (what the API server does on
//! create), turning `k8s-openapi`'s object into [`Policy`]. Each refusal names the field path.
//!
//! Departures, all refusals of valid Kubernetes input that weave cannot honour: IPv6 ipBlocks
//! (the weave network is IPv4).

use crate::parse::{join, PolicyError};
use crate::selector::{Operator, Requirement, Selector};
use crate::types::{IpBlock, NamespaceScope, Peer, Policy, PolicyId, PortMatch, Ports, Protocol, Rule};
use ipnet::{IpNet, Ipv4Net};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

type R<T> = Result<T, PolicyError>;

fn bad<T>(path: impl Into<String>, reason: impl Into<String>) -> R<T> {
    Err(PolicyError::new(path, reason))
}

pub(crate) fn policy(np: &NetworkPolicy, source: serde_json::Value) -> R<Policy> {
    let name = match &np.metadata.name {
        Some(n) => n.clone(),
        None => return bad("metadata.name", "missing: every policy needs a name"),
    };
    if let Err(why) = dns_subdomain(&name) {
        return bad("metadata.name", format!("{name:?} {why}"));
    }
    let namespace = np.metadata.namespace.clone().unwrap_or_else(|| "default".to_string());
    if let Err(why) = dns_label(&namespace) {
        return bad("metadata.namespace", format!("{namespace:?} {why}"));
    }
    let spec = np.spec.clone().unwrap_or_default();
    let selector = match &spec.pod_selector {
        Some(s) => selector(s, "spec.podSelector")?,
        None => Selector::everything(),
    };
    let ingress_rules = spec.ingress.unwrap_or_default();
    let egress_rules = spec.egress.unwrap_or_default();
    // Kubernetes' defaulting: Ingress always, Egress when egress rules are given.
    let (mut has_ingress, mut has_egress) = (false, false);
    match spec.policy_types.as_deref() {
        None | Some([]) => {
            has_ingress = true;
            has_egress = !egress_rules.is_empty();
        }
        Some(types) => {
            if types.len() > 2 {
                return bad("spec.policyTypes", "may not have more than 2 entries");
            }
            for (i, t) in types.iter().enumerate() {
                let path = format!("spec.policyTypes[{i}]");
                let flag = match t.as_str() {
                    "Ingress" => &mut has_ingress,
                    "Egress" => &mut has_egress,
                    other => {
                        return bad(
                            path,
                            format!("{other:?}: supported values are \"Ingress\" and \"Egress\""),
                        )
                    }
                };
                if *flag {
                    return bad(path, format!("{t:?} is listed twice"));
                }
                *flag = true;
            }
        }
    }
    let mut ingress = Vec::new();
    for (i, r) in ingress_rules.iter().enumerate() {
        let path = format!("spec.ingress[{i}]");
        ingress.push(rule(r.from.as_deref(), r.ports.as_deref(), &namespace, &path, "from")?);
    }
    let mut egress = Vec::new();
    for (i, r) in egress_rules.iter().enumerate() {
        let path = format!("spec.egress[{i}]");
        egress.push(rule(r.to.as_deref(), r.ports.as_deref(), &namespace, &path, "to")?);
    }
    Ok(Policy {
        id: PolicyId { namespace, name },
        selector,
        // Rules of a type the policy does not have are ignored, as in Kubernetes.
        ingress: has_ingress.then_some(ingress),
        egress: has_egress.then_some(egress),
        source,
    })
}

fn rule(
    peers: Option<&[NetworkPolicyPeer]>,
    ports: Option<&[NetworkPolicyPort]>,
    namespace: &str,
    path: &str,
    peers_field: &str,
) -> R<Rule> {
    let peers = match peers {
        None | Some([]) => None,
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, p)| peer(p, namespace, &format!("{path}.{peers_field}[{i}]")))
                .collect::<R<Vec<_>>>()?,
        ),
    };
    let ports = match ports {
        None | Some([]) => None,
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, p)| port(p, &format!("{path}.ports[{i}]")))
                .collect::<R<Vec<_>>>()?,
        ),
    };
    Ok(Rule { peers, ports })
}

fn peer(p: &NetworkPolicyPeer, namespace: &str, path: &str) -> R<Peer> {
    match (&p.ip_block, &p.pod_selector, &p.namespace_selector) {
        (Some(b), None, None) => {
            ip_block(&b.cidr, b.except.as_deref().unwrap_or_default(), &join(path, "ipBlock"))
        }
        (Some(_), _, _) => bad(path, "ipBlock may not be combined with podSelector or namespaceSelector"),
        (None, None, None) => bad(path, "must specify a peer: podSelector, namespaceSelector or ipBlock"),
        (None, pods, nss) => {
            let pods = match pods {
                Some(s) => selector(s, &join(path, "podSelector"))?,
                None => Selector::everything(),
            };
            let namespaces = match nss {
                Some(s) => NamespaceScope::Selected(selector(s, &join(path, "namespaceSelector"))?),
                None => NamespaceScope::Own(namespace.to_string()),
            };
            Ok(Peer::Pods { namespaces, pods })
        }
    }
}

fn ip_block(cidr: &str, except: &[String], path: &str) -> R<Peer> {
    let cidr_path = join(path, "cidr");
    let net = v4_cidr(cidr, &cidr_path)?;
    let mut out = Vec::new();
    for (i, e) in except.iter().enumerate() {
        let p = join(path, &format!("except[{i}]"));
        let ex = v4_cidr(e, &p)?;
        if ex.prefix_len() <= net.prefix_len() || !net.contains(&ex) {
            return bad(p, format!("{e} must be strictly inside cidr {net}"));
        }
        out.push(ex);
    }
    Ok(Peer::Block(IpBlock { cidr: net, except: out }))
}

fn v4_cidr(s: &str, path: &str) -> R<Ipv4Net> {
    match s.parse::<IpNet>() {
        Ok(IpNet::V4(n)) => Ok(n.trunc()),
        Ok(IpNet::V6(_)) => bad(path, format!("{s}: IPv6 is not supported (the weave network is IPv4)")),
        Err(_) => bad(path, format!("{s:?} is not a CIDR such as 10.0.0.0/16")),
    }
}

fn port(p: &NetworkPolicyPort, path: &str) -> R<PortMatch> {
    let protocol = match p.protocol.as_deref() {
        None => Protocol::Tcp,
        Some(s) => match Protocol::parse(s) {
            Some(proto) => proto,
            None => {
                return bad(
                    join(path, "protocol"),
                    format!("{s:?}: supported values are \"TCP\", \"UDP\", \"SCTP\""),
                )
            }
        },
    };
    let ports = match (&p.port, p.end_port) {
        (None, None) => Ports::All,
        (None, Some(_)) => return bad(join(path, "endPort"), "may not be set without port"),
        (Some(IntOrString::String(name)), end) => {
            if end.is_some() {
                return bad(join(path, "endPort"), "may not be set when port is a name");
            }
            if let Err(why) = port_name(name) {
                return bad(join(path, "port"), format!("{name:?} {why}"));
            }
            Ports::Named(name.clone())
        }
        (Some(IntOrString::Int(n)), end) => {
            let lo = port_number(*n, &join(path, "port"))?;
            let hi = match end {
                None => lo,
                Some(e) => {
                    let hi = port_number(e, &join(path, "endPort"))?;
                    if hi < lo {
                        return bad(join(path, "endPort"), format!("{hi} must not be less than port {lo}"));
                    }
                    hi
                }
            };
            Ports::Range(lo, hi)
        }
    };
    Ok(PortMatch { protocol, ports })
}

fn port_number(n: i32, path: &str) -> R<u16> {
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => bad(path, format!("{n} is not a port: 1 to 65535")),
    }
}

pub(crate) fn selector(s: &LabelSelector, path: &str) -> R<Selector> {
    let mut reqs = Vec::new();
    for (k, v) in s.match_labels.iter().flatten() {
        let p = join(path, &format!("matchLabels.{k}"));
        label_key(k, &p)?;
        label_value(v, &p)?;
        reqs.push(Requirement { key: k.clone(), op: Operator::In([v.clone()].into()) });
    }
    for (i, e) in s.match_expressions.iter().flatten().enumerate() {
        let p = join(path, &format!("matchExpressions[{i}]"));
        label_key(&e.key, &join(&p, "key"))?;
        let values = e.values.clone().unwrap_or_default();
        for (j, v) in values.iter().enumerate() {
            label_value(v, &join(&p, &format!("values[{j}]")))?;
        }
        let vp = join(&p, "values");
        let op = match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return bad(vp, format!("must be non-empty for operator {}", e.operator));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return bad(vp, format!("must be empty for operator {}", e.operator));
            }
            "In" => Operator::In(values.into_iter().collect()),
            "NotIn" => Operator::NotIn(values.into_iter().collect()),
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return bad(
                    join(&p, "operator"),
                    format!("{other:?}: supported operators are In, NotIn, Exists, DoesNotExist"),
                )
            }
        };
        reqs.push(Requirement { key: e.key.clone(), op });
    }
    Ok(Selector::new(reqs))
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters.
pub fn label_key(k: &str, path: &str) -> R<()> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        if let Err(why) = dns_subdomain(p) {
            return bad(path, format!("label key {k:?}: prefix {why}"));
        }
    }
    if name.is_empty() || name.len() > 63 || !label_chars(name) {
        return bad(
            path,
            format!("label key {k:?}: the name part must be 1-63 characters of [A-Za-z0-9._-], starting and ending alphanumeric"),
        );
    }
    Ok(())
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub fn label_value(v: &str, path: &str) -> R<()> {
    if v.len() > 63 || (!v.is_empty() && !label_chars(v)) {
        return bad(
            path,
            format!("label value {v:?}: at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric"),
        );
    }
    Ok(())
}

fn label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A DNS-1123 label (namespace names).
pub fn dns_label(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return Err("must be 1-63 characters");
    }
    if !b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        || !b[0].is_ascii_alphanumeric()
        || !b[b.len() - 1].is_ascii_alphanumeric()
    {
        return Err("must be lower-case letters, digits and '-', starting and ending alphanumeric");
    }
    Ok(())
}

/// A DNS-1123 subdomain (policy names, label key prefixes).
pub fn dns_subdomain(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 253 {
        return Err("must be 1-253 characters");
    }
    if s.split('.').all(|l| dns_label(l).is_ok()) {
        Ok(())
    } else {
        Err("must be dot-separated lower-case letters, digits and '-', each part starting and ending alphanumeric")
    }
}

/// A named port (IANA service name): at most 15 characters of lower-case letters, digits and
/// '-', with a letter, no '-' at either end and no '--'.
pub fn port_name(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 15 {
        return Err("must be 1-15 characters");
    }
    if !b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        || !b.iter().any(u8::is_ascii_lowercase)
        || b[0] == b'-'
        || b[b.len() - 1] == b'-'
        || s.contains("--")
    {
        return Err("must be lower-case letters, digits and single '-' inside, with at least one letter");
    }
    Ok(())
}
