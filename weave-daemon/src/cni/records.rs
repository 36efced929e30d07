//! CNI attachments in the daemon's database (table `cni_attachments`): what the runtime asked
//! for and what it got, one row per `(container id, interface name)`, JSON values.
//!
//! An ADD writes its row before it starts (state `Adding`) and again when done (`Ready`), both
//! durably, so whatever a kill -9 interrupts is still found by DEL, GC and `weave ps`.

use super::plan::Route;
use crate::store::{Store, StoreError};
use ipnet::Ipv4Net;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

const ATTACHMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("cni_attachments");

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

fn io(store: &Store, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io { path: store.path().to_path_buf(), detail: format!("CNI attachments: {e}") }
}

/// Durably stores `r`, replacing the row of its attachment.
pub fn put(store: &Store, r: &Record) -> Result<(), StoreError> {
    let v = serde_json::to_vec(r).map_err(|e| io(store, e))?;
    let tx = store.db().begin_write().map_err(|e| io(store, e))?;
    {
        let mut t = tx.open_table(ATTACHMENTS).map_err(|e| io(store, e))?;
        t.insert(r.key().as_str(), v.as_slice()).map_err(|e| io(store, e))?;
    }
    tx.commit().map_err(|e| io(store, e))
}

/// Durably removes the row of `(container_id, ifname)`; a missing row is fine.
pub fn remove(store: &Store, container_id: &str, ifname: &str) -> Result<(), StoreError> {
    let tx = store.db().begin_write().map_err(|e| io(store, e))?;
    {
        let mut t = tx.open_table(ATTACHMENTS).map_err(|e| io(store, e))?;
        t.remove(key(container_id, ifname).as_str()).map_err(|e| io(store, e))?;
    }
    tx.commit().map_err(|e| io(store, e))
}

/// Every attachment, in key order. A row that cannot be read makes the file damaged.
pub fn all(store: &Store) -> Result<Vec<Record>, StoreError> {
    let tx = store.db().begin_read().map_err(|e| io(store, e))?;
    let t = match tx.open_table(ATTACHMENTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
        Err(e) => return Err(io(store, e)),
    };
    let mut out = Vec::new();
    for row in t.iter().map_err(|e| io(store, e))? {
        let (k, v) = row.map_err(|e| io(store, e))?;
        let r: Record = serde_json::from_slice(v.value()).map_err(|e| StoreError::Damaged {
            path: store.path().to_path_buf(),
            detail: format!("CNI attachment {:?}: {e}", k.value()),
        })?;
        out.push(r);
    }
    Ok(out)
}

/// The attachment of `(container_id, ifname)`.
pub fn get(store: &Store, container_id: &str, ifname: &str) -> Result<Option<Record>, StoreError> {
    let tx = store.db().begin_read().map_err(|e| io(store, e))?;
    let t = match tx.open_table(ATTACHMENTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(io(store, e)),
    };
    let k = key(container_id, ifname);
    let Some(v) = t.get(k.as_str()).map_err(|e| io(store, e))? else { return Ok(None) };
    serde_json::from_slice(v.value()).map(Some).map_err(|e| StoreError::Damaged {
        path: store.path().to_path_buf(),
        detail: format!("CNI attachment {k:?}: {e}"),
    })
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
