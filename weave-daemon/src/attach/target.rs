//! What `weave attach TARGET` can name, and the one step that turns a target into a namespace
//! reference ([`NsRef`]) with the target's id and default DNS name.
//!
//! Target kinds plug in here: `netns:NAME`, a path and `pid:PID` resolve on their own;
//! containers (`docker:NAME`, or anything else that looks like a Docker id or name) go to the
//! [`ContainerResolver`] the Docker integration registers. A CNI attachment would add a kind
//! whose id is the container id and whose [`NsRef`] is the runtime's namespace path.

use super::error::AttachError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use weave_netdev::Netns;

/// Where `ip netns add` mounts named namespaces.
const NAMED_DIR: &str = "/var/run/netns";
/// Longest target id accepted (IPAM's owner identifiers have the same bound).
pub const MAX_ID_LEN: usize = crate::ipam::MAX_IDENT_LEN;

/// A target as the user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `netns:NAME`: a namespace in /var/run/netns.
    Netns(String),
    /// A path to a network namespace file.
    Path(PathBuf),
    /// `pid:PID`: the namespace of a process.
    Pid(u32),
    /// A container id, short id or name (bare or as `docker:NAME`), found by the
    /// [`ContainerResolver`].
    Container(String),
}

/// Docker's rule for container names; ids are hex, so they pass it too.
fn container_name(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// How to open a target's namespace, now or after a restart (the journal keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NsRef {
    Named(String),
    Path(PathBuf),
    Pid(u32),
}

/// A target found: its id, its namespace and the DNS name it gets by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The id in `weave ps`, IPAM's owner, weaveDNS's container id and the veth alias.
    pub id: String,
    pub ns: NsRef,
    /// NAME of `netns:NAME`; a container's hostname.
    pub hostname: Option<String>,
    /// A container's labels (none for the other kinds).
    pub labels: BTreeMap<String, String>,
}

/// A container found by a [`ContainerResolver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The full id (its short form is the first 12 characters).
    pub id: String,
    /// A process in its network namespace.
    pub pid: u32,
    pub hostname: Option<String>,
    /// Its labels, as the container runtime keeps them.
    pub labels: BTreeMap<String, String>,
}

/// A boxed future, for the dyn-compatible resolver trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Finds containers by id, short id or name (the Docker integration implements it).
pub trait ContainerResolver: Send + Sync {
    /// The container, or [`AttachError::UnknownTarget`] when there is none by that name.
    fn resolve<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Container, AttachError>>;
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, AttachError> {
        let bad = |why: &str| AttachError::BadTarget { target: s.to_string(), why: why.to_string() };
        if s.len() > MAX_ID_LEN {
            return Err(bad(&format!("longer than {MAX_ID_LEN} bytes")));
        }
        if let Some(name) = s.strip_prefix("netns:") {
            if name.is_empty() || name == "." || name == ".." || name.contains('/') {
                return Err(bad("netns:NAME needs a namespace name from `ip netns list`"));
            }
            return Ok(Target::Netns(name.to_string()));
        }
        if let Some(pid) = s.strip_prefix("pid:") {
            return pid.parse().map(Target::Pid).map_err(|_| bad("pid:PID needs a process id"));
        }
        if s.starts_with('/') {
            return Ok(Target::Path(PathBuf::from(s)));
        }
        // `docker:NAME` says outright what a bare name means.
        if let Some(name) = s.strip_prefix("docker:") {
            if container_name(name) {
                return Ok(Target::Container(name.to_string()));
            }
            return Err(bad("docker:NAME needs a Docker container id or name"));
        }
        if container_name(s) {
            return Ok(Target::Container(s.to_string()));
        }
        Err(bad("give netns:NAME, pid:PID, the path of a network namespace, or a container id or name"))
    }

    /// The id, for the kinds that know it without asking anyone.
    pub fn id(&self) -> String {
        match self {
            Target::Netns(n) => format!("netns:{n}"),
            Target::Path(p) => p.display().to_string(),
            Target::Pid(p) => format!("pid:{p}"),
            Target::Container(c) => c.clone(),
        }
    }

    /// Where the namespace of a target of a self-describing kind is (`None` for containers).
    fn ns_ref(&self) -> Option<NsRef> {
        match self {
            Target::Netns(n) => Some(NsRef::Named(n.clone())),
            Target::Path(p) => Some(NsRef::Path(p.clone())),
            Target::Pid(p) => Some(NsRef::Pid(*p)),
            Target::Container(_) => None,
        }
    }

    /// Finds the target: its id, namespace and default name. Containers ask `containers`.
    pub async fn locate(&self, containers: Option<&dyn ContainerResolver>) -> Result<Located, AttachError> {
        if let Some(ns) = self.ns_ref() {
            let hostname = match self {
                Target::Netns(n) => Some(n.clone()),
                _ => None,
            };
            return Ok(Located { id: self.id(), ns, hostname, labels: BTreeMap::new() });
        }
        let name = self.id();
        let Some(resolver) = containers else {
            return Err(AttachError::UnknownTarget {
                target: name,
                why:
                    "containers are found through Docker, and the Docker integration is off (--docker-api '')"
                        .into(),
            });
        };
        let c = resolver.resolve(&name).await?;
        Ok(Located { id: c.id, ns: NsRef::Pid(c.pid), hostname: c.hostname, labels: c.labels })
    }
}

