//! `weave policy apply|delete|ls|drops|label|namespace|why`: network policy
//! (`/api/v1/policies`, `/api/v1/targets/{id}/labels`, `/api/v1/namespaces/{name}/labels`).

use crate::cli::{Output, PolicyAction};
use crate::output::{json, CmdResult, Failure};
use std::io::Read;
use weave_api::{Client, DirectionVerdict, PolicyDrop, PolicyInfo};

pub async fn exec(client: &Client, action: PolicyAction) -> CmdResult {
    match action {
        PolicyAction::Apply { file } => {
            let manifest = read(&file)?;
            for name in client.policy_apply(&manifest).await?.applied {
                println!("{name}");
            }
        }
        PolicyAction::Delete { names } => {
            for name in names {
                println!("{}", client.policy_delete(&name).await?.name);
            }
        }
        PolicyAction::Ls { output } => {
            let list = client.policies().await?;
            match output.output {
                Output::Json => println!("{}", json(&list)),
                _ => list.iter().for_each(|p| println!("{}", policy_line(p))),
            }
        }
        PolicyAction::Drops { output } => {
            let drops = client.policy_drops().await?;
            match output.output {
                Output::Json => println!("{}", json(&drops)),
                _ => drops.iter().for_each(|d| println!("{}", drop_line(d))),
            }
        }
        PolicyAction::Label { target, namespace, labels } => {
            let labels = labels.iter().map(|l| super::attach::label(l)).collect::<Result<_, _>>()?;
            let req = weave_api::TargetLabels { namespace, labels, ports: None };
            let t = client.target_labels(&target, &req).await?;
            println!("{} {} {}", t.id, t.namespace, pairs(&t.labels));
        }
        PolicyAction::Namespace { name, labels } => {
            let labels = labels.iter().map(|l| super::attach::label(l)).collect::<Result<_, _>>()?;
            let set = client.namespace_labels(&name, &weave_api::NamespaceLabels { labels }).await?;
            println!("{name} {}", pairs(&set.labels));
        }
        PolicyAction::Why { src, dst, port, output } => {
            let (port, proto) = port_proto(&port)?;
            let v = client.policy_why(&src, &dst, port, &proto).await?;
            if output.output == Output::Json {
                println!("{}", json(&v));
                return Ok(());
            }
            let what = port.map(|p| format!(" port {p}/{proto}")).unwrap_or_default();
            println!("{} -> {}{what}: {}", v.src, v.dst, if v.allowed { "allowed" } else { "denied" });
            println!("  egress of {}: {}", v.src, verdict(&v.egress));
            println!("  ingress of {}: {}", v.dst, verdict(&v.ingress));
        }
    }
    Ok(())
}

/// `k=v,k=v`, or `-` for none.
fn pairs(labels: &std::collections::BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "-".into();
    }
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn read(file: &str) -> Result<String, Failure> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(file).map_err(|e| Failure::new(format!("read {file}: {e}")))
}

/// `PORT[/PROTO]`; `any` for every port.
pub fn port_proto(s: &str) -> Result<(Option<u16>, String), Failure> {
    let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let port = match port {
        "any" | "*" => None,
        p => Some(
            p.parse().map_err(|_| Failure::new(format!("{s:?}: give PORT[/tcp|udp|sctp], e.g. 80/tcp")))?,
        ),
    };
    Ok((port, proto.to_ascii_lowercase()))
}

fn verdict(v: &DirectionVerdict) -> String {
    match v.verdict.as_str() {
        "allowed" => format!(
            "allowed by {} rule {}",
            v.policy.as_deref().unwrap_or("?"),
            v.rule.map(|r| r.to_string()).unwrap_or_default()
        ),
        "denied" => format!("denied: isolated by {}", v.isolating.join(", ")),
        other => format!("{other} (no policy selects it)"),
    }
}

/// `NAME SELECTOR INGRESS EGRESS SELECTED`.
fn policy_line(p: &PolicyInfo) -> String {
    let rules = |r: Option<usize>| r.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let selector = if p.selector.is_empty() { "<all>" } else { &p.selector };
    format!(
        "{} {selector} ingress:{} egress:{} selected:{}",
        p.name,
        rules(p.ingress_rules),
        rules(p.egress_rules),
        p.selected
    )
}

/// `TIME SRC -> DST:PORT/PROTO DIRECTION POLICIES`.
fn drop_line(d: &PolicyDrop) -> String {
    let port = d.port.map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{} {} -> {}{port}/{} {} denied by {}",
        d.time,
        d.src,
        d.dst,
        d.protocol,
        d.direction,
        d.isolating.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_take_a_protocol_or_any() {
        assert_eq!(port_proto("80").unwrap(), (Some(80), "tcp".into()));
        assert_eq!(port_proto("53/UDP").unwrap(), (Some(53), "udp".into()));
        assert_eq!(port_proto("any/udp").unwrap(), (None, "udp".into()));
        assert!(port_proto("http").unwrap_err().message.contains("PORT"));
    }

    #[test]
    fn labels_and_named_ports_parse() {
        use crate::cmd::attach::{label, named_port};
        assert_eq!(label("app=web").unwrap(), ("app".into(), "web".into()));
        assert!(label("app").is_err());
        let p = named_port("http=8080/udp").unwrap();
        assert_eq!((p.name.as_str(), p.port, p.protocol.as_str()), ("http", 8080, "udp"));
        assert_eq!(named_port("dns=53").unwrap().protocol, "tcp");
        assert!(named_port("x=80/icmp").is_err());
        assert!(named_port("x=http").is_err());
    }
}
