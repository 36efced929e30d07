//! The CNI operations over a backend of the test's own: what ADD records and plans, what a
//! failed ADD leaves (nothing), and DEL, without a daemon or a kernel.

use crate::backend::{Addresses, Backend, Interface, Observed, Plumb};
use crate::{CniFailure, CniService};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use weave_store::Store;

/// The attach service of these tests: plumbs on paper, fails when told to.
#[derive(Default)]
struct Paper {
    fail: bool,
    plumbed: Arc<Mutex<Vec<Plumb>>>,
}

/// No IPAM in these tests.
struct NoIpam;

impl Addresses for NoIpam {
    type Error = std::io::Error;
    fn universe(&self) -> Ipv4Net {
        unreachable!()
    }
    fn default_subnet(&self) -> Ipv4Net {
        unreachable!()
    }
    fn parse_subnet(&self, _: &str) -> Result<Ipv4Net, String> {
        unreachable!()
    }
    async fn allocate(&self, _: &str, _: Ipv4Net) -> Result<Ipv4Net, std::io::Error> {
        unreachable!()
    }
    fn owned_by(&self, _: &str) -> Vec<Ipv4Net> {
        vec![]
    }
    fn state(&self) -> String {
        String::new()
    }
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

impl Backend for Paper {
    type Error = std::io::Error;
    type Ipam = NoIpam;
    fn ipam(&self) -> Option<&NoIpam> {
        None
    }
    fn dns_domain(&self) -> Option<String> {
        Some("weave.local.".into())
    }
    fn is_container_id(&self, id: &str) -> bool {
        !id.is_empty() && !id.contains(['/', ':'])
    }
    fn host_veth(&self, id: &str) -> String {
        format!("vethwepl{}", &id[..id.len().min(7)])
    }
    fn check_labels(&self, _: &BTreeMap<String, String>) -> Result<(), String> {
        Ok(())
    }
    async fn attach(&self, p: Plumb) -> Result<Interface, std::io::Error> {
        if self.fail {
            return Err(std::io::Error::other("no bridge"));
        }
        let addrs = p.addrs.iter().map(|a| net(a.trim_start_matches("ip:"))).collect();
        self.plumbed.lock().unwrap().push(p);
        Ok(Interface { mac: [2, 0, 0, 0, 0, 1], addrs })
    }
    async fn detach(&self, _: &str, _: Option<PathBuf>, _: &str) -> Result<Vec<Ipv4Net>, std::io::Error> {
        Ok(vec![net("10.32.0.5/12")])
    }
    async fn observe(&self, _: PathBuf, _: &str, _: &str) -> Result<Option<Observed>, std::io::Error> {
        Ok(None)
    }
    async fn bridge(&self) -> Result<Interface, std::io::Error> {
        Ok(Interface { mac: [0; 6], addrs: vec![net("10.32.0.1/12")] })
    }
    async fn expose(&self, _: Ipv4Net) -> Result<Vec<Ipv4Net>, std::io::Error> {
        unreachable!("the bridge has an address in the subnet")
    }
}

fn service(paper: Paper, name: &str) -> (Arc<CniService<Paper>>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("weave-cni-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir.join("weave.db")).unwrap();
    (CniService::new(paper, store, "0.0.0.0:53".parse().unwrap(), "weave", 1376), dir)
}

fn add_request(netns: &str) -> weave_api::CniAddRequest {
    serde_json::from_value(serde_json::json!({
        "network": "weave", "container_id": "c1", "ifname": "eth0", "netns": netns,
        "ips": [{"address": "10.32.0.5/12"}],
    }))
    .unwrap()
}

#[tokio::test]
async fn add_takes_the_bridge_as_gateway_and_del_forgets_it() {
    let paper = Paper::default();
    let plumbed = paper.plumbed.clone();
    let (cni, dir) = service(paper, "add");
    let a = cni.add(add_request("/run/netns/c1")).await.unwrap();
    assert_eq!(a.ips[0].address, "10.32.0.5/12");
    assert_eq!(a.ips[0].gateway.as_deref(), Some("10.32.0.1"));
    assert_eq!(a.routes[0].dst, "0.0.0.0/0");
    assert_eq!(a.dns.unwrap().nameservers, ["10.32.0.1"], "weaveDNS listens everywhere: the gateway");
    let plumbed = plumbed.lock().unwrap().clone();
    assert_eq!(plumbed[0].routes, [(net("0.0.0.0/0"), Some("10.32.0.1".parse().unwrap()))]);
    let e = cni.add(add_request("/run/netns/c1")).await.unwrap_err();
    assert!(matches!(e, CniFailure::Conflict(_)), "{e}");
    let d = cni.delete("c1", "eth0").await.unwrap();
    assert_eq!(d.released, ["10.32.0.5/12"]);
    assert!(cni.list().await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_failed_add_leaves_no_record_and_bad_input_changes_nothing() {
    let (cni, dir) = service(Paper { fail: true, ..Paper::default() }, "fail");
    let e = cni.add(add_request("/run/netns/c1")).await.unwrap_err();
    assert!(matches!(e, CniFailure::Backend(_)), "{e}");
    assert!(matches!(cni.add(add_request("relative")).await.unwrap_err(), CniFailure::Invalid(_)));
    let ipam: weave_api::CniIpamRequest = serde_json::from_value(
        serde_json::json!({"network": "weave", "container_id": "c1", "ifname": "eth0"}),
    )
    .unwrap();
    assert!(matches!(cni.ipam_add(ipam).await.unwrap_err(), CniFailure::IpamDisabled));
    assert!(matches!(cni.delete("a/b", "eth0").await.unwrap_err(), CniFailure::Invalid(_)));
    assert!(cni.list().await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
