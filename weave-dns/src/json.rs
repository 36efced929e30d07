//! The JSON Weave's HTTP API prints for entries (`GET /name`), byte for byte as Go's
//! `encoding/json` writes it: field order as declared, `Origin` as a number, `Addr` as a dotted
//! string, HTML-sensitive characters escaped, a trailing newline, and `null` for a never-used list.

use std::fmt::Write;

use crate::entries::Entries;

/// Go's JSON string encoding (as of Go 1.15): `<`, `>`, `&`, U+2028 and U+2029 are escaped, as
/// are control characters (`\n`, `\r`, `\t` short, others `\u00XX`).
pub fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `json.NewEncoder(w).Encode(entries)`.
pub fn entries_json(entries: &Entries) -> String {
    if !entries.ever_inserted() {
        return "null\n".to_string();
    }
    let mut out = String::from("[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"ContainerID\":{},\"Origin\":{},\"Addr\":\"{}\",\"Hostname\":{},\"Version\":{},\"Tombstone\":{}}}",
            go_json_string(&e.container_id),
            e.origin.0,
            e.addr,
            go_json_string(&e.hostname),
            e.version,
            e.tombstone
        );
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            go_json_string("a<b>&\"\\\n\u{1}\u{2028}é"),
            "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\\u2028é\""
        );
    }

    #[test]
    fn nil_versus_empty() {
        let mut es = Entries::new();
        assert_eq!(entries_json(&es), "null\n");
        es.add("a.", "c", weave_wire::PeerName(1), std::net::Ipv4Addr::LOCALHOST);
        es.retain(|_| false);
        assert_eq!(entries_json(&es), "[]\n");
    }
}
