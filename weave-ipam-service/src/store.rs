//! IPAM's tables in the daemon's database: the peer name and ring in `ipam`, the addresses
//! handed out in `ipam_owned` (one row per owner, so an allocation rewrites one row, not all).
//! Values are gob in the shapes of Weave's own db values (`ring`, `ownedAddresses`).
//!
//! Every save is one durable redb transaction: the caller answers nothing that depends on the
//! state before [`save`] returns. A value that cannot be decoded makes [`load`] fail with
//! [`StoreError::Damaged`]: the file is refused, never overwritten.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use weave_ipam::persist::{
    owned_from_gob, owned_to_gob, ring_from_gob, ring_to_gob, OwnedData, PersistDelta, PersistedState,
};
use weave_ipam::PeerName;
use weave_store::{Store, StoreError};

const IPAM: TableDefinition<&str, &[u8]> = TableDefinition::new("ipam");
const OWNED: TableDefinition<&str, &[u8]> = TableDefinition::new("ipam_owned");
const PEER_NAME: &str = "peername";
const RING: &str = "ring";

fn damaged(store: &Store, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Damaged { path: store.path().to_path_buf(), detail: format!("IPAM {what}: {e}") }
}

fn io(store: &Store, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io { path: store.path().to_path_buf(), detail: e.to_string() }
}

