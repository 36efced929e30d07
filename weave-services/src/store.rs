//! Services in the daemon's database: one row per service (JSON), written durably before
//! each change reaches the kernel, so the next daemon knows what was in force and what was
//! under way when a kill -9 came ([`Phase`]).

use super::spec::Spec;
use ipnet::Ipv4Net;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use weave_store::json_table::JsonTable;
use weave_store::{Store, StoreError};

const SERVICES: JsonTable = JsonTable { def: TableDefinition::new("services"), what: "services" };

/// Where a service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Recorded, its steps under way; a daemon that finds it at start undoes it (the client
    /// was never told it exists).
    Adding,
    Active,
    /// Being taken away; a daemon that finds it at start finishes that.
    Removing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub spec: Spec,
    /// The weave address it holds (IPAM owner [`Record::owner`]), once it has one.
    pub weave: Option<Ipv4Net>,
    pub phase: Phase,
    /// RFC 3339.
    pub created: String,
}

impl Record {
    /// Its IPAM owner and weaveDNS container id.
    pub fn owner(&self) -> String {
        owner(&self.id)
    }
}

pub fn owner(id: &str) -> String {
    format!("weave:service:{id}")
}

/// Durably writes `r` (replacing the row of its id).
pub fn put(store: &Store, r: &Record) -> Result<(), StoreError> {
    SERVICES.put(store, &r.id, r)
}

/// Durably forgets the service `id`.
pub fn delete(store: &Store, id: &str) -> Result<(), StoreError> {
    SERVICES.remove(store, id)
}

/// Every service recorded, in id order. A row that does not decode is damage: refused, never
/// dropped silently.
pub fn load(store: &Store) -> Result<Vec<Record>, StoreError> {
    SERVICES.all(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::TargetRef;

    #[test]
    fn records_survive_reopening_and_deletes_stick() {
        let dir = std::env::temp_dir().join(format!("weave-services-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("weave.db");
        let r = Record {
            id: "svc-1".into(),
            spec: Spec::Export {
                target: TargetRef::Local("netns:a".into()),
                port: 80,
                proto: weave_api::Protocol::Udp,
                publish_addr: None,
                publish_port: 8080,
            },
            weave: Some("10.32.0.3/12".parse().unwrap()),
            phase: Phase::Active,
            created: "2024-01-01T00:00:00Z".into(),
        };
        let gone = Record { id: "svc-2".into(), phase: Phase::Removing, ..r.clone() };
        {
            let s = Store::open(&path).unwrap();
            assert!(load(&s).unwrap().is_empty());
            put(&s, &r).unwrap();
            put(&s, &gone).unwrap();
            delete(&s, "svc-2").unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(load(&s).unwrap(), vec![r.clone()]);
        assert_eq!(r.owner(), "weave:service:svc-1");
        let _ = std::fs::remove_dir_all(dir);
    }
}
