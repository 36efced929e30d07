//! Command-line flags of `weave-daemon`, with weaver's names and defaults, validated at start.
//!
//! Every flag is parsed into a typed value here; a bad value is refused before anything else
//! happens, with a message naming the flag and the value (clap formats it:
//! `invalid value 'x' for '--port <PORT>': ...`). `main` maps that to exit status 1.

use clap::Parser;
use ipnet::Ipv4Net;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use weave_wire::crypto::Password;
use weave_wire::PeerName;

/// `--sleeve-cipher`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleeveCipherMode {
    AesGcm,
    Nacl,
}

impl SleeveCipherMode {
    /// The suites we offer in the handshake: none with `nacl` (the peer then uses NaCl).
    pub fn offer(self) -> Option<Vec<weave_wire::crypto::Suite>> {
        match self {
            SleeveCipherMode::AesGcm => Some(weave_wire::crypto::aead::local_offer()),
            SleeveCipherMode::Nacl => None,
        }
    }
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "weave-daemon",
    version,
    about = "The weave router: one virtual Ethernet switch across hosts, wire-compatible with Weave Net 2.8"
)]
pub struct Config {
    /// Peer name, a MAC address (default: the MAC of an existing `weave` bridge, else derived
    /// from /etc/machine-id as Weave Net does)
    #[arg(long, value_parser = parse_peer_name)]
    pub name: Option<PeerName>,

    /// Nickname shown in status (default: the host name)
    #[arg(long)]
    pub nickname: Option<String>,

    /// Encrypt the control plane and the overlay with this password (visible in `ps` when
    /// given on the command line: prefer WEAVE_PASSWORD or --password-file)
    #[arg(long, env = "WEAVE_PASSWORD", hide_env_values = true, value_parser = parse_password)]
    pub password: Option<Password>,

    /// Read the password from this file (one trailing newline is ignored)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Comma-separated CIDRs of peers whose data-plane traffic need not be encrypted
    #[arg(long, value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_subnets: Vec<Ipv4Net>,

    /// Address to listen on for peer connections (default: all)
    #[arg(long, value_parser = parse_ip)]
    pub host: Option<IpAddr>,

    /// TCP port for peer connections and UDP port for sleeve; fastdp uses port + 1
    #[arg(long, default_value_t = 6783, value_parser = parse_port)]
    pub port: u16,

    /// Drop UDP datagrams to the sleeve and fastdp ports from addresses that are not this
    /// peer's connections (an nftables table of weave's own, following the mesh)
    #[arg(long)]
    pub restrict_udp_to_peers: bool,

    /// Maximum number of peer connections (0 = unlimited)
    #[arg(long, default_value_t = 200)]
    pub conn_limit: u32,

    /// Do not connect to peers learnt from other peers
    #[arg(long)]
    pub no_discovery: bool,

    /// Overlay MTU (default 1376 with fastdp, as Weave)
    #[arg(long, value_parser = parse_mtu)]
    pub mtu: Option<u32>,

    /// Use only the userspace overlay (sleeve)
    #[arg(long)]
    pub no_fastdp: bool,

    /// Cipher of the encrypted sleeve between weave peers: aes-gcm (the best AEAD both offer:
    /// AES-256-GCM, or ChaCha20-Poly1305 where a CPU lacks AES instructions) or nacl (Weave
    /// Net's NaCl secretbox, as with Weave Net peers, which always use it)
    #[arg(long, value_enum, default_value_t = SleeveCipherMode::AesGcm)]
    pub sleeve_cipher: SleeveCipherMode,

    /// The IP range from which container addresses are allocated; empty disables IPAM
    #[arg(long, default_value = "10.32.0.0/12", value_parser = parse_optional_cidr)]
    pub ipalloc_range: OptionalCidr,

    /// Subnet that `net:default` allocations come from (default: the whole range)
    #[arg(long, value_parser = parse_cidr)]
    pub ipalloc_default_subnet: Option<Ipv4Net>,

    /// How the IPAM ring is formed: consensus[=N], seed=PEER,..., or observer
    #[arg(long, value_parser = parse_ipalloc_init)]
    pub ipalloc_init: Option<IpallocInit>,

    /// Do not run weaveDNS
    #[arg(long)]
    pub no_dns: bool,

    /// The DNS domain weaveDNS answers for
    #[arg(long, default_value = "weave.local.", value_parser = parse_domain)]
    pub dns_domain: String,

