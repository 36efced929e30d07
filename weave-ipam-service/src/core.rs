//! The allocator behind the daemon's one IPAM lock, and the execution of what it asks for:
//! persist (durably, before anything after it), answer waiting requests, and send messages.
//!
//! Persisting is a group commit. Under the IPAM lock a batch of outputs is *staged*
//! ([`Core::stage`]): its changes (the allocator emits deltas) are folded into the
//! [`Persister`]'s pending delta under a new generation number, and the answers and messages
//! of the batch are held back. [`Batch::finish`] then makes that generation durable, writing
//! the whole pending delta (which includes every earlier generation), so concurrent requests
//! share one fsync; only then are the answers given and the messages returned for sending. Operations whose effects others could observe before
//! they are on disk (gossip callbacks, which may give space away; shutdown; rmpeer) finish
//! their batch while still holding the lock, so nothing reads their state early.

use super::store;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use weave_api::{Event, IpamGossipError};
use weave_ipam::persist::{PersistDelta, PersistedState};
use weave_ipam::{Allocator, OpError, Outcome, Output, PeerName, RequestId};
use weave_store::{Store, StoreError};

/// How many refused gossip messages status remembers.
const MAX_ERRORS: usize = 16;

pub type Answer = Result<Outcome, OpError>;

/// Messages to send on the `IPallocation` channel after the lock is released.
#[derive(Default, Debug)]
pub struct Sends {
    /// Broadcast our current state.
    pub broadcast: bool,
    pub unicasts: Vec<(PeerName, Vec<u8>)>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The durable side: the changes staged and not yet written, and what is on disk.
pub struct Persister {
    store: Store,
    events: broadcast::Sender<Event>,
    staged: Mutex<Staged>,
    /// Held while writing, so commits happen one at a time.
    committed: Mutex<Committed>,
}

struct Staged {
    /// Every staged change since the last write, folded together.
    delta: Option<PersistDelta>,
    gen: u64,
}

struct Committed {
    gen: u64,
    /// What is on disk now (deltas are applied to it, and events taken from the difference).
    last: Option<PersistedState>,
    /// A write failed: nothing more is made durable (the daemon stops, as Weave's fatal).
    failed: Option<String>,
    /// Transactions written (each is one fsync).
    writes: u64,
}

impl Persister {
    pub fn new(store: Store, events: broadcast::Sender<Event>, on_disk: Option<PersistedState>) -> Persister {
        Persister {
            store,
            events,
            staged: Mutex::new(Staged { delta: None, gen: 0 }),
            committed: Mutex::new(Committed { gen: 0, last: on_disk, failed: None, writes: 0 }),
        }
    }

    pub fn failed(&self) -> Option<String> {
        locked(&self.committed).failed.clone()
    }

    fn stage(&self, delta: PersistDelta) -> u64 {
        let mut s = locked(&self.staged);
        s.gen += 1;
        match &mut s.delta {
            Some(d) => d.merge(delta),
            None => s.delta = Some(delta),
        }
        s.gen
    }

