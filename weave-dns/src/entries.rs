//! [`Entries`]: the sorted set of entries a nameserver (or a gossip message) holds, with Weave's
//! collection operations: add/resurrect, merge, wildcard tombstoning, filtering, lookups.
//!
//! Order: case-insensitive hostname, origin, container, address — as Weave — then the
//! case-sensitive hostname. Weave stops before that last key, so two entries differing only in
//! the case of their hostname compare equal there and its duplicate check panics; the extra key
//! makes the order total and every identity unique.

use std::cmp::Ordering;
use std::net::Ipv4Addr;

use weave_wire::PeerName;

use crate::entry::{cmp_stored, go_lower, Entry};

#[derive(Debug, Clone)]
struct Slot {
    /// `go_lower(entry.hostname)`, cached (Weave's unexported `lHostname`).
    lower: String,
    entry: Entry,
}

impl Slot {
    fn new(entry: Entry) -> Slot {
        Slot { lower: go_lower(&entry.hostname), entry }
    }

    fn cmp(&self, other: &Slot) -> Ordering {
        cmp_stored(&self.lower, &self.entry, &other.lower, &other.entry)
    }
}

/// Sorted, duplicate-free entries.
#[derive(Debug, Clone, Default)]
pub struct Entries {
    slots: Vec<Slot>,
    /// Go's slice starts nil and only becomes non-nil when something is inserted; `GET /name`
    /// then prints `[]` instead of `null` even after everything was removed.
    ever_inserted: bool,
}

impl PartialEq for Entries {
    fn eq(&self, other: &Entries) -> bool {
        self.slots.len() == other.slots.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Entries {}

impl Entries {
    pub fn new() -> Entries {
        Entries::default()
    }

    /// Sorts `entries`; duplicates (same identity) are merged into one, as a merge would.
    pub fn from_entries(entries: Vec<Entry>) -> Entries {
        let mut slots: Vec<Slot> = entries.into_iter().map(Slot::new).collect();
        slots.sort_by(Slot::cmp);
        slots.dedup_by(|later, kept| {
            let dup = later.cmp(kept) == Ordering::Equal;
            if dup {
                kept.entry.merge_from(&later.entry);
            }
            dup
        });
        let ever_inserted = !slots.is_empty();
        Entries { slots, ever_inserted }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// True once anything was ever inserted (Go's non-nil slice).
    pub fn ever_inserted(&self) -> bool {
        self.ever_inserted
    }

    /// In stored order, tombstones included.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.slots.iter().map(|s| &s.entry)
    }

    pub fn to_vec(&self) -> Vec<Entry> {
        self.iter().cloned().collect()
    }

    /// Index of the first slot not less than `probe`.
    fn position(&self, probe: &Slot) -> usize {
        self.slots.partition_point(|s| s.cmp(probe) == Ordering::Less)
    }

    /// The entry with `e`'s identity, if present.
    pub fn find_equal(&self, e: &Entry) -> Option<&Entry> {
        let probe = Slot::new(e.clone());
        let i = self.position(&probe);
        self.slots.get(i).filter(|s| s.entry.same_identity(e)).map(|s| &s.entry)
    }

    /// Adds a live entry at version 0, or resurrects a tombstoned one (tombstone 0, version+1).
    /// Returns the stored entry.
    pub fn add(&mut self, hostname: &str, container_id: &str, origin: PeerName, addr: Ipv4Addr) -> Entry {
        let probe = Slot::new(Entry::new(hostname, container_id, origin, addr));
        let i = self.position(&probe);
        match self.slots.get_mut(i) {
            Some(s) if s.entry.same_identity(&probe.entry) => {
                if s.entry.is_tombstoned() {
                    s.entry.tombstone = 0;
                    s.entry.version = s.entry.version.wrapping_add(1);
                }
                s.entry.clone()
            }
            _ => {
                self.slots.insert(i, probe);
                self.ever_inserted = true;
                self.slots[i].entry.clone()
            }
        }
    }

    /// Merges `incoming` in one pass; returns the entries that were new or changed, in stored
    /// order, as they now are.
    pub fn merge(&mut self, incoming: &Entries) -> Vec<Entry> {
        let mut changed = Vec::new();
        if incoming.is_empty() {
            return changed;
        }
        let old = std::mem::take(&mut self.slots);
        let mut merged = Vec::with_capacity(old.len() + incoming.len());
        let mut old = old.into_iter().peekable();
        for new in &incoming.slots {
            while let Some(s) = old.next_if(|s| s.cmp(new) == Ordering::Less) {
                merged.push(s);
            }
            match old.next_if(|s| s.cmp(new) == Ordering::Equal) {
                Some(mut s) => {
                    if s.entry.merge_from(&new.entry) {
                        changed.push(s.entry.clone());
                    }
                    merged.push(s);
                }
                None => {
                    changed.push(new.entry.clone());
                    merged.push(new.clone());
                }
            }
        }
        merged.extend(old);
        self.slots = merged;
        self.ever_inserted = true;
        changed
    }

    /// Tombstones the live entries owned by `ours` that `select` picks; returns them as changed.
    pub fn tombstone(&mut self, ours: PeerName, now: i64, select: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        let mut changed = Vec::new();
        for s in &mut self.slots {
            if select(&s.entry) && s.entry.origin == ours && s.entry.tombstone_at(now) {
                changed.push(s.entry.clone());
            }
        }
        changed
    }

    /// Keeps only the entries `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(&Entry) -> bool) {
        self.slots.retain(|s| keep(&s.entry));
    }

    /// Lets `f` replace the version and tombstone of any entry (identity cannot change, so the
    /// order holds).
    pub(crate) fn update_versions(&mut self, mut f: impl FnMut(&Entry) -> Option<(i64, i64)>) {
        for s in &mut self.slots {
            if let Some((version, tombstone)) = f(&s.entry) {
                s.entry.version = version;
                s.entry.tombstone = tombstone;
            }
        }
    }

    /// All entries named `hostname` (case-insensitively), tombstones included.
    pub fn lookup<'a>(&'a self, hostname: &str) -> impl Iterator<Item = &'a Entry> + 'a {
        let lower = go_lower(hostname);
        let start = self.slots.partition_point(|s| s.lower < lower);
        self.slots[start..].iter().take_while(move |s| s.lower == lower).map(|s| &s.entry)
    }

