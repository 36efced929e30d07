//! The events log: changes the daemon streamed, and the dashboard's own view of its link to the
//! daemon, as one bounded, newest-last list of readable lines.

use serde_json::Value;
use std::collections::VecDeque;
use weave_api::{Event as ApiEvent, OverlayEvent, StreamEvent, StreamItem, TrafficEvent};

/// Entries kept; older ones scroll away.
pub const CAPACITY: usize = 2000;

#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// Its place among every entry ever logged, from 0.
    pub seq: u64,
    /// Local wall-clock time, `HH:MM:SS`.
    pub time: String,
    /// The SSE event name (`peer_added`, ...) or `weave top` for the dashboard's own.
    pub kind: String,
    /// The peer it is about (its name), when it is about one.
    pub peer: Option<String>,
    pub text: String,
    pub warn: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventLog {
    entries: VecDeque<LogEntry>,
    /// Entries ever logged: those kept and those scrolled away.
    pushed: u64,
}

impl EventLog {
    /// Logs `e`, numbering it.
    pub fn push(&mut self, mut e: LogEntry) {
        if self.entries.len() == CAPACITY {
            self.entries.pop_front();
        }
        e.seq = self.pushed;
        self.pushed += 1;
        self.entries.push_back(e);
    }

    /// Entries ever logged.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The kinds of the entries kept, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        let set: std::collections::BTreeSet<&str> = self.entries.iter().map(|e| e.kind.as_str()).collect();
        set.into_iter().collect()
    }

    /// The peers the entries kept are about, sorted by name.
    pub fn peers(&self) -> Vec<&str> {
        let set: std::collections::BTreeSet<&str> =
            self.entries.iter().filter_map(|e| e.peer.as_deref()).collect();
        set.into_iter().collect()
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter().rev()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// An entry for an item of the daemon's stream; `nick` names peers the dashboard knows. Kinds
/// this dashboard does not know yet are shown with their fields, not dropped.
pub fn from_stream(time: String, item: &StreamItem, nick: &dyn Fn(&str) -> Option<String>) -> LogEntry {
    let peer = about(item);
    let (text, warn) = match item {
        StreamItem::Event(StreamEvent::Change(e)) => change(e, nick),
        StreamItem::Event(StreamEvent::Overlay(OverlayEvent::OverlaySwitched {
            peer,
            from,
            to,
            reason,
            ..
        })) => {
            let who = nick(peer).unwrap_or_else(|| peer.clone());
            let (from, to) = (from.as_deref().unwrap_or("-"), to.as_deref().unwrap_or("no overlay"));
            // Leaving fastdp is the fallback operators look for.
            (format!("{who}: {from} -> {to}: {reason}"), from == "fastdp")
        }
        StreamItem::Event(StreamEvent::Traffic(TrafficEvent::Traffic { connections, .. })) => {
            (format!("counters of {} connections", connections.len()), false)
        }
        StreamItem::Lagged(n) => (format!("the dashboard fell behind and missed {n} events"), true),
        StreamItem::Unknown { data, .. } => {
            let v: Value = serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.clone()));
            (fields(&v), false)
        }
    };
    LogEntry { seq: 0, time, kind: item.kind().to_string(), peer, text, warn }
}

/// The peer an item is about, if any.
fn about(item: &StreamItem) -> Option<String> {
    match item {
        StreamItem::Event(StreamEvent::Change(e)) => match e {
            ApiEvent::PeerAdded { name, .. } | ApiEvent::PeerRemoved { name, .. } => Some(name.clone()),
            ApiEvent::ConnectionAdded { peer, .. } | ApiEvent::ConnectionEstablished { peer, .. } => {
                Some(peer.clone())
            }
            ApiEvent::ConnectionClosed { peer, .. } | ApiEvent::IpamError { peer, .. } => peer.clone(),
            ApiEvent::DnsEntryAdded { origin, .. } | ApiEvent::DnsEntryRemoved { origin, .. } => {
                Some(origin.clone())
            }
            ApiEvent::RoutesChanged
            | ApiEvent::TargetsChanged { .. }
            | ApiEvent::AllocationAdded { .. }
            | ApiEvent::AllocationRemoved { .. }
            | ApiEvent::RingChanged { .. }
            | ApiEvent::ServiceAdded { .. }
            | ApiEvent::ServiceRemoved { .. }
            | ApiEvent::ServiceChanged { .. }
            | ApiEvent::PolicyDrop { .. } => None,
        },
        StreamItem::Event(StreamEvent::Overlay(OverlayEvent::OverlaySwitched { peer, .. })) => {
            Some(peer.clone())
        }
        StreamItem::Event(StreamEvent::Traffic(_)) | StreamItem::Lagged(_) => None,
        // A kind this dashboard does not know may still name its peer.
        StreamItem::Unknown { data, .. } => serde_json::from_str::<Value>(data)
            .ok()
            .and_then(|v| v.get("peer").and_then(Value::as_str).map(String::from)),
    }
}

