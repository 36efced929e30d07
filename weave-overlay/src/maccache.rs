//! Where each MAC address lives: the peer that last sent a frame from it, as Weave's
//! `mac_cache.go`. Read on every frame, written only when something changes (or once per tenth
//! of the maximum age), so the datapath mostly takes the read lock.

use super::fxhash::FxHashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use weave_wire::PeerName;

/// Entries not refreshed for this long are forgotten.
pub const MAX_AGE: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone, Copy)]
struct Entry {
    peer: PeerName,
    last_seen: Instant,
}

/// What adding a MAC did.
#[derive(Debug, PartialEq, Eq)]
pub enum Learned {
    Known,
    New,
    /// The MAC was at another peer. For forced adds it has moved; otherwise it was refused.
    Conflict(PeerName),
}

#[derive(Default)]
pub struct MacCache {
    table: RwLock<FxHashMap<[u8; 6], Entry>>,
}

impl MacCache {
    /// Records a MAC seen from a local port: refused if it is known at another peer.
    pub fn add_local(&self, mac: [u8; 6], us: PeerName, now: Instant) -> Learned {
        self.add(mac, us, now, false)
    }

    /// Records a MAC seen in a frame forwarded from `peer`: moves it if it was elsewhere.
    pub fn add_forced(&self, mac: [u8; 6], peer: PeerName, now: Instant) -> Learned {
        self.add(mac, peer, now, true)
    }

    fn add(&self, mac: [u8; 6], peer: PeerName, now: Instant, force: bool) -> Learned {
        {
            let t = self.table.read().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = t.get(&mac) {
                if e.peer == peer && now < e.last_seen + MAX_AGE / 10 {
                    return Learned::Known;
                }
            }
        }
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        match t.get_mut(&mac) {
            None => {
                t.insert(mac, Entry { peer, last_seen: now });
                Learned::New
            }
            Some(e) if e.peer != peer => {
                let was = e.peer;
                if force {
                    *e = Entry { peer, last_seen: now };
                }
                Learned::Conflict(was)
            }
            Some(e) => {
                e.last_seen = now;
                Learned::Known
            }
        }
    }

    pub fn lookup(&self, mac: &[u8; 6]) -> Option<PeerName> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).get(mac).map(|e| e.peer)
    }

    /// Forgets every MAC of a peer that left.
    pub fn delete_peer(&self, peer: PeerName) {
        self.table.write().unwrap_or_else(|e| e.into_inner()).retain(|_, e| e.peer != peer);
    }

    /// Forgets entries older than [`MAX_AGE`]; returns how many.
    pub fn expire(&self, now: Instant) -> usize {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        let before = t.len();
        t.retain(|_, e| now < e.last_seen + MAX_AGE);
        before - t.len()
    }

    /// (MAC, peer, last seen) for status.
    pub fn entries(&self) -> Vec<([u8; 6], PeerName, Instant)> {
        self.table
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(m, e)| (*m, e.peer, e.last_seen))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // a base for virtual time
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn local_macs_do_not_move_but_forwarded_ones_do() {
        let c = MacCache::default();
        let (us, them) = (PeerName(1), PeerName(2));
        let t = t0();
        let m = [2, 0, 0, 0, 0, 1];
        assert_eq!(c.add_forced(m, them, t), Learned::New);
        assert_eq!(c.add_local(m, us, t), Learned::Conflict(them));
        assert_eq!(c.lookup(&m), Some(them));
        assert_eq!(c.add_forced(m, us, t), Learned::Conflict(them));
        assert_eq!(c.lookup(&m), Some(us));
        assert_eq!(c.add_local(m, us, t), Learned::Known);
    }

    #[test]
    fn entries_expire_and_go_with_their_peer() {
        let c = MacCache::default();
        let t = t0();
        c.add_forced([1; 6], PeerName(2), t);
        c.add_forced([2; 6], PeerName(3), t + MAX_AGE / 2);
        assert_eq!(c.expire(t + MAX_AGE + Duration::from_secs(1)), 1);
        c.delete_peer(PeerName(3));
        assert!(c.entries().is_empty());
    }
}
