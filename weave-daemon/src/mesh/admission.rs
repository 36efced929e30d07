//! Admission of incoming mesh connections before their handshake completes: anyone can open
//! TCP 6783, so what an unauthenticated connection may hold is capped. At most
//! [`Limits::per_source`] handshakes pend per source address and [`Limits::total`] overall;
//! at the overall cap a newcomer takes the slot of the oldest pending handshake of the source
//! holding the most (when that source holds more than the newcomer's would), else of the
//! oldest handshake pending longer than [`Limits::evictable_after`], else it is refused. So a
//! flood from one address, or of slow handshakes from many, leaves room for honest peers,
//! whose handshakes complete in milliseconds. No sockets and no clock here: the accept loop
//! asks, with the time, and closes what it is told to.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub total: usize,
    pub per_source: u32,
    pub evictable_after: Duration,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source already has `per_source` handshakes pending.
    Source,
    /// `total` are pending and none may be displaced.
    Total,
}

pub struct Admission<H> {
    limits: Limits,
    /// Pending handshakes by ticket, oldest first.
    pending: BTreeMap<u64, Pending<H>>,
    by_source: HashMap<IpAddr, u32>,
    next_ticket: u64,
}

struct Pending<H> {
    source: IpAddr,
    since: Instant,
    handle: H,
}

/// A connection let in: its ticket (give it back with [`Admission::done`]) and the handle of
/// the pending connection it displaced, which the caller closes.
#[derive(Debug)]
pub struct Admitted<H> {
    pub ticket: u64,
    pub evicted: Option<H>,
}

impl<H> Admission<H> {
    pub fn new(limits: Limits) -> Admission<H> {
        Admission { limits, pending: BTreeMap::new(), by_source: HashMap::new(), next_ticket: 0 }
    }

    /// A connection from `source` was accepted; `handle` is how to close it if displaced.
    pub fn admit(&mut self, now: Instant, source: IpAddr, handle: H) -> Result<Admitted<H>, Refusal> {
        let held = self.by_source.get(&source).copied().unwrap_or(0);
        if held >= self.limits.per_source {
            return Err(Refusal::Source);
        }
        let mut evicted = None;
        if self.pending.len() >= self.limits.total {
            let victim = self.victim(now, held).ok_or(Refusal::Total)?;
            evicted = self.remove(victim);
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.pending.insert(ticket, Pending { source, since: now, handle });
        *self.by_source.entry(source).or_default() += 1;
        Ok(Admitted { ticket, evicted })
    }

    /// The handshake of `ticket` ended (completed, failed or timed out).
    pub fn done(&mut self, ticket: u64) {
        self.remove(ticket);
    }

    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whose slot a newcomer from a source holding `held` takes: the oldest of the heaviest
    /// source if it holds more than the newcomer would, else the oldest if it is slow.
    fn victim(&self, now: Instant, held: u32) -> Option<u64> {
        let (heaviest, most) = self.by_source.iter().max_by_key(|(_, n)| **n)?;
        if *most > held + 1 {
            return self.pending.iter().find(|(_, p)| p.source == *heaviest).map(|(t, _)| *t);
        }
        let (&oldest, p) = self.pending.first_key_value()?;
        (now.saturating_duration_since(p.since) >= self.limits.evictable_after).then_some(oldest)
    }

    fn remove(&mut self, ticket: u64) -> Option<H> {
        let p = self.pending.remove(&ticket)?;
        if let Some(n) = self.by_source.get_mut(&p.source) {
            *n -= 1;
            if *n == 0 {
                self.by_source.remove(&p.source);
            }
        }
        Some(p.handle)
    }
}

/// Rate-limits a repeating log line: at most `burst` lines per `window`; what was held back is
/// counted and reported with the next line let through.
pub struct LogLimit {
    window: Duration,
    burst: u32,
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogLimit {
    pub const fn new(window: Duration, burst: u32) -> LogLimit {
        LogLimit { window, burst, started: None, logged: 0, suppressed: 0 }
    }

    /// Whether to log now; `Some(n)`: yes, and `n` lines were held back since the last one.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self.started.is_none_or(|s| now.saturating_duration_since(s) >= self.window) {
            self.started = Some(now);
            self.logged = 0;
        }
        if self.logged >= self.burst {
            self.suppressed += 1;
            return None;
        }
        self.logged += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { total: 4, per_source: 2, evictable_after: Duration::from_secs(1) };

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn a_source_gets_at_most_its_share_and_gets_it_back() {
        let t0 = Instant::now();
        let mut a = Admission::new(LIMITS);
        let first = a.admit(t0, ip(1), "a").unwrap();
        a.admit(t0, ip(1), "b").unwrap();
        assert_eq!(a.admit(t0, ip(1), "c").unwrap_err(), Refusal::Source);
        a.done(first.ticket);
        assert!(a.admit(t0, ip(1), "d").unwrap().evicted.is_none());
        assert_eq!(a.pending(), 2);
    }

    #[test]
    fn at_the_cap_a_newcomer_displaces_the_heaviest_source() {
        let t0 = Instant::now();
        let mut a = Admission::new(LIMITS);
        a.admit(t0, ip(1), "1a").unwrap();
        a.admit(t0, ip(2), "2a").unwrap();
        a.admit(t0, ip(2), "2b").unwrap();
        a.admit(t0, ip(3), "3a").unwrap();
        // Full, and young: source 3 holds one, as many as the heaviest would leave it.
        assert_eq!(a.admit(t0, ip(3), "3b").unwrap_err(), Refusal::Total);
        // A new source takes the oldest slot of the heaviest one.
        let got = a.admit(t0, ip(4), "4a").unwrap();
        assert_eq!(got.evicted, Some("2a"));
        assert_eq!(a.pending(), 4);
    }

    #[test]
    fn at_the_cap_slow_handshakes_make_room() {
        let t0 = Instant::now();
        let mut a = Admission::new(LIMITS);
        for n in 1..=4 {
            a.admit(t0 + Duration::from_millis(n as u64), ip(n), n).unwrap();
        }
        assert_eq!(a.admit(t0 + Duration::from_millis(500), ip(5), 5).unwrap_err(), Refusal::Total);
        let got = a.admit(t0 + Duration::from_millis(1001), ip(5), 5).unwrap();
        assert_eq!(got.evicted, Some(1), "the oldest, pending for over a second");
        // A displaced ticket given back later changes nothing.
        a.done(0);
        assert_eq!(a.pending(), 4);
    }

    #[test]
    fn the_log_limit_lets_a_burst_through_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut l = LogLimit::new(Duration::from_secs(10), 2);
        assert_eq!(l.allow(t0), Some(0));
        assert_eq!(l.allow(t0), Some(0));
        assert_eq!(l.allow(t0), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(10)), Some(2));
    }
}