    /// Makes generation `gen` durable: done already by another commit, or by writing every
    /// change staged so far now.
    fn flush(&self, gen: u64) -> Result<(), StoreError> {
        let mut c = locked(&self.committed);
        let failed =
            |why: &str| StoreError::Io { path: self.store.path().to_path_buf(), detail: why.to_string() };
        if let Some(why) = &c.failed {
            return Err(failed(why));
        }
        if c.gen >= gen {
            return Ok(());
        }
        let (delta, newest) = {
            let mut s = locked(&self.staged);
            (s.delta.take(), s.gen)
        };
        // Taken only under `committed`, which then records its generation: not missing.
        let Some(delta) = delta else { return Err(failed("IPAM state to persist went missing")) };
        if let Err(e) = store::save(&self.store, c.last.as_ref(), &delta) {
            tracing::error!("persisting IPAM state: {e}");
            c.failed = Some(e.to_string());
            return Err(e);
        }
        let events = changes(c.last.as_ref(), &delta);
        delta.apply_to(&mut c.last);
        c.gen = newest;
        c.writes += 1;
        tracing::trace!(writes = c.writes, generation = newest, "IPAM state persisted");
        // Still under `committed`: events leave in the order of the commits.
        for e in events {
            let _ = self.events.send(e);
        }
        Ok(())
    }
}

/// A staged batch: answers and messages that wait for generation `gen` to be durable.
#[must_use]
pub struct Batch {
    gen: Option<u64>,
    answers: Vec<(oneshot::Sender<Answer>, Answer)>,
    sends: Sends,
}

impl Batch {
    /// Waits until the batch's state is durable, then answers; returns what to send. On a
    /// failure nothing is answered (the waiters see their request dropped) or sent.
    pub fn finish(self, persister: &Persister) -> Result<Sends, StoreError> {
        if let Some(gen) = self.gen {
            persister.flush(gen)?;
        }
        for (tx, answer) in self.answers {
            let _ = tx.send(answer);
        }
        Ok(self.sends)
    }
}

/// Everything behind the IPAM lock.
pub struct Core {
    pub alloc: Allocator,
    /// Requests waiting for their `Completed`.
    pub waiters: HashMap<RequestId, oneshot::Sender<Answer>>,
    /// Peers in the topology (`is_known_peer`).
    pub known: BTreeSet<PeerName>,
    pub errors: VecDeque<IpamGossipError>,
}

impl Core {
    pub fn new(alloc: Allocator) -> Core {
        Core { alloc, waiters: HashMap::new(), known: BTreeSet::new(), errors: VecDeque::new() }
    }

    /// Takes the allocator's outputs: the changes to persist are staged, everything else is
    /// held in the batch until they are durable.
    pub fn stage(&mut self, persister: &Persister) -> Batch {
        let mut batch = Batch { gen: None, answers: Vec::new(), sends: Sends::default() };
        let mut delta: Option<PersistDelta> = None;
        for out in self.alloc.take_outputs() {
            match out {
                Output::Persist(d) => match &mut delta {
                    Some(acc) => acc.merge(d),
                    None => delta = Some(d),
                },
                Output::Broadcast(_) => batch.sends.broadcast = true,
                Output::Unicast { dst, payload } => batch.sends.unicasts.push((dst, payload)),
                Output::Completed { id, result } => {
                    if let Some(tx) = self.waiters.remove(&id) {
                        batch.answers.push((tx, result));
                    }
                }
            }
        }
        batch.gen = delta.map(|d| persister.stage(d));
        batch
    }

    /// Remembers refused gossip for status, folding repeats.
    pub fn record_error(&mut self, peer: Option<PeerName>, error: String, now: Duration) -> bool {
        let peer = peer.map(|p| p.to_string());
        if let Some(last) = self.errors.back_mut() {
            if last.peer == peer && last.error == error {
                last.count += 1;
                last.at = now.as_secs();
                return false;
            }
        }
        if self.errors.len() == MAX_ERRORS {
            self.errors.pop_front();
        }
        self.errors.push_back(IpamGossipError { peer, error, at: now.as_secs(), count: 1 });
        true
    }

