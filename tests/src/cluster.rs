//! A test cluster: an underlay bridge in its own namespace and "hosts" (namespaces) plugged
//! into it with their own addresses.

use crate::daemon::Daemon;
use crate::netns::{Netns, Output};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The underlay and its hosts. Dropping it removes every namespace, link and process.
pub struct Cluster {
    // Hosts are dropped (daemons killed, namespaces deleted) before the underlay.
    hosts: Vec<Host>,
    pub underlay: Netns,
}

impl Cluster {
    /// An underlay with `n` hosts, 10.99.0.1/24 upwards.
    pub fn new(n: usize) -> Cluster {
        let underlay = Netns::new("ul");
        underlay.ip(&["link", "add", "br0", "type", "bridge"]);
        underlay.ip(&["link", "set", "br0", "up"]);
        let mut c = Cluster { hosts: vec![], underlay };
        for _ in 0..n {
            c.add_host();
        }
        c
    }

    /// Plugs one more host into the underlay.
    pub fn add_host(&mut self) -> &Host {
        let index = self.hosts.len() + 1;
        let ns = Netns::new(&format!("h{index}"));
        let port = format!("vh{index}");
        // Created inside the namespaces, so no name ever appears in the test runner's namespace.
        self.underlay.ip(&["link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name]);
        self.underlay.ip(&["link", "set", &port, "master", "br0", "up"]);
        let addr = Ipv4Addr::new(10, 99, 0, index as u8);
        ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        let data_dir = std::env::temp_dir().join("weave-e2e").join(&ns.name);
        std::fs::create_dir_all(&data_dir).expect("create host data dir");
        self.hosts.push(Host { ns, addr, index, data_dir });
        self.hosts.last().expect("just pushed")
    }

    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }
}

/// One host: a namespace with an underlay address and a data directory.
pub struct Host {
    pub ns: Netns,
    pub addr: Ipv4Addr,
    pub index: usize,
    pub data_dir: PathBuf,
}

impl Host {
    /// The peer name tests give this host's daemon: 02:00:00:00:00:<index>.
    pub fn peer_name(&self) -> String {
        format!("02:00:00:00:00:{:02x}", self.index)
    }

    pub fn nickname(&self) -> String {
        format!("host{}", self.index)
    }

    /// Starts weave-daemon here with the harness's defaults (peer name, nickname, data dir,
    /// no DNS port 53 clash, no resolv.conf, no Docker) plus `extra` flags.
    pub fn start_daemon(&self, extra: &[&str]) -> Daemon {
        Daemon::start(&self.ns, &self.data_dir, &self.daemon_args("", extra))
    }

    /// The harness's daemon flags with `--docker-api DOCKER_API`, then `extra`.
    pub fn daemon_args(&self, docker_api: &str, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "--name".to_string(),
            self.peer_name(),
            "--nickname".into(),
            self.nickname(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--resolv-conf".into(),
            String::new(),
            "--docker-api".into(),
            docker_api.to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Runs the `weave` CLI here.
    pub fn weave(&self, args: &[&str]) -> Output {
        let bin = crate::binary("weave");
        self.ns.exec(bin.to_str().expect("utf-8 path"), args)
    }

    /// `weave status -o json`, parsed, or why not.
    pub fn status(&self) -> Result<weave_api::Status, String> {
        let out = self.weave(&["status", "-o", "json"]);
        if !out.ok() {
            return Err(out.stderr.trim().to_string());
        }
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))
    }

    /// `weave report`, parsed, or why not.
    pub fn report(&self) -> Result<weave_api::Report, String> {
        let out = self.weave(&["report"]);
        if !out.ok() {
            return Err(out.stderr.trim().to_string());
        }
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl Host {
    /// A namespace outside the weave network (192.168.77.2/24), linked to this host
    /// (192.168.77.1/24) with a route to 10.32.0.0/12 through it; the host forwards. Replies
    /// from the weave network find their way back only if the host masquerades.
    pub fn outside(&self) -> crate::Netns {
        let out = crate::Netns::new("out");
        out.ip(&["link", "add", "vo", "type", "veth", "peer", "name", "vx", "netns", &self.ns.name]);
        out.ip(&["addr", "add", "192.168.77.2/24", "dev", "vo"]);
        out.ip(&["link", "set", "vo", "up"]);
        out.ip(&["route", "add", "10.32.0.0/12", "via", "192.168.77.1"]);
        self.ns.ip(&["addr", "add", "192.168.77.1/24", "dev", "vx"]);
        self.ns.ip(&["link", "set", "vx", "up"]);
        assert!(self.ns.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"]).ok());
        out
    }

    /// A "container": a namespace of its own, attached to this host's weave network with
    /// `weave attach ADDR... netns:NAME`. Dropped with its namespace.
    pub fn container(&self, tag: &str, addrs: &[&str]) -> crate::Netns {
        let c = crate::Netns::new(tag);
        let target = format!("netns:{}", c.name);
        let mut args = vec!["attach"];
        args.extend_from_slice(addrs);
        args.push(&target);
        let out = self.weave(&args);
        assert!(out.ok(), "weave attach on {}: {out:?}", self.nickname());
        c
    }
}
