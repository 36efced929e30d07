//! Weave Net's plain-text status views, rendered from a [`Report`].
//!
//! These reproduce Weave Net 2.8's templates (`prog/weaver/http.go`) byte for byte, so the
//! daemon's legacy `/status...` endpoints and `weave status` print exactly what Weave printed.
//! One implementation serves both: the daemon renders its own report, the CLI renders the
//! report it fetched over `/api/v1/report`.

use crate::report::*;
use std::collections::BTreeMap;
use std::fmt::Write;

pub(crate) const CONNECTION_STATES: [&str; 5] =
    ["established", "pending", "retrying", "failed", "connecting"];

/// `/status`: the summary (without the blank lines the CLI adds around it).
pub fn status(r: &Report) -> String {
    let mut s = String::new();
    let rt = &r.router;
    let _ = writeln!(s, "        Version: {} ({})", r.version, version_check(&r.version_check));
    s.push('\n');
    s.push_str("        Service: router\n");
    let protocol = if rt.protocol_min_version == rt.protocol_max_version {
        format!("{}", rt.protocol_max_version)
    } else {
        format!("{}..{}", rt.protocol_min_version, rt.protocol_max_version)
    };
    let _ = writeln!(s, "       Protocol: {} {}", rt.protocol, protocol);
    let _ = writeln!(s, "           Name: {}({})", rt.name, rt.nick_name);
    let _ = writeln!(s, "     Encryption: {}", enabled(rt.encryption));
    let _ = writeln!(s, "  PeerDiscovery: {}", enabled(rt.peer_discovery));
    let _ = writeln!(s, "        Targets: {}", rt.targets.len());
    let mut counts = BTreeMap::new();
    for c in &rt.connections {
        *counts.entry(c.state.as_str()).or_insert(0) += 1;
    }
    let _ = writeln!(
        s,
        "    Connections: {}{}",
        rt.connections.len(),
        parenthesised(&counts, &CONNECTION_STATES, "", "")
    );
    let mut peer_counts = BTreeMap::new();
    for c in rt.peers.iter().flat_map(|p| &p.connections) {
        let state = if c.established { "established" } else { "pending" };
        *peer_counts.entry(state).or_insert(0) += 1;
    }
    let _ = writeln!(
        s,
        "          Peers: {}{}",
        rt.peers.len(),
        parenthesised(&peer_counts, &["established", "pending"], "with ", " connections")
    );
    let _ = writeln!(s, " TrustedSubnets: {}", list(&rt.trusted_subnets));
    if let Some(ipam) = &r.ipam {
        s.push('\n');
        s.push_str("        Service: ipam\n");
        let _ = writeln!(s, "         Status: {}", ipam_state(ipam));
        let _ = writeln!(s, "          Range: {}", ipam.range);
        let _ = writeln!(s, "  DefaultSubnet: {}", ipam.default_subnet);
    }
    if let Some(dns) = &r.dns {
        s.push('\n');
        s.push_str("        Service: dns\n");
        let _ = writeln!(s, "         Domain: {}", dns.domain);
        let _ = writeln!(s, "       Upstream: {}", list(&dns.upstream));
        let _ = writeln!(s, "            TTL: {}", dns.ttl);
        let live = dns.entries.iter().filter(|e| e.tombstone == 0).count();
        let _ = writeln!(s, "        Entries: {live}");
    }
    if let Some(p) = &r.proxy {
        s.push('\n');
        s.push_str("        Service: proxy\n");
        for a in &p.addresses {
            let _ = writeln!(s, "        Address: {a}");
        }
    }
    if let Some(p) = &r.plugin {
        s.push('\n');
        if p.config.enable_v2 {
            s.push_str("        Service: plugin (v2)\n");
        } else {
            s.push_str("        Service: plugin (legacy)\n");
            let _ = writeln!(s, "     DriverName: {}", p.driver_name);
        }
    }
    // weave's own block (Weave Net's reports have none).
    if let Some(d) = &r.docker {
        s.push('\n');
        s.push_str("        Service: docker\n");
        match d.state.as_str() {
            "disabled" => s.push_str("         Status: disabled (--docker-api is empty)\n"),
            "connected" => {
                let _ = writeln!(s, "         Status: connected (Docker {})", d.version);
                let _ = writeln!(s, "        Address: {}", d.address);
            }
            other => {
                let why = if d.error.is_empty() { String::new() } else { format!(": {}", d.error) };
                let _ = writeln!(s, "         Status: {other}{why}; retrying");
                let _ = writeln!(s, "        Address: {}", d.address);
            }
        }
    }
    // weave's own section, only when there is something to say (Weave's output otherwise).
    if !r.services.is_empty() {
        let n = crate::services::ServicesSummary::of(&r.services);
        s.push('\n');
        s.push_str("        Service: services\n");
        let _ = writeln!(s, "       Services: {} ({} active, {} broken)", n.total, n.active, n.broken);
        for svc in r.services.iter().filter(|s| s.reason.is_some()) {
            let _ = writeln!(s, "         Broken: {} {}", svc.id, svc.reason.as_deref().unwrap_or_default());
        }
    }
    if let Some(p) = &r.policy {
        let dropped: u64 = p.counters.iter().filter(|c| c.rule.is_none()).map(|c| c.packets).sum();
        s.push('\n');
        s.push_str("        Service: policy\n");
        let _ = writeln!(
            s,
            "       Policies: {} (selecting among {} targets, {} here)",
            p.policies, p.targets, p.local_targets
        );
        let _ =
            writeln!(s, "        Dropped: {dropped} packets here (`weave policy drops` lists the latest)");
    }
    s
}

