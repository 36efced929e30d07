//! Weave Net's Prometheus metrics (`/metrics`), rendered from a [`Report`] in the text
//! exposition format, with Weave 2.8's names, help texts and labels
//! (`prog/weaver/metrics.go`), so existing scrape configs, alerts and dashboards keep working.
//! `weave_flows` (Open vSwitch flows of Weave's fast datapath) has no counterpart here: our
//! fast datapath is kernel VXLAN, which keeps no flows, so it is not exported.

use crate::report::Report;
use crate::text::CONNECTION_STATES;
use std::collections::BTreeMap;
use std::fmt::Write;

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {value}");
}

/// The metrics page. Families appear in Weave's order; IPAM and DNS ones only when those
/// subsystems run, as in Weave.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let rt = &r.router;

    header(&mut out, "weave_connections", "Number of peer-to-peer connections.", "gauge");
    for state in CONNECTION_STATES {
        let n = rt.connections.iter().filter(|c| c.state == state).count();
        let _ = writeln!(out, "weave_connections{{state=\"{state}\"}} {n}");
    }
    header(
        &mut out,
        "weave_connection_terminations_total",
        "Number of peer-to-peer connections terminated.",
        "counter",
    );
    let _ = writeln!(out, "weave_connection_terminations_total {}", rt.termination_count);

    if let Some(ipam) = &r.ipam {
        header(&mut out, "weave_ips", "Number of IP addresses.", "gauge");
        let _ = writeln!(out, "weave_ips{{state=\"local-used\"}} {}", ipam.active_ips);
        gauge(&mut out, "weave_max_ips", "Size of IP address space used by allocator.", ipam.range_num_ips);
    }
    if let Some(dns) = &r.dns {
        // Weave counts the live entries this peer owns.
        let ours = dns.entries.iter().filter(|e| e.tombstone == 0 && e.origin == rt.name).count();
        gauge(&mut out, "weave_dns_entries", "Number of DNS entries.", ours);
    }
    if let Some(ipam) = &r.ipam {
        // Per owning peer: its space, and whether the topology still knows it.
        let mut owners: BTreeMap<&str, (bool, u64)> = BTreeMap::new();
        for e in &ipam.entries {
            let o = owners.entry(&e.peer).or_insert((e.is_known_peer, 0));
            o.1 += e.size as u64;
        }
        let unreachable: Vec<u64> = owners.values().filter(|(known, _)| !known).map(|(_, n)| *n).collect();
        gauge(&mut out, "weave_ipam_unreachable_count", "Number of unreachable peers.", unreachable.len());
        let pct = if ipam.range_num_ips == 0 {
            0.0
        } else {
            unreachable.iter().sum::<u64>() as f64 * 100.0 / ipam.range_num_ips as f64
        };
        // Weave's help text, double space included.
        gauge(
            &mut out,
            "weave_ipam_unreachable_percentage",
            "Percentage of IP addresses owned  by unreachable peers.",
            pct,
        );
        gauge(
            &mut out,
            "weave_ipam_pending_allocates",
            "Number of pending allocates.",
            ipam.pending_allocates.len(),
        );
        gauge(&mut out, "weave_ipam_pending_claims", "Number of pending claims.", ipam.pending_claims.len());
    }
    // weave's own, while policies exist.
    if let Some(p) = &r.policy {
        gauge(&mut out, "weave_policies", "Number of network policies in force, cluster-wide.", p.policies);
        let rules = p.counters.iter().filter(|c| c.rule.is_some());
        header(
            &mut out,
            "weave_policy_allowed_packets_total",
            "Packets a network policy rule allowed.",
            "counter",
        );
        for c in rules {
            let _ = writeln!(
                out,
                "weave_policy_allowed_packets_total{{policy=\"{}\",direction=\"{}\",rule=\"{}\"}} {}",
                escape(&c.policy),
                escape(&c.direction),
                c.rule.unwrap_or_default(),
                c.packets
            );
        }
        let drops = p.counters.iter().filter(|c| c.rule.is_none());
        header(
            &mut out,
            "weave_policy_dropped_packets_total",
            "Packets dropped because a network policy isolated their target.",
            "counter",
        );
        for c in drops {
            let _ = writeln!(
                out,
                "weave_policy_dropped_packets_total{{policy=\"{}\",direction=\"{}\"}} {}",
                escape(&c.policy),
                escape(&c.direction),
                c.packets
            );
        }
    }
    out
}

