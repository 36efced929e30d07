//! One weaveDNS record ([`Entry`]): its identity, its two orders (stored vs. encoded) and the
//! per-entry rules Weave applies: merge (higher version wins, then larger tombstone) and
//! tombstoning (only once, bumping the version).

use std::cmp::Ordering;
use std::net::Ipv4Addr;

use weave_wire::PeerName;

/// A name → address record. Identity is (hostname, origin, container id, address); only the
/// origin peer changes `version` and `tombstone` of its own entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    pub container_id: String,
    pub origin: PeerName,
    pub addr: Ipv4Addr,
    /// As supplied (fully qualified, trailing dot, case preserved).
    pub hostname: String,
    /// Go `int` (64-bit on every platform Weave ships for).
    pub version: i64,
    /// Unix seconds when deleted; 0 = live.
    pub tombstone: i64,
}

impl Entry {
    /// A live entry at version 0.
    pub fn new(hostname: &str, container_id: &str, origin: PeerName, addr: Ipv4Addr) -> Entry {
        Entry {
            container_id: container_id.to_string(),
            origin,
            addr,
            hostname: hostname.to_string(),
            version: 0,
            tombstone: 0,
        }
    }

    /// Weave treats only a positive tombstone as "deleted".
    pub fn is_tombstoned(&self) -> bool {
        self.tombstone > 0
    }

    /// Same identity: everything but version and tombstone, hostname compared case-sensitively.
    pub fn same_identity(&self, other: &Entry) -> bool {
        self.hostname == other.hostname
            && self.origin == other.origin
            && self.container_id == other.container_id
            && self.addr == other.addr
    }

    /// Takes `other`'s version and tombstone if they win; true if anything changed.
    pub(crate) fn merge_from(&mut self, other: &Entry) -> bool {
        if other.version > self.version {
            self.version = other.version;
            self.tombstone = other.tombstone;
            true
        } else if other.version == self.version && other.tombstone > self.tombstone {
            self.tombstone = other.tombstone;
            true
        } else {
            false
        }
    }

    /// Marks the entry deleted at `now`; false if it already was.
    pub(crate) fn tombstone_at(&mut self, now: i64) -> bool {
        if self.is_tombstoned() {
            return false;
        }
        self.tombstone = now;
        // Go's int wraps; a hostile peer can send i64::MAX.
        self.version = self.version.wrapping_add(1);
        true
    }

    /// Weave's encoding order (`CaseSensitive`): hostname, origin, container, address.
    pub(crate) fn cmp_case_sensitive(&self, other: &Entry) -> Ordering {
        self.hostname
            .cmp(&other.hostname)
            .then(self.origin.cmp(&other.origin))
            .then_with(|| self.container_id.cmp(&other.container_id))
            .then(self.addr.cmp(&other.addr))
    }
}

/// Go's `strings.ToLower`: per-character simple lowercase mapping. Rust's full mapping differs
/// only for U+0130 (Go maps it to a plain `i`).
pub fn go_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| match c {
            '\u{130}' => 'i',
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect()
}

/// The stored order (`CaseInsensitive`): lowercased hostname, origin, container, address; then
/// the case-sensitive hostname, which Weave lacks (see `Entries`).
pub(crate) fn cmp_stored(a_lower: &str, a: &Entry, b_lower: &str, b: &Entry) -> Ordering {
    a_lower
        .cmp(b_lower)
        .then(a.origin.cmp(&b.origin))
        .then_with(|| a.container_id.cmp(&b.container_id))
        .then(a.addr.cmp(&b.addr))
        .then_with(|| a.hostname.cmp(&b.hostname))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(version: i64, tombstone: i64) -> Entry {
        Entry { version, tombstone, ..Entry::new("a.", "c", PeerName(1), Ipv4Addr::new(10, 0, 0, 1)) }
    }

    #[test]
    fn merge_prefers_version_then_tombstone() {
        let mut a = e(1, 0);
        assert!(!a.merge_from(&e(0, 99)));
        assert!(!a.merge_from(&e(1, 0)));
        assert!(a.merge_from(&e(1, 5)));
        assert_eq!((a.version, a.tombstone), (1, 5));
        assert!(!a.merge_from(&e(1, 4)));
        assert!(a.merge_from(&e(2, 0)));
        assert_eq!((a.version, a.tombstone), (2, 0));
    }

    #[test]
    fn tombstone_once_and_wraps() {
        let mut a = e(i64::MAX, 0);
        assert!(a.tombstone_at(7));
        assert_eq!((a.version, a.tombstone), (i64::MIN, 7));
        assert!(!a.tombstone_at(8));
    }

    #[test]
    fn lowercase_like_go() {
        assert_eq!(go_lower("Foo.Weave.LOCAL."), "foo.weave.local.");
        assert_eq!(go_lower("\u{130}X"), "ix");
        assert_eq!(go_lower("ÄÖ"), "äö");
    }
}
