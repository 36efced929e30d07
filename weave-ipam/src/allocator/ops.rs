//! Requests: allocate, claim and prime (which may wait for the ring or for space and are retried
//! from the pending queues), and the immediate ones: free, delete, container lifecycle, cancel.

use std::collections::BTreeSet;
use std::time::Duration;

use weave_wire::PeerName;

use super::{
    Allocator, OpError, Outcome, RequestId, CONTAINER_DIED_TIMEOUT, MIN_SUBNET_SIZE, NO_CONTAINER_ID,
};
use crate::address::{Address, Cidr, Range};
use crate::messages::Unicast;

/// Claims give up on an unreachable owner after this many tries.
const MAX_CLAIM_TRIES: u32 = 5;

#[derive(Debug, Clone)]
pub(super) struct AllocateOp {
    pub id: RequestId,
    pub ident: String,
    pub subnet: Cidr,
    pub is_container: bool,
}

#[derive(Debug, Clone)]
pub(super) struct ClaimOp {
    /// `None` once answered (or for pre-claims, which nobody waits for).
    pub id: Option<RequestId>,
    pub ident: String,
    pub cidr: Cidr,
    pub is_container: bool,
    /// Answer OK while the owner is unknown, and keep trying in the background.
    pub no_error_on_unknown: bool,
    pub tries: u32,
}

impl ClaimOp {
    pub fn new(
        id: Option<RequestId>,
        ident: String,
        cidr: Cidr,
        is_container: bool,
        no_error_on_unknown: bool,
    ) -> Self {
        ClaimOp { id, ident, cidr, is_container, no_error_on_unknown, tries: 0 }
    }
}

/// The first unicast hop needs a route; Weave's gossip layer fails the send without one.
#[derive(Debug)]
struct NoRoute(PeerName);

impl std::fmt::Display for NoRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown relay destination: {}", self.0)
    }
}

impl Allocator {
    // ---- public requests ----

    /// An address for `ident` in `subnet`: the one it already has there, else the lowest free
    /// one we own, else we ask a peer for space and answer when it arrives.
    pub fn allocate(&mut self, now: Duration, ident: &str, subnet: Cidr, is_container: bool) -> RequestId {
        self.now = now;
        let id = self.next_request_id();
        if !subnet.is_subnet() {
            self.complete(id, Err(OpError::NotASubnet(subnet)));
        } else if subnet.size() < MIN_SUBNET_SIZE || subnet.range().start >= subnet.range().end {
            self.complete(id, Err(OpError::SubnetTooSmall(subnet)));
        } else {
            let op = AllocateOp { id, ident: ident.to_string(), subnet, is_container };
            self.do_allocate(op);
        }
        self.finish();
        id
    }

    /// Records `cidr.addr` for `ident`: outside the universe just recorded; in our space taken if
    /// free; in another peer's range we ask that peer for it. With `no_error_on_unknown` the
    /// answer is OK while the ring or the owner is not reachable yet, and the claim goes on.
    pub fn claim(
        &mut self,
        now: Duration,
        ident: &str,
        cidr: Cidr,
        is_container: bool,
        no_error_on_unknown: bool,
    ) -> RequestId {
        self.now = now;
        let id = self.next_request_id();
        let op = ClaimOp::new(Some(id), ident.to_string(), cidr, is_container, no_error_on_unknown);
        if self.shutting_down {
            self.cancel_claim(op);
        } else {
            self.run_claim(op);
        }
        self.finish();
        id
    }

    /// Completes once the ring exists, starting an election if needed.
    pub fn prime(&mut self, now: Duration) -> RequestId {
        self.now = now;
        let id = self.next_request_id();
        if self.shutting_down {
            self.complete(id, Err(cancelled("Prime", "")));
        } else if !self.try_prime(id) {
            self.pending_primes.push(id);
        }
        self.finish();
        id
    }

