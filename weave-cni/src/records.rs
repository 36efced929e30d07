//! CNI attachments in the daemon's database (table `cni_attachments`): what the runtime asked
//! for and what it got, one row per `(container id, interface name)`, JSON values.
//!
//! An ADD writes its row before it starts (state `Adding`) and again when done (`Ready`), both
//! durably, so whatever a kill -9 interrupts is still found by DEL, GC and `weave ps`.

use crate::plan::Route;
use ipnet::Ipv4Net;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use weave_store::json_table::JsonTable;
use weave_store::{Store, StoreError};

const ATTACHMENTS: JsonTable =
    JsonTable { def: TableDefinition::new("cni_attachments"), what: "CNI attachments" };

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// ADD is under way (or was cut short).
    Adding,
    Ready,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    /// The namespace path; `None` for an address-only (`weave-ipam`) attachment.
    pub netns: Option<String>,
    /// The pod or container name it is known by in weaveDNS.
    pub name: Option<String>,
    pub pod_namespace: Option<String>,
    pub addrs: Vec<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub routes: Vec<Route>,
    pub mtu: Option<u32>,
    pub state: State,
}

impl Record {
    pub fn key(&self) -> String {
        key(&self.container_id, &self.ifname)
    }
}

/// Container ids have no `/` (the plugins check), so the key splits back unambiguously.
pub fn key(container_id: &str, ifname: &str) -> String {
    format!("{container_id}/{ifname}")
}

/// Durably stores `r`, replacing the row of its attachment.
pub fn put(store: &Store, r: &Record) -> Result<(), StoreError> {
    ATTACHMENTS.put(store, &r.key(), r)
}

/// Durably removes the row of `(container_id, ifname)`; a missing row is fine.
pub fn remove(store: &Store, container_id: &str, ifname: &str) -> Result<(), StoreError> {
    ATTACHMENTS.remove(store, &key(container_id, ifname))
}

/// Every attachment, in key order. A row that cannot be read makes the file damaged.
pub fn all(store: &Store) -> Result<Vec<Record>, StoreError> {
    ATTACHMENTS.all(store)
}

/// The attachment of `(container_id, ifname)`.
pub fn get(store: &Store, container_id: &str, ifname: &str) -> Result<Option<Record>, StoreError> {
    ATTACHMENTS.get(store, &key(container_id, ifname))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, ifname: &str) -> Record {
        Record {
            network: "weave".into(),
            container_id: id.into(),
            ifname: ifname.into(),
            netns: Some(format!("/run/netns/{id}")),
            name: Some("web".into()),
            pod_namespace: None,
            addrs: vec!["10.32.0.5/12".parse().unwrap()],
            gateway: Some("10.32.0.1".parse().unwrap()),
            routes: vec![Route { dst: "0.0.0.0/0".parse().unwrap(), gw: Some("10.32.0.1".parse().unwrap()) }],
            mtu: Some(1376),
            state: State::Ready,
        }
    }

    #[test]
    fn attachments_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("weave-cni-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("weave.db");
        let (a, b) = (record("a", "eth0"), record("b", "eth1"));
        {
            let s = Store::open(&path).unwrap();
            assert!(all(&s).unwrap().is_empty());
            put(&s, &a).unwrap();
            put(&s, &b).unwrap();
            remove(&s, "b", "eth1").unwrap();
            remove(&s, "nothing", "eth0").unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(all(&s).unwrap(), vec![a.clone()]);
        assert_eq!(get(&s, "a", "eth0").unwrap(), Some(a));
        assert_eq!(get(&s, "a", "eth1").unwrap(), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