/// The IPAM status line of `/status`, as Weave words it.
pub fn ipam_state(ipam: &IpamStatus) -> String {
    if !ipam.entries.is_empty() {
        if ipam.entries.iter().all(|e| e.size == 0 || !e.is_known_peer) {
            "all IP ranges owned by unreachable peers - use 'rmpeer' if they are dead".into()
        } else if !ipam.pending_allocates.is_empty() {
            "waiting for IP(s) to become available".into()
        } else {
            "ready".into()
        }
    } else if let Some(p) = &ipam.paxos {
        if p.elector {
            format!("awaiting consensus (quorum: {}, known: {})", p.quorum, p.known_nodes)
        } else {
            "priming".into()
        }
    } else {
        "idle".into()
    }
}

/// `/status/targets`: one target per line.
pub fn targets(r: &Report) -> String {
    r.router.targets.iter().map(|t| format!("{t}\n")).collect()
}

/// `/status/connections`: one line per connection or target.
pub fn connections(r: &Report) -> String {
    let mut s = String::new();
    for c in &r.router.connections {
        let attrs: String = c
            .attrs
            .iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != "name")
            .map(|(k, v)| format!("{k}={}", go_value(v)))
            .collect();
        let _ = writeln!(s, "{} {:<21} {:<11} {} {}", arrow(c.outbound), c.address, c.state, c.info, attrs);
    }
    s
}

/// `/status/peers`: every peer and the connections it announces.
pub fn peers(r: &Report) -> String {
    let mut s = String::new();
    for p in &r.router.peers {
        let _ = writeln!(s, "{}({})", p.name, p.nick_name);
        for c in &p.connections {
            let who = format!("{}({})", c.name, c.nick_name);
            let state = if c.established { "established" } else { "pending" };
            let _ = writeln!(s, "   {} {:<21} {:<37} {}", arrow(c.outbound), c.address, who, state);
        }
    }
    s
}

/// `/status/dns`: live entries, hostname shown without the domain.
pub fn dns(r: &Report) -> String {
    let Some(dns) = &r.dns else {
        return String::new();
    };
    let suffix = format!(".{}", dns.domain);
    let mut s = String::new();
    for e in dns.entries.iter().filter(|e| e.tombstone == 0) {
        let host = e.hostname.strip_suffix(&suffix).unwrap_or(&e.hostname);
        let _ = writeln!(s, "{:<12} {:<15} {:>12.12} {}", host, e.address, e.container_id, e.origin);
    }
    s
}

/// `/status/ipam`: address space per owner, this peer first.
pub fn ipam(r: &Report) -> String {
    let Some(ipam) = &r.ipam else {
        return String::new();
    };
    // Per owner: (nickname, reachable, addresses); BTreeMap gives a stable order where
    // Weave iterated a Go map.
    let mut owners: BTreeMap<&str, (&str, bool, u32)> = BTreeMap::new();
    for e in &ipam.entries {
        let o = owners.entry(&e.peer).or_insert((&e.nickname, e.is_known_peer, 0));
        o.2 = o.2.wrapping_add(e.size);
    }
    let mut s = String::new();
    let mut line = |name: &str, nick: &str, info: &str, ips: u32| {
        let pct = ips as f32 * 100.0 / ipam.range_num_ips.max(1) as f32;
        let who = format!("{name}({nick})");
        let _ = writeln!(s, "{who:<37} {ips:>8} IPs ({pct:04.1}% of total) {info}");
    };
    let ours = r.router.name.as_str();
    if let Some((nick, _, ips)) = owners.get(ours) {
        line(ours, nick, &format!("({} active)", ipam.active_ips), *ips);
    }
    for (peer, (nick, reachable, ips)) in &owners {
        if *peer != ours {
            line(peer, nick, if *reachable { "" } else { "- unreachable!" }, *ips);
        }
    }
    s
}

fn version_check(v: &VersionCheck) -> String {
    if !v.enabled {
        "version check update disabled".into()
    } else if !v.success {
        format!("failed to check latest version - see logs; next check at {}", v.next_check_at)
    } else if !v.new_version.is_empty() {
        format!("version {} available - please upgrade!", v.new_version)
    } else {
        format!("up to date; next check at {}", v.next_check_at)
    }
}

fn enabled(b: bool) -> &'static str {
    if b {
        "enabled"
    } else {
        "disabled"
    }
}

fn arrow(outbound: bool) -> &'static str {
    if outbound {
        "->"
    } else {
        "<-"
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// ` (1 established, 2 failed)` for the non-zero counts in `order`, or nothing.
fn parenthesised(counts: &BTreeMap<&str, u32>, order: &[&str], pre: &str, post: &str) -> String {
    let parts: Vec<String> = order.iter().filter_map(|k| counts.get(k).map(|n| format!("{n} {k}"))).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({pre}{}{post})", parts.join(", "))
    }
}

/// Go's `%v` for the JSON-ish values found in connection attributes.
fn go_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
