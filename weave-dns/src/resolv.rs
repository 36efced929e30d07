//! Upstream servers from a resolv.conf text: the `nameserver` lines (Weave reads the file at
//! most every [`RESOLV_RECHECK`], re-parsing only when it changed), minus our own listen address
//! so weaveDNS never forwards to itself.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The port used when a line gives none (Weave always uses 53).
pub const DNS_PORT: u16 = 53;
/// How long Weave keeps the parsed file before looking at it again.
pub const RESOLV_RECHECK: Duration = Duration::from_secs(5);

/// Upstream servers in file order. Accepted forms: `IP`, `IPv4:port`, `[IPv6]:port`; an IPv6
/// zone (`fe80::1%eth0`) is dropped. Host names and malformed lines are skipped (Weave would
/// try to dial them). Servers whose IP equals `exclude` are left out whatever their port, as
/// Weave compares addresses only.
pub fn nameservers(resolv_conf: &str, exclude: Option<IpAddr>) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(server)) => parse_server(server),
                _ => None,
            }
        })
        .filter(|s| Some(s.ip()) != exclude)
        .collect()
}

fn parse_server(s: &str) -> Option<SocketAddr> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa);
    }
    let ip = s.split('%').next()?.parse::<IpAddr>().ok()?;
    Some(SocketAddr::new(ip, DNS_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nameserver_lines_only() {
        let text = "# generated\nsearch example.com\nnameserver 10.0.0.2\nnameserver\n\
                    nameserver 10.0.0.3:5353 # comment\n  nameserver   fe80::1%eth0\n\
                    nameserver [2001:db8::1]:54\nnameserver dns.example\noptions ndots:2\n\
                    ;nameserver 9.9.9.9\nnameserver2 1.1.1.1\n";
        assert_eq!(
            nameservers(text, None),
            [sa("10.0.0.2:53"), sa("10.0.0.3:5353"), sa("[fe80::1]:53"), sa("[2001:db8::1]:54")]
        );
    }

    #[test]
    fn our_address_is_excluded() {
        let text = "nameserver 172.17.0.1\nnameserver 8.8.8.8\nnameserver 172.17.0.1:5353\n";
        assert_eq!(nameservers(text, Some("172.17.0.1".parse().unwrap())), [sa("8.8.8.8:53")]);
        assert!(nameservers("", None).is_empty());
    }
}
