//! Who weaveDNS answers, and how often: the networks its clients may query from (so it is no
//! open resolver for whoever can reach the host) and a token bucket per client address (so no
//! one client, or forged sources, can make it flood someone). Pure: the caller passes the time.
//!
//! The daemon allows loopback, the weave bridge's subnets, the allocation range, the subnets of
//! a specific listen address and whatever `--dns-allow-from` adds; loopback is never limited
//! (it is the host itself, and sources on it cannot be forged from outside).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// The networks queries are answered for (besides loopback, always allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientNets {
    nets: Vec<IpNet>,
}

impl ClientNets {
    pub fn new(mut nets: Vec<IpNet>) -> ClientNets {
        nets.sort();
        nets.dedup();
        ClientNets { nets }
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_loopback() || self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 client) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Queries per second a client may send on average, and in a burst.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// Weave's clients are containers resolving names: hundreds a second is plenty.
pub const DEFAULT_RATE: Rate = Rate { per_second: 500, burst: 1000 };
/// Clients tracked at once; beyond that, new ones share one bucket.
pub const MAX_CLIENTS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Duration,
}

/// A token bucket per client address, in a table of bounded size.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    max_clients: usize,
    clients: HashMap<IpAddr, Bucket>,
    /// Shared by clients that found the table full.
    overflow: Bucket,
}

impl RateLimiter {
    pub fn new(rate: Rate, max_clients: usize) -> RateLimiter {
        let full = Bucket { tokens: f64::from(rate.burst), at: Duration::ZERO };
        RateLimiter { rate, max_clients, clients: HashMap::new(), overflow: full }
    }

    /// Whether `client` may have one more answer at `now` (any monotonic clock). Loopback
    /// always may.
    pub fn allow(&mut self, client: IpAddr, now: Duration) -> bool {
        let client = canonical(client);
        if client.is_loopback() {
            return true;
        }
        let rate = self.rate;
        if !self.clients.contains_key(&client) && self.clients.len() >= self.max_clients {
            // Buckets refilled to the brim are as good as absent.
            self.clients.retain(|_, b| refill(rate, *b, now).tokens < f64::from(rate.burst));
        }
        let bucket = if self.clients.len() < self.max_clients || self.clients.contains_key(&client) {
            self.clients.entry(client).or_insert(Bucket { tokens: f64::from(rate.burst), at: now })
        } else {
            &mut self.overflow
        };
        *bucket = refill(rate, *bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Clients tracked now.
    pub fn tracked(&self) -> usize {
        self.clients.len()
    }
}

fn refill(rate: Rate, b: Bucket, now: Duration) -> Bucket {
    let elapsed = now.saturating_sub(b.at).as_secs_f64();
    let tokens = (b.tokens + elapsed * f64::from(rate.per_second)).min(f64::from(rate.burst));
    Bucket { tokens, at: now.max(b.at) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_and_listed_networks_only() {
        let nets = ClientNets::new(vec!["10.32.0.0/12".parse().unwrap(), "172.17.0.0/16".parse().unwrap()]);
        for ok in
            ["127.0.0.1", "127.9.9.9", "::1", "10.32.0.5", "10.47.255.255", "172.17.0.2", "::ffff:10.32.1.1"]
        {
            assert!(nets.allows(ip(ok)), "{ok}");
        }
        for no in ["10.48.0.1", "192.168.77.2", "10.99.0.2", "8.8.8.8", "2001:db8::1"] {
            assert!(!nets.allows(ip(no)), "{no}");
        }
        assert!(!ClientNets::default().allows(ip("10.32.0.1")));
    }

    #[test]
    fn a_client_gets_its_burst_then_its_rate() {
        let mut l = RateLimiter::new(Rate { per_second: 10, burst: 20 }, 8);
        let t0 = Duration::from_secs(100);
        let c = ip("10.32.0.9");
        assert_eq!((0..30).filter(|_| l.allow(c, t0)).count(), 20);
        // Half a second later: 5 more.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..30).filter(|_| l.allow(c, t1)).count(), 5);
        // Another client is not affected; loopback never is.
        assert!(l.allow(ip("10.32.0.10"), t1));
        assert_eq!((0..5000).filter(|_| l.allow(ip("127.0.0.1"), t1)).count(), 5000);
    }

    #[test]
    fn the_table_is_bounded_and_newcomers_share_a_bucket_when_it_is_full() {
        let mut l = RateLimiter::new(Rate { per_second: 1, burst: 2 }, 4);
        let t = Duration::from_secs(1);
        for i in 0..4 {
            assert!(l.allow(ip(&format!("10.0.0.{i}")), t));
        }
        assert_eq!(l.tracked(), 4);
        // Forged sources beyond the table share the overflow bucket: 2, then nothing.
        let admitted = (10..200).filter(|i| l.allow(ip(&format!("10.0.1.{i}")), t)).count();
        assert_eq!(admitted, 2);
        assert_eq!(l.tracked(), 4);
        // Once the tracked clients' buckets are full again, their places are free.
        let later = t + Duration::from_secs(10);
        assert!(l.allow(ip("10.0.2.1"), later));
        assert_eq!(l.tracked(), 1);
    }
}
