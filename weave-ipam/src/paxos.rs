//! Weave's gossip-based Paxos (`ipam/paxos`), used once to agree on the set of peers the ring is
//! first split between. Every node gossips everything it knows about every node's claims; each
//! node merges what it hears (`update`) and then acts as acceptor and proposer (`think`).
//! Observers take part in nothing and gossip no state.

use std::collections::{BTreeMap, HashMap};

use weave_wire::PeerName;

use crate::wire::{AcceptedValueW, NodeClaimsW, NodeIdW, ProposalIdW};

/// A node: peer name plus the UID of this run of the peer (a restarted peer must not reuse the
/// promises it made before, so it is a different node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId {
    pub name: PeerName,
    pub uid: u64,
}

/// Round 0 means "no proposal" and precedes every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProposalId {
    pub round: u64,
    pub proposer: NodeId,
}

/// The value agreed on (peer names) and the proposal it came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AcceptedValue {
    pub value: Vec<PeerName>,
    pub origin: ProposalId,
}

/// What one node has promised and accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeClaims {
    pub promise: ProposalId,
    pub accepted: ProposalId,
    pub accepted_val: AcceptedValue,
}

/// Everything a node knows: claims by node (gob `map[NodeID]NodeClaims`).
pub type GossipState = BTreeMap<NodeId, NodeClaims>;

impl ProposalId {
    /// Total order: round, then proposer name, then proposer UID.
    pub fn precedes(&self, other: &ProposalId) -> bool {
        (self.round, self.proposer.name, self.proposer.uid)
            < (other.round, other.proposer.name, other.proposer.uid)
    }

    pub fn valid(&self) -> bool {
        self.round > 0
    }
}

impl NodeClaims {
    /// Weave compares the accepted value by origin only.
    fn equals(&self, other: &NodeClaims) -> bool {
        self.promise == other.promise
            && self.accepted == other.accepted
            && self.accepted_val.origin == other.accepted_val.origin
    }
}

/// An electing node.
#[derive(Debug, Clone)]
pub struct Node {
    id: NodeId,
    quorum: u32,
    knows: GossipState,
}

impl Node {
    /// A node with no quorum yet: it acts as acceptor, but proposes and sees consensus only
    /// once a quorum is set (Weave sets it when this peer itself needs the ring).
    pub fn new(name: PeerName, uid: u64, quorum: u32) -> Node {
        Node { id: NodeId { name, uid }, quorum, knows: BTreeMap::new() }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn quorum(&self) -> u32 {
        self.quorum
    }

    pub fn set_quorum(&mut self, quorum: u32) {
        self.quorum = quorum;
    }

    pub fn gossip_state(&self) -> &GossipState {
        &self.knows
    }

    /// Merges what another node knows; true if we learned something.
    pub fn update(&mut self, from: &GossipState) -> bool {
        let mut changed = false;
        for (id, theirs) in from {
            match self.knows.get_mut(id) {
                Some(claims) => {
                    if claims.promise.precedes(&theirs.promise) {
                        claims.promise = theirs.promise;
                        changed = true;
                    }
                    if claims.accepted.precedes(&theirs.accepted) {
                        claims.accepted = theirs.accepted;
                        claims.accepted_val = theirs.accepted_val.clone();
                        changed = true;
                    }
                }
                None => {
                    self.knows.insert(*id, theirs.clone());
                    changed = true;
                }
            }
        }
        changed
    }

    /// Paxos "prepare": a proposal above every round we have heard of. Does nothing without a
    /// quorum (Weave panics).
    pub fn propose(&mut self) {
        if self.quorum == 0 {
            return;
        }
        let round = self.knows.values().map(|c| c.promise.round.max(c.accepted.round)).max().unwrap_or(0);
        let id = self.id;
        self.knows.entry(id).or_default().promise = ProposalId { round: round.wrapping_add(1), proposer: id };
        if self.quorum == 1 {
            self.think();
        }
    }

    /// Promise, accept-request and accepted steps; true if our own claims changed.
    pub fn think(&mut self) -> bool {
        let before = self.knows.get(&self.id).cloned().unwrap_or_default();
        let mut ours = before.clone();

        // Promise: adopt the highest promise around.
        for claims in self.knows.values() {
            if ours.promise.precedes(&claims.promise) {
                ours.promise = claims.promise;
            }
        }

        // Accept request: our proposal is only in the running while it is also our promise.
        if ours.promise.proposer == self.id {
            let mut count = 0u32;
            let mut accepted = ProposalId::default();
            let mut accepted_val = AcceptedValue::default();
            for claims in self.knows.values() {
                if claims.promise == ours.promise {
                    count += 1;
                    if accepted.precedes(&claims.accepted) {
                        accepted = claims.accepted;
                        accepted_val = claims.accepted_val.clone();
                    }
                }
            }
            if count >= self.quorum {
                if !accepted.valid() {
                    accepted_val = AcceptedValue { value: self.pick_value(), origin: ours.promise };
                }
                // Accepting our own proposal is how the request reaches the others.
                ours.accepted = ours.promise;
                ours.accepted_val = accepted_val;
            }
        }

        // Accepted: if the proposal we promised was accepted somewhere, accept it too.
        if let Some(claims) = self.knows.values().find(|c| c.accepted == ours.promise) {
            ours.accepted = claims.accepted;
            ours.accepted_val = claims.accepted_val.clone();
        }

        if ours.equals(&before) {
            return false;
        }
        self.knows.insert(self.id, ours);
        true
    }

    /// The peers we know of: at least a quorum, good enough to seed the ring.
    fn pick_value(&self) -> Vec<PeerName> {
        self.knows.keys().map(|id| id.name).collect()
    }

    /// The agreed value, once a quorum accepted the same proposal.
    pub fn consensus(&self) -> Option<AcceptedValue> {
        if self.quorum == 0 {
            return None;
        }
        let mut counts: HashMap<ProposalId, u32> = HashMap::new();
        for claims in self.knows.values() {
            if claims.accepted.valid() {
                let n = counts.entry(claims.accepted_val.origin).or_default();
                *n += 1;
                if *n >= self.quorum {
                    return Some(claims.accepted_val.clone());
                }
            }
        }
        None
    }
}

/// Elector or observer (Weave's `Participant` interface).
#[derive(Debug, Clone)]
pub enum Participant {
    Node(Node),
    /// Never votes; gossips no Paxos state, which makes electors answer with their ring.
    Observer,
}

impl Participant {
    /// `None` for an observer (Weave sends a nil map).
    pub fn gossip_state(&self) -> Option<&GossipState> {
        match self {
            Participant::Node(n) => Some(n.gossip_state()),
            Participant::Observer => None,
        }
    }