/// What was persisted last time, if anything. Anything unreadable is [`StoreError::Damaged`].
pub fn load(store: &Store) -> Result<Option<PersistedState>, StoreError> {
    let tx = store.db().begin_read().map_err(|e| damaged(store, "data", e))?;
    let meta = match tx.open_table(IPAM) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(damaged(store, "data", e)),
    };
    let Some(name) = meta.get(PEER_NAME).map_err(|e| damaged(store, "data", e))? else { return Ok(None) };
    let name: [u8; 8] = name.value().try_into().map_err(|_| damaged(store, "peer name", "not 8 bytes"))?;
    let ring = match meta.get(RING).map_err(|e| damaged(store, "data", e))? {
        Some(v) => Some(ring_from_gob(v.value()).map_err(|e| damaged(store, "ring", e))?),
        None => None,
    };
    let mut owned = BTreeMap::new();
    match tx.open_table(OWNED) {
        Ok(t) => {
            for row in t.iter().map_err(|e| damaged(store, "data", e))? {
                let (k, v) = row.map_err(|e| damaged(store, "data", e))?;
                let ident = k.value().to_string();
                let mut one = owned_from_gob(v.value())
                    .map_err(|e| damaged(store, &format!("addresses of {ident:?}"), e))?;
                let data = one.remove(&ident).filter(|_| one.is_empty()).ok_or_else(|| {
                    damaged(store, &format!("addresses of {ident:?}"), "filed under another owner")
                })?;
                owned.insert(ident, data);
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(damaged(store, "data", e)),
    }
    Ok(Some(PersistedState { peer_name: PeerName(u64::from_be_bytes(name)), ring, owned }))
}

fn owned_row(ident: &str, data: &OwnedData) -> Vec<u8> {
    owned_to_gob(&BTreeMap::from([(ident.to_string(), data.clone())]))
}

/// Durably applies `delta` to what is stored (`prev`, as last saved or loaded): one
/// transaction that writes the peer name and ring when they changed and only the owners in
/// the delta.
pub fn save(store: &Store, prev: Option<&PersistedState>, delta: &PersistDelta) -> Result<(), StoreError> {
    // Without a known previous state, nothing on disk is trusted to be current.
    let fresh = delta.reset || prev.is_none();
    let tx = store.db().begin_write().map_err(|e| io(store, e))?;
    {
        let mut meta = tx.open_table(IPAM).map_err(|e| io(store, e))?;
        if fresh || prev.map(|p| p.peer_name) != Some(delta.peer_name) {
            meta.insert(PEER_NAME, delta.peer_name.0.to_be_bytes().as_slice()).map_err(|e| io(store, e))?;
        }
        if fresh || prev.map(|p| &p.ring) != Some(&delta.ring) {
            match &delta.ring {
                Some(r) => {
                    meta.insert(RING, ring_to_gob(r).as_slice()).map_err(|e| io(store, e))?;
                }
                None => {
                    meta.remove(RING).map_err(|e| io(store, e))?;
                }
            }
        }
        let mut owned = tx.open_table(OWNED).map_err(|e| io(store, e))?;
        if fresh {
            owned.retain(|_, _| false).map_err(|e| io(store, e))?;
        }
        for (ident, data) in &delta.owned {
            match data {
                Some(data) => {
                    owned
                        .insert(ident.as_str(), owned_row(ident, data).as_slice())
                        .map_err(|e| io(store, e))?;
                }
                None => {
                    owned.remove(ident.as_str()).map_err(|e| io(store, e))?;
                }
            }
        }
    }
    tx.commit().map_err(|e| io(store, e))?;
    Ok(())
}

/// Writes raw bytes as the ring value (tests of the damaged-file path).
#[cfg(test)]
pub fn put_raw_ring(store: &Store, bytes: &[u8]) {
    let tx = store.db().begin_write().unwrap();
    {
        let mut meta = tx.open_table(IPAM).unwrap();
        meta.insert(PEER_NAME, 1u64.to_be_bytes().as_slice()).unwrap();
        meta.insert(RING, bytes).unwrap();
    }
    tx.commit().unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;
    use weave_ipam::ring::Ring;
    use weave_ipam::Address;

    fn tmp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("weave-ipam-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn state(owned: &[(&str, &str)]) -> PersistedState {
        let a = PeerName(0x02_00_00_00_00_01);
        let mut ring = Ring::new(Address(0x0a20_0000), Address(0x0a30_0000), a).unwrap();
        ring.claim_for_peers(&[a]).unwrap();
        let mut map: BTreeMap<String, OwnedData> = BTreeMap::new();
        for (ident, cidr) in owned {
            let d = map.entry(ident.to_string()).or_default();
            d.is_container = true;
            d.cidrs.push(cidr.parse().unwrap());
        }
        PersistedState { peer_name: a, ring: Some(ring), owned: map }
    }

    /// The delta that turns `prev` into `next`, as the allocator would emit it.
    fn delta(prev: Option<&PersistedState>, next: &PersistedState) -> PersistDelta {
        let empty = BTreeMap::new();
        let before = prev.map(|p| &p.owned).unwrap_or(&empty);
        let mut owned: BTreeMap<String, Option<OwnedData>> =
            before.keys().filter(|k| !next.owned.contains_key(*k)).map(|k| (k.clone(), None)).collect();
        for (k, v) in &next.owned {
            if before.get(k) != Some(v) {
                owned.insert(k.clone(), Some(v.clone()));
            }
        }
        PersistDelta { reset: prev.is_none(), peer_name: next.peer_name, ring: next.ring.clone(), owned }
    }

    #[test]
    fn saves_deltas_and_loads_them_back() {
        let dir = tmp("diff");
        let path = dir.join("weave.db");
        let s1 = state(&[("netns:a", "10.32.0.1/12"), ("netns:b", "10.32.0.2/12")]);
        let s2 =
            state(&[("netns:a", "10.32.0.1/12"), ("netns:a", "10.32.0.3/12"), ("netns:c", "10.32.0.4/12")]);
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(load(&store).unwrap(), None);
            save(&store, None, &delta(None, &s1)).unwrap();
            assert_eq!(load(&store).unwrap().as_ref(), Some(&s1));
            save(&store, Some(&s1), &delta(Some(&s1), &s2)).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(load(&store).unwrap(), Some(s2.clone()));
        // A reset drops every owner not in it.
        let s3 = state(&[("netns:z", "10.32.0.9/12")]);
        save(&store, Some(&s2), &delta(None, &s3)).unwrap();
        assert_eq!(load(&store).unwrap(), Some(s3));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_undecodable_value_is_refused_and_left_alone() {
        let dir = tmp("damaged");
        let path = dir.join("weave.db");
        let store = Store::open(&path).unwrap();
        put_raw_ring(&store, b"not gob at all");
        let err = load(&store).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("will not overwrite"), "{err}");
        // Still there as it was: nothing replaced it.
        let tx = store.db().begin_read().unwrap();
        let meta = tx.open_table(IPAM).unwrap();
        assert_eq!(meta.get(RING).unwrap().unwrap().value(), b"not gob at all");
        drop((meta, tx, store));
        let _ = std::fs::remove_dir_all(dir);
    }
}
