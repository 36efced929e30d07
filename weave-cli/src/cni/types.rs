//! The CNI data types: the network configuration a runtime hands a plugin on stdin, and the
//! ADD result in every spec version.
//!
//! Results are kept in one model (the 1.1.0 shape) and converted on the way in (`prevResult`,
//! a delegated IPAM plugin's answer) and out (the version the runtime asked for), with
//! libcni's rules: before 0.3.0 a result is `ip4`/`ip6` (the first address of each family,
//! the routes under their family), 0.3.x and 0.4.0 tag each address with its `version`, and
//! fields born in 1.1.0 (interface `mtu`, `socketPath`, `pciID`; route `mtu`, `advmss`,
//! `priority`, `table`, `scope`) are left out for older runtimes.

use super::error::CniError;
use super::version::Version;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// The plugin configuration of one network, as the runtime derives it (spec section 3).
/// Unknown keys are allowed (runtimes pass other plugins' keys through); known keys must
/// have the right types.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct NetConf {
    #[serde(default)]
    pub cni_version: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub plugin_type: Option<String>,
    /// Weave's keys.
    #[serde(default)]
    pub bridge: Option<String>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub hairpin_mode: Option<bool>,
    #[serde(default)]
    pub is_gateway: Option<bool>,
    #[serde(default)]
    pub ip_masq: Option<bool>,
    #[serde(default)]
    pub ipam: Option<IpamConf>,
    #[serde(default)]
    pub dns: Option<Dns>,
    /// Kept raw: its shape depends on `cniVersion`.
    #[serde(default)]
    pub prev_result: Option<Value>,
    #[serde(default, rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<ValidAttachment>>,
    /// Runtime arguments in the network configuration (CNI's conventions): `cni.labels`.
    #[serde(default)]
    pub args: Option<ConfArgs>,
}

/// The `args` section of a network configuration; other keys are other plugins'.
#[derive(Deserialize, Debug, Clone, Default)]
pub struct ConfArgs {
    #[serde(default)]
    pub cni: Option<CniConfArgs>,
}

/// `args.cni`, as CNI's conventions define it.
#[derive(Deserialize, Debug, Clone, Default)]
pub struct CniConfArgs {
    /// The container's labels (`[{"key": ..., "value": ...}]`), which network policy selects on.
    #[serde(default)]
    pub labels: Vec<ConfLabel>,
}

#[derive(Deserialize, Debug, Clone, Default)]
pub struct ConfLabel {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

impl NetConf {
    /// `args.cni.labels` as a map (a key given twice: the last wins).
    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        let labels = self.args.iter().filter_map(|a| a.cni.as_ref()).flat_map(|c| &c.labels);
        labels.map(|l| (l.key.clone(), l.value.clone())).collect()
    }
}

/// The `ipam` section. An empty `type` means weave's own IPAM inside `weave-net`, as Weave.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct IpamConf {
    #[serde(default, rename = "type")]
    pub plugin_type: Option<String>,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    #[serde(default)]
    pub routes: Option<Vec<Route>>,
}

/// One entry of `cni.dev/valid-attachments` (GC).
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ValidAttachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_none()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    #[serde(with = "cidr")]
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u32>,
}

impl Route {
    pub fn new(dst: IpNet, gw: Option<IpAddr>) -> Route {
        Route { dst, gw, mtu: None, advmss: None, priority: None, table: None, scope: None }
    }

    /// Only `dst` and `gw`: what runtimes before 1.1.0 know.
    fn legacy(&self) -> Route {
        Route::new(self.dst, self.gw)
    }
}

#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<String>,
    #[serde(default, rename = "pciID", skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
}

#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    #[serde(with = "cidr")]
    pub address: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// An ADD result in the current (1.1.0) shape.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CniResult {
    pub interfaces: Vec<Interface>,
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    pub dns: Dns,
}

/// 0.3.0 - 1.1.0 results on the wire (`version` only before 1.0.0).
#[derive(Deserialize)]
struct RichIn {
    #[serde(default)]
    interfaces: Vec<Interface>,
    #[serde(default)]
    ips: Vec<RichIpIn>,
    #[serde(default)]
    routes: Vec<Route>,
    #[serde(default)]
    dns: Dns,
}

#[derive(Deserialize)]
struct RichIpIn {
    #[serde(default)]
    version: Option<String>,
    #[serde(with = "cidr")]
    address: IpNet,
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default)]
    interface: Option<usize>,
}

/// 0.1.0 / 0.2.0 results.
#[derive(Deserialize)]
struct LegacyIn {
    #[serde(default)]
    ip4: Option<LegacyIp>,
    #[serde(default)]
    ip6: Option<LegacyIp>,
    #[serde(default)]
    dns: Dns,
}

#[derive(Deserialize, Serialize)]
struct LegacyIp {
    #[serde(with = "cidr")]
    ip: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
}

