//! Leaving and taking over: shutdown (`weave reset`, hand our ranges to an heir), rmpeer
//! (take a dead peer's ranges), and forgetting nicknames of peers that are gone.

use std::time::Duration;

use weave_wire::PeerName;

use super::Allocator;

impl Allocator {
    /// Leaves IPAM for good: cancels pending requests, gives all our ranges to an heir (+100
    /// versions) and broadcasts that. Later requests are cancelled.
    pub fn shutdown(&mut self, now: Duration) {
        self.now = now;
        self.shutting_down = true;
        self.cancel_all_ops();
        let heir = self.pick_peer_for_transfer();
        // Like Weave, with nobody to inherit, the ranges go to the unknown peer, locally only.
        self.ring.transfer(self.our_name, heir.unwrap_or(PeerName::UNKNOWN));
        self.space.clear();
        if heir.is_some() {
            self.persist_dirty = true;
            self.broadcast();
        }
        self.finish();
    }

    /// The heir: a reachable peer with ring entries, else a reachable IPAM peer we know by
    /// nickname, else any peer with entries, else any IPAM peer at all.
    fn pick_peer_for_transfer(&self) -> Option<PeerName> {
        let from_nicknames = |valid: &dyn Fn(PeerName) -> bool| {
            self.nicknames.keys().copied().find(|&p| p != self.our_name && valid(p))
        };
        self.ring
            .pick_peer_for_transfer(|p| self.is_known_peer(p))
            .or_else(|| from_nicknames(&|p| self.is_known_peer(p)))
            .or_else(|| self.ring.pick_peer_for_transfer(|_| true))
            .or_else(|| from_nicknames(&|_| true))
    }

    /// rmpeer: takes over every range of `peer` (a peer name or nickname), which must be dead.
    /// Returns how many free addresses we gained.
    pub fn admin_takeover_ranges(&mut self, now: Duration, peer: &str) -> u32 {
        self.now = now;
        let gained = match self.lookup_peername(peer) {
            Some(name) if name != self.our_name => {
                if self.ring.transfer(name, self.our_name).is_empty() {
                    0
                } else {
                    let before = self.space.num_free_addresses();
                    self.ring_updated();
                    self.broadcast();
                    self.space.num_free_addresses().wrapping_sub(before)
                }
            }
            _ => 0,
        };
        self.finish();
        gained
    }

    /// By nickname first, then as a peer name.
    fn lookup_peername(&self, name: &str) -> Option<PeerName> {
        self.nicknames.iter().find(|(_, nick)| *nick == name).map(|(p, _)| *p).or_else(|| name.parse().ok())
    }

    /// The peer left the mesh: forget its nickname unless the ring still mentions it.
    pub fn peer_gone(&mut self, peer: PeerName) {
        if !self.ring.peer_names().contains(&peer) {
            self.nicknames.remove(&peer);
        }
    }

    /// Keeps nicknames of peers in the ring or reachable.
    pub(super) fn prune_nicknames(&mut self) {
        let in_ring = self.ring.peer_names();
        let keep: Vec<PeerName> = self
            .nicknames
            .keys()
            .copied()
            .filter(|p| in_ring.contains(p) || self.is_known_peer(*p))
            .collect();
        self.nicknames.retain(|p, _| keep.contains(p));
    }
}
