//! `merge`: fold a received ring into ours, entry by entry, with every check Weave makes to
//! protect ranges where we have allocations.

use super::{Entry, Ring, RingError};
use crate::address::Range;

impl Ring {
    /// Merges `gossip` into this ring; true if our entries changed. `has_allocations` tells
    /// whether any of the given ranges holds allocated addresses (only asked about our ranges).
    /// On error this ring is unchanged, except that (as in Weave) an entry of ours that the
    /// other side knew at a higher version may already carry its re-bumped version.
    pub fn merge(
        &mut self,
        gossip: &Ring,
        has_allocations: &dyn Fn(&[Range]) -> bool,
    ) -> Result<bool, RingError> {
        gossip.check_invariants()?;
        if !gossip.seeds.is_empty() && !self.seeds.is_empty() && gossip.seeds != self.seeds {
            return Err(RingError::DifferentSeeds);
        }
        if self.start != gossip.start || self.end != gossip.end {
            return Err(RingError::DifferentRange);
        }

        let (mut result, updated) = self.merge_entries(&gossip.entries, has_allocations)?;

        // Accepting an unexpected split of one of our empty ranges can leave its free count too
        // high for what is left of it.
        for i in 0..result.len() {
            let next = result[(i + 1) % result.len()].token;
            let distance = self.distance(result[i].token, next);
            if result[i].peer == self.peer && result[i].free > distance {
                result[i].free = distance;
            }
        }
        self.check_entries(&result).map_err(|e| RingError::MergeCauses(Box::new(e)))?;

        // Weave's checks above leave gaps only hostile rings reach (a token before our first
        // one splitting the range that wraps round; a foreign token right after an unknown
        // token of ours); Weave would then trip its own assertions. Never give up addresses
        // that are handed out, whatever the path.
        let lost = subtract_ranges(&self.owned_ranges(), &self.ranges_of(&result, self.peer));
        if !lost.is_empty() && has_allocations(&lost) {
            let i = result.partition_point(|e| e.token <= lost[0].start);
            let e = result[(i + result.len() - 1) % result.len()];
            return Err(RingError::EntryInMyRange { token: e.token, theirs: e.peer });
        }

        if self.seeds.is_empty() {
            self.seeds = gossip.seeds.clone();
        }
        self.entries = result;
        Ok(updated)
    }

    fn merge_entries(
        &mut self,
        other: &[Entry],
        has_allocations: &dyn Fn(&[Range]) -> bool,
    ) -> Result<(Vec<Entry>, bool), RingError> {
        let ours = self.peer;
        let mut result = Vec::with_capacity(self.entries.len().max(other.len()));
        let mut updated = false;
        // Owner of the last entry taken from our side: an incoming token right after one of
        // our entries splits our range.
        let mut previous_owner = None;
        let (mut i, mut j) = (0, 0);

        while i < self.entries.len() && j < other.len() {
            let (mine, theirs) = (self.entries[i], other[j]);
            if mine.token < theirs.token {
                result.push(mine);
                previous_owner = Some(mine.peer);
                i += 1;
            } else if mine.token > theirs.token {
                if previous_owner == Some(ours)
                    && theirs.peer != ours
                    && has_allocations(&self.make_ranges(theirs.token, mine.token))
                {
                    return Err(RingError::EntryInMyRange { token: theirs.token, theirs: theirs.peer });
                }
                result.push(theirs);
                updated = true;
                previous_owner = None;
                j += 1;
            } else {
                let next_token = self.at(i as isize + 1).token;
                if mine.version > theirs.version || (mine.version == theirs.version && mine.same(&theirs)) {
                    result.push(mine);
                    previous_owner = Some(mine.peer);
                } else if mine.version == theirs.version {
                    // Same version, different content.
                    if mine.peer == ours && has_allocations(&self.make_ranges(theirs.token, next_token)) {
                        return Err(RingError::InconsistentEntry {
                            token: mine.token,
                            mine: mine.peer,
                            theirs: theirs.peer,
                        });
                    }
                    // Tie-break on the higher free count.
                    if mine.free >= theirs.free {
                        result.push(mine);
                        previous_owner = Some(mine.peer);
                    } else {
                        result.push(theirs);
                        updated = true;
                        previous_owner = None;
                    }
                } else if mine.peer != ours {
                    result.push(theirs);
                    updated = true;
                    previous_owner = None;
                } else if theirs.peer != ours && !has_allocations(&self.make_ranges(mine.token, next_token)) {
                    // Someone moved our (empty) range on: accept it.
                    result.push(theirs);
                    updated = true;
                    previous_owner = None;
                } else if theirs.peer == ours {
                    // A newer version of our own entry (e.g. from before a restart): impose ours
                    // above it. Weave changes the entry in place, so it sticks even if the merge
                    // fails later.
                    self.entries[i].version = theirs.version.wrapping_add(1);
                    result.push(self.entries[i]);
                } else {
                    return Err(RingError::NewerVersion {
                        token: mine.token,
                        mine_version: mine.version,
                        theirs: theirs.peer,
                        theirs_version: theirs.version,
                    });
                }
                i += 1;
                j += 1;
            }
        }

        result.extend_from_slice(&self.entries[i..]);
        for theirs in &other[j..] {
            if previous_owner == Some(ours) && theirs.peer != ours {
                return Err(RingError::EntryInMyRange { token: theirs.token, theirs: theirs.peer });
            }
            result.push(*theirs);
            updated = true;
            previous_owner = None;
        }
        Ok((result, updated))
    }
}

/// The parts of sorted, disjoint `a` not covered by sorted, disjoint `b`.
fn subtract_ranges(a: &[Range], b: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    for r in a {
        let mut start = r.start;
        for x in b.iter().filter(|x| x.overlaps(r)) {
            if x.start > start {
                out.push(Range { start, end: x.start });
            }
            start = start.max(x.end);
        }
        if start < r.end {
            out.push(Range { start, end: r.end });
        }
    }
    out
}
