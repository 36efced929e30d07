//! The formatters against Weave Net's own output, captured from a real weaver
//! (testdata/weave-2.8/http): the report it served must render to the text it served.

use super::*;
use std::path::PathBuf;

fn vector(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/weave-2.8/http");
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("read vector {name}: {e}"))
}

fn report(host: &str) -> Report {
    serde_json::from_str(&vector(&format!("{host}_report_json.body"))).expect("report decodes")
}

#[test]
fn renders_weaves_status_views_from_weaves_report() {
    for host in ["A", "B"] {
        let r = report(host);
        assert_eq!(status(&r), vector(&format!("{host}_status.body")), "{host} status");
        assert_eq!(peers(&r), vector(&format!("{host}_status_peers.body")), "{host} peers");
        assert_eq!(connections(&r), vector(&format!("{host}_status_connections.body")), "{host} connections");
        assert_eq!(dns(&r), vector(&format!("{host}_status_dns.body")), "{host} dns");
        assert_eq!(ipam(&r), vector(&format!("{host}_status_ipam.body")), "{host} ipam");
        assert_eq!(targets(&r), vector(&format!("{host}_status_targets.body")), "{host} targets");
    }
}

#[test]
fn report_round_trips_with_weaves_field_names_and_nulls() {
    let text = vector("A_report_json.body");
    let r: Report = serde_json::from_str(&text).unwrap();
    let ours: serde_json::Value = serde_json::to_value(&r).unwrap();
    let theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn connection_counts_follow_weaves_order() {
    let mut r = Report::default();
    for state in ["failed", "established", "failed", "connecting"] {
        r.router.connections.push(LocalConnectionStatus { state: state.into(), ..Default::default() });
    }
    assert!(status(&r).contains("    Connections: 4 (1 established, 2 failed, 1 connecting)\n"));
}

#[test]
fn ipam_status_words() {
    let mut i = IpamStatus::default();
    assert_eq!(ipam_state(&i), "idle");
    i.paxos = Some(PaxosStatus { elector: true, known_nodes: 1, quorum: 2 });
    assert_eq!(ipam_state(&i), "awaiting consensus (quorum: 2, known: 1)");
    i.entries.push(IpamEntry { size: 4, is_known_peer: false, ..Default::default() });
    assert!(ipam_state(&i).starts_with("all IP ranges owned by unreachable peers"));
}
