//! The topology: every peer we know, the connections each one announces, and the merge rules
//! for topology gossip, as mesh's `peers.go`.
//!
//! The local peer is a peer like the others; its connection list mirrors our registered local
//! connections (the core keeps it in sync). Peers referenced by a local connection are pinned
//! (`local_refs`) and survive garbage collection even when unreachable.

use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use weave_wire::topology::{
    decode_topology, ConnectionSummary, EncodedPeer, PartsEncoder, PeerSummary, PeerUpdate, TopologyError,
};
use weave_wire::{CompactString, PeerName};

/// Short ids are 12 bits: fastdp packs two of them into a VXLAN VNI.
pub const SHORT_ID_BITS: u32 = 12;

/// One connection as a peer announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSummary {
    pub remote_tcp_addr: CompactString,
    pub outbound: bool,
    pub established: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    pub name: PeerName,
    pub nickname: String,
    pub uid: u64,
    pub version: u64,
    pub short_id: u16,
    pub has_short_id: bool,
    /// Connections by remote peer name.
    pub conns: BTreeMap<PeerName, ConnSummary>,
}

impl Peer {
    pub fn new(name: PeerName, nickname: String, uid: u64, version: u64, short_id: Option<u16>) -> Peer {
        Peer {
            name,
            nickname,
            uid,
            version,
            short_id: short_id.unwrap_or(0),
            has_short_id: short_id.is_some(),
            conns: BTreeMap::new(),
        }
    }

    /// A peer known only because another peer announces a connection to it.
    fn placeholder(name: PeerName) -> Peer {
        Peer::new(name, String::new(), 0, 0, None)
    }

    fn from_summary(s: &PeerSummary, name: PeerName) -> Peer {
        Peer {
            name,
            nickname: s.nick_name.clone(),
            uid: s.uid,
            version: s.version,
            short_id: s.short_id,
            has_short_id: s.has_short_id,
            conns: BTreeMap::new(),
        }
    }

    pub fn summary(&self) -> PeerUpdate {
        let peer = PeerSummary {
            name_byte: self.name.bytes().to_vec(),
            nick_name: self.nickname.clone(),
            uid: self.uid,
            version: self.version,
            short_id: self.short_id,
            has_short_id: self.has_short_id,
        };
        let conns = self
            .conns
            .iter()
            .map(|(name, c)| ConnectionSummary {
                name_byte: name.bytes().as_slice().into(),
                remote_tcp_addr: c.remote_tcp_addr.clone(),
                outbound: c.outbound,
                established: c.established,
            })
            .collect();
        (peer, conns)
    }

    /// `name(nickname)`, as Weave prints peers.
    pub fn display(&self) -> String {
        format!("{}({})", self.name, self.nickname)
    }
}

/// Side effects of a topology change the caller must act on.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Peers garbage-collected because nothing reaches them.
    pub removed: Vec<Peer>,
    /// The owner of some short id changed: fastdp must forget what it derived from them.
    pub short_ids_invalidated: bool,
    /// Our own summary changed (version bump or new short id): broadcast it.
    pub local_modified: bool,
    /// A peer with a lower name took our short id; we pick another once the change settles.
    reassign_local_short_id: bool,
}

/// What an applied update did.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    /// Every peer named in the update (relayed for broadcasts).
    pub received: BTreeSet<PeerName>,
    /// Peers whose information was new to us (relayed for gossip).
    pub new: BTreeSet<PeerName>,
    pub changes: Changes,
}