impl NsRef {
    /// Opens the namespace (blocking: a syscall or two). A file that is not a network
    /// namespace is refused without being opened for I/O.
    pub fn open(&self, id: &str) -> Result<Netns, AttachError> {
        let r = match self {
            NsRef::Named(n) => Netns::named(n),
            NsRef::Path(p) => Netns::path(p),
            NsRef::Pid(p) => Netns::pid(*p),
        };
        r.map_err(|source| {
            if source.is_not_a_namespace() {
                AttachError::NotANamespace { id: id.to_string(), source }
            } else if matches!(source.errno(), Some(libc::ENOENT) | Some(libc::ESRCH)) {
                AttachError::NoNamespace { id: id.to_string(), source }
            } else {
                AttachError::Unreachable { id: id.to_string(), source }
            }
        })
    }

    /// Whether the namespace found here now is still the one with `inode` (a process that
    /// exited, a namespace deleted or replaced, is not).
    pub fn is(&self, inode: u64) -> bool {
        use std::os::unix::fs::MetadataExt;
        let path = match self {
            NsRef::Named(n) => Path::new(NAMED_DIR).join(n),
            NsRef::Path(p) => p.clone(),
            NsRef::Pid(p) => PathBuf::from(format!("/proc/{p}/ns/net")),
        };
        std::fs::metadata(path).is_ok_and(|m| m.ino() == inode)
    }

    /// Whether the namespace still exists (it may exist and still fail to open).
    pub fn exists(&self) -> bool {
        match self {
            NsRef::Named(n) => Path::new(NAMED_DIR).join(n).exists(),
            NsRef::Path(p) => p.exists(),
            NsRef::Pid(p) => Path::new(&format!("/proc/{p}")).exists(),
        }
    }
}

/// Whether the target an id names still exists, for the kinds whose id says where they are
/// (`None` for ids of other kinds: containers, `weave:expose`).
pub fn id_exists(id: &str) -> Option<bool> {
    Target::parse(id).ok()?.ns_ref().map(|ns| ns.exists())
}

/// Interface names on the host side: `vethwepl` + 7 hex digits of a hash of the id (Weave
/// truncates ids the same way to fit IFNAMSIZ), and the temporary name of the peer end.
pub fn veth_names(id: &str) -> (String, String) {
    // FNV-1a: stable across runs and releases, unlike std's hasher.
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let tag = format!("{:07x}", h & 0x0fff_ffff);
    (format!("{HOST_VETH}{tag}"), format!("{PEER_VETH}{tag}"))
}

/// Prefix of host-side veths (as Weave).
pub const HOST_VETH: &str = "vethwepl";
/// Prefix of the container end while it is still being set up (as Weave).
pub const PEER_VETH: &str = "vethwepg";
/// The Docker plugin's veth pair of an endpoint and their prefixes: the plugin names them.
pub use weave_docker::driver::{veth_pair as endpoint_veths, PLUGIN_PEER_VETH, PLUGIN_VETH};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_target_forms() {
        assert_eq!(Target::parse("netns:c1").unwrap(), Target::Netns("c1".into()));
        assert_eq!(Target::parse("pid:42").unwrap(), Target::Pid(42));
        assert_eq!(Target::parse("/run/netns/x").unwrap(), Target::Path("/run/netns/x".into()));
        assert_eq!(Target::parse("abc123").unwrap(), Target::Container("abc123".into()));
        assert_eq!(Target::parse("my_web.1-a").unwrap(), Target::Container("my_web.1-a".into()));
        assert_eq!(Target::parse("docker:abc123").unwrap(), Target::Container("abc123".into()));
        assert!(Target::parse("docker:netns:x").unwrap_err().to_string().contains("docker:NAME"));
        for bad in
            ["netns:", "netns:a/b", "netns:..", "pid:x", "-x", "a b", "", "x:y", "docker:", "docker:-x"]
        {
            let e = Target::parse(bad).unwrap_err();
            assert!(matches!(e, AttachError::BadTarget { .. }), "{bad}: {e}");
        }
        assert!(Target::parse("pid:x").unwrap_err().to_string().contains("pid:PID"));
        assert!(Target::parse(&"a".repeat(MAX_ID_LEN + 1)).is_err());
        let (host, peer) = veth_names("netns:c1");
        assert_eq!(host.len(), 15);
        assert!(host.starts_with("vethwepl") && peer.starts_with("vethwepg"));
        assert_eq!(host[8..], peer[8..]);
        assert_ne!(host, veth_names("netns:c2").0);
    }

    #[tokio::test]
    async fn containers_need_a_resolver() {
        let e = Target::parse("web").unwrap().locate(None).await.unwrap_err();
        assert!(matches!(e, AttachError::UnknownTarget { .. }), "{e}");
        let l = Target::parse("netns:web").unwrap().locate(None).await.unwrap();
        assert_eq!(
            l,
            Located {
                id: "netns:web".into(),
                ns: NsRef::Named("web".into()),
                hostname: Some("web".into()),
                labels: BTreeMap::new()
            }
        );
        assert_eq!(id_exists("netns:surely-not-there-x"), Some(false));
        assert_eq!(id_exists("pid:1"), Some(true));
        assert_eq!(id_exists("weave:expose"), None);
    }
}
