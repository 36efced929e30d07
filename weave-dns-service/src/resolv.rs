//! The upstream servers named in a resolv.conf file, re-read when it changes.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// `nameserver` lines of `path`, skipping `exclude` (our own listen address, so weaveDNS never
/// forwards to itself). A missing or unreadable file gives no servers.
pub fn nameservers(path: &Path, exclude: Option<IpAddr>) -> Vec<IpAddr> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    weave_dns::resolv::nameservers(&text, exclude).iter().map(|s| s.ip()).collect()
}

/// The last contents seen, so the servers are re-parsed only when the file changed.
#[derive(Default)]
pub struct Watch {
    last: Option<String>,
}

impl Watch {
    /// The servers, if the file's contents differ from last time (a missing file reads as
    /// empty: no servers). Our own listen address is left out, as Weave; so is loopback on
    /// our port when we listen on every address (Weave would forward to itself in a loop).
    pub fn changed(&mut self, path: &Path, listen: SocketAddr) -> Option<Vec<SocketAddr>> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if self.last.as_deref() == Some(text.as_str()) {
            return None;
        }
        let wildcard = listen.ip().is_unspecified();
        let exclude = Some(listen.ip()).filter(|_| !wildcard);
        let mut servers = weave_dns::resolv::nameservers(&text, exclude);
        servers.retain(|s| !(wildcard && s.ip().is_loopback() && s.port() == listen.port()));
        self.last = Some(text);
        Some(servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_only_changes() {
        let dir = std::env::temp_dir().join(format!("weave-resolv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("resolv.conf");
        std::fs::write(&p, "nameserver 10.0.0.2\nnameserver 10.0.0.9\n").unwrap();
        let mut w = Watch::default();
        let own = "10.0.0.9:53".parse().unwrap();
        assert_eq!(w.changed(&p, own), Some(vec!["10.0.0.2:53".parse().unwrap()]));
        assert_eq!(w.changed(&p, own), None);
        std::fs::write(&p, "nameserver 10.0.0.3\nnameserver 127.0.0.1\nnameserver 127.0.0.1:5353\n").unwrap();
        let all = "0.0.0.0:53".parse().unwrap();
        let want: Vec<SocketAddr> = vec!["10.0.0.3:53".parse().unwrap(), "127.0.0.1:5353".parse().unwrap()];
        assert_eq!(w.changed(&p, all), Some(want));
        assert_eq!(
            nameservers(&p, Some("127.0.0.1".parse().unwrap())),
            vec!["10.0.0.3".parse::<IpAddr>().unwrap()]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
