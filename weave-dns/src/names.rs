//! Domain-name helpers with the semantics of the Go DNS library Weave uses (miekg/dns 1.0.4):
//! presentation strings of wire names, `Fqdn`, `IsSubDomain`, and the zone a query is routed to.

use hickory_proto::rr::Name;

/// Weave's default domain.
pub const DEFAULT_DOMAIN: &str = "weave.local.";
/// The reverse zone Weave answers PTR queries in.
pub const REVERSE_ZONE: &str = "in-addr.arpa.";

/// `name` with a trailing dot (miekg's `Fqdn`).
pub fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// The presentation form miekg gives a wire name: special bytes backslash-escaped, unprintable
/// ones as `\DDD`, a dot after every label, `.` for the root.
pub fn presentation(name: &Name) -> String {
    let mut s = String::new();
    for label in name.iter() {
        for &b in label {
            match b {
                b'.' | b'(' | b')' | b';' | b' ' | b'@' | b'"' | b'\\' => {
                    s.push('\\');
                    s.push(b as char);
                }
                0..=31 | 127..=255 => s.push_str(&format!("\\{b:03}")),
                _ => s.push(b as char),
            }
        }
        s.push('.');
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

/// Labels of a presentation-form name, honouring `\.` escapes (miekg's `Split`).
fn labels(name: &str) -> Vec<&str> {
    let bytes = name.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'.' => {
                if i > start {
                    out.push(&name[start..i]);
                }
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        out.push(&name[start.min(bytes.len())..]);
    }
    out
}

/// miekg's `IsSubDomain(parent, child)`: every label of `parent` matches the tail of `child`,
/// ASCII case-insensitively (true when equal, and for the root parent).
pub fn is_subdomain(parent: &str, child: &str) -> bool {
    let (p, c) = (labels(parent), labels(child));
    p.len() <= c.len() && p.iter().rev().zip(c.iter().rev()).all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// Number of dots, escaped ones included (Weave's `strings.Count(hostname, ".")`): 1 means a
/// single-label name, which Weave qualifies with its domain.
pub fn is_single_label(presentation: &str) -> bool {
    presentation.matches('.').count() == 1
}

/// Where miekg's ServeMux sends a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The weave domain.
    Local,
    /// `in-addr.arpa.`
    Reverse,
    /// Everything else (`.`).
    Recursive,
}

/// The longest registered zone that is a suffix (at a label boundary) of `qname`; DS queries
/// always go to the root zone (miekg walks to the top for them and then prefers `.`).
/// `domain_lower` must be fully qualified and lowercase; a root domain never matches (Weave
/// registers the recursive handler for `.` last, replacing the local one).
pub fn route(qname: &str, is_ds: bool, domain_lower: &str) -> Zone {
    if is_ds {
        return Zone::Recursive;
    }
    let lower = qname.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut off = 0;
    while off < bytes.len() && lower != "." {
        let suffix = &lower[off..];
        if suffix == domain_lower && domain_lower != "." {
            return Zone::Local;
        }
        if suffix == REVERSE_ZONE {
            return Zone::Reverse;
        }
        // Next label: skip to after the next unescaped dot.
        let mut i = off;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'.' => {
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
        off = i;
    }
    Zone::Recursive
}

/// Go 1.15 `net.ParseIP` then `To4`, for the text left of `.in-addr.arpa.`: dotted decimal
/// (leading zeros allowed), or IPv6 forms where only v4-mapped addresses yield an address and
/// any other IPv6 address yields 0.0.0.0 (Weave's `FromIP4` of a nil slice). `None` = not an IP.
pub fn parse_go_ip(s: &str) -> Option<u32> {
    if s.contains(':') {
        let v6: std::net::Ipv6Addr = s.parse().ok()?;
        return Some(v6.to_ipv4_mapped().map(u32::from).unwrap_or(0));
    }
    let mut parts = s.split('.');
    let mut out = 0u32;
    for _ in 0..4 {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Go's dtoi gives up past 0xFFFFFF; any run of digits above 255 fails either way.
        let digits = p.trim_start_matches('0');
        if digits.len() > 3 {
            return None;
        }
        let v: u32 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
        if v > 255 {
            return None;
        }
        out = (out << 8) | v;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presentation_escapes_like_miekg() {
        let n = Name::from_labels(vec![&b"a.b"[..], &b"x y"[..], &[7u8][..], &b"local"[..]]).unwrap();
        assert_eq!(presentation(&n), "a\\.b.x\\ y.\\007.local.");
        assert_eq!(presentation(&Name::root()), ".");
        assert_eq!(presentation(&Name::from_ascii("Foo.Weave.Local.").unwrap()), "Foo.Weave.Local.");
    }

    #[test]
    fn subdomains() {
        assert!(is_subdomain("weave.local.", "c1.weave.local."));
        assert!(is_subdomain("weave.local.", "C1.WEAVE.local."));
        assert!(is_subdomain("weave.local.", "weave.local."));
        assert!(is_subdomain(".", "anything.example."));
        assert!(!is_subdomain("weave.local.", "c1.example.com."));
        assert!(!is_subdomain("weave.local.", "local."));
        assert!(!is_subdomain("weave.local.", "xweave.local."));
    }

    #[test]
    fn routing() {
        let d = "weave.local.";
        assert_eq!(route("c1.weave.local.", false, d), Zone::Local);
        assert_eq!(route("C1.WEAVE.LOCAL.", false, d), Zone::Local);
        assert_eq!(route("weave.local.", false, d), Zone::Local);
        assert_eq!(route("c1.weave.local.", true, d), Zone::Recursive);
        assert_eq!(route("1.0.32.10.in-addr.arpa.", false, d), Zone::Reverse);
        assert_eq!(route("1.0.32.10.IN-ADDR.ARPA.", false, d), Zone::Reverse);
        assert_eq!(route("example.com.", false, d), Zone::Recursive);
        assert_eq!(route("xweave.local.", false, d), Zone::Recursive);
        // An escaped dot does not end a label.
        assert_eq!(route("a\\.weave.local.", false, d), Zone::Recursive);
        assert_eq!(route("a\\..weave.local.", false, d), Zone::Local);
        assert_eq!(route(".", false, d), Zone::Recursive);
        assert_eq!(route("c1.weave.local.", false, "."), Zone::Recursive);
    }

    #[test]
    fn go_ip_parsing() {
        assert_eq!(parse_go_ip("1.0.32.10"), Some(0x0100200a));
        assert_eq!(parse_go_ip("001.0.032.10"), Some(0x0100200a));
        assert_eq!(parse_go_ip("256.0.0.1"), None);
        assert_eq!(parse_go_ip("1.2.3"), None);
        assert_eq!(parse_go_ip("1.2.3.4.5"), None);
        assert_eq!(parse_go_ip("1.2.-3.4"), None);
        assert_eq!(parse_go_ip("::ffff:1.2.3.4"), Some(0x01020304));
        assert_eq!(parse_go_ip("::1"), Some(0));
        assert_eq!(parse_go_ip(""), None);
    }
}