/// A label value as Prometheus' text format quotes it.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::*;

    fn conn(state: &str) -> LocalConnectionStatus {
        LocalConnectionStatus { state: state.into(), ..Default::default() }
    }

    fn entry(peer: &str, known: bool, size: u32) -> IpamEntry {
        IpamEntry { peer: peer.into(), is_known_peer: known, size, ..Default::default() }
    }

    #[test]
    fn policy_counters_while_policies_exist() {
        let mut r = Report::default();
        assert!(!render(&r).contains("weave_polic"), "no policy, no families");
        let counter = |rule, packets| crate::policy::PolicyCounter {
            policy: "default/deny-web".into(),
            direction: "ingress".into(),
            rule,
            packets,
            bytes: packets * 60,
        };
        r.policy = Some(crate::policy::PolicyStatus {
            policies: 2,
            counters: vec![counter(Some(0), 7), counter(None, 3)],
            ..Default::default()
        });
        let m = render(&r);
        for want in [
            "weave_policies 2",
            "# TYPE weave_policy_allowed_packets_total counter",
            r#"weave_policy_allowed_packets_total{policy="default/deny-web",direction="ingress",rule="0"} 7"#,
            r#"weave_policy_dropped_packets_total{policy="default/deny-web",direction="ingress"} 3"#,
        ] {
            assert!(m.lines().any(|l| l == want), "{want} missing from:\n{m}");
        }
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }

    #[test]
    fn every_family_from_a_report() {
        let mut r = Report::default();
        r.router.name = "02:00:00:00:00:01".into();
        r.router.termination_count = 3;
        r.router.connections = vec![conn("established"), conn("established"), conn("failed")];
        r.ipam = Some(IpamStatus {
            range_num_ips: 1024,
            active_ips: 5,
            entries: vec![entry("a", true, 512), entry("b", false, 256), entry("b", false, 0)],
            pending_allocates: vec!["x".into()],
            ..Default::default()
        });
        let e = |origin: &str, tombstone| DnsEntryStatus {
            origin: origin.into(),
            tombstone,
            ..Default::default()
        };
        r.dns = Some(DnsStatus {
            entries: vec![e("02:00:00:00:00:01", 0), e("02:00:00:00:00:01", 7), e("02:00:00:00:00:02", 0)],
            ..Default::default()
        });
        let text = render(&r);
        for line in [
            "weave_connections{state=\"established\"} 2\n",
            "weave_connections{state=\"pending\"} 0\n",
            "weave_connections{state=\"failed\"} 1\n",
            "# TYPE weave_connection_terminations_total counter\n",
            "weave_connection_terminations_total 3\n",
            "weave_ips{state=\"local-used\"} 5\n",
            "weave_max_ips 1024\n",
            "weave_dns_entries 1\n",
            "weave_ipam_unreachable_count 1\n",
            "weave_ipam_unreachable_percentage 25\n",
            "weave_ipam_pending_allocates 1\n",
            "weave_ipam_pending_claims 0\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // Every sample has its HELP and TYPE lines before it.
        let families: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
        assert_eq!(families.len(), 9, "{text}");
    }

    #[test]
    fn without_ipam_or_dns_only_the_router_families() {
        let text = render(&Report::default());
        assert!(text.contains("weave_connections{state=\"established\"} 0\n"), "{text}");
        assert!(
            !text.contains("weave_ips") && !text.contains("weave_dns") && !text.contains("ipam"),
            "{text}"
        );
    }
}
