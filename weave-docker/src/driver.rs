//! libnetwork's remote network driver, as Weave's (`plugin/net/driver.go`).
//!
//! CreateEndpoint makes the veth pair `vethwl<id>`/`vethwg<id>` (the first 9 characters of the
//! endpoint id) with the host end on the `weave` bridge; Join hands Docker the other end to move
//! into the container as `ethwe<N>`, with the multicast route when the network asks for it;
//! DeleteEndpoint removes the pair. Both go through the attach service, which journals them
//! (weave-daemon's `attach::endpoint`). Addresses come from the IPAM driver, never from here.

use crate::plugin::{answer, empty, parse, PluginError, PluginResult};
use crate::Shared;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use weave_netdev::Netlink;

/// Weave's network option turning on the multicast route.
pub const MULTICAST_OPTION: &str = "works.weave.multicast";
/// libnetwork's key of the options given to `docker network create -o`.
const GENERIC: &str = "com.docker.network.generic";
/// What Docker renames the interface to (it appends an index). `weave attach` names its
/// interface `ethwe` too.
pub const DST_PREFIX: &str = "ethwe";
/// Docker ids are hex; libnetwork's are 64 characters. Longer input is refused.
const MAX_ID: usize = 128;
/// Characters of the endpoint id in interface names (IFNAMSIZ - 1 - len("vethwl")).
const ID_IN_NAME: usize = 9;

/// What weave knows of one Docker network.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Network {
    /// Its driver's name (ours when it is `weave` or `weavemesh`).
    pub driver: String,
    pub multicast: bool,
}

/// The host and container ends of an endpoint's veth pair, named by the first 9 characters
/// of its id (what fits IFNAMSIZ), as Weave's. The attach service makes and removes them.
pub fn veth_pair(endpoint_id: &str) -> (String, String) {
    let tag: String = endpoint_id.chars().take(ID_IN_NAME).collect();
    (format!("{PLUGIN_VETH}{tag}"), format!("{PLUGIN_PEER_VETH}{tag}"))
}

/// Prefixes of the endpoint veths, host end and container end (as Weave).
pub const PLUGIN_VETH: &str = "vethwl";
pub const PLUGIN_PEER_VETH: &str = "vethwg";

/// Checks a network or endpoint id before it names anything.
pub fn check_id(what: &str, id: &str) -> Result<(), PluginError> {
    if id.len() < ID_IN_NAME || id.len() > MAX_ID || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(PluginError::new(format!(
            "invalid {what} {:?}: expected Docker's hex id (at least {ID_IN_NAME} characters)",
            truncate(id)
        )));
    }
    Ok(())
}

fn truncate(s: &str) -> &str {
    &s[..s.char_indices().nth(80).map_or(s.len(), |(i, _)| i)]
}

/// Weave's reading of the multicast option: absent or `false` off, empty or `true` on.
pub fn parse_options(driver: &str, options: &HashMap<String, String>) -> Result<Network, String> {
    let mut n = Network { driver: driver.to_string(), multicast: false };
    for (k, v) in options {
        match k.as_str() {
            MULTICAST_OPTION => {
                n.multicast = match v.as_str() {
                    "" => true,
                    v => parse_bool(v).ok_or_else(|| format!("unrecognized value {v:?} for option {k}"))?,
                }
            }
            other => tracing::warn!(option = other, "unrecognized network option"),
        }
    }
    Ok(n)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// libnetwork's options map: the string values under `com.docker.network.generic`.
fn generic_options(options: &HashMap<String, serde_json::Value>) -> HashMap<String, String> {
    options
        .get(GENERIC)
        .and_then(|v| v.as_object())
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct NetworkReq {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "Options", default)]
    options: Option<HashMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct AllocateReq {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "Options", default)]
    options: Option<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct EndpointReq {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "EndpointID")]
    endpoint_id: String,
    #[serde(rename = "Interface", default)]
    interface: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct JoinReq {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "EndpointID")]
    endpoint_id: String,
    #[serde(rename = "SandboxKey", default)]
    sandbox_key: String,
}

/// One of the two drivers (`weave` or `weavemesh`).
pub struct NetworkDriver {
    /// The driver's name: networks whose driver is this are ours.
    pub name: String,
    scope: &'static str,
    shared: Arc<Shared>,
}