    pub fn update(&mut self, from: &GossipState) -> bool {
        match self {
            Participant::Node(n) => n.update(from),
            Participant::Observer => false,
        }
    }

    pub fn set_quorum(&mut self, quorum: u32) {
        if let Participant::Node(n) = self {
            n.set_quorum(quorum);
        }
    }

    pub fn propose(&mut self) {
        if let Participant::Node(n) = self {
            n.propose();
        }
    }

    pub fn think(&mut self) -> bool {
        match self {
            Participant::Node(n) => n.think(),
            Participant::Observer => false,
        }
    }

    pub fn consensus(&self) -> Option<AcceptedValue> {
        match self {
            Participant::Node(n) => n.consensus(),
            Participant::Observer => None,
        }
    }

    pub fn is_elector(&self) -> bool {
        matches!(self, Participant::Node(_))
    }
}

// ---- gob shapes ----

impl From<NodeIdW> for NodeId {
    fn from(w: NodeIdW) -> NodeId {
        NodeId { name: PeerName(w.name), uid: w.uid }
    }
}

impl From<NodeId> for NodeIdW {
    fn from(n: NodeId) -> NodeIdW {
        NodeIdW { name: n.name.0, uid: n.uid }
    }
}

impl From<ProposalIdW> for ProposalId {
    fn from(w: ProposalIdW) -> ProposalId {
        ProposalId { round: w.round, proposer: w.proposer.into() }
    }
}

impl From<ProposalId> for ProposalIdW {
    fn from(p: ProposalId) -> ProposalIdW {
        ProposalIdW { round: p.round, proposer: p.proposer.into() }
    }
}

pub(crate) fn claims_from_wire(w: &NodeClaimsW) -> NodeClaims {
    NodeClaims {
        promise: w.promise.into(),
        accepted: w.accepted.into(),
        accepted_val: AcceptedValue {
            value: w.accepted_val.value.iter().map(|&p| PeerName(p)).collect(),
            origin: w.accepted_val.origin.into(),
        },
    }
}

pub(crate) fn claims_to_wire(c: &NodeClaims) -> NodeClaimsW {
    NodeClaimsW {
        promise: c.promise.into(),
        accepted: c.accepted.into(),
        accepted_val: AcceptedValueW {
            value: c.accepted_val.value.iter().map(|p| p.0).collect(),
            origin: c.accepted_val.origin.into(),
        },
    }
}

pub(crate) fn state_from_wire(w: &BTreeMap<NodeIdW, NodeClaimsW>) -> GossipState {
    w.iter().map(|(k, v)| (NodeId::from(*k), claims_from_wire(v))).collect()
}

pub(crate) fn state_to_wire(s: &GossipState) -> BTreeMap<NodeIdW, NodeClaimsW> {
    s.iter().map(|(k, v)| (NodeIdW::from(*k), claims_to_wire(v))).collect()
}

#[cfg(test)]
mod tests;