    /// Addresses of the live entries named `hostname`, in stored order.
    pub fn lookup_live(&self, hostname: &str) -> Vec<Ipv4Addr> {
        self.lookup(hostname).filter(|e| !e.is_tombstoned()).map(|e| e.addr).collect()
    }

    /// The first live entry (in stored order) with address `addr`. Weave asks for a zero
    /// tombstone here (forward lookups only skip positive ones); same here.
    pub fn reverse_lookup(&self, addr: Ipv4Addr) -> Option<&Entry> {
        self.iter().find(|e| e.tombstone == 0 && e.addr == addr)
    }

    /// Entries sorted for encoding (Weave's case-sensitive order).
    pub(crate) fn sorted_case_sensitive(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.iter().collect();
        v.sort_by(|a, b| a.cmp_case_sensitive(b));
        v
    }
}

impl FromIterator<Entry> for Entries {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Entries {
        Entries::from_entries(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP0: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

    /// One entry per character, named by it (as Weave's `makeEntries`).
    fn make(names: &str) -> Entries {
        names.chars().map(|c| Entry::new(&c.to_string(), "", PeerName::UNKNOWN, IP0)).collect()
    }

    fn names(es: &Entries) -> String {
        es.iter().map(|e| e.hostname.as_str()).collect()
    }

    #[test]
    fn add_tombstone_resurrect() {
        let mut es = Entries::new();
        es.add("A", "", PeerName::UNKNOWN, IP0);
        assert_eq!(es.to_vec(), vec![Entry::new("A", "", PeerName::UNKNOWN, IP0)]);
        es.tombstone(PeerName::UNKNOWN, 1234, |e| e.hostname == "A");
        assert_eq!((es.to_vec()[0].version, es.to_vec()[0].tombstone), (1, 1234));
        let e = es.add("A", "", PeerName::UNKNOWN, IP0);
        assert_eq!((e.version, e.tombstone), (2, 0));
        assert_eq!(es.len(), 1);
        // Adding a live entry again changes nothing.
        assert_eq!(es.add("A", "", PeerName::UNKNOWN, IP0), e);
    }

    #[test]
    fn merge_reports_new_entries() {
        let mut e1 = make("ACDF");
        let diff = e1.merge(&make("BEF"));
        assert_eq!(diff, make("BE").to_vec());
        assert_eq!(names(&e1), "ABCDEF");
        let again = e1.clone();
        assert!(e1.merge(&again).is_empty());
    }

    #[test]
    fn merge_is_case_insensitive_in_order() {
        let mut e1 = make("AcDf");
        e1.merge(&make("BEf"));
        assert_eq!(names(&e1), "ABcDEf");
    }

    #[test]
    fn old_versions_do_not_win() {
        let v = |version| Entry { version, ..Entry::new("A", "", PeerName::UNKNOWN, IP0) };
        let mut es = Entries::from_entries(vec![v(0)]);
        assert_eq!(es.merge(&Entries::from_entries(vec![v(1)])), vec![v(1)]);
        assert!(es.merge(&Entries::from_entries(vec![v(0)])).is_empty());
        assert_eq!(es.to_vec(), vec![v(1)]);
    }

    #[test]
    fn tombstone_then_larger_tombstone_merges() {
        let mut es = make("AB");
        es.tombstone(PeerName::UNKNOWN, 1234, |e| e.hostname == "B");
        let mut other = es.to_vec();
        other[1].tombstone = 5555;
        let diff = es.merge(&Entries::from_entries(other.clone()));
        assert_eq!(diff, vec![other[1].clone()]);
        assert_eq!(es.to_vec(), other);
    }

    #[test]
    fn tombstone_only_touches_our_entries() {
        let mut es = Entries::new();
        es.add("a.", "c1", PeerName(1), IP0);
        es.add("a.", "c1", PeerName(2), IP0);
        let changed = es.tombstone(PeerName(1), 10, |_| true);
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].origin, PeerName(1));
        assert!(es.tombstone(PeerName(1), 11, |_| true).is_empty(), "already tombstoned");
    }