impl CniResult {
    /// Reads a result written for `version` (a `prevResult`, or a delegated plugin's answer).
    pub fn parse(version: Version, raw: &Value, what: &str) -> Result<CniResult, CniError> {
        let bad = |e: serde_json::Error| {
            CniError::decode(
                format!("{what} is not a CNI {version} result: {e}"),
                "the runtime passes the result of the previous plugin unchanged; check the plugins before weave-net in the network configuration",
            )
        };
        if !version.has_rich_result() {
            let r: LegacyIn = serde_json::from_value(raw.clone()).map_err(bad)?;
            let mut out = CniResult { dns: r.dns, ..CniResult::default() };
            for ip in [r.ip4, r.ip6].into_iter().flatten() {
                out.ips.push(IpConfig { address: ip.ip, gateway: ip.gateway, interface: None });
                out.routes.extend(ip.routes.iter().map(Route::legacy));
            }
            return Ok(out);
        }
        let r: RichIn = serde_json::from_value(raw.clone()).map_err(bad)?;
        let mut ips = Vec::with_capacity(r.ips.len());
        for ip in r.ips {
            if let Some(v) = &ip.version {
                let family = if ip.address.addr().is_ipv4() { "4" } else { "6" };
                if v != family {
                    return Err(CniError::decode(
                        format!("{what}: address {} is tagged version {v:?}", ip.address),
                        "an IPv4 address is version \"4\", an IPv6 one \"6\"",
                    ));
                }
            }
            if let Some(i) = ip.interface {
                if i >= r.interfaces.len() {
                    return Err(CniError::decode(
                        format!(
                            "{what}: address {} names interface {i}, but there are {}",
                            ip.address,
                            r.interfaces.len()
                        ),
                        "the index points into the result's interfaces list",
                    ));
                }
            }
            ips.push(IpConfig { address: ip.address, gateway: ip.gateway, interface: ip.interface });
        }
        Ok(CniResult { interfaces: r.interfaces, ips, routes: r.routes, dns: r.dns })
    }

    /// The result as `version` writes it.
    pub fn to_json(&self, version: Version) -> Result<Value, CniError> {
        let mut out = Map::new();
        out.insert("cniVersion".into(), json!(version.as_str()));
        if !version.has_rich_result() {
            let pick = |v4: bool| {
                self.ips.iter().find(|ip| ip.address.addr().is_ipv4() == v4).map(|ip| LegacyIp {
                    ip: ip.address,
                    gateway: ip.gateway,
                    routes: self
                        .routes
                        .iter()
                        .filter(|r| r.dst.addr().is_ipv4() == v4)
                        .map(Route::legacy)
                        .collect(),
                })
            };
            let (ip4, ip6) = (pick(true), pick(false));
            if ip4.is_none() && ip6.is_none() {
                return Err(CniError::incompatible_version(format!(
                    "a CNI {version} result needs an IP address and this one has none: ask for cniVersion 0.3.0 or later"
                )));
            }
            if let Some(ip) = ip4 {
                out.insert("ip4".into(), serde_json::to_value(ip).expect("serialises"));
            }
            if let Some(ip) = ip6 {
                out.insert("ip6".into(), serde_json::to_value(ip).expect("serialises"));
            }
        } else {
            let modern = version.has_status_and_gc();
            if !self.interfaces.is_empty() {
                let ifs: Vec<Interface> = self
                    .interfaces
                    .iter()
                    .map(|i| {
                        if modern {
                            i.clone()
                        } else {
                            Interface { mtu: None, socket_path: None, pci_id: None, ..i.clone() }
                        }
                    })
                    .collect();
                out.insert("interfaces".into(), serde_json::to_value(ifs).expect("serialises"));
            }
            if !self.ips.is_empty() {
                let ips: Vec<Value> = self
                    .ips
                    .iter()
                    .map(|ip| {
                        let mut v = serde_json::to_value(ip).expect("serialises");
                        if version.ips_have_version() {
                            let family = if ip.address.addr().is_ipv4() { "4" } else { "6" };
                            v["version"] = json!(family);
                        }
                        v
                    })
                    .collect();
                out.insert("ips".into(), Value::Array(ips));
            }
            if !self.routes.is_empty() {
                let routes: Vec<Route> =
                    self.routes.iter().map(|r| if modern { r.clone() } else { r.legacy() }).collect();
                out.insert("routes".into(), serde_json::to_value(routes).expect("serialises"));
            }
        }
        if !self.dns.is_empty() {
            out.insert("dns".into(), serde_json::to_value(&self.dns).expect("serialises"));
        }
        Ok(Value::Object(out))
    }

    /// Adds `ours` after this (previous) result: interfaces appended, our addresses' interface
    /// indices shifted past the previous ones, routes appended, DNS ours when we have any.
    pub fn merge(mut self, ours: CniResult) -> CniResult {
        let base = self.interfaces.len();
        self.interfaces.extend(ours.interfaces);
        self.ips.extend(
            ours.ips.into_iter().map(|ip| IpConfig { interface: ip.interface.map(|i| i + base), ..ip }),
        );
        for r in ours.routes {
            if !self.routes.contains(&r) {
                self.routes.push(r);
            }
        }
        if !ours.dns.is_empty() {
            self.dns = ours.dns;
        }
        self
    }
}

/// CIDR strings that keep the host part (`10.1.0.5/16` is an address in its subnet).
mod cidr {
    use ipnet::IpNet;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(n: &IpNet, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(n)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "{s:?} is not an address in CIDR notation, such as 10.32.0.5/12"
            ))
        })
    }
}

#[cfg(test)]
#[path = "types_tests.rs"]
mod tests;