    /// Address weaveDNS listens on (UDP and TCP)
    #[arg(long, default_value = "0.0.0.0:53", value_parser = parse_socket_addr)]
    pub dns_listen_address: SocketAddr,

    /// Networks whose clients weaveDNS answers besides loopback, the weave bridge's subnets, the
    /// allocation range and the subnet of a specific --dns-listen-address (comma-separated
    /// CIDRs; 0.0.0.0/0 answers everyone)
    #[arg(long, value_delimiter = ',', value_parser = parse_cidr)]
    pub dns_allow_from: Vec<Ipv4Net>,

    /// TTL of weaveDNS answers, in seconds
    #[arg(long, default_value_t = 1)]
    pub dns_ttl: u32,

    /// resolv.conf naming the upstream DNS servers (empty: none)
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: String,

    /// Address of the REST API
    #[arg(long, env = "WEAVE_HTTP_ADDR", default_value = "127.0.0.1:6784", value_parser = parse_socket_addr)]
    pub http_addr: SocketAddr,

    /// Directory of the embedded database (IPAM ring, owned addresses, peer targets)
    #[arg(long, default_value = "/var/lib/weave")]
    pub data_dir: PathBuf,

    /// Docker API endpoint; empty disables all Docker integration
    #[arg(long, default_value = "unix:///var/run/docker.sock", value_parser = parse_docker_api)]
    pub docker_api: String,

    /// Do not run the Docker network plugin (Docker containers stay targets)
    #[arg(long)]
    pub no_plugin: bool,

    /// Do not run the Docker API proxy
    #[arg(long)]
    pub no_proxy: bool,

    /// Where the Docker API proxy listens (repeatable): unix:///PATH or tcp://IP:PORT
    #[arg(short = 'H', value_name = "ADDR", default_value = "unix:///var/run/weave/weave.sock", value_parser = parse_proxy_addr)]
    pub proxy_addrs: Vec<String>,

    /// Proxy: show the weave interface's MAC and address in `docker inspect`
    #[arg(long)]
    pub rewrite_inspect: bool,

    /// Proxy: do not make weaveDNS the resolver of the containers it starts
    #[arg(long)]
    pub without_dns: bool,

    /// Proxy: only containers with a WEAVE_CIDR join weave
    #[arg(long)]
    pub no_default_ipalloc: bool,

    /// Proxy: take containers' hostnames from this label rather than their names
    #[arg(long, value_name = "LABEL")]
    pub hostname_from_label: Option<String>,

    /// Proxy: regular expression matched against the container name (or label) for its hostname
    #[arg(long, default_value = weave_proxy::rewrite::DEFAULT_HOSTNAME_MATCH, value_parser = parse_regex)]
    pub hostname_match: String,

    /// Proxy: the hostname made from --hostname-match's groups ($1, $2, ...)
    #[arg(long, default_value = weave_proxy::rewrite::DEFAULT_HOSTNAME_REPLACEMENT)]
    pub hostname_replacement: String,

    /// Proxy: no multicast route in the containers it attaches
    #[arg(long)]
    pub no_multicast_route: bool,

    /// Socket of the plugin's `weave` driver (global scope)
    #[arg(long, default_value = "/run/docker/plugins/weave.sock")]
    pub plugin_socket: PathBuf,

    /// Socket of the plugin's `weavemesh` driver (local scope, with IPAM)
    #[arg(long, default_value = "/run/docker/plugins/weavemesh.sock")]
    pub plugin_mesh_socket: PathBuf,

    /// error, warn, info, debug or trace
    #[arg(long, default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: String,

    /// Use the persisted connection targets instead of the PEERs given
    #[arg(long)]
    pub resume: bool,

    /// Read the peers from this file (one HOST or HOST:PORT per line, every node including
    /// this one) and re-read it when it changes, as Weave's Kubernetes launch; IPAM's quorum
    /// comes from the number of peers in it unless --ipalloc-init says otherwise
    #[arg(long, value_name = "PATH")]
    pub peers_file: Option<PathBuf>,

    /// Remove weave's bridge, devices, firewall rules and the persisted data under --data-dir,
    /// then exit (what `weave reset --force` does when no daemon runs)
    #[arg(long)]
    pub reset: bool,

