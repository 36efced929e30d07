//! The JSON Weave's HTTP API prints for entries (`GET /name`), byte for byte as Go's
//! `encoding/json` writes it: field order as declared, `Origin` as a number, `Addr` as a dotted
//! string, HTML-sensitive characters escaped, a trailing newline, and `null` for a never-used list.

use std::fmt::Write;

use crate::entries::Entries;

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
            weave_wire::gojson::string(&e.container_id),
            e.origin.0,
            e.addr,
            weave_wire::gojson::string(&e.hostname),
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
    fn nil_versus_empty() {
        let mut es = Entries::new();
        assert_eq!(entries_json(&es), "null\n");
        es.add("a.", "c", weave_wire::PeerName(1), std::net::Ipv4Addr::LOCALHOST);
        es.retain(|_| false);
        assert_eq!(entries_json(&es), "[]\n");
    }
}
