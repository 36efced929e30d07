//! The events log: changes the daemon streamed, and the dashboard's own view of its link to the
//! daemon, as one bounded, newest-last list of readable lines.

use serde_json::Value;
use std::collections::VecDeque;

/// Entries kept; older ones scroll away.
pub const CAPACITY: usize = 1000;

#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// Local wall-clock time, `HH:MM:SS`.
    pub time: String,
    /// The SSE event name (`peer_added`, ...) or `weave top` for the dashboard's own.
    pub kind: String,
    pub text: String,
    pub warn: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventLog {
    entries: VecDeque<LogEntry>,
}

impl EventLog {
    pub fn push(&mut self, e: LogEntry) {
        if self.entries.len() == CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
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

/// An entry for an event from the daemon's stream (`name` is the SSE event name, `data` its
/// JSON); `nick` names peers the dashboard knows. Kinds this dashboard does not know yet are
/// shown with their fields, not dropped.
pub fn from_stream(time: String, name: &str, data: &str, nick: &dyn Fn(&str) -> Option<String>) -> LogEntry {
    let v: Value = serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_string()));
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    // A peer by nickname when known; the address says which connection when the peer is not.
    let at = || match v.get("peer").and_then(Value::as_str) {
        Some(p) => format!("{} ({})", nick(p).unwrap_or_else(|| p.to_string()), s("address")),
        None => s("address"),
    };
    let origin = || {
        let o = s("origin");
        nick(&o).unwrap_or(o)
    };
    let (text, warn) = match name {
        "peer_added" => (format!("{} joined ({})", s("nickname"), s("name")), false),
        "peer_removed" => (format!("{} left ({})", s("nickname"), s("name")), true),
        "connection_added" if v.get("outbound").and_then(Value::as_bool).unwrap_or(false) => {
            (format!("connecting to {}", at()), false)
        }
        "connection_added" => (format!("connection from {}", at()), false),
        "connection_established" => (format!("connected to {}", at()), false),
        "connection_closed" => (format!("connection to {} closed: {}", at(), s("reason")), true),
        "routes_changed" => ("routes recomputed".to_string(), false),
        "targets_changed" => (format!("connection targets now: {}", list(v.get("targets"))), false),
        "allocation_added" => (format!("{} allocated to {}", s("cidr"), s("ident")), false),
        "allocation_removed" => (format!("{} released by {}", s("cidr"), s("ident")), false),
        "ring_changed" => (
            format!(
                "IPAM ring changed: {} peers own space, {} IPs ours",
                num(&v, "owners"),
                num(&v, "owned")
            ),
            false,
        ),
        "ipam_error" => {
            let from =
                v.get("peer").and_then(Value::as_str).map(|p| nick(p).unwrap_or_else(|| p.to_string()));
            (format!("IPAM gossip from {} refused: {}", from.unwrap_or("a peer".into()), s("error")), true)
        }
        "dns_entry_added" => (format!("{} -> {} added by {}", s("hostname"), s("address"), origin()), false),
        "dns_entry_removed" => {
            (format!("{} -> {} removed by {}", s("hostname"), s("address"), origin()), false)
        }
        "overlay_switched" => {
            let who = v.get("peer").and_then(Value::as_str).map(|p| nick(p).unwrap_or_else(|| p.to_string()));
            let (from, to) = (opt(&v, "from", "-"), opt(&v, "to", "no overlay"));
            // Leaving fastdp is the fallback operators look for.
            let warn = from == "fastdp";
            (format!("{}: {from} -> {to}: {}", who.unwrap_or("?".into()), s("reason")), warn)
        }
        "lagged" => (format!("the dashboard fell behind and missed {data} events"), true),
        _ => (fields(&v), false),
    };
    LogEntry { time, kind: name.to_string(), text, warn }
}

/// An entry of the dashboard's own (link up/down).
pub fn local(time: String, text: String, warn: bool) -> LogEntry {
    LogEntry { time, kind: "weave top".into(), text, warn }
}

/// A string field that may be null, or `none` in its place.
fn opt(v: &Value, k: &str, none: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or(none).to_string()
}

fn num(v: &Value, k: &str) -> String {
    v.get(k).map(Value::to_string).unwrap_or_else(|| "?".into())
}

fn list(v: Option<&Value>) -> String {
    let items: Vec<&str> =
        v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
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

/// The local time of day, `HH:MM:SS`.
pub fn clock_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes only into the tm we own; a zeroed tm is a valid value for it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        let s = secs as u64 % 86_400;
        return format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    }
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(l.newest_first().next().unwrap().time, (CAPACITY + 4).to_string());
    }

    #[test]
    fn the_clock_reads_hh_mm_ss() {
        let t = clock_now();
        assert_eq!(t.len(), 8, "{t}");
        assert_eq!(t.as_bytes()[2], b':');
    }
}
