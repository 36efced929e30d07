//! Intents: what an attach, detach, expose or hide set out to do, recorded in the database
//! before its first step (and an attach's or expose's again with its addresses, before they
//! are plumbed) and cleared after its last, so the next daemon can finish or undo an
//! operation a kill -9 cut short ([`super::AttachService::replay`]).
//!
//! One row per target id (operations on one target run one at a time), JSON values. The
//! record is durable before the first step; the clear need not be (a lost clear makes the
//! next daemon look at a finished operation again, which it finds finished: replay is
//! idempotent), so it rides on the next durable commit instead of paying for its own.

use super::target::NsRef;
use crate::store::{Store, StoreError};
use ipnet::Ipv4Net;
use redb::{Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const INTENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("attach_intents");

/// One operation in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The target id (`weave:expose` for expose and hide, `docker-endpoint:ID` for the
    /// Docker plugin's endpoints).
    pub id: String,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Attach(AttachIntent),
    /// Remove `addrs` (all when `all`) and release them.
    Detach {
        ns: Option<Namespace>,
        ifname: String,
        addrs: Vec<Ipv4Net>,
        all: bool,
    },
    Expose(ExposeIntent),
    Hide {
        addrs: Vec<Ipv4Net>,
        all: bool,
    },
    /// The Docker plugin's CreateEndpoint: the veth pair `host`/`peer` on the bridge.
    CreateEndpoint {
        host: String,
        peer: String,
    },
    /// The Docker plugin's DeleteEndpoint: the pair of `host` goes.
    DeleteEndpoint {
        host: String,
    },
}

/// A target's namespace, and its inode then: a namespace found at the same place after a
/// restart is the same one only if the inode matches (pids and names are reused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    pub at: NsRef,
    pub inode: u64,
}

/// What the target had before: enough to tell what the operation added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachIntent {
    pub ns: Namespace,
    pub ifname: String,
    /// IPAM's addresses for the id before.
    pub prior_ipam: Vec<Ipv4Net>,
    /// The interface's addresses before; `None`: there was no such interface.
    pub prior_if: Option<Vec<Ipv4Net>>,
    /// Explicit addresses asked for (recorded in IPAM too, unless IPAM is off).
    pub explicit: Vec<Ipv4Net>,
    /// The DNS name to register, if any.
    pub fqdn: Option<String>,
    /// Every address of the operation, once allocated (recorded again before plumbing).
    pub addrs: Option<Vec<Ipv4Net>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExposeIntent {
    pub prior_ipam: Vec<Ipv4Net>,
    pub prior_bridge: Vec<Ipv4Net>,
    pub explicit: Vec<Ipv4Net>,
    pub masquerade: bool,
    pub fqdn: Option<String>,
    /// Every address of the operation, once allocated (recorded again before plumbing).
    pub addrs: Option<Vec<Ipv4Net>>,
}

/// Where intents are kept. A trait so the service's unit tests can fail it on purpose.
pub trait Journal: Send + Sync + 'static {
    /// Durably records `intent` (replacing the target's previous one).
    fn record(&self, intent: &Intent) -> Result<(), StoreError>;
    /// Forgets the target's intent (durable with the next durable commit).
    fn clear(&self, id: &str) -> Result<(), StoreError>;
    /// The target's intent, if one is left.
    fn get(&self, id: &str) -> Result<Option<Intent>, StoreError>;
    /// Every intent left, in id order.
    fn pending(&self) -> Result<Vec<Intent>, StoreError>;
}

/// The journal in the daemon's database.
pub struct StoreJournal(pub Store);

fn io(store: &Store, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io { path: store.path().to_path_buf(), detail: format!("attach intents: {e}") }
}

impl StoreJournal {
    fn write(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let s = &self.0;
        let mut tx = s.db().begin_write().map_err(|e| io(s, e))?;
        tx.set_durability(durability).map_err(|e| io(s, e))?;
        {
            let mut t = tx.open_table(INTENTS).map_err(|e| io(s, e))?;
            f(&mut t)?;
        }
        tx.commit().map_err(|e| io(s, e))
    }
}

impl StoreJournal {
    /// An intent that does not decode is damage: refused, never dropped silently.
    fn decode(&self, id: &str, v: &[u8]) -> Result<Intent, StoreError> {
        serde_json::from_slice(v).map_err(|e| StoreError::Damaged {
            path: self.0.path().to_path_buf(),
            detail: format!("attach intents: the intent for {id:?}: {e}"),
        })
    }
}

impl Journal for StoreJournal {
    fn record(&self, intent: &Intent) -> Result<(), StoreError> {
        let v = serde_json::to_vec(intent).map_err(|e| io(&self.0, e))?;
        self.write(Durability::Immediate, |t| {
            t.insert(intent.id.as_str(), v.as_slice()).map(drop).map_err(|e| io(&self.0, e))
        })
    }

    fn clear(&self, id: &str) -> Result<(), StoreError> {
        self.write(Durability::None, |t| t.remove(id).map(drop).map_err(|e| io(&self.0, e)))
    }

    fn get(&self, id: &str) -> Result<Option<Intent>, StoreError> {
        let s = &self.0;
        let tx = s.db().begin_read().map_err(|e| io(s, e))?;
        let t = match tx.open_table(INTENTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(io(s, e)),
        };
        let v = t.get(id).map_err(|e| io(s, e))?;
        v.map(|v| self.decode(id, v.value())).transpose()
    }

    fn pending(&self) -> Result<Vec<Intent>, StoreError> {
        let s = &self.0;
        let tx = s.db().begin_read().map_err(|e| io(s, e))?;
        let t = match tx.open_table(INTENTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
            Err(e) => return Err(io(s, e)),
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| io(s, e))? {
            let (k, v) = row.map_err(|e| io(s, e))?;
            out.push(self.decode(k.value(), v.value())?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_survive_reopening_and_clears_count_once_something_durable_follows() {
        let dir = std::env::temp_dir().join(format!("weave-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("weave.db");
        let a = Intent {
            id: "netns:a".into(),
            op: Op::Attach(AttachIntent {
                ns: Namespace { at: NsRef::Named("a".into()), inode: 7 },
                ifname: "ethwe".into(),
                prior_ipam: vec![],
                prior_if: None,
                explicit: vec!["10.32.0.9/12".parse().unwrap()],
                fqdn: Some("a.weave.local.".into()),
                addrs: None,
            }),
        };
        let b = Intent { id: "weave:expose".into(), op: Op::Hide { addrs: vec![], all: true } };
        {
            let j = StoreJournal(Store::open(&path).unwrap());
            assert!(j.pending().unwrap().is_empty());
            j.record(&a).unwrap();
            j.record(&b).unwrap();
            j.clear("weave:expose").unwrap();
            assert_eq!(j.pending().unwrap(), vec![a.clone()]);
            assert_eq!(j.get("netns:a").unwrap(), Some(a.clone()));
            assert_eq!(j.get("weave:expose").unwrap(), None);
            j.0.set_meta("x", b"durable").unwrap();
        }
        let j = StoreJournal(Store::open(&path).unwrap());
        assert_eq!(j.pending().unwrap(), vec![a]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
