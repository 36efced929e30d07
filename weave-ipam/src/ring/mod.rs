//! The ring CRDT (Weave's `ipam/ring`): who owns which part of the universe. Entries sorted by
//! token; an entry owns `[token, next token)`, the last one wrapping round to the first. Only an
//! entry's owner changes it (bumping its version), except `transfer` (rmpeer / shutdown), which
//! adds 100 to the version so it wins over the old owner's concurrent bumps.
//!
//! Weave asserts (panics) on broken preconditions; here every operation checks and returns a
//! [`RingError`] instead, so no input can panic.

mod grant;
mod merge;

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, RngExt};
use weave_wire::PeerName;

use crate::address::{Address, Range};
use crate::wire::{EntryW, RingW};

/// One token on the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Entry {
    /// Start of the range this entry owns.
    pub token: Address,
    pub peer: PeerName,
    pub version: u32,
    /// Free addresses in the range, as last reported by the owner.
    pub free: u32,
}

impl Entry {
    /// Weave's `entry.Equal`: Free is not compared.
    fn same(&self, other: &Entry) -> bool {
        self.token == other.token && self.peer == other.peer && self.version == other.version
    }

    /// Weave's `entry.update`: new owner and free count, version bumped.
    fn update(&mut self, peer: PeerName, free: u32) {
        self.peer = peer;
        self.version = self.version.wrapping_add(1);
        self.free = free;
    }
}

/// The ring. Fields are public so tests and tools can build arbitrary rings; the methods keep
/// the invariants (sorted unique tokens inside `[start, end)`, free <= range size).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ring {
    pub start: Address,
    /// Exclusive.
    pub end: Address,
    /// The peer this copy belongs to.
    pub peer: PeerName,
    pub entries: Vec<Entry>,
    /// The peers the ring was created for (set by `claim_for_peers`, adopted on first merge).
    pub seeds: Vec<PeerName>,
}

/// Errors, with Weave's texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    #[error("Ring not sorted")]
    NotSorted,
    #[error("Token appears twice in ring")]
    TokenRepeated,
    #[error("Token is out of range")]
    TokenOutOfRange,
    #[error("Received ring was seeded differently from ours")]
    DifferentSeeds,
    #[error("Received range differs from ours")]
    DifferentRange,
    #[error("Entry {token}-{next} reporting too much free space: {free} > {distance}")]
    TooMuchFree { token: Address, next: Address, free: u32, distance: u32 },
    #[error("Inconsistent entries for {token}: owned by {mine} but incoming message says {theirs}")]
    InconsistentEntry { token: Address, mine: PeerName, theirs: PeerName },
    #[error("Peer {theirs} says it owns the IP range from {token}, which I think I own")]
    EntryInMyRange { token: Address, theirs: PeerName },
    #[error(
        "Received update for IP range I own at {token} v{mine_version}: incoming message says owner {theirs} v{theirs_version}"
    )]
    NewerVersion { token: Address, mine_version: u32, theirs: PeerName, theirs_version: u32 },
    #[error("Merge of incoming data causes: {0}")]
    MergeCauses(Box<RingError>),
    /// A local precondition Weave asserts (a bug in the caller, never remote input).
    #[error("ring precondition failed: {0}")]
    Precondition(&'static str),
}

/// For status: one owned range (an entry, split where it wraps round the end of the universe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeInfo {
    pub peer: PeerName,
    pub range: Range,
    pub version: u32,
}

impl Ring {
    /// An empty ring for `[start, end)`.
    pub fn new(start: Address, end: Address, peer: PeerName) -> Result<Ring, RingError> {
        if start >= end {
            return Err(RingError::Precondition("ring start must be below its end"));
        }
        Ok(Ring { start, end, peer, entries: Vec::new(), seeds: Vec::new() })
    }

    pub fn range(&self) -> Range {
        Range { start: self.start, end: self.end }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, addr: Address) -> bool {
        addr >= self.start && addr < self.end
    }

    /// Entry `i` modulo the ring length (negative and past-the-end indices wrap). The ring must
    /// not be empty.
    fn at(&self, i: isize) -> &Entry {
        &self.entries[i.rem_euclid(self.entries.len() as isize) as usize]
    }

    fn at_mut(&mut self, i: isize) -> &mut Entry {
        let n = self.entries.len() as isize;
        &mut self.entries[i.rem_euclid(n) as usize]
    }

    /// Addresses from `start` to `end` going round the ring (the whole ring when equal).
    fn distance(&self, start: Address, end: Address) -> u32 {
        if end > start {
            end.0 - start.0
        } else {
            self.end.0.wrapping_sub(start.0).wrapping_add(end.0.wrapping_sub(self.start.0))
        }
    }

    /// Index of the first entry whose token is >= `token`.
    fn search(&self, token: Address) -> usize {
        self.entries.partition_point(|e| e.token < token)
    }

