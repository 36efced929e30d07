//! A Server-Sent Events parser: bytes in as they arrive, whole events out. Pure, so the framing
//! rules (split chunks, CRLF, comments, multi-line data) are tested without a daemon.

/// One dispatched event: its name (`message` when the server gave none) and its data.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
}

#[derive(Default)]
pub struct SseParser {
    /// Bytes of an incomplete line.
    partial: Vec<u8>,
    name: String,
    data: Vec<String>,
}

/// Longest line kept; a server sending more without a newline is not speaking SSE.
const MAX_LINE: usize = 1 << 20;

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
            if data.is_empty() {
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
            "data" => self.data.push(value.to_string()),
            _ => {} // id, retry: nothing the dashboard needs
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
