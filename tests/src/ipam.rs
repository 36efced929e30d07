//! IPAM conveniences: raw HTTP to a daemon (curl inside the host's namespace), attaching with
//! IPAM, and reading the addresses a container really carries.

use crate::cluster::Host;
use crate::netns::{Netns, Output};

impl Host {
    /// `curl -X METHOD http://127.0.0.1:6784PATH` inside this host: (status, body).
    pub fn http(&self, method: &str, path: &str) -> (u16, String) {
        let url = format!("http://127.0.0.1:6784{path}");
        let out = self.ns.exec("curl", &["-s", "-X", method, "-o", "-", "-w", "\n%{http_code}", &url]);
        let (body, code) = out.stdout.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// `weave attach ADDR... netns:NAME`, as run (the caller checks the outcome).
    pub fn attach(&self, c: &Netns, addrs: &[&str]) -> Output {
        let target = format!("netns:{}", c.name);
        let mut args = vec!["attach"];
        args.extend_from_slice(addrs);
        args.push(&target);
        self.weave(&args)
    }

    /// `GET /api/v1/ipam`, parsed.
    pub fn ipam(&self) -> Result<weave_api::IpamInfo, String> {
        let (code, body) = self.http("GET", "/api/v1/ipam");
        if code != 200 {
            return Err(format!("HTTP {code}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
    }
}

/// The IPv4 CIDRs on the container's `ethwe`.
pub fn ethwe_addrs(c: &Netns) -> Vec<String> {
    let out = c.exec("ip", &["-4", "-o", "addr", "show", "dev", "ethwe"]);
    out.stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next().map(str::to_string)
        })
        .collect()
}