    /// Peers to connect to: HOST or HOST:PORT
    #[arg(value_name = "PEER", value_parser = parse_peer_addr)]
    pub peers: Vec<String>,
}

/// Passwords shorter than this are warned about.
pub const MIN_PASSWORD_LEN: usize = 20;

impl Config {
    /// Checks that need more than one flag or a file; reads `--password-file` into `password`.
    /// Logs warnings, so logging should be set up first.
    pub fn validate(&mut self) -> Result<(), String> {
        if let Some(path) = &self.password_file {
            if self.password.is_some() {
                return Err(
                    "--password-file cannot be given together with --password (or WEAVE_PASSWORD): choose one"
                        .into(),
                );
            }
            self.password = Some(read_password_file(path)?);
        }
        if let Some(warning) = self.password.as_deref().and_then(password_warning) {
            tracing::warn!("{warning}");
        }
        if self.resume && !self.peers.is_empty() {
            return Err(format!(
                "invalid value '{}' for 'PEER': peers cannot be given together with --resume (which uses the persisted ones)",
                self.peers.join(" ")
            ));
        }
        if let Some(file) = &self.peers_file {
            if !self.peers.is_empty() || self.resume {
                return Err(format!(
                    "invalid value '{}' for '--peers-file': the peers come from the file, so give no PEER and no --resume",
                    file.display()
                ));
            }
        }
        if let (Some(sub), Some(range)) = (self.ipalloc_default_subnet, self.ipalloc_range.0) {
            if !range.contains(&sub) && !sub.contains(&range) {
                return Err(format!(
                    "invalid value '{sub}' for '--ipalloc-default-subnet': it must overlap --ipalloc-range {range}"
                ));
            }
        }
        if self.ipalloc_range.0.is_none() {
            if let Some(sub) = self.ipalloc_default_subnet {
                return Err(format!(
                    "invalid value '{sub}' for '--ipalloc-default-subnet': IPAM is disabled (--ipalloc-range is empty)"
                ));
            }
        }
        if let Some(IpallocInit::Seed(seeds)) = &self.ipalloc_init {
            if let Some(name) = self.name {
                if !seeds.contains(&name) {
                    tracing::warn!(%name, "this peer is not among the --ipalloc-init seeds; it will own no space until it borrows some");
                }
            }
        }
        Ok(())
    }

    /// The subnet `net:default` allocates from.
    pub fn default_subnet(&self) -> Option<Ipv4Net> {
        self.ipalloc_default_subnet.or(self.ipalloc_range.0)
    }

    /// The path of the embedded database file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("weave.db")
    }
}

fn parse_password(s: &str) -> Result<Password, String> {
    Ok(Password::from(s.to_string()))
}

/// The password in `path`, without one trailing newline; a missing, unreadable or empty file
/// is refused, naming the flag and the file.
fn read_password_file(path: &std::path::Path) -> Result<Password, String> {
    let bad = |why: String| format!("invalid value '{}' for '--password-file': {why}", path.display());
    let read = Password::new(std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?);
    let password = read.strip_suffix(b"\r\n").or_else(|| read.strip_suffix(b"\n")).unwrap_or(&read);
    if password.is_empty() {
        return Err(bad("the file is empty".into()));
    }
    Ok(Password::new(password.to_vec()))
}

/// The warning for a short password, if it is one.
pub fn password_warning(password: &[u8]) -> Option<String> {
    (password.len() < MIN_PASSWORD_LEN).then(|| {
        format!(
            "the password is only {} bytes long: anyone who can connect to this peer's TCP port can \
             make it send one message sealed under a key derived from the password, and then guess \
             the password offline at the speed of SHA-256 (Weave's protocol has no slow key \
             derivation); use at least {MIN_PASSWORD_LEN} random characters, such as the output \
             of `head -c 24 /dev/urandom | base64`",
            password.len()
        )
    })
}

/// `--ipalloc-range`, where an empty value means "IPAM disabled".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionalCidr(pub Option<Ipv4Net>);

/// `--ipalloc-init`: IPAM owns what it means.
pub use weave_ipam_service::IpallocInit;

fn parse_peer_name(s: &str) -> Result<PeerName, String> {
    let name: PeerName = s.parse().map_err(|e: weave_wire::PeerNameError| e.to_string())?;
    if name == PeerName::UNKNOWN {
        return Err("00:00:00:00:00:00 is reserved for \"unknown peer\"; choose another name".into());
    }
    Ok(name)
}

