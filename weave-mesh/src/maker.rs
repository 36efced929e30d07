//! The connection maker: which addresses to dial and when, as mesh's `connection_maker.go`.
//! Targets are the direct peers (command line, `weave connect`, persisted) and, with
//! discovery, the addresses of connections other peers announce. Failures back off: the next
//! try is at interval/2 + rand(interval), the interval then grows ×1.5 up to 6 minutes.

use rand::{Rng, RngExt};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use weave_wire::PeerName;

const INITIAL_INTERVAL: Duration = Duration::from_secs(2);
/// How long a peer waits before dialling a newly discovered peer with a smaller name, which
/// dials it meanwhile (unless it cannot reach us).
const DISCOVERED_DEFER: Duration = Duration::from_secs(3);
const MAX_INTERVAL: Duration = Duration::from_secs(6 * 60);
/// A connection that lasted this long past its scheduled try is retried at once when it ends.
const RESET_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Waiting,
    Attempting,
    Connected,
    Suspended,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub state: TargetState,
    pub last_error: Option<String>,
    /// `None` means never (name collision, connecting to ourselves).
    pub try_after: Option<Instant>,
    try_interval: Duration,
    /// The peer expected at this address: the one its last connection reached, or the one
    /// another peer announces there. Lets a status reader tell which peer a failing target is.
    pub peer: Option<PeerName>,
}

impl Target {
    fn new(now: Instant) -> Target {
        Target {
            state: TargetState::Waiting,
            last_error: None,
            try_after: Some(now),
            try_interval: INITIAL_INTERVAL,
            peer: None,
        }
    }

    fn try_now(&mut self, now: Instant) {
        self.try_after = Some(now);
        self.try_interval = INITIAL_INTERVAL;
    }

    fn try_never(&mut self) {
        self.try_after = None;
        self.try_interval = MAX_INTERVAL;
    }

    fn try_later(&mut self, now: Instant, rng: &mut impl Rng) {
        let jitter = rng.random_range(0..self.try_interval.as_nanos().max(1) as u64);
        self.try_after = Some(now + self.try_interval / 2 + Duration::from_nanos(jitter));
        self.try_interval = (self.try_interval * 3 / 2).min(MAX_INTERVAL);
    }
}

/// How a connection ended, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Error,
    /// The remote is ourselves: never retry, and do not count as a termination.
    ConnectToSelf,
    /// Another peer has our name: never retry.
    NameCollision,
}

/// One of our connections, as the maker needs to see it.
pub struct OurConn<'a> {
    pub peer: PeerName,
    pub addr: &'a str,
    pub outbound: bool,
}

/// A dial the core should start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub address: String,
    /// Direct targets may introduce new peers; discovered ones must be known already.
    pub accept_new_peer: bool,
}

pub struct ConnectionMaker {
    port: u16,
    discovery: bool,
    /// Direct peers as the user wrote them, with their resolved address (port 0 = none given).
    direct: BTreeMap<String, SocketAddr>,
    targets: BTreeMap<String, Target>,
    pub termination_count: u64,
}

impl ConnectionMaker {
    pub fn new(port: u16, discovery: bool) -> ConnectionMaker {
        ConnectionMaker {
            port,
            discovery,
            direct: BTreeMap::new(),
            targets: BTreeMap::new(),
            termination_count: 0,
        }
    }

    /// `weave connect [--replace]`: adds direct peers; known targets among them are tried now.
    pub fn initiate(&mut self, now: Instant, peers: Vec<(String, SocketAddr)>, replace: bool) {
        if replace {
            self.direct.clear();
        }
        for (peer, addr) in peers {
            let complete = self.complete(addr);
            self.direct.insert(peer, addr);
            if let Some(t) = self.targets.get_mut(&complete) {
                t.try_now(now);
            }
        }
    }

    /// `weave forget`: removes direct peers (their connections stay up).
    pub fn forget(&mut self, peers: &[String]) {
        for p in peers {
            self.direct.remove(p);
        }
    }