    /// Abandons a pending request (its client went away); it completes as cancelled. False if it
    /// is not pending.
    pub fn cancel(&mut self, id: RequestId) -> bool {
        let found = if let Some(i) = self.pending_allocates.iter().position(|op| op.id == id) {
            let op = self.pending_allocates.remove(i);
            self.complete(id, Err(cancelled("Allocate", &op.ident)));
            true
        } else if let Some(i) = self.pending_claims.iter().position(|op| op.id == Some(id)) {
            let op = self.pending_claims.remove(i);
            self.cancel_claim(op);
            true
        } else if let Some(i) = self.pending_primes.iter().position(|&p| p == id) {
            self.pending_primes.remove(i);
            self.complete(id, Err(cancelled("Prime", "")));
            true
        } else {
            false
        };
        self.finish();
        found
    }

    /// Releases one address of `ident`. Execute the outputs (persistence) before answering.
    pub fn free(&mut self, ident: &str, addr: Address) -> Result<(), OpError> {
        let result = if self.remove_owned(ident, addr) {
            let _ = self.space.free(addr);
            Ok(())
        } else {
            Err(OpError::NotFound { addr, ident: ident.to_string() })
        };
        self.finish();
        result
    }

    /// Releases every address of `ident`. Execute the outputs (persistence) before answering.
    pub fn delete(&mut self, ident: &str) -> Result<(), OpError> {
        let result = self.delete_ident(ident);
        self.finish();
        result
    }

    /// The container stopped: its addresses are freed after [`CONTAINER_DIED_TIMEOUT`] unless it
    /// starts again; its pending requests are cancelled now.
    pub fn container_died(&mut self, now: Duration, ident: &str) {
        self.now = now;
        if self.has_owned_by_container(ident) {
            self.dead.insert(ident.to_string(), now);
        }
        self.cancel_ops_for(ident);
        self.finish();
    }

    /// The container is gone for good: free its addresses now.
    pub fn container_destroyed(&mut self, ident: &str) {
        if self.has_owned_by_container(ident) {
            let _ = self.delete_ident(ident);
            self.dead.remove(ident);
        }
        self.finish();
    }

    pub fn container_started(&mut self, ident: &str) {
        self.dead.remove(ident);
    }

    /// Hands `addr`, allocated here to whichever ident, to `to` (Docker's IPAM driver allocates
    /// before it knows the container; the container takes the address over once it runs). The
    /// address stays allocated throughout. Returns the previous owner.
    pub fn transfer(&mut self, addr: Address, to: &str, is_container: bool) -> Result<String, OpError> {
        let Some((from, cidr)) = self.find_owned(addr) else {
            return Err(OpError::NotFound { addr, ident: to.to_string() });
        };
        if from != to {
            self.remove_owned(&from, addr);
            self.add_owned(to, cidr, is_container);
            if !self.has_owned_by_container(&from) {
                self.dead.remove(&from);
            }
        }
        self.finish();
        Ok(from)
    }

    /// The ident that owns `addr` here, if any.
    pub fn owner_of(&self, addr: Address) -> Option<&str> {
        self.find_owner(addr)
    }

