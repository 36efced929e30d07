//! `weave dns-add`, `weave dns-remove` and `weave dns-lookup`, as Weave's script.

use crate::output::{CmdResult, Failure};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;
use weave_api::{Client, DnsAddRequest, DnsRemoveRequest, ResolvedTarget};

/// `[IP...] [TARGET] [-h FQDN]`: either a target or both addresses and a name.
#[derive(Debug, PartialEq)]
struct Args {
    ips: Vec<String>,
    target: Option<String>,
    fqdn: Option<String>,
}

const USAGE: &str = "usage: weave dns-add|dns-remove [IP...] TARGET [-h FQDN] | IP... -h FQDN";

fn parse(args: &[String]) -> Result<Args, Failure> {
    let mut rest = args;
    let mut ips = vec![];
    while let Some((first, tail)) = rest.split_first() {
        if first.parse::<Ipv4Addr>().is_err() {
            break;
        }
        ips.push(first.clone());
        rest = tail;
    }
    let mut target = None;
    if let Some((first, tail)) = rest.split_first().filter(|(f, _)| *f != "-h") {
        target = Some(first.clone());
        rest = tail;
    }
    let fqdn = match rest {
        [] => None,
        [h, name] if h == "-h" => Some(name.clone()),
        _ => return Err(Failure::new(USAGE)),
    };
    if target.is_none() && (ips.is_empty() || fqdn.is_none()) {
        return Err(Failure::new(USAGE));
    }
    Ok(Args { ips, target, fqdn })
}

/// The target as the daemon resolves it: its id (a Docker container's full id) and default name.
async fn resolved(client: &Client, a: &Args) -> Result<Option<ResolvedTarget>, Failure> {
    match &a.target {
        Some(t) => Ok(Some(client.resolve(t).await?)),
        None => Ok(None),
    }
}

/// The target's addresses when none were given (as Weave), by its id in `weave ps`.
async fn target_ips(client: &Client, a: &Args, id: Option<&str>) -> Result<Vec<String>, Failure> {
    if !a.ips.is_empty() {
        return Ok(a.ips.clone());
    }
    let target = id.unwrap_or_default();
    let ps = client.ps().await?;
    let t = ps.iter().find(|t| t.id == target).ok_or_else(|| {
        Failure::new(format!(
            "{} is not attached to the weave network",
            a.target.as_deref().unwrap_or_default()
        ))
    })?;
    Ok(t.addrs.iter().map(|c| c.split('/').next().unwrap_or(c).to_string()).collect())
}

pub async fn add(client: &Client, args: &[String]) -> CmdResult {
    let a = parse(args)?;
    let r = resolved(client, &a).await?;
    let Some(hostname) = a.fqdn.clone().or_else(|| r.as_ref().and_then(|r| r.hostname.clone())) else {
        // As Weave: a target without a name gets nothing.
        return Ok(());
    };
    let id = r.map(|r| r.id);
    let addrs = target_ips(client, &a, id.as_deref()).await?;
    client.dns_add(&DnsAddRequest { hostname, addrs, container_id: id }).await?;
    Ok(())
}

pub async fn remove(client: &Client, args: &[String]) -> CmdResult {
    let a = parse(args)?;
    let id = resolved(client, &a).await?.map(|r| r.id);
    let addrs = target_ips(client, &a, id.as_deref()).await?;
    let container_id = Some(id.unwrap_or_else(|| "weave:extern".into()));
    client.dns_remove(&DnsRemoveRequest { hostname: a.fqdn, addrs, container_id }).await?;
    Ok(())
}

/// Asks weaveDNS for `name`'s A records and prints the addresses, one a line (`dig +short`).
pub async fn lookup(client: &Client, name: &str) -> CmdResult {
    let info = client.dns().await?;
    let mut server: SocketAddr =
        info.address.parse().map_err(|_| Failure::new(format!("bad DNS address {}", info.address)))?;
    if server.ip().is_unspecified() {
        server.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    let name = name.to_string();
    let addrs = tokio::task::spawn_blocking(move || query(server, &name))
        .await
        .map_err(|e| Failure::new(e.to_string()))??;
    for a in addrs {
        println!("{a}");
    }
    Ok(())
}

fn query(server: SocketAddr, name: &str) -> Result<Vec<Ipv4Addr>, Failure> {
    let id = std::process::id() as u16;
    let msg = encode_query(id, name).ok_or_else(|| Failure::new(format!("not a DNS name: {name}")))?;
    let sock = UdpSocket::bind(("0.0.0.0", 0))?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    sock.send_to(&msg, server)?;
    let mut buf = [0u8; 65535];
    loop {
        let (n, _) = sock
            .recv_from(&mut buf)
            .map_err(|e| Failure::new(format!("no answer from weaveDNS at {server}: {e}")))?;
        if let Some(addrs) = decode_answers(id, &buf[..n]) {
            return Ok(addrs);
        }
    }
}

/// A recursive A query for `name`.
fn encode_query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len()).ok().filter(|l| (1..64).contains(l))?;
        m.push(len);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    Some(m)
}

/// The A records of a reply to `id` (`None`: not our reply).
fn decode_answers(id: u16, m: &[u8]) -> Option<Vec<Ipv4Addr>> {
    if m.len() < 12 || u16::from_be_bytes([m[0], m[1]]) != id {
        return None;
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([m[i], m[i + 1]]));
    let mut at = 12;
    for _ in 0..count(4) {
        at = skip_name(m, at)? + 4;
    }
    let mut out = vec![];
    for _ in 0..count(6) {
        at = skip_name(m, at)?;
        let head = m.get(at..at + 10)?;
        let (rtype, rdlen) =
            (u16::from_be_bytes([head[0], head[1]]), usize::from(u16::from_be_bytes([head[8], head[9]])));
        let data = m.get(at + 10..at + 10 + rdlen)?;
        if rtype == 1 && rdlen == 4 {
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + rdlen;
    }
    Some(out)
}

/// The offset after a (possibly compressed) name at `at`.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *m.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_weaves_argument_forms() {
        let a = parse(&s(&["10.0.0.1", "10.0.0.2", "netns:web", "-h", "x.weave.local"])).ok().unwrap();
        assert_eq!(a.ips, s(&["10.0.0.1", "10.0.0.2"]));
        assert_eq!(a.target.as_deref(), Some("netns:web"));
        assert_eq!(a.fqdn.as_deref(), Some("x.weave.local"));
        let a = parse(&s(&["10.0.0.1", "-h", "x"])).ok().unwrap();
        assert_eq!((a.target, a.fqdn.as_deref()), (None, Some("x")));
        assert!(parse(&s(&["10.0.0.1"])).is_err());
        assert!(parse(&s(&["-h", "x"])).is_err());
        assert!(parse(&s(&["netns:a", "-h"])).is_err());
    }

    #[test]
    fn decodes_a_records_after_compressed_names() {
        let mut m = encode_query(7, "web.weave.local").unwrap();
        m[2] = 0x81;
        m[7] = 2;
        for last in [1u8, 2] {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 10, 32, 0, last]);
        }
        assert_eq!(
            decode_answers(7, &m),
            Some(vec![Ipv4Addr::new(10, 32, 0, 1), Ipv4Addr::new(10, 32, 0, 2)])
        );
        assert_eq!(decode_answers(8, &m), None);
        assert_eq!(decode_answers(7, &m[..m.len() - 3]), None);
    }
}