    /// The direct peers; with `active_only`, without those we will never retry.
    pub fn direct_peers(&self, active_only: bool) -> Vec<String> {
        self.direct
            .iter()
            .filter(|(_, addr)| {
                !active_only || self.targets.get(&self.complete(**addr)).is_none_or(|t| t.try_after.is_some())
            })
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn targets(&self) -> &BTreeMap<String, Target> {
        &self.targets
    }

    pub fn dial_failed(&mut self, now: Instant, address: &str, error: String, rng: &mut impl Rng) {
        if let Some(t) = self.targets.get_mut(address) {
            t.state = TargetState::Waiting;
            t.last_error = Some(error);
            t.try_later(now, rng);
        }
    }

    /// An outbound connection to `address` reached `peer`.
    pub fn connection_created(&mut self, address: &str, outbound: bool, peer: PeerName) {
        if outbound {
            if let Some(t) = self.targets.get_mut(address) {
                t.state = TargetState::Connected;
                t.peer = Some(peer);
            }
        }
    }

    pub fn connection_terminated(
        &mut self,
        now: Instant,
        address: &str,
        outbound: bool,
        ending: Ending,
        error: String,
        rng: &mut impl Rng,
    ) {
        if ending != Ending::ConnectToSelf {
            self.termination_count += 1;
        }
        if !outbound {
            return;
        }
        let Some(t) = self.targets.get_mut(address) else { return };
        t.state = TargetState::Waiting;
        t.last_error = Some(error);
        match ending {
            Ending::ConnectToSelf | Ending::NameCollision => t.try_never(),
            Ending::Error if t.try_after.is_some_and(|after| now > after + RESET_AFTER) => t.try_now(now),
            Ending::Error => t.try_later(now, rng),
        }
    }

    /// Works out the targets from direct peers and discovery, starts the attempts that are due,
    /// and returns them with the time of the next due attempt.
    pub fn run(
        &mut self,
        now: Instant,
        ours: &[OurConn<'_>],
        peers: &super::peers::Peers,
    ) -> (Vec<Attempt>, Option<Instant>) {
        let connected_peers: BTreeSet<PeerName> = ours.iter().map(|c| c.peer).collect();
        let connected_addrs: BTreeSet<&str> = ours.iter().map(|c| c.addr).collect();
        let inbound_ips: BTreeSet<String> = ours
            .iter()
            .filter(|c| !c.outbound)
            .filter_map(|c| c.addr.parse::<SocketAddr>().ok().map(|a| a.ip().to_string()))
            .collect();

        let mut valid: BTreeSet<String> = BTreeSet::new();
        let mut direct: BTreeSet<String> = BTreeSet::new();
        let mut wanted: Vec<String> = Vec::new();
        // Who other peers announce at a discovered address.
        let mut announced: BTreeMap<String, PeerName> = BTreeMap::new();
        for addr in self.direct.values() {
            // A peer given without a port is not dialled while it is connected to us inbound.
            let attempt = addr.port() != 0 || !inbound_ips.contains(&addr.ip().to_string());
            let complete = self.complete(*addr);
            direct.insert(complete.clone());
            if attempt {
                wanted.push(complete);
            }
        }
        if self.discovery {
            let us = peers.ourself().name;
            for peer in peers.iter().filter(|p| p.name != us) {
                for (other, c) in &peer.conns {
                    if *other == us || connected_peers.contains(other) {
                        continue;
                    }
                    let address = if c.outbound {
                        c.remote_tcp_addr.to_string()
                    } else if let Ok(a) = c.remote_tcp_addr.parse::<SocketAddr>() {
                        SocketAddr::new(a.ip(), self.port).to_string()
                    } else {
                        continue;
                    };
                    announced.insert(address.clone(), *other);
                    wanted.push(address);
                }
            }
        }
        let us = peers.ourself().name;
        for address in wanted {
            if connected_addrs.contains(address.as_str()) {
                continue;
            }
            let peer = announced.get(&address).copied();
            let t = self.targets.entry(address.clone()).or_insert_with(|| {
                let mut t = Target::new(now);
                // Two peers that learn of each other together would both dial, and one of the
                // two connections be dropped at both ends (after a handshake and a full
                // exchange of gossip each): of a newly discovered pair, the peer with the
                // smaller name dials first.
                if peer.is_some_and(|p| p < us) && !direct.contains(&address) {
                    t.try_after = Some(now + DISCOVERED_DEFER);
                }
                t
            });
            if peer.is_some() {
                t.peer = peer;
            }
            valid.insert(address);
        }

        let mut attempts = Vec::new();
        let mut next: Option<Instant> = None;
        let mut drop = Vec::new();
        for (address, t) in self.targets.iter_mut() {
            if t.state != TargetState::Waiting && t.state != TargetState::Suspended {
                continue;
            }
            if !valid.contains(address) {
                if direct.contains(address) {
                    t.state = TargetState::Suspended;
                } else {
                    drop.push(address.clone());
                }
                continue;
            }
            let Some(after) = t.try_after else { continue };
            t.state = TargetState::Waiting;
            if after <= now {
                t.state = TargetState::Attempting;
                attempts
                    .push(Attempt { address: address.clone(), accept_new_peer: direct.contains(address) });
            } else if next.is_none_or(|n| after < n) {
                next = Some(after);
            }
        }
        for a in drop {
            self.targets.remove(&a);
        }
        (attempts, next)
    }

    fn complete(&self, addr: SocketAddr) -> String {
        let port = if addr.port() == 0 { self.port } else { addr.port() };
        SocketAddr::new(addr.ip(), port).to_string()
    }
}

#[cfg(test)]
mod tests;