fn parse_cidr(s: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net =
        s.trim().parse().map_err(|_| "expected an IPv4 CIDR such as 10.32.0.0/12".to_string())?;
    if net.network() != net.addr() {
        return Err(format!("host bits are set; did you mean {}?", net.trunc()));
    }
    Ok(net)
}

fn parse_optional_cidr(s: &str) -> Result<OptionalCidr, String> {
    if s.trim().is_empty() {
        return Ok(OptionalCidr(None));
    }
    let net = parse_cidr(s)?;
    if net.prefix_len() > 30 {
        return Err("the range must hold at least 4 addresses (prefix /30 or shorter)".into());
    }
    Ok(OptionalCidr(Some(net)))
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| "expected an IP address".to_string())
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 && p < u16::MAX => Ok(p),
        // port + 1 is the fastdp port, so 65535 cannot be used.
        _ => Err("expected a port number between 1 and 65534".into()),
    }
}

fn parse_mtu(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(m) if (576..=65535).contains(&m) => Ok(m),
        _ => Err("expected an MTU between 576 and 65535".into()),
    }
}

fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| "expected IP:PORT, such as 127.0.0.1:6784".to_string())
}

fn parse_ipalloc_init(s: &str) -> Result<IpallocInit, String> {
    const EXPECTED: &str = "expected consensus, consensus=N, seed=PEER[,PEER...] or observer";
    match s.split_once('=') {
        None if s == "consensus" => Ok(IpallocInit::Consensus(None)),
        None if s == "observer" => Ok(IpallocInit::Observer),
        Some(("consensus", n)) => match n.parse::<u32>() {
            Ok(n) if n > 0 => Ok(IpallocInit::Consensus(Some(n))),
            _ => Err(format!("consensus=N needs a positive number of peers, not {n:?}")),
        },
        Some(("seed", list)) => {
            let seeds = list.split(',').map(|p| parse_peer_name(p.trim())).collect::<Result<Vec<_>, _>>()?;
            if seeds.is_empty() {
                return Err("seed= needs at least one peer name".into());
            }
            Ok(IpallocInit::Seed(seeds))
        }
        _ => Err(EXPECTED.into()),
    }
}

fn parse_domain(s: &str) -> Result<String, String> {
    let d = s.trim_end_matches('.');
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        });
    if !ok {
        return Err("expected a DNS domain such as weave.local.".into());
    }
    Ok(format!("{}.", d.to_ascii_lowercase()))
}

fn parse_proxy_addr(s: &str) -> Result<String, String> {
    weave_proxy::ListenAddr::parse(s).map(|a| a.to_string())
}

fn parse_regex(s: &str) -> Result<String, String> {
    weave_proxy::rewrite::compile_pattern(s).map(|_| s.to_string())
}

fn parse_docker_api(s: &str) -> Result<String, String> {
    if s.is_empty() || s.starts_with("unix://") || s.starts_with("tcp://") || s.starts_with("http://") {
        Ok(s.to_string())
    } else {
        Err("expected unix:///path/to/docker.sock, tcp://HOST:PORT, or empty to disable Docker".into())
    }
}

