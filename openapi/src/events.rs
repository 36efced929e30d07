//! Following `GET /api/v1/events`: [`Client::events`](crate::Client::events) opens the stream,
//! [`Events::next`] gives what it carries as typed [`StreamItem`]s. The Server-Sent Events
//! framing ([`SseParser`]) is pure, so its rules (split chunks, CRLF, comments, multi-line data,
//! oversized input) are tested without a daemon.

use crate::client::ClientError;
use crate::StreamEvent;
use std::collections::VecDeque;
use std::time::Duration;

/// The daemon sends a keep-alive every 15 s (and traffic counters every second): silence for
/// this long means the link is dead.
pub const IDLE: Duration = Duration::from_secs(40);

/// One thing the events stream said.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamItem {
    /// A change, the traffic counters, or an overlay switch.
    Event(StreamEvent),
    /// The daemon skipped this many events because this reader fell behind.
    Lagged(u64),
    /// An event this client does not know (from a newer daemon): its name and data, as sent.
    Unknown { name: String, data: String },
}

impl StreamItem {
    /// Types an SSE event by its name and JSON data.
    pub fn from_sse(e: SseEvent) -> StreamItem {
        if e.name == "lagged" {
            if let Ok(n) = e.data.trim().parse() {
                return StreamItem::Lagged(n);
            }
        }
        match serde_json::from_str::<StreamEvent>(&e.data) {
            Ok(ev) if ev.kind() == e.name => StreamItem::Event(ev),
            _ => StreamItem::Unknown { name: e.name, data: e.data },
        }
    }

    /// The SSE event name (`peer_added`, `traffic`, `lagged`, ...).
    pub fn kind(&self) -> &str {
        match self {
            StreamItem::Event(e) => e.kind(),
            StreamItem::Lagged(_) => "lagged",
            StreamItem::Unknown { name, .. } => name,
        }
    }
}

/// An open events stream.
pub struct Events {
    pub(crate) addr: String,
    pub(crate) resp: reqwest::Response,
    pub(crate) parser: SseParser,
    pub(crate) ready: VecDeque<StreamItem>,
}

impl Events {
    /// The next item; `Ok(None)` once the daemon has ended the stream (it is stopping). Fails
    /// when the connection breaks or nothing, not even a keep-alive, arrived for [`IDLE`].
    pub async fn next(&mut self) -> Result<Option<StreamItem>, ClientError> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Ok(Some(item));
            }
            let chunk = match self.resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => return Ok(None),
                Err(e) if e.is_timeout() => {
                    return Err(ClientError::Stalled { addr: self.addr.clone(), secs: IDLE.as_secs() })
                }
                Err(e) => return Err(ClientError::Transport { addr: self.addr.clone(), source: e }),
            };
            self.ready.extend(self.parser.feed(&chunk).into_iter().map(StreamItem::from_sse));
        }
    }
}

/// One dispatched SSE event: its name (`message` when the server gave none) and its data.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
}

/// Server-Sent Events framing: bytes in as they arrive, whole events out.
#[derive(Default)]
pub struct SseParser {
    /// Bytes of an incomplete line.
    partial: Vec<u8>,
    name: String,
    data: Vec<String>,
    /// Bytes of data in the event being read.
    data_len: usize,
    /// The event being read outgrew `MAX_EVENT`: it is dropped when it ends.
    oversized: bool,
}

/// Longest line kept; a server sending more without a newline is not speaking SSE.
const MAX_LINE: usize = 1 << 20;
/// Most data one event may carry; the daemon's largest (traffic of every connection) is far
/// smaller.
const MAX_EVENT: usize = 4 << 20;

impl SseParser {
    /// Feeds bytes; returns the events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = vec![];
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                let line = String::from_utf8_lossy(&line);
                let line = line.strip_suffix('\r').unwrap_or(&line);
                if let Some(e) = self.line(line) {
                    out.push(e);
                }
            } else if self.partial.len() < MAX_LINE {
                self.partial.push(b);
            }
        }
        out
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let name = std::mem::take(&mut self.name);
            let data = std::mem::take(&mut self.data);
            self.data_len = 0;
            if std::mem::take(&mut self.oversized) || data.is_empty() {
                return None;
            }
            let name = if name.is_empty() { "message".to_string() } else { name };
            return Some(SseEvent { name, data: data.join("\n") });
        }
        if line.starts_with(':') {
            return None; // a comment: keep-alives look like this
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = value.to_string(),
            "data" if !self.oversized => {
                self.data_len += value.len();
                if self.data_len > MAX_EVENT {
                    self.oversized = true;
                    self.data.clear();
                } else {
                    self.data.push(value.to_string());
                }
            }
            _ => {} // id, retry: nothing a client of the daemon needs
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, TrafficEvent};

    #[test]
    fn events_split_across_chunks_come_out_whole() {
        let mut p = SseParser::default();
        assert!(p.feed(b"event: peer_ad").is_empty());
        assert!(p.feed(b"ded\ndata: {\"a\":").is_empty());
        let out = p.feed(b"1}\n\n");
        assert_eq!(out, [SseEvent { name: "peer_added".into(), data: "{\"a\":1}".into() }]);
    }

    #[test]
    fn crlf_comments_and_multiline_data() {
        let mut p = SseParser::default();
        let out = p.feed(b":keep-alive\r\n\r\ndata:one\r\ndata: two\r\n\r\nevent: x\nid: 3\n\n");
        assert_eq!(out, [SseEvent { name: "message".into(), data: "one\ntwo".into() }]);
    }

    #[test]
    fn an_oversized_event_is_dropped_and_the_next_one_read() {
        let mut p = SseParser::default();
        let line = format!("data: {}\n", "x".repeat(MAX_LINE - 10));
        for _ in 0..MAX_EVENT / MAX_LINE + 2 {
            assert!(p.feed(line.as_bytes()).is_empty());
        }
        assert!(p.feed(b"\n").is_empty(), "the oversized event is dropped");
        assert!(p.data.is_empty(), "and its data freed");
        let out = p.feed(b"event: routes_changed\ndata: {\"type\":\"routes_changed\"}\n\n");
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn items_are_typed_by_name_and_data() {
        let sse = |name: &str, data: &str| SseEvent { name: name.into(), data: data.into() };
        assert_eq!(
            StreamItem::from_sse(sse("routes_changed", r#"{"type":"routes_changed"}"#)),
            StreamItem::Event(StreamEvent::Change(Event::RoutesChanged))
        );
        let t = StreamItem::from_sse(sse("traffic", r#"{"type":"traffic","at_ms":5,"connections":[]}"#));
        assert_eq!(
            t,
            StreamItem::Event(StreamEvent::Traffic(TrafficEvent::Traffic { at_ms: 5, connections: vec![] }))
        );
        assert_eq!(StreamItem::from_sse(sse("lagged", "12")), StreamItem::Lagged(12));
        // A newer daemon's event, and one whose data does not match its name, stay readable.
        let new = StreamItem::from_sse(sse("new_thing", r#"{"type":"new_thing","x":1}"#));
        assert_eq!(new.kind(), "new_thing");
        assert!(matches!(new, StreamItem::Unknown { .. }));
        let odd = StreamItem::from_sse(sse("peer_added", r#"{"type":"routes_changed"}"#));
        assert!(matches!(odd, StreamItem::Unknown { .. }), "{odd:?}");
    }
}