    /// Inserts a new token; false (and nothing changed) if the token exists.
    fn insert(&mut self, e: Entry) -> bool {
        let i = self.search(e.token);
        if self.entries.get(i).is_some_and(|x| x.token == e.token) {
            return false;
        }
        self.entries.insert(i, e);
        true
    }

    pub fn get(&self, token: Address) -> Option<&Entry> {
        self.entries.get(self.search(token)).filter(|e| e.token == token)
    }

    pub fn check_invariants(&self) -> Result<(), RingError> {
        self.check_entries(&self.entries)
    }

    /// Sorted, unique, in range, and no entry reporting more free space than it spans.
    fn check_entries(&self, entries: &[Entry]) -> Result<(), RingError> {
        if entries.windows(2).any(|w| w[0].token > w[1].token) {
            return Err(RingError::NotSorted);
        }
        if entries.windows(2).any(|w| w[0].token == w[1].token) {
            return Err(RingError::TokenRepeated);
        }
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(());
        };
        if first.token < self.start || last.token >= self.end {
            return Err(RingError::TokenOutOfRange);
        }
        for (i, e) in entries.iter().enumerate() {
            let next = entries[(i + 1) % entries.len()].token;
            let distance = self.distance(e.token, next);
            if e.free > distance {
                return Err(RingError::TooMuchFree { token: e.token, next, free: e.free, distance });
            }
        }
        Ok(())
    }

    /// `[start, end)` as ranges inside the universe: an end at the ring start means the ring end,
    /// and a range that wraps is split in two (the low part first).
    fn make_ranges(&self, start: Address, end: Address) -> Vec<Range> {
        self.split_ranges_over_zero(vec![Range { start, end }])
    }

    /// Fixes up the last range of a sorted list when it runs past the end of the ring.
    fn split_ranges_over_zero(&self, mut ranges: Vec<Range>) -> Vec<Range> {
        let Some(last) = ranges.last().copied() else {
            return ranges;
        };
        if last.end == self.start {
            ranges.last_mut().expect("not empty").end = self.end;
        } else if last.end <= last.start {
            ranges.last_mut().expect("not empty").end = self.end;
            ranges.insert(0, Range { start: self.start, end: last.end });
        }
        ranges
    }

    /// Ranges owned by this ring's peer, by address.
    pub fn owned_ranges(&self) -> Vec<Range> {
        self.owned_ranges_of_peer(self.peer)
    }

    pub fn owned_ranges_of_peer(&self, peer: PeerName) -> Vec<Range> {
        self.ranges_of(&self.entries, peer)
    }

    /// `peer`'s ranges if this ring had `entries`.
    fn ranges_of(&self, entries: &[Entry], peer: PeerName) -> Vec<Range> {
        let ranges = (0..entries.len())
            .filter(|&i| entries[i].peer == peer)
            .map(|i| Range { start: entries[i].token, end: entries[(i + 1) % entries.len()].token })
            .collect();
        self.split_ranges_over_zero(ranges)
    }

    /// Every entry's range(s) with owner and version.
    pub fn all_range_info(&self) -> Vec<RangeInfo> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            for range in self.make_ranges(e.token, self.at(i as isize + 1).token) {
                out.push(RangeInfo { peer: e.peer, range, version: e.version });
            }
        }
        out
    }

    /// Splits the whole (empty) ring between `peers` (sorted, de-duplicated by the caller):
    /// recursive halving, so every peer gets a CIDR-aligned block.
    pub fn claim_for_peers(&mut self, peers: &[PeerName]) -> Result<(), RingError> {
        if !self.is_empty() {
            return Err(RingError::Precondition("claim_for_peers on a ring with entries"));
        }
        if peers.is_empty() {
            return Err(RingError::Precondition("claim_for_peers with no peers"));
        }
        self.subdivide(self.start, self.end, peers);
        self.seeds = peers.to_vec();
        Ok(())
    }

    fn subdivide(&mut self, from: Address, to: Address, peers: &[PeerName]) {
        let share = to.0.saturating_sub(from.0);
        if share == 0 || peers.is_empty() {
            return;
        }
        if share == 1 || peers.len() == 1 {
            self.insert(Entry { token: from, peer: peers[0], version: 0, free: share });
            return;
        }
        let mid = from.offset(share / 2);
        let half = peers.len() / 2;
        self.subdivide(from, mid, &peers[..half]);
        // As Weave: an odd share leaves `mid` inside the first half's range, uncounted as free.
        self.subdivide(mid.offset(share % 2), to, &peers[half..]);
    }

    /// Records free counts of our ranges (keyed by range start, as from `owned_ranges`); each
    /// changed entry gets a version bump. True if anything changed.
    pub fn report_free(&mut self, mut free: BTreeMap<Address, u32>) -> Result<bool, RingError> {
        let Some(first) = self.entries.first().map(|e| e.token) else {
            return Err(RingError::Precondition("report_free on an empty ring"));
        };
        // `owned_ranges` splits the range that wraps round the end: add the low part back to
        // the last entry.
        if first != self.start {
            if let Some(low) = free.remove(&self.start) {
                let last = self.at(-1).token;
                let prev =
                    free.get_mut(&last).ok_or(RingError::Precondition("report_free: no last entry"))?;
                *prev = prev.wrapping_add(low);
            }
        }
        let mut updated = false;
        for (start, count) in free {
            let i = self.search(start);
            let ok = self.entries.get(i).is_some_and(|e| e.token == start && e.peer == self.peer);
            if !ok {
                return Err(RingError::Precondition("report_free for a range we do not own"));
            }
            if count > self.distance(start, self.at(i as isize + 1).token) {
                return Err(RingError::Precondition("report_free: more free than the range holds"));
            }
            let e = &mut self.entries[i];
            if e.free != count {
                e.free = count;
                e.version = e.version.wrapping_add(1);
                updated = true;
            }
        }
        Ok(updated)
    }

    /// Peers with free space in `[start, end)`, in weighted-random order (more free space, more
    /// likely first), never ourselves.
    pub fn choose_peers_to_ask_for_space<R: Rng + ?Sized>(
        &self,
        start: Address,
        end: Address,
        rng: &mut R,
    ) -> Vec<PeerName> {
        let mut space: BTreeMap<PeerName, u64> = BTreeMap::new();
        for (i, e) in self.entries.iter().enumerate() {
            // Skip entries that end before the range starts.
            if i + 1 < self.entries.len() && self.entries[i + 1].token.0.wrapping_sub(1) < start.0 {
                continue;
            }
            if e.token >= end {
                break;
            }
            if e.free == 0 || e.peer == self.peer {
                continue;
            }
            *space.entry(e.peer).or_default() += u64::from(e.free);
        }
        let mut weighted: Vec<(f64, PeerName)> =
            space.into_iter().map(|(p, s)| (s as f64 * rng.random::<f64>(), p)).collect();
        weighted.sort_by(|a, b| b.0.total_cmp(&a.0));
        weighted.into_iter().map(|(_, p)| p).collect()
    }

    /// The first other peer on the ring that `valid` accepts (an heir for our ranges).
    pub fn pick_peer_for_transfer(&self, valid: impl Fn(PeerName) -> bool) -> Option<PeerName> {
        self.entries.iter().map(|e| e.peer).find(|&p| p != self.peer && valid(p))
    }

    /// Gives every entry of `from` to `to`, versions + 100; returns the ranges that moved.
    pub fn transfer(&mut self, from: PeerName, to: PeerName) -> Vec<Range> {
        let mut moved = Vec::new();
        for i in 0..self.entries.len() {
            if self.entries[i].peer == from {
                let e = &mut self.entries[i];
                e.peer = to;
                e.version = e.version.wrapping_add(100);
                moved.push(Range { start: self.entries[i].token, end: self.at(i as isize + 1).token });
            }
        }
        self.split_ranges_over_zero(moved)
    }

    /// Owner of the range holding `addr`; `None` outside the ring or when it is empty.
    pub fn owner(&self, addr: Address) -> Option<PeerName> {
        if !self.contains(addr) || self.is_empty() {
            return None;
        }
        let i = self.entries.partition_point(|e| e.token <= addr) as isize - 1;
        Some(self.at(i).peer)
    }

    /// Every peer named in an entry.
    pub fn peer_names(&self) -> BTreeSet<PeerName> {
        self.entries.iter().map(|e| e.peer).collect()
    }

    /// Weave's gob shape.
    pub(crate) fn to_wire(&self) -> RingW {
        RingW {
            start: self.start.0,
            end: self.end.0,
            peer: self.peer.0,
            entries: self
                .entries
                .iter()
                .map(|e| EntryW { token: e.token.0, peer: e.peer.0, version: e.version, free: e.free })
                .collect(),
            seeds: self.seeds.iter().map(|p| p.0).collect(),
        }
    }

    /// From Weave's gob shape, unchecked (received rings are checked by `merge`).
    pub(crate) fn from_wire(w: &RingW) -> Ring {
        Ring {
            start: Address(w.start),
            end: Address(w.end),
            peer: PeerName(w.peer),
            entries: w
                .entries
                .iter()
                .map(|e| Entry {
                    token: Address(e.token),
                    peer: PeerName(e.peer),
                    version: e.version,
                    free: e.free,
                })
                .collect(),
            seeds: w.seeds.iter().map(|&p| PeerName(p)).collect(),
        }
    }
}

#[cfg(test)]
mod tests;