    /// Sets the known peers (ourselves excluded) in the allocator.
    pub fn set_known(&mut self, known: BTreeSet<PeerName>) {
        self.known = known;
        self.alloc.set_known_peers(self.known.iter().copied());
    }
}

/// Events for what a delta changes in the stored state `prev`: addresses added and removed,
/// and the ring's ownership (not its free counts, which change with every allocation).
fn changes(prev: Option<&PersistedState>, delta: &PersistDelta) -> Vec<Event> {
    let mut out = Vec::new();
    let before = |ident: &str| -> Vec<weave_ipam::Cidr> {
        match prev {
            Some(p) if !delta.reset => p.owned.get(ident).map(|d| d.cidrs.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    };
    if let (Some(p), true) = (prev, delta.reset) {
        // Owners dropped by a fresh start.
        for (ident, d) in p.owned.iter().filter(|(k, _)| !delta.owned.contains_key(*k)) {
            for c in &d.cidrs {
                out.push(Event::AllocationRemoved { ident: ident.clone(), cidr: c.to_string() });
            }
        }
    }
    for (ident, after) in &delta.owned {
        let old = before(ident);
        let new = after.as_ref().map(|d| d.cidrs.clone()).unwrap_or_default();
        for c in new.iter().filter(|c| !old.contains(c)) {
            out.push(Event::AllocationAdded { ident: ident.clone(), cidr: c.to_string() });
        }
        for c in old.iter().filter(|c| !new.contains(c)) {
            out.push(Event::AllocationRemoved { ident: ident.clone(), cidr: c.to_string() });
        }
    }
    let ownership = |r: Option<&weave_ipam::ring::Ring>| -> Vec<(u32, u64)> {
        r.map(|r| r.entries.iter().map(|e| (e.token.0, e.peer.0)).collect()).unwrap_or_default()
    };
    if ownership(prev.and_then(|p| p.ring.as_ref())) != ownership(delta.ring.as_ref()) {
        if let Some(ring) = &delta.ring {
            let owned: u64 = ring.owned_ranges().iter().map(|r| u64::from(r.size())).sum();
            let owners = ring.peer_names().len() as u32;
            out.push(Event::RingChanged { owned, owners });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use weave_ipam::persist::OwnedData;
    use weave_ipam::ring::Ring;
    use weave_ipam::{Address, Cidr};

    /// Sixteen requests staged while a commit is under way share the next one: one write.
    #[test]
    fn staged_changes_share_one_commit() {
        let dir = std::env::temp_dir().join(format!("weave-ipam-group-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir.join("weave.db")).unwrap();
        let (events, _) = broadcast::channel(64);
        let p = Persister::new(store.clone(), events, None);
        let a = PeerName(1);
        let ring = Ring::new(Address(0x0a20_0000), Address(0x0a20_0100), a).unwrap();
        let delta = |i: u32| PersistDelta {
            reset: i == 0,
            peer_name: a,
            ring: Some(ring.clone()),
            owned: BTreeMap::from([(
                format!("c{i}"),
                Some(OwnedData { is_container: true, cidrs: vec![Cidr::new(Address(0x0a20_0001 + i), 24)] }),
            )]),
        };
        // A commit in progress: everyone staged meanwhile waits for it.
        let busy = locked(&p.committed);
        let gens: Vec<u64> = (0..16).map(|i| p.stage(delta(i))).collect();
        std::thread::scope(|s| {
            let waiters: Vec<_> = gens
                .iter()
                .map(|&g| {
                    s.spawn({
                        let p = &p;
                        move || p.flush(g)
                    })
                })
                .collect();
            drop(busy);
            for w in waiters {
                w.join().unwrap().unwrap();
            }
        });
        assert_eq!(locked(&p.committed).writes, 1);
        let stored = store::load(&store).unwrap().unwrap();
        assert_eq!(stored.owned.len(), 16);
        drop((p, store));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn changes_name_added_and_removed_addresses_and_ownership() {
        let a = PeerName(1);
        let mut ring = Ring::new(Address(0x0a20_0000), Address(0x0a20_0100), a).unwrap();
        let mut s1 = PersistedState { peer_name: a, ring: Some(ring.clone()), owned: BTreeMap::new() };
        s1.owned.insert(
            "x".into(),
            OwnedData { is_container: true, cidrs: vec!["10.32.0.1/24".parse().unwrap()] },
        );
        ring.claim_for_peers(&[a]).unwrap();
        let mut s2 = s1.clone();
        s2.ring = Some(ring);
        s2.owned.remove("x");
        s2.owned.insert(
            "y".into(),
            OwnedData { is_container: true, cidrs: vec!["10.32.0.2/24".parse().unwrap()] },
        );
        let mut delta = PersistDelta {
            reset: false,
            peer_name: a,
            ring: s2.ring.clone(),
            owned: BTreeMap::from([("x".to_string(), None), ("y".to_string(), s2.owned.get("y").cloned())]),
        };
        let ev = changes(Some(&s1), &delta);
        assert_eq!(
            ev,
            vec![
                Event::AllocationRemoved { ident: "x".into(), cidr: "10.32.0.1/24".into() },
                Event::AllocationAdded { ident: "y".into(), cidr: "10.32.0.2/24".into() },
                Event::RingChanged { owned: 256, owners: 1 },
            ]
        );
        delta.owned.clear();
        assert!(changes(Some(&s2), &delta).is_empty());
    }
}
