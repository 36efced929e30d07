//! The upstream servers named in a resolv.conf file.

use std::net::IpAddr;
use std::path::Path;

/// `nameserver` lines of `path`, skipping `exclude` (our own listen address, so weaveDNS never
/// forwards to itself). A missing or unreadable file gives no servers.
pub fn nameservers(path: &Path, exclude: Option<IpAddr>) -> Vec<IpAddr> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    parse(&text).into_iter().filter(|ip| Some(*ip) != exclude).collect()
}

fn parse(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(addr)) => addr.split('%').next()?.parse().ok(),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameserver_lines_only() {
        let got = parse("# comment\nsearch example\nnameserver 10.0.0.2\nnameserver   fe80::1%eth0\nnameserver bogus\noptions ndots:2\n");
        assert_eq!(got, vec!["10.0.0.2".parse::<IpAddr>().unwrap(), "fe80::1".parse().unwrap()]);
    }
}