/// A peer is `HOST` or `HOST:PORT`, HOST an IPv4 address or a host name.
pub fn parse_peer_addr(s: &str) -> Result<String, String> {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let host_ok = host.parse::<std::net::Ipv4Addr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.'));
    if !host_ok {
        return Err("expected a peer address HOST or HOST:PORT".into());
    }
    if let Some(p) = port {
        parse_port(p)?;
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut full = vec!["weave-daemon"];
        full.extend_from_slice(args);
        let mut c = Config::try_parse_from(full).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_are_weaves() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.port, 6783);
        assert_eq!(c.conn_limit, 200);
        assert_eq!(c.ipalloc_range.0.unwrap().to_string(), "10.32.0.0/12");
        assert_eq!(c.dns_domain, "weave.local.");
        assert_eq!(c.dns_listen_address.to_string(), "0.0.0.0:53");
        assert_eq!(c.dns_ttl, 1);
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:6784");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/weave"));
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        for (args, flag, value) in [
            (vec!["--port", "99999"], "--port", "99999"),
            (vec!["--port", "abc"], "--port", "abc"),
            (vec!["--ipalloc-range", "10.32.0.0/33"], "--ipalloc-range", "10.32.0.0/33"),
            (vec!["--ipalloc-range", "10.32.0.1/12"], "--ipalloc-range", "10.32.0.1/12"),
            (vec!["--trusted-subnets", "10.0.0.0/8,bogus"], "--trusted-subnets", "bogus"),
            (vec!["--name", "zz:00:00:00:00:01"], "--name", "zz:00:00:00:00:01"),
            (vec!["--ipalloc-init", "quorum=2"], "--ipalloc-init", "quorum=2"),
            (vec!["--ipalloc-init", "consensus=0"], "--ipalloc-init", "consensus=0"),
            (vec!["--ipalloc-init", "seed=::1,nope"], "--ipalloc-init", "seed=::1,nope"),
            (vec!["--dns-domain", "bad domain"], "--dns-domain", "bad domain"),
            (vec!["--http-addr", "localhost"], "--http-addr", "localhost"),
            (vec!["--mtu", "100"], "--mtu", "100"),
            (vec!["--log-level", "loud"], "--log-level", "loud"),
            (
                vec!["--ipalloc-default-subnet", "192.168.0.0/24"],
                "--ipalloc-default-subnet",
                "192.168.0.0/24",
            ),
            (vec!["10.0.0.1:0"], "PEER", "10.0.0.1:0"),
        ] {
            let err = parse(&args).expect_err(&format!("{args:?} should be refused"));
            assert!(err.contains(flag), "{args:?}: {err}");
            assert!(err.contains(value), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let c = parse(&["--password", "hunter2-but-longer"]).unwrap();
        assert!(c.password.is_some());
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn the_password_can_come_from_a_file() {
        let dir = std::env::temp_dir().join(format!("weave-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        // One trailing newline (as `echo` writes) is not part of the password.
        std::fs::write(&file, "from-a-file-0123456789\n").unwrap();
        let path = file.to_str().unwrap();
        let c = parse(&["--password-file", path]).unwrap();
        assert_eq!(c.password.as_ref().map(|p| p.as_bytes()), Some(&b"from-a-file-0123456789"[..]));

        // Refused at start, naming the flag and the file.
        let missing = dir.join("missing");
        let missing = missing.to_str().unwrap();
        let err = parse(&["--password-file", missing]).unwrap_err();
        assert!(err.contains("--password-file") && err.contains(missing), "{err}");
        std::fs::write(&file, "\n").unwrap();
        let err = parse(&["--password-file", path]).unwrap_err();
        assert!(err.contains("--password-file") && err.contains("empty"), "{err}");
        let err = parse(&["--password-file", path, "--password", "x"]).unwrap_err();
        assert!(err.contains("--password-file") && err.contains("--password"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn short_passwords_are_warned_about() {
        let warning = password_warning(b"short").expect("a short password is warned about");
        assert!(warning.contains("offline"), "{warning}");
        assert_eq!(password_warning(b"a-long-random-password-of-32-chars"), None);
    }

    #[test]
    fn accepts_weaves_forms() {
        let c = parse(&[
            "--name",
            "::1",
            "--ipalloc-init",
            "seed=::1,::2",
            "--ipalloc-range",
            "",
            "--dns-domain",
            "Foo.Bar",
            "10.0.0.1",
            "peer.example:6783",
        ])
        .unwrap();
        assert_eq!(c.name, Some(PeerName(1)));
        assert_eq!(c.ipalloc_init, Some(IpallocInit::Seed(vec![PeerName(1), PeerName(2)])));
        assert_eq!(c.ipalloc_range.0, None);
        assert_eq!(c.dns_domain, "foo.bar.");
        assert_eq!(c.peers, vec!["10.0.0.1", "peer.example:6783"]);
        let e = parse(&["--peers-file", "/etc/weave/peers", "10.0.0.1"]).unwrap_err();
        assert!(e.contains("--peers-file") && e.contains("/etc/weave/peers"), "{e}");
        assert!(parse(&["--peers-file", "/p", "--resume"]).is_err());
        assert_eq!(parse(&["--peers-file", "/p"]).unwrap().peers_file, Some(PathBuf::from("/p")));
        assert_eq!(
            parse(&["--ipalloc-init", "consensus=3"]).unwrap().ipalloc_init,
            Some(IpallocInit::Consensus(Some(3)))
        );
    }
}
