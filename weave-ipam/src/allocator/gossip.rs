//! The `IPallocation` channel callbacks (Weave's `OnGossip*`, `Gossip`, `update`), donating
//! space, forming the ring by consensus, and the 5-second retry tick.

use std::time::Duration;

use weave_wire::PeerName;

use super::{Allocator, GossipError, Output, TICK_INTERVAL};
use crate::address::Range;
use crate::messages::{GossipState, MessageError, Unicast, MSG_RING_UPDATE};
use crate::ring::RingError;

impl Allocator {
    /// A unicast for us from `src`. An error means the message was bad (Weave drops the
    /// connection it came on).
    pub fn on_gossip_unicast(
        &mut self,
        now: Duration,
        src: PeerName,
        payload: &[u8],
    ) -> Result<(), GossipError> {
        self.on_unicast_message(now, src, Unicast::decode(payload))
    }

    /// [`Allocator::on_gossip_unicast`] with the payload decoded already (by the connection's
    /// task, away from whoever holds the allocator).
    pub fn on_unicast_message(
        &mut self,
        now: Duration,
        src: PeerName,
        msg: Result<Unicast, MessageError>,
    ) -> Result<(), GossipError> {
        self.now = now;
        let result = match msg {
            Err(e) => Err(e.into()),
            Ok(Unicast::SpaceRequest(r)) => {
                // Without a ring there is nothing to give; they will ask again.
                if !self.ring.is_empty() {
                    self.donate_space(r, src);
                }
                Ok(())
            }
            Ok(Unicast::SpaceRequestDenied(r)) => {
                self.space_request_denied(src, r);
                Ok(())
            }
            Ok(Unicast::RingUpdate(state)) => self.update(sender(src), state),
        };
        self.finish();
        result
    }

    /// A broadcast originated by `src`. On success returns what to relay onwards along `src`'s
    /// broadcast tree: Weave relays its own full current state.
    pub fn on_gossip_broadcast(
        &mut self,
        now: Duration,
        src: PeerName,
        payload: &[u8],
    ) -> Result<Option<Vec<u8>>, GossipError> {
        self.on_broadcast_state(now, src, GossipState::decode(payload))
    }

    /// [`Allocator::on_gossip_broadcast`] with the payload decoded already.
    pub fn on_broadcast_state(
        &mut self,
        now: Duration,
        src: PeerName,
        state: Result<GossipState, MessageError>,
    ) -> Result<Option<Vec<u8>>, GossipError> {
        self.now = now;
        let result = match state {
            Ok(state) => self.update(sender(src), state),
            Err(e) => Err(e.into()),
        };
        self.finish();
        result.map(|()| Some(self.encode()))
    }

    /// Periodic or connection-start gossip (sender unknown). Weave never propagates a delta for
    /// this channel, so the result is always `None`.
    pub fn on_gossip(&mut self, now: Duration, payload: &[u8]) -> Result<Option<Vec<u8>>, GossipError> {
        self.on_gossip_state(now, GossipState::decode(payload))
    }

    /// [`Allocator::on_gossip`] with the payload decoded already.
    pub fn on_gossip_state(
        &mut self,
        now: Duration,
        state: Result<GossipState, MessageError>,
    ) -> Result<Option<Vec<u8>>, GossipError> {
        self.now = now;
        let result = match state {
            Ok(state) => self.update(None, state),
            Err(e) => Err(e.into()),
        };
        self.finish();
        result.map(|()| None)
    }

    /// Our full state, for periodic gossip and new connections.
    pub fn gossip(&self, now: Duration) -> Vec<u8> {
        self.gossip_state(now).encode()
    }

    /// Our full state as a value.
    pub fn gossip_state(&self, now: Duration) -> GossipState {
        // Paxos only until the ring exists; observers send none, which makes electors reply
        // with a ring (or start an election).
        let empty = self.ring.is_empty();
        GossipState {
            now: now.as_secs() as i64,
            nicknames: Some(self.nicknames.clone()),
            paxos: if empty { self.paxos.as_ref().and_then(|p| p.gossip_state().cloned()) } else { None },
            ring: (!empty).then(|| self.ring.clone()),
        }
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        self.gossip(self.now)
    }

    /// Drives retries: every [`TICK_INTERVAL`], re-propose while electing, else retry pending
    /// requests; and free the addresses of containers dead for long enough.
    pub fn tick(&mut self, now: Duration) {
        self.now = now;
        self.last_tick = self.last_tick.min(now);
        if now - self.last_tick < TICK_INTERVAL {
            return;
        }
        self.last_tick = now;
        if self.awaiting_consensus {
            self.propose();
        } else if self.have_pending_ops() {
            if self.ring.is_empty() {
                self.establish_ring();
            } else {
                self.try_pending_ops();
            }
        }
        self.remove_dead_containers(now);
        self.finish();
    }