/// The words for a change, and whether it is one to notice.
fn change(e: &ApiEvent, nick: &dyn Fn(&str) -> Option<String>) -> (String, bool) {
    let name = |p: &str| nick(p).unwrap_or_else(|| p.to_string());
    // A peer by nickname when known; the address says which connection when the peer is not.
    let at = |peer: Option<&str>, address: &str| match peer {
        Some(p) => format!("{} ({address})", name(p)),
        None => address.to_string(),
    };
    match e {
        ApiEvent::PeerAdded { name, nickname } => (format!("{nickname} joined ({name})"), false),
        ApiEvent::PeerRemoved { name, nickname } => (format!("{nickname} left ({name})"), true),
        ApiEvent::ConnectionAdded { peer, address, outbound: true } => {
            (format!("connecting to {}", at(Some(peer), address)), false)
        }
        ApiEvent::ConnectionAdded { peer, address, outbound: false } => {
            (format!("connection from {}", at(Some(peer), address)), false)
        }
        ApiEvent::ConnectionEstablished { peer, address } => {
            (format!("connected to {}", at(Some(peer), address)), false)
        }
        ApiEvent::ConnectionClosed { peer, address, reason } => {
            (format!("connection to {} closed: {reason}", at(peer.as_deref(), address)), true)
        }
        ApiEvent::RoutesChanged => ("routes recomputed".to_string(), false),
        ApiEvent::TargetsChanged { targets } => {
            let list = if targets.is_empty() { "none".to_string() } else { targets.join(", ") };
            (format!("connection targets now: {list}"), false)
        }
        ApiEvent::AllocationAdded { ident, cidr } => (format!("{cidr} allocated to {ident}"), false),
        ApiEvent::AllocationRemoved { ident, cidr } => (format!("{cidr} released by {ident}"), false),
        ApiEvent::RingChanged { owned, owners } => {
            (format!("IPAM ring changed: {owners} peers own space, {owned} IPs ours"), false)
        }
        ApiEvent::IpamError { peer, error } => {
            let from = peer.as_deref().map(name).unwrap_or_else(|| "a peer".into());
            (format!("IPAM gossip from {from} refused: {error}"), true)
        }
        ApiEvent::DnsEntryAdded { hostname, address, origin, .. } => {
            (format!("{hostname} -> {address} added by {}", name(origin)), false)
        }
        ApiEvent::DnsEntryRemoved { hostname, address, origin, .. } => {
            (format!("{hostname} -> {address} removed by {}", name(origin)), false)
        }
        ApiEvent::ServiceAdded { service } => {
            (format!("service {} added ({})", service.id, service.kind.as_str()), false)
        }
        ApiEvent::ServiceRemoved { id } => (format!("service {id} removed"), false),
        ApiEvent::ServiceChanged { service } => match &service.reason {
            Some(why) => (format!("service {} broken: {why}", service.id), true),
            None => (format!("service {} active", service.id), false),
        },
        ApiEvent::PolicyDrop { dropped: d, suppressed } => {
            let port = d.port.map(|p| format!(":{p}")).unwrap_or_default();
            let more = if *suppressed > 0 { format!(" (+{suppressed} more)") } else { String::new() };
            (
                format!(
                    "policy dropped {} -> {}{port}/{} ({}, {}){more}",
                    d.src,
                    d.dst,
                    d.protocol,
                    d.direction,
                    d.isolating.join(", ")
                ),
                true,
            )
        }
    }
}

/// An entry of the dashboard's own (link up/down).
pub fn local(time: String, text: String, warn: bool) -> LogEntry {
    LogEntry { seq: 0, time, kind: "weave top".into(), peer: None, text, warn }
}

