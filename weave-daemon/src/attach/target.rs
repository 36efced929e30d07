//! Attach targets: what `weave attach TARGET` can name, and how to reach its network namespace.

use std::path::PathBuf;
use weave_netdev::Netns;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `netns:NAME`: a namespace in /var/run/netns.
    Named(String),
    /// A path to a network namespace file.
    Path(PathBuf),
    /// `pid:PID`: the namespace of a process.
    Pid(u32),
    /// A running Docker container (resolved through Docker: see `crate::docker`).
    Docker { id: String, pid: u32, hostname: String },
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Some(name) = s.strip_prefix("netns:") {
            if name.is_empty() || name.contains('/') {
                return Err(format!(
                    "invalid target {s:?}: netns:NAME needs a namespace name from `ip netns list`"
                ));
            }
            return Ok(Target::Named(name.to_string()));
        }
        if let Some(pid) = s.strip_prefix("pid:") {
            return pid
                .parse()
                .map(Target::Pid)
                .map_err(|_| format!("invalid target {s:?}: pid:PID needs a process id"));
        }
        if s.starts_with('/') {
            return Ok(Target::Path(PathBuf::from(s)));
        }
        Err(format!(
            "unknown target {s:?}: give a Docker container (id or name), netns:NAME, pid:PID or the path of a network namespace"
        ))
    }

    /// The id `weave ps` shows and the veth alias records.
    pub fn id(&self) -> String {
        match self {
            Target::Named(n) => format!("netns:{n}"),
            Target::Path(p) => p.display().to_string(),
            Target::Pid(p) => format!("pid:{p}"),
            Target::Docker { id, .. } => id.clone(),
        }
    }

    /// The DNS name it gets by default.
    pub fn hostname(&self) -> Option<String> {
        match self {
            Target::Named(n) => Some(n.clone()),
            Target::Docker { hostname, .. } if !hostname.is_empty() => Some(hostname.clone()),
            _ => None,
        }
    }

    pub fn open(&self) -> Result<Netns, String> {
        let r = match self {
            Target::Named(n) => Netns::named(n),
            Target::Path(p) => Netns::path(p),
            Target::Pid(p) | Target::Docker { pid: p, .. } => Netns::pid(*p),
        };
        r.map_err(|e| format!("cannot open the network namespace of {}: {e}", self.id()))
    }

    /// Interface names on the host side: `vethwepl` + 7 hex digits of a hash of the id (Weave
    /// truncates ids the same way to fit IFNAMSIZ), and the temporary name of the peer end.
    pub fn veth_names(&self) -> (String, String) {
        // FNV-1a: stable across runs and releases, unlike std's hasher.
        let h = self
            .id()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        let tag = format!("{:07x}", h & 0x0fff_ffff);
        (format!("vethwepl{tag}"), format!("vethwepg{tag}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_target_forms() {
        assert_eq!(Target::parse("netns:c1"), Ok(Target::Named("c1".into())));
        assert_eq!(Target::parse("pid:42"), Ok(Target::Pid(42)));
        assert_eq!(Target::parse("/run/netns/x"), Ok(Target::Path("/run/netns/x".into())));
        assert!(Target::parse("netns:").is_err());
        assert!(Target::parse("pid:x").unwrap_err().contains("pid:PID"));
        assert!(Target::parse("abc123").is_err());
        let (host, peer) = Target::Named("c1".into()).veth_names();
        assert_eq!(host.len(), 15);
        assert!(host.starts_with("vethwepl") && peer.starts_with("vethwepg"));
        assert_eq!(host[8..], peer[8..]);
        assert_ne!(host, Target::Named("c2".into()).veth_names().0);
    }
}