#[derive(Debug, Default, Clone)]
struct ShortIdEntry {
    /// The peer that owns the id: the lowest name among its claimants.
    owner: Option<PeerName>,
    others: Vec<PeerName>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    Decode(#[from] TopologyError),
    #[error("topology update: a peer name is not 6 bytes")]
    BadName,
}

/// A topology gossip payload, decoded and checked (every name 6 bytes) but not yet merged:
/// decoding is the costly part and runs on the connection's task, merging on the mesh's.
#[derive(Debug, Clone, PartialEq)]
pub struct TopologyUpdate(Vec<NamedUpdate>);

/// One peer's summary and connections, with the names parsed.
type NamedUpdate = (PeerName, PeerSummary, Vec<(PeerName, ConnectionSummary)>);

impl TopologyUpdate {
    pub fn decode(payload: &[u8]) -> Result<TopologyUpdate, UpdateError> {
        let decoded = decode_topology(payload)?;
        let mut updates = Vec::with_capacity(decoded.len());
        for (summary, conns) in decoded {
            let name = summary.name().ok_or(UpdateError::BadName)?;
            let conns = conns
                .into_iter()
                .map(|c| Ok((c.name().ok_or(UpdateError::BadName)?, c)))
                .collect::<Result<Vec<_>, UpdateError>>()?;
            updates.push((name, summary, conns));
        }
        Ok(TopologyUpdate(updates))
    }
}

pub struct Peers {
    ourself: PeerName,
    /// Shared, so a status snapshot costs a pointer per peer; changed copy-on-write.
    by_name: BTreeMap<PeerName, Arc<Peer>>,
    /// Local connections referencing each peer: pinned peers survive garbage collection.
    local_refs: HashMap<PeerName, u32>,
    by_short_id: HashMap<u16, ShortIdEntry>,
    /// Each peer's summary encoded for topology gossip, until it changes.
    encoded: HashMap<PeerName, EncodedPeer>,
    parts: PartsEncoder,
    /// Picks a new short id after a collision; seeded from our UID, which differs per start,
    /// so the same inputs give the same topology.
    rng: SmallRng,
}

impl Peers {
    pub fn new(ourself: Peer) -> Peers {
        let name = ourself.name;
        let rng = SmallRng::seed_from_u64(ourself.uid);
        let mut p = Peers {
            ourself: name,
            by_name: BTreeMap::new(),
            local_refs: HashMap::from([(name, 1)]),
            by_short_id: HashMap::new(),
            encoded: HashMap::new(),
            parts: PartsEncoder::new(),
            rng,
        };
        let mut changes = Changes::default();
        p.add_by_short_id(&ourself, &mut changes);
        p.by_name.insert(name, Arc::new(ourself));
        p
    }

    pub fn ourself(&self) -> &Peer {
        &self.by_name[&self.ourself]
    }

    pub fn ourself_mut(&mut self) -> &mut Peer {
        let name = self.ourself;
        self.get_mut(&name).expect("ourself is always present")
    }

    /// A peer to change: its encoded summary is dropped.
    fn get_mut(&mut self, name: &PeerName) -> Option<&mut Peer> {
        self.encoded.remove(name);
        self.by_name.get_mut(name).map(Arc::make_mut)
    }

    fn insert(&mut self, peer: Peer) {
        self.encoded.remove(&peer.name);
        self.by_name.insert(peer.name, Arc::new(peer));
    }

    pub fn get(&self, name: &PeerName) -> Option<&Peer> {
        self.by_name.get(name).map(|p| &**p)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.by_name.values().map(|p| &**p)
    }

    /// Every peer, shared: what a status snapshot holds.
    pub fn shared(&self) -> impl Iterator<Item = &Arc<Peer>> {
        self.by_name.values()
    }

    pub fn names(&self) -> BTreeSet<PeerName> {
        self.by_name.keys().copied().collect()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The peer owning a short id (for fastdp).
    pub fn by_short_id(&self, id: u16) -> Option<PeerName> {
        self.by_short_id.get(&id).and_then(|e| e.owner)
    }

    /// A connection came up to `remote`: pin it, creating it from the handshake's information
    /// if new. Returns the UID we knew for it before (to tell restarts), if we knew it.
    pub fn fetch_with_default(&mut self, remote: Peer, changes: &mut Changes) -> Option<u64> {
        if let Some(uid) = self.fetch_and_add_ref(&remote.name) {
            return Some(uid);
        }
        self.add_by_short_id(&remote, changes);
        *self.local_refs.entry(remote.name).or_default() += 1;
        self.insert(remote);
        self.settle(changes);
        None
    }

    /// Pins a peer we must already know (connections to discovered targets).
    pub fn fetch_and_add_ref(&mut self, name: &PeerName) -> Option<u64> {
        let uid = self.by_name.get(name)?.uid;
        *self.local_refs.entry(*name).or_default() += 1;
        Some(uid)
    }

    pub fn dereference(&mut self, name: &PeerName) {
        if let Some(n) = self.local_refs.get_mut(name) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.local_refs.remove(name);
            }
        }
    }