/// `k=v` pairs of an event this dashboard has no words for.
fn fields(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "type")
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                v => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The local time of day, `HH:MM:SS` (UTC where the time zone cannot be found).
pub fn clock_now() -> String {
    jiff::Zoned::now().strftime("%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_stream(time: String, name: &str, data: &str, nick: &dyn Fn(&str) -> Option<String>) -> LogEntry {
        let sse = weave_api::events::SseEvent { name: name.into(), data: data.into() };
        super::from_stream(time, &StreamItem::from_sse(sse), nick)
    }

    #[test]
    fn known_events_read_as_sentences() {
        let nick = |p: &str| (p == "02:00:00:00:00:02").then(|| "host2".to_string());
        let data = r#"{"type":"connection_closed","peer":null,"address":"10.0.0.2:6783","reason":"reset"}"#;
        let e = from_stream("12:00:00".into(), "connection_closed", data, &nick);
        assert_eq!(e.text, "connection to 10.0.0.2:6783 closed: reset");
        assert!(e.warn);
        let data =
            r#"{"type":"connection_established","peer":"02:00:00:00:00:02","address":"10.0.0.2:6783"}"#;
        let e = from_stream("t".into(), "connection_established", data, &nick);
        assert_eq!(e.text, "connected to host2 (10.0.0.2:6783)");
        let data = r#"{"type":"targets_changed","targets":["a","b"]}"#;
        let e = from_stream("t".into(), "targets_changed", data, &nick);
        assert_eq!(e.text, "connection targets now: a, b");
        let data = r#"{"type":"dns_entry_added","hostname":"web.weave.local.","address":"10.32.0.1",
            "container_id":"c","origin":"02:00:00:00:00:02"}"#;
        let e = from_stream("t".into(), "dns_entry_added", data, &nick);
        assert_eq!(e.text, "web.weave.local. -> 10.32.0.1 added by host2");
        let data = r#"{"type":"overlay_switched","peer":"02:00:00:00:00:02","at":"2026-11-28T00:00:00Z",
            "from":"fastdp","to":"sleeve","reason":"no fastdp heartbeat for 15 s"}"#;
        let e = from_stream("t".into(), "overlay_switched", data, &nick);
        assert_eq!(e.text, "host2: fastdp -> sleeve: no fastdp heartbeat for 15 s");
        assert!(e.warn);
    }

    #[test]
    fn unknown_events_show_their_fields() {
        let e =
            from_stream("t".into(), "new_thing", r#"{"type":"new_thing","peer":"p","rx_bytes":5}"#, &|_| {
                None
            });
        assert_eq!(e.text, "peer=p rx_bytes=5");
        assert_eq!(e.kind, "new_thing");
    }

    #[test]
    fn the_log_is_bounded() {
        let mut l = EventLog::default();
        for i in 0..CAPACITY + 5 {
            l.push(local(i.to_string(), String::new(), false));
        }
        assert_eq!(l.len(), CAPACITY);
        let newest = l.newest_first().next().unwrap();
        assert_eq!((newest.time.clone(), newest.seq), ((CAPACITY + 4).to_string(), CAPACITY as u64 + 4));
        assert_eq!(l.pushed(), CAPACITY as u64 + 5, "what scrolled away is still counted");
    }

    #[test]
    fn entries_say_which_peer_they_are_about() {
        let none = |_: &str| None;
        let data = r#"{"type":"connection_closed","peer":"02:00:00:00:00:02","address":"a","reason":"r"}"#;
        assert_eq!(
            from_stream("t".into(), "connection_closed", data, &none).peer.as_deref(),
            Some("02:00:00:00:00:02")
        );
        let data = r#"{"type":"routes_changed"}"#;
        assert_eq!(from_stream("t".into(), "routes_changed", data, &none).peer, None);
        let data = r#"{"type":"policy_drop","peer":"02:00:00:00:00:05","port":80}"#;
        assert_eq!(
            from_stream("t".into(), "policy_drop", data, &none).peer.as_deref(),
            Some("02:00:00:00:00:05")
        );
        let mut l = EventLog::default();
        for (kind, data) in [
            ("routes_changed", r#"{"type":"routes_changed"}"#),
            (
                "connection_closed",
                r#"{"type":"connection_closed","peer":"02:00:00:00:00:02","address":"a","reason":"r"}"#,
            ),
        ] {
            l.push(from_stream("t".into(), kind, data, &none));
        }
        assert_eq!(l.kinds(), ["connection_closed", "routes_changed"]);
        assert_eq!(l.peers(), ["02:00:00:00:00:02"]);
    }

    #[test]
    fn the_clock_reads_hh_mm_ss() {
        let t = clock_now();
        assert_eq!(t.len(), 8, "{t}");
        assert_eq!(t.as_bytes()[2], b':');
    }
}
