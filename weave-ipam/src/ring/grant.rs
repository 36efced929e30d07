//! `grant_range_to_host`: hand part of our space to another peer (the donor side of a
//! SpaceRequest). Inserts tokens at the start and end of the granted range as needed.

use weave_wire::PeerName;

use super::{Entry, Ring, RingError};
use crate::address::Address;

impl Ring {
    /// Gives `[start, end)`, which must be ours, to `peer`. Entries touched get version bumps;
    /// new tokens start at version 0. Nothing changes when a precondition fails.
    pub fn grant_range_to_host(
        &mut self,
        start: Address,
        end: Address,
        peer: PeerName,
    ) -> Result<(), RingError> {
        use RingError::Precondition as P;
        if start >= end {
            return Err(P("grant: empty range"));
        }
        if !(self.start <= start && start < self.end && self.start < end && end <= self.end) {
            return Err(P("grant: range outside the ring"));
        }
        if self.is_empty() {
            return Err(P("grant on an empty ring"));
        }
        // The right-most entry at or before `start` (possibly the last one, wrapping).
        let mut preceding = self.entries.partition_point(|e| e.token <= start) as isize - 1;
        let mut pos = preceding;
        while pos < self.entries.len() as isize && self.at(pos).token < end {
            if self.at(pos).peer != self.peer {
                return Err(P("grant: range not owned by us"));
            }
            pos += 1;
        }

        let mut start_free = self.distance(start, self.at(preceding + 1).token);
        start_free = start_free.min(self.distance(start, end));
        if self.at(preceding).token == start {
            self.at_mut(preceding).update(peer, start_free);
        } else {
            self.insert(Entry { token: start, peer, version: 0, free: start_free });
            preceding += 1;
            // The entry before ours now ends at `start`.
            let (our, prev_token) = (self.peer, self.at(preceding - 1).token);
            let free = self.distance(prev_token, start);
            self.at_mut(preceding - 1).update(our, free);
        }

        // Tokens inside the granted range change hands too.
        let mut pos = preceding + 1;
        while pos < self.entries.len() as isize && self.at(pos).token < end {
            let e = *self.at(pos);
            let free = e.free.min(self.distance(e.token, end));
            self.at_mut(pos).update(peer, free);
            pos += 1;
        }

        // The ring end is exclusive: a token there is the ring start.
        let end = if end == self.end { self.start } else { end };
        if self.get(end).is_some() {
            return Ok(());
        }
        let end_free = self.distance(end, self.at(pos).token);
        self.insert(Entry { token: end, peer: self.peer, version: 0, free: end_free });
        Ok(())
    }
}