    /// Merges a topology gossip payload. Errors leave the topology untouched.
    pub fn apply_update(&mut self, payload: &[u8]) -> Result<Applied, UpdateError> {
        Ok(self.apply_decoded(TopologyUpdate::decode(payload)?))
    }

    /// Merges a decoded topology update.
    pub fn apply_decoded(&mut self, update: TopologyUpdate) -> Applied {
        let updates = update.0;
        let mut applied = Applied::default();
        // Peers new to us: from summaries, then placeholders for names only connections mention.
        let mut fresh: BTreeSet<PeerName> = BTreeSet::new();
        for (name, summary, _) in &updates {
            if !self.by_name.contains_key(name) && fresh.insert(*name) {
                let p = Peer::from_summary(summary, *name);
                self.add_by_short_id(&p, &mut applied.changes);
                self.insert(p);
            }
        }
        for (_, _, conns) in &updates {
            for (remote, _) in conns {
                if !self.by_name.contains_key(remote) {
                    self.insert(Peer::placeholder(*remote));
                }
            }
        }

        for (name, summary, conns) in updates {
            applied.received.insert(name);
            let conns: BTreeMap<PeerName, ConnSummary> = conns
                .into_iter()
                .map(|(n, c)| {
                    let s = ConnSummary {
                        remote_tcp_addr: c.remote_tcp_addr,
                        outbound: c.outbound,
                        established: c.established,
                    };
                    (n, s)
                })
                .collect();
            if name == self.ourself {
                // Someone remembers an old incarnation of us: make ours newer.
                let us = self.ourself_mut();
                if summary.uid != us.uid && summary.version >= us.version {
                    us.version = summary.version + 1;
                    applied.changes.local_modified = true;
                }
                continue;
            }
            if fresh.contains(&name) {
                // A duplicate of this peer later in the same update is compared like any other.
                fresh.remove(&name);
                if let Some(p) = self.get_mut(&name) {
                    p.conns = conns;
                }
                applied.new.insert(name);
                continue;
            }
            let Some(existing) = self.by_name.get(&name) else { continue };
            let older = summary.version < existing.version
                || (summary.version == existing.version
                    && (summary.uid < existing.uid
                        || (summary.uid == existing.uid
                            && (!summary.has_short_id || existing.has_short_id))));
            if older {
                continue;
            }
            let short_id_changed =
                summary.short_id != existing.short_id || summary.has_short_id != existing.has_short_id;
            if short_id_changed {
                let old = Arc::clone(existing);
                self.delete_by_short_id(&old, &mut applied.changes);
            }
            let p = self.get_mut(&name).expect("checked above");
            p.version = summary.version;
            p.uid = summary.uid;
            p.nickname = summary.nick_name.clone();
            p.conns = conns;
            if short_id_changed {
                p.short_id = summary.short_id;
                p.has_short_id = summary.has_short_id;
                let updated = p.clone();
                self.add_by_short_id(&updated, &mut applied.changes);
            }
            applied.new.insert(name);
        }
        self.settle(&mut applied.changes);
        applied
    }

    /// Removes peers nothing reaches (over any connection, established or not) that no local
    /// connection pins. Must run before announcing our connections so we never gossip
    /// unreachable peers (which can make updates loop).
    pub fn garbage_collect(&mut self, changes: &mut Changes) {
        let reached = crate::routes::Graph::new(self).reachable();
        let doomed: Vec<PeerName> = self
            .by_name
            .keys()
            .filter(|name| !reached.contains(name) && !self.local_refs.contains_key(name))
            .copied()
            .collect();
        for name in doomed {
            self.encoded.remove(&name);
            if let Some(p) = self.by_name.remove(&name) {
                self.delete_by_short_id(&p, changes);
                changes.removed.push(Arc::unwrap_or_clone(p));
            }
        }
        let us = self.ourself();
        if !changes.removed.is_empty() && us.has_short_id && self.by_short_id(us.short_id) != Some(us.name) {
            changes.reassign_local_short_id = true;
        }
        self.settle(changes);
    }