    /// Merges received state (Weave's `update`).
    fn update(&mut self, sender: Option<PeerName>, state: GossipState) -> Result<(), GossipError> {
        for (peer, nick) in state.nicknames.into_iter().flatten() {
            self.nicknames.insert(peer, nick);
        }
        if let Some(ring) = state.ring {
            // Merging a ring also moves us out of electing if we had no ring yet.
            let space = &self.space;
            let merged = self.ring.merge(&ring, &|rs: &[Range]| Allocator::has_allocations(space, rs));
            return match merged {
                Ok(true) => {
                    self.prune_nicknames();
                    self.ring_updated();
                    Ok(())
                }
                Ok(false) => Ok(()),
                Err(RingError::DifferentSeeds) => Err(GossipError::DifferentSeeds {
                    received: self.annotate(&ring.seeds),
                    ours: self.annotate(&self.ring.seeds),
                }),
                Err(RingError::DifferentRange) => Err(GossipError::DifferentRange {
                    received: ring.range().as_cidr_string(),
                    ours: self.ring.range().as_cidr_string(),
                }),
                Err(e) => Err(e.into()),
            };
        }
        if !self.ring.is_empty() {
            // An elector's proposal or an observer's ring request: we have the answer.
            if let Some(s) = sender {
                self.send_ring_update(s);
            }
        } else if let Some(theirs) = state.paxos {
            let Some(p) = self.paxos.as_mut() else { return Ok(()) };
            if p.update(&theirs) {
                if p.think() {
                    self.broadcast();
                }
                if let Some(cons) = self.paxos.as_ref().and_then(|p| p.consensus()) {
                    self.create_ring(&cons.value);
                }
            }
        } else if self.paxos.as_ref().is_some_and(|p| p.is_elector()) && sender.is_some() {
            // An observer's broadcast ring request (not periodic gossip, which would force an
            // election needlessly): elect on its behalf.
            self.establish_ring();
        }
        Ok(())
    }

    /// `[a(nick) b]`, as Weave prints peer lists in errors.
    fn annotate(&self, names: &[PeerName]) -> String {
        let items: Vec<String> = names
            .iter()
            .map(|n| match self.nicknames.get(n) {
                Some(nick) => format!("{n}({nick})"),
                None => n.to_string(),
            })
            .collect();
        format!("[{}]", items.join(" "))
    }

    /// Answers a SpaceRequest: grant what we can spare (or deny), and always send our ring back
    /// so the asker learns where space is.
    fn donate_space(&mut self, r: Range, to: PeerName) {
        match self.space.donate(r) {
            None => self.emit(Output::Unicast { dst: to, payload: Unicast::SpaceRequestDenied(r).encode() }),
            Some(chunk) => match self.ring.grant_range_to_host(chunk.start, chunk.end, to) {
                Ok(()) => {
                    self.persist_dirty = true;
                    self.broadcast();
                }
                // Space and ring disagree (cannot happen while the invariant holds): keep it.
                Err(_) => self.space.update_ranges(&[chunk]),
            },
        }
        self.send_ring_update(to);
    }

    fn send_ring_update(&mut self, dst: PeerName) {
        let mut payload = vec![MSG_RING_UPDATE];
        payload.extend(self.encode());
        self.emit(Output::Unicast { dst, payload });
    }

    /// Starts an election unless we have a ring or one is under way.
    pub(super) fn establish_ring(&mut self) {
        if !self.ring.is_empty() || self.awaiting_consensus {
            return;
        }
        self.awaiting_consensus = true;
        // Weave panics on a zero quorum; one is the least that makes sense.
        let quorum = self.quorum.max(1);
        if let Some(p) = self.paxos.as_mut() {
            p.set_quorum(quorum);
        }
        self.propose();
        // With a quorum of one, proposing is enough.
        if let Some(cons) = self.paxos.as_ref().and_then(|p| p.consensus()) {
            self.create_ring(&cons.value);
        }
    }

    pub(super) fn propose(&mut self) {
        if let Some(p) = self.paxos.as_mut() {
            p.propose();
        }
        self.broadcast();
    }

    /// Splits the empty ring between the agreed peers (sorted, de-duplicated).
    pub(super) fn create_ring(&mut self, peers: &[PeerName]) {
        let mut peers = peers.to_vec();
        peers.sort();
        peers.dedup();
        // Fails only for an empty value (hostile Paxos state) or a ring that already exists.
        if self.ring.claim_for_peers(&peers).is_ok() {
            self.ring_updated();
            self.broadcast();
        }
    }

    /// The ring changed: stop electing, persist, bring our space in line, retry requests.
    pub(super) fn ring_updated(&mut self) {
        if self.awaiting_consensus {
            self.awaiting_consensus = false;
            self.paxos = None;
        }
        self.persist_dirty = true;
        let owned = self.ring.owned_ranges();
        self.space.update_ranges(&owned);
        self.space.restrict_free_to(&owned);
        self.try_pending_ops();
    }
}

/// Weave treats the unknown peer name as "no sender".
fn sender(src: PeerName) -> Option<PeerName> {
    (src != PeerName::UNKNOWN).then_some(src)
}
