//! `weave attach`, `weave detach`, `weave expose`, `weave hide` and `weave ps`.

use crate::cli::Output;
use crate::output::{json, CmdResult, Failure};
use weave_api::{AttachRequest, Client, DetachRequest, ExposeRequest, HideRequest, NamedPort};

/// Splits `ADDR... TARGET`.
fn split(mut args: Vec<String>) -> Result<(Vec<String>, String), Failure> {
    let target = args.pop().ok_or_else(|| {
        Failure::new("a TARGET is required (a Docker container, netns:NAME, pid:PID or a namespace path)")
    })?;
    Ok((args, target))
}

/// What network policy selects the target by, as given on the command line.
pub struct Meta {
    pub namespace: Option<String>,
    /// `K=V`.
    pub labels: Vec<String>,
    /// `NAME=PORT[/PROTO]`.
    pub ports: Vec<String>,
}

/// `K=V`.
pub fn label(s: &str) -> Result<(String, String), Failure> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| Failure::new(format!("label {s:?}: give KEY=VALUE")))
}

/// `NAME=PORT[/tcp|udp|sctp]`.
pub fn named_port(s: &str) -> Result<NamedPort, Failure> {
    let bad = || Failure::new(format!("port {s:?}: give NAME=PORT[/tcp|udp|sctp], e.g. http=8080/tcp"));
    let (name, rest) = s.split_once('=').ok_or_else(bad)?;
    let (port, protocol) = rest.split_once('/').unwrap_or((rest, "tcp"));
    let port = port.parse().map_err(|_| bad())?;
    if !matches!(protocol, "tcp" | "udp" | "sctp") {
        return Err(bad());
    }
    Ok(NamedPort { name: name.to_string(), port, protocol: protocol.to_string() })
}

pub async fn attach(
    client: &Client,
    args: Vec<String>,
    without_dns: bool,
    no_multicast_route: bool,
    meta: Meta,
) -> CmdResult {
    let (addrs, target) = split(args)?;
    let labels = meta.labels.iter().map(|l| label(l)).collect::<Result<_, _>>()?;
    let ports = meta.ports.iter().map(|p| named_port(p)).collect::<Result<_, _>>()?;
    let req = AttachRequest {
        target,
        addrs,
        without_dns,
        no_multicast_route,
        namespace: meta.namespace,
        labels,
        ports,
    };
    let a = client.attach(&req).await?;
    print_ips(&a.addrs);
    Ok(())
}

/// As Weave: the bare IPs, space-separated.
fn print_ips(cidrs: &[String]) {
    let ips: Vec<&str> = cidrs.iter().map(|c| c.split('/').next().unwrap_or(c)).collect();
    println!("{}", ips.join(" "));
}

pub async fn detach(client: &Client, args: Vec<String>) -> CmdResult {
    let (addrs, target) = split(args)?;
    let r = client.detach(&DetachRequest { target, addrs }).await?;
    print_ips(&r.removed);
    Ok(())
}

pub async fn expose(
    client: &Client,
    addrs: Vec<String>,
    fqdn: Option<String>,
    without_masquerade: bool,
) -> CmdResult {
    let a = client.expose(&ExposeRequest { addrs, fqdn, without_masquerade }).await?;
    print_ips(&a.addrs);
    Ok(())
}

pub async fn hide(client: &Client, addrs: Vec<String>) -> CmdResult {
    let r = client.hide(&HideRequest { addrs }).await?;
    print_ips(&r.removed);
    Ok(())
}

pub async fn ps(client: &Client, targets: &[String], output: Output) -> CmdResult {
    let mut list = client.ps().await?;
    if !targets.is_empty() {
        // Targets named another way (a container's name or short id) are resolved by the daemon.
        let mut ids = Vec::new();
        for t in targets {
            if list.iter().any(|a| &a.id == t) {
                ids.push(t.clone());
            } else {
                ids.push(client.resolve(t).await?.id);
            }
        }
        list.retain(|t| ids.contains(&t.id));
    }
    if output == Output::Json {
        println!("{}", json(&list));
        return Ok(());
    }
    for t in list {
        let mut line = format!("{} {}", short_id(&t.id), t.mac);
        for a in &t.addrs {
            line.push(' ');
            line.push_str(a);
        }
        println!("{line}");
    }
    Ok(())
}

/// Docker container ids are shown with 12 characters, as Docker and Weave show them.
fn short_id(id: &str) -> &str {
    let docker = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if docker {
        &id[..12]
    } else {
        id
    }
}