    /// Finishes a change: if we lost our short id, take a free one.
    fn settle(&mut self, changes: &mut Changes) {
        if std::mem::take(&mut changes.reassign_local_short_id) {
            let mut rng = self.rng.clone();
            self.reassign_local_short_id(changes, &mut rng);
            self.rng = rng;
        }
    }

    /// Encodes the summaries of the named peers (unknown names are skipped). Each peer is
    /// encoded once per change and its bytes reused: a topology update goes to many
    /// neighbours, and a peer's summary into many updates.
    pub fn encode(&mut self, names: &BTreeSet<PeerName>) -> Vec<u8> {
        for name in names {
            if !self.encoded.contains_key(name) {
                if let Some(p) = self.by_name.get(name) {
                    let e = self.parts.encode(&p.summary());
                    self.encoded.insert(*name, e);
                }
            }
        }
        self.parts.assemble(names.iter().filter_map(|n| self.encoded.get(n)))
    }

    fn add_by_short_id(&mut self, peer: &Peer, changes: &mut Changes) {
        if !peer.has_short_id {
            return;
        }
        let entry = self.by_short_id.entry(peer.short_id).or_default();
        match entry.owner {
            None => {
                if !entry.others.is_empty() {
                    changes.short_ids_invalidated = true;
                }
                entry.owner = Some(peer.name);
            }
            // The lowest name keeps the id; if that displaces us, we must pick another.
            Some(owner) if peer.name < owner => {
                if owner == self.ourself {
                    changes.reassign_local_short_id = true;
                }
                entry.others.push(owner);
                entry.owner = Some(peer.name);
                changes.short_ids_invalidated = true;
            }
            Some(_) => entry.others.push(peer.name),
        }
    }

    fn delete_by_short_id(&mut self, peer: &Peer, changes: &mut Changes) {
        if !peer.has_short_id {
            return;
        }
        let Some(entry) = self.by_short_id.get_mut(&peer.short_id) else { return };
        if entry.owner == Some(peer.name) {
            // The lowest remaining claimant takes over.
            match entry.others.iter().enumerate().min_by_key(|(_, n)| **n).map(|(i, _)| i) {
                Some(i) => {
                    entry.owner = Some(entry.others.swap_remove(i));
                    changes.short_ids_invalidated = true;
                }
                None => entry.owner = None,
            }
        } else if let Some(i) = entry.others.iter().position(|n| *n == peer.name) {
            entry.others.swap_remove(i);
        }
        if entry.owner.is_none() && entry.others.is_empty() {
            self.by_short_id.remove(&peer.short_id);
        }
    }

    /// Moves us to a free short id after losing ours in a collision.
    fn reassign_local_short_id(&mut self, changes: &mut Changes, rng: &mut impl Rng) {
        let Some(id) = self.choose_short_id(rng) else { return };
        let us = self.ourself().clone();
        self.delete_by_short_id(&us, changes);
        let me = self.ourself_mut();
        me.short_id = id;
        me.has_short_id = true;
        me.version += 1;
        let updated = me.clone();
        self.add_by_short_id(&updated, changes);
        changes.local_modified = true;
    }

    fn choose_short_id(&self, rng: &mut impl Rng) -> Option<u16> {
        let free = |id: u16| self.by_short_id.get(&id).and_then(|e| e.owner).is_none();
        for _ in 0..10 {
            let id = rng.random_range(0..1u16 << SHORT_ID_BITS);
            if free(id) {
                return Some(id);
            }
        }
        let available: Vec<u16> = (0..1u16 << SHORT_ID_BITS).filter(|&id| free(id)).collect();
        if available.is_empty() {
            return None;
        }
        Some(available[rng.random_range(0..available.len())])
    }
}

#[cfg(test)]
mod tests;