impl NetworkDriver {
    pub fn new(name: &str, scope: &'static str, shared: Arc<Shared>) -> NetworkDriver {
        NetworkDriver { name: name.to_string(), scope, shared }
    }

    pub async fn capabilities(&self, _body: &[u8]) -> PluginResult {
        answer(serde_json::json!({ "Scope": self.scope }))
    }

    pub async fn create_network(&self, body: &[u8]) -> PluginResult {
        let req: NetworkReq = parse("NetworkDriver.CreateNetwork", body)?;
        check_id("network id", &req.network_id)?;
        let options = generic_options(&req.options.unwrap_or_default());
        let net = parse_options(&self.name, &options).map_err(PluginError::new)?;
        tracing::info!(network = %req.network_id, driver = %self.name, multicast = net.multicast, "[net] CreateNetwork");
        self.shared.networks.lock().expect("networks lock").insert(req.network_id, net);
        empty()
    }

    pub async fn delete_network(&self, body: &[u8]) -> PluginResult {
        let req: NetworkReq = parse("NetworkDriver.DeleteNetwork", body)?;
        check_id("network id", &req.network_id)?;
        tracing::info!(network = %req.network_id, "[net] DeleteNetwork");
        self.shared.networks.lock().expect("networks lock").remove(&req.network_id);
        empty()
    }

    /// Swarm's network allocation: the options come back unchanged.
    pub async fn allocate_network(&self, body: &[u8]) -> PluginResult {
        let req: AllocateReq = parse("NetworkDriver.AllocateNetwork", body)?;
        check_id("network id", &req.network_id)?;
        answer(serde_json::json!({ "Options": req.options.unwrap_or_default() }))
    }

    pub async fn free_network(&self, body: &[u8]) -> PluginResult {
        let req: NetworkReq = parse("NetworkDriver.FreeNetwork", body)?;
        check_id("network id", &req.network_id)?;
        empty()
    }

    pub async fn discover(&self, body: &[u8]) -> PluginResult {
        let _: serde_json::Value = parse("NetworkDriver.Discover", body)?;
        empty()
    }

    pub async fn create_endpoint(&self, body: &[u8]) -> PluginResult {
        let req: EndpointReq = parse("NetworkDriver.CreateEndpoint", body)?;
        check_id("network id", &req.network_id)?;
        check_id("endpoint id", &req.endpoint_id)?;
        if req.interface.as_ref().is_none_or(|i| i.is_null()) {
            return Err(PluginError::new("Not supported: creating an interface from within CreateEndpoint"));
        }
        self.network(&req.network_id).await?;
        tracing::info!(network = %req.network_id, endpoint = %req.endpoint_id, "[net] CreateEndpoint");
        let mac = self
            .shared
            .attach
            .create_endpoint(req.endpoint_id)
            .await
            .map_err(|e| PluginError::new(e.to_string()))?;
        answer(serde_json::json!({ "Interface": { "MacAddress": weave_netdev::format_mac(&mac) } }))
    }

    pub async fn delete_endpoint(&self, body: &[u8]) -> PluginResult {
        let req: EndpointReq = parse("NetworkDriver.DeleteEndpoint", body)?;
        check_id("network id", &req.network_id)?;
        check_id("endpoint id", &req.endpoint_id)?;
        tracing::info!(network = %req.network_id, endpoint = %req.endpoint_id, "[net] DeleteEndpoint");
        // As Weave: an endpoint already gone is no error (Docker repeats calls the daemon
        // did not answer, so a delete may find its work done).
        let existed = self
            .shared
            .attach
            .delete_endpoint(req.endpoint_id.clone())
            .await
            .map_err(|e| PluginError::new(e.to_string()))?;
        if !existed {
            tracing::info!(endpoint = %req.endpoint_id, "DeleteEndpoint: no veth pair was left");
        }
        empty()
    }

    pub async fn endpoint_info(&self, body: &[u8]) -> PluginResult {
        let req: EndpointReq = parse("NetworkDriver.EndpointOperInfo", body)?;
        check_id("network id", &req.network_id)?;
        check_id("endpoint id", &req.endpoint_id)?;
        self.endpoint_exists(&req.endpoint_id).await?;
        answer(serde_json::json!({ "Value": {} }))
    }