    #[test]
    fn lookup_range_and_case() {
        let mut es = Entries::new();
        es.add("A", "", PeerName::UNKNOWN, IP0);
        es.add("B", "bar", PeerName::UNKNOWN, IP0);
        es.add("b", "foo", PeerName::UNKNOWN, IP0);
        es.add("C", "", PeerName::UNKNOWN, IP0);
        let got: Vec<&str> = es.lookup("b").map(|e| e.container_id.as_str()).collect();
        assert_eq!(got, ["bar", "foo"]);
        assert_eq!(es.lookup("D").count(), 0);
    }

    #[test]
    fn names_differing_in_case_only_are_distinct() {
        let mut es = Entries::new();
        es.add("A", "c", PeerName::UNKNOWN, IP0);
        es.add("a", "c", PeerName::UNKNOWN, IP0);
        es.add("a", "c", PeerName::UNKNOWN, IP0);
        es.add("A", "c", PeerName::UNKNOWN, IP0);
        assert_eq!(es.len(), 2);
        assert_eq!(es.lookup_live("A").len(), 2);
    }

    #[test]
    fn duplicates_coalesce_to_the_winner() {
        let base = Entry::new("x.", "c", PeerName(1), IP0);
        let es = Entries::from_entries(vec![
            Entry { version: 3, tombstone: 0, ..base.clone() },
            Entry { version: 5, tombstone: 9, ..base.clone() },
            Entry { version: 5, tombstone: 2, ..base.clone() },
        ]);
        assert_eq!(es.to_vec(), vec![Entry { version: 5, tombstone: 9, ..base }]);
    }

    #[test]
    fn reverse_lookup_skips_tombstones() {
        let ip = Ipv4Addr::new(10, 32, 0, 5);
        let mut es = Entries::new();
        es.add("a.weave.local.", "old", PeerName(1), ip);
        es.add("b.weave.local.", "new", PeerName(1), ip);
        assert_eq!(es.reverse_lookup(ip).unwrap().hostname, "a.weave.local.");
        es.tombstone(PeerName(1), 5, |e| e.container_id == "old");
        assert_eq!(es.reverse_lookup(ip).unwrap().hostname, "b.weave.local.");
        assert!(es.reverse_lookup(Ipv4Addr::new(1, 2, 3, 4)).is_none());
    }
}