    /// Frees the addresses of container idents not in `alive` (at start-up).
    pub fn prune_owned(&mut self, alive: &BTreeSet<String>) {
        let gone: Vec<String> = self
            .owned
            .iter()
            .filter(|(k, d)| d.is_container && !alive.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for ident in gone {
            let _ = self.delete_ident(&ident);
        }
        self.finish();
    }

    // ---- internals ----

    fn delete_ident(&mut self, ident: &str) -> Result<(), OpError> {
        let cidrs = self.remove_all_owned(ident);
        if cidrs.is_empty() {
            return Err(OpError::NoAddresses(ident.to_string()));
        }
        for c in cidrs {
            let _ = self.space.free(c.addr);
        }
        Ok(())
    }

    pub(super) fn remove_dead_containers(&mut self, now: Duration) {
        let expired: Vec<String> = self
            .dead
            .iter()
            .filter(|(_, &t)| t.saturating_add(CONTAINER_DIED_TIMEOUT) < now)
            .map(|(k, _)| k.clone())
            .collect();
        for ident in expired {
            let _ = self.delete_ident(&ident);
            self.dead.remove(&ident);
        }
    }

    fn cancel_ops_for(&mut self, ident: &str) {
        let (gone, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_allocates).into_iter().partition(|op| op.ident == ident);
        self.pending_allocates = keep;
        for op in gone {
            self.complete(op.id, Err(cancelled("Allocate", &op.ident)));
        }
        let (gone, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_claims).into_iter().partition(|op| op.ident == ident);
        self.pending_claims = keep;
        for op in gone {
            self.cancel_claim(op);
        }
    }

    pub(super) fn cancel_all_ops(&mut self) {
        for op in std::mem::take(&mut self.pending_claims) {
            self.cancel_claim(op);
        }
        for op in std::mem::take(&mut self.pending_allocates) {
            self.complete(op.id, Err(cancelled("Allocate", &op.ident)));
        }
        for id in std::mem::take(&mut self.pending_primes) {
            self.complete(id, Err(cancelled("Prime", "")));
        }
    }

    fn cancel_claim(&mut self, mut op: ClaimOp) {
        let err = cancelled("Claim", &op.ident);
        self.claim_result(&mut op, Err(err));
    }

    /// Answers a claim once; later results are dropped (Weave logs them).
    fn claim_result(&mut self, op: &mut ClaimOp, result: Result<(), OpError>) {
        if let Some(id) = op.id.take() {
            self.complete(id, result.map(|()| Outcome::Claimed));
        }
    }

    fn do_allocate(&mut self, mut op: AllocateOp) {
        if self.shutting_down {
            self.complete(op.id, Err(cancelled("Allocate", &op.ident)));
        } else if !self.try_allocate(&mut op) {
            self.pending_allocates.push(op);
        }
    }

    fn run_claim(&mut self, mut op: ClaimOp) {
        if !self.try_claim(&mut op) {
            self.pending_claims.push(op);
        }
    }

    pub(super) fn have_pending_ops(&self) -> bool {
        !(self.pending_primes.is_empty()
            && self.pending_claims.is_empty()
            && self.pending_allocates.is_empty())
    }

    /// Primes first, then claims (existing addresses) before new allocations.
    pub(super) fn try_pending_ops(&mut self) {
        for id in std::mem::take(&mut self.pending_primes) {
            if !self.try_prime(id) {
                self.pending_primes.push(id);
            }
        }
        self.try_claims();
        let ops = std::mem::take(&mut self.pending_allocates);
        let mut keep = Vec::new();
        for mut op in ops {
            if !self.try_allocate(&mut op) {
                keep.push(op);
            }
        }
        // Anything queued while trying goes after.
        keep.append(&mut self.pending_allocates);
        self.pending_allocates = keep;
    }

    pub(super) fn try_claims(&mut self) {
        let ops = std::mem::take(&mut self.pending_claims);
        let mut keep = Vec::new();
        for mut op in ops {
            if !self.try_claim(&mut op) {
                keep.push(op);
            }
        }
        keep.append(&mut self.pending_claims);
        self.pending_claims = keep;
    }

    /// A SpaceRequestDenied: claims for addresses in `r` fail.
    pub(super) fn space_request_denied(&mut self, sender: PeerName, r: Range) {
        let (denied, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_claims).into_iter().partition(|op| r.contains(op.cidr.addr));
        self.pending_claims = keep;
        for mut op in denied {
            self.claim_denied(&mut op, sender, None);
        }
    }

    fn claim_denied(&mut self, op: &mut ClaimOp, owner: PeerName, reason: Option<String>) {
        let nickname = self.nicknames.get(&owner).map(|n| format!(" ({n})")).unwrap_or_default();
        let reason = reason.map(|r| format!(" - {r}")).unwrap_or_default();
        let err = OpError::OwnedByOtherPeer { cidr: op.cidr, owner, nickname, reason };
        self.claim_result(op, Err(err));
    }

    fn try_prime(&mut self, id: RequestId) -> bool {
        if !self.ring.is_empty() {
            self.complete(id, Ok(Outcome::Primed));
            return true;
        }
        self.establish_ring();
        // Unlike Weave (which answers on the next retry), answer at once if that formed the ring.
        if !self.ring.is_empty() {
            self.complete(id, Ok(Outcome::Primed));
            return true;
        }
        false
    }

    /// True when done (answered), false to retry later.
    fn try_allocate(&mut self, op: &mut AllocateOp) -> bool {
        if let Some(c) = self.owned_in_range(&op.ident, op.subnet.range()).first() {
            // Asked again: a container we heard had died is alive after all.
            self.dead.remove(&op.ident);
            self.complete(op.id, Ok(Outcome::Allocated(c.addr)));
            return true;
        }
        if !self.universe.range().overlaps(&op.subnet.range()) {
            self.complete(op.id, Err(OpError::OutOfBounds { subnet: op.subnet, universe: self.universe }));
            return true;
        }
        self.establish_ring();
        if let Some(addr) = self.space.allocate(op.subnet.host_range()) {
            if op.ident == NO_CONTAINER_ID {
                op.ident = addr.to_string();
            }
            let ident = op.ident.clone();
            self.add_owned(&ident, op.subnet.with_addr(addr), op.is_container);
            self.complete(op.id, Ok(Outcome::Allocated(addr)));
            return true;
        }
        // Out of space: ask the first reachable donor, in weighted-random order.
        let r = op.subnet.range();
        let donors = self.ring.choose_peers_to_ask_for_space(r.start, r.end, &mut self.rng);
        for donor in donors {
            if self.send_space_request(donor, r).is_ok() {
                break;
            }
        }
        false
    }

    fn send_space_request(&mut self, dst: PeerName, r: Range) -> Result<(), NoRoute> {
        if !self.is_known_peer(dst) || dst == self.our_name {
            return Err(NoRoute(dst));
        }
        self.emit(super::Output::Unicast { dst, payload: Unicast::SpaceRequest(r).encode() });
        Ok(())
    }

    fn try_claim(&mut self, op: &mut ClaimOp) -> bool {
        op.tries += 1;
        let addr = op.cidr.addr;
        let anonymous = op.ident == NO_CONTAINER_ID;
        let file_as = if anonymous { addr.to_string() } else { op.ident.clone() };

        if !self.ring.contains(addr) {
            // Outside the universe: just recorded.
            match self.find_owner(addr).map(str::to_string) {
                None => self.add_owned(&file_as, op.cidr, op.is_container),
                Some(prev) if prev == op.ident || anonymous => {}
                Some(prev) if self.dead.contains_key(&prev) => {
                    self.remove_owned(&prev, addr);
                    self.add_owned(&file_as, op.cidr, op.is_container);
                }
                Some(prev) => self.claim_result(op, Err(OpError::InUseBy { cidr: op.cidr, owner: prev })),
            }
            self.claim_result(op, Ok(()));
            return true;
        }

        self.establish_ring();
        self.dead.remove(&op.ident);

        match self.ring.owner(addr) {
            Some(owner) if owner == self.our_name => {}
            None => {
                // The ring is still empty.
                if op.no_error_on_unknown {
                    self.claim_result(op, Ok(()));
                }
                return false;
            }
            Some(owner) => {
                if let Err(e) = self.send_space_request(owner, Range::new(addr, 1)) {
                    if op.no_error_on_unknown {
                        self.claim_result(op, Ok(()));
                    } else if op.tries > MAX_CLAIM_TRIES {
                        self.claim_denied(op, owner, Some(e.to_string()));
                        return true;
                    }
                }
                return false;
            }
        }

        // Ours: check we have not given it to someone else.
        let result = match self.find_owner(addr).map(str::to_string) {
            None => match self.space.claim(addr) {
                Ok(()) => {
                    self.add_owned(&file_as, op.cidr, op.is_container);
                    Ok(())
                }
                Err(e) => Err(e.into()),
            },
            Some(existing) if existing == op.ident || (anonymous && existing == addr.to_string()) => Ok(()),
            Some(existing) if existing == addr.to_string() => Err(OpError::InUse(op.cidr)),
            // Anonymous: cannot prove it is another container, so let it have it.
            Some(_) if anonymous => Ok(()),
            Some(existing) => Err(OpError::OwnedBy { cidr: op.cidr, owner: existing }),
        };
        self.claim_result(op, result);
        true
    }
}

fn cancelled(kind: &'static str, ident: &str) -> OpError {
    OpError::Cancelled { kind, ident: ident.to_string() }
}