    pub async fn join(&self, body: &[u8]) -> PluginResult {
        let req: JoinReq = parse("NetworkDriver.Join", body)?;
        check_id("network id", &req.network_id)?;
        check_id("endpoint id", &req.endpoint_id)?;
        let net = self
            .network(&req.network_id)
            .await
            .map_err(|e| PluginError::new(format!("unable to find network info: {}", e.message)))?;
        self.endpoint_exists(&req.endpoint_id).await?;
        tracing::info!(network = %req.network_id, endpoint = %req.endpoint_id, sandbox = %req.sandbox_key, "[net] Join");
        let (_, peer) = veth_pair(&req.endpoint_id);
        let mut resp = serde_json::json!({ "InterfaceName": { "SrcName": peer, "DstPrefix": DST_PREFIX } });
        if net.multicast {
            resp["StaticRoutes"] = serde_json::json!([{ "Destination": "224.0.0.0/4", "RouteType": 1 }]);
        }
        answer(resp)
    }

    pub async fn leave(&self, body: &[u8]) -> PluginResult {
        let req: EndpointReq = parse("NetworkDriver.Leave", body)?;
        check_id("network id", &req.network_id)?;
        check_id("endpoint id", &req.endpoint_id)?;
        tracing::info!(network = %req.network_id, endpoint = %req.endpoint_id, "[net] Leave");
        empty()
    }

    async fn endpoint_exists(&self, endpoint_id: &str) -> Result<(), PluginError> {
        let (host, _) = veth_pair(endpoint_id);
        let id = endpoint_id.to_string();
        blocking(move || {
            let mut nl = Netlink::open().map_err(|e| e.to_string())?;
            match nl.link_by_name(&host).map_err(|e| e.to_string())? {
                Some(_) => Ok(()),
                None => Err(format!("no endpoint {id} here: it was not created by this plugin")),
            }
        })
        .await
    }

    /// The network's settings: known from CreateNetwork, else asked of Docker (after a daemon
    /// restart). Networks of other drivers are refused.
    async fn network(&self, id: &str) -> Result<Network, PluginError> {
        let known = self.shared.networks.lock().expect("networks lock").get(id).cloned();
        let net = match known {
            Some(n) => n,
            None => self.shared.network(id).await.map_err(|e| PluginError::new(e.to_string()))?.ok_or_else(
                || {
                    PluginError::new(format!(
                        "network {id} is unknown here and Docker is not reachable to ask about it"
                    ))
                },
            )?,
        };
        if net.driver != self.name {
            return Err(PluginError::new(format!(
                "network {id} belongs to driver {:?}, not {}",
                net.driver, self.name
            )));
        }
        Ok(net)
    }
}

/// Netlink work off the runtime; its error becomes the plugin's.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, PluginError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PluginError::new(e.to_string()))?
        .map_err(PluginError::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multicast_option_reads_as_weaves() {
        let opts = |v: &str| HashMap::from([(MULTICAST_OPTION.to_string(), v.to_string())]);
        assert!(parse_options("weave", &opts("")).unwrap().multicast);
        assert!(parse_options("weave", &opts("true")).unwrap().multicast);
        assert!(!parse_options("weave", &opts("0")).unwrap().multicast);
        assert!(!parse_options("weave", &HashMap::new()).unwrap().multicast);
        let e = parse_options("weave", &opts("maybe")).unwrap_err();
        assert_eq!(e, "unrecognized value \"maybe\" for option works.weave.multicast");
    }

    #[test]
    fn ids_are_checked_and_name_the_veths() {
        assert_eq!(veth_pair("0123456789abcdef"), ("vethwl012345678".into(), "vethwg012345678".into()));
        assert!(check_id("endpoint id", "0123456789abcdef").is_ok());
        for bad in ["", "short", "../../etc/passwd1", &"a".repeat(200), "0123456789 abc"] {
            let e = check_id("endpoint id", bad).unwrap_err();
            assert!(e.message.starts_with("invalid endpoint id"), "{bad}: {}", e.message);
        }
    }
}
