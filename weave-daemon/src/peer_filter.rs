//! `--restrict-udp-to-peers`: the overlay ports take datagrams only from this peer's peers.
//!
//! Without a password Weave's data plane is unauthenticated: a sleeve datagram (UDP `--port`)
//! names its sender, and a VXLAN packet (UDP `--port`+1) only carries a VNI, so anyone who can
//! reach those ports and guess a peer name or VNI can put frames on the weave network. With this
//! flag an nftables table of weave's own (`inet weave-peers`) drops what reaches either port
//! from any address that is not one of this peer's connections (or connection targets), and
//! follows the mesh as connections come and go. It assumes a peer's UDP comes from the address
//! of its TCP connection (no NAT rewriting one but not the other). Loopback is always let in.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use tokio_util::sync::CancellationToken;
use weave_netdev::nft;

use crate::mesh::router::MeshHandle;
use crate::mesh::MeshSnapshot;

pub const TABLE: &str = "weave-peers";

/// The whole table for the overlay ports `port` and `port + 1` and these peers.
fn script(port: u16, peers: &BTreeSet<IpAddr>) -> String {
    let ports = format!("{{ {port}, {} }}", port.saturating_add(1));
    format!(
        "table inet {TABLE} {{}}\n\
         delete table inet {TABLE}\n\
         table inet {TABLE} {{\n\
           set peers4 {{ type ipv4_addr; }}\n\
           set peers6 {{ type ipv6_addr; }}\n\
           chain input {{\n\
             type filter hook input priority -10; policy accept;\n\
             iifname \"lo\" accept\n\
             udp dport {ports} ip saddr @peers4 accept\n\
             udp dport {ports} ip6 saddr @peers6 accept\n\
             udp dport {ports} counter drop\n\
           }}\n\
         }}\n{}",
        elements(peers)
    )
}

/// Replaces the sets' elements (one transaction with the flush).
fn elements(peers: &BTreeSet<IpAddr>) -> String {
    let mut out = format!("flush set inet {TABLE} peers4\nflush set inet {TABLE} peers6\n");
    for (set, v4) in [("peers4", true), ("peers6", false)] {
        let list: Vec<String> = peers.iter().filter(|ip| ip.is_ipv4() == v4).map(IpAddr::to_string).collect();
        if !list.is_empty() {
            out.push_str(&format!("add element inet {TABLE} {set} {{ {} }}\n", list.join(", ")));
        }
    }
    out
}

/// The addresses of every connection and connection target (literal addresses only: a name
/// resolves into a connection address once dialled).
fn peer_addresses(s: &MeshSnapshot) -> BTreeSet<IpAddr> {
    let ip = |a: &str| a.parse::<SocketAddr>().map(|s| s.ip()).ok().or_else(|| a.parse::<IpAddr>().ok());
    s.connections()
        .iter()
        .map(|c| c.address.as_str())
        .chain(s.targets.iter().map(String::as_str))
        .filter_map(ip)
        .collect()
}

/// Installs the table for the current peers (before the daemon reports ready).
pub fn install(mesh: &MeshHandle, port: u16) -> Result<BTreeSet<IpAddr>, String> {
    let peers = peer_addresses(&mesh.snapshot());
    nft::apply(&script(port, &peers))
        .map_err(|e| format!("install the UDP filter (--restrict-udp-to-peers): {e}"))?;
    Ok(peers)
}

/// Removes the table (a clean stop, `weave reset`).
pub fn remove() {
    let _ = nft::run(&["delete", "table", "inet", TABLE]);
}

/// Follows the mesh until `stop`: the sets change with the connections; the table is put back
/// when something removed it. Removes it at the end.
pub async fn follow(
    mesh: MeshHandle,
    port: u16,
    mut peers: BTreeSet<IpAddr>,
    changes: Option<tokio::sync::watch::Receiver<u64>>,
    stop: CancellationToken,
) {
    let mut snapshots = mesh.watch();
    let mut recheck = crate::firewall::Recheck::new(changes);
    loop {
        let reinstall = tokio::select! {
            _ = stop.cancelled() => break,
            r = snapshots.changed() => {
                if r.is_err() {
                    break;
                }
                let now = peer_addresses(&snapshots.borrow_and_update());
                if now == peers {
                    continue;
                }
                peers = now;
                false
            }
            _ = recheck.wait() => true,
        };
        let (list, script) = match reinstall {
            false => (peers.clone(), elements(&peers)),
            true => (peers.clone(), String::new()),
        };
        let applied = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let present = nft::chain("inet", TABLE, "input").map_err(|e| e.to_string())?.is_some();
            if !present {
                tracing::info!("weave's UDP filter table is gone; putting it back");
                return nft::apply(&self::script(port, &list)).map_err(|e| e.to_string());
            }
            if script.is_empty() {
                return Ok(());
            }
            tracing::info!(peers = ?list, "UDP filter: overlay ports open to these peers");
            nft::apply(&script).map_err(|e| e.to_string())
        })
        .await;
        match applied {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("updating the UDP filter (--restrict-udp-to-peers): {e}"),
            Err(e) => tracing::warn!("updating the UDP filter: {e}"),
        }
    }
    let _ = tokio::task::spawn_blocking(remove).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_opens_both_ports_to_the_peers_only() {
        let peers: BTreeSet<IpAddr> =
            ["10.99.0.2", "10.99.0.3", "fd00::2"].iter().map(|s| s.parse().unwrap()).collect();
        let s = script(6783, &peers);
        assert!(s.starts_with("table inet weave-peers {}\ndelete table inet weave-peers\n"), "{s}");
        assert!(s.contains("udp dport { 6783, 6784 } ip saddr @peers4 accept"), "{s}");
        assert!(s.contains("udp dport { 6783, 6784 } counter drop"), "{s}");
        assert!(s.contains("add element inet weave-peers peers4 { 10.99.0.2, 10.99.0.3 }"), "{s}");
        assert!(s.contains("add element inet weave-peers peers6 { fd00::2 }"), "{s}");
        let none = elements(&BTreeSet::new());
        assert!(!none.contains("add element"), "{none}");
    }
}
