//! A table of JSON rows keyed by a string, written durably one row per transaction: the shape
//! the CNI attachments and the services share. A row that does not decode is damage, reported
//! with its key, never dropped silently.

use crate::{Store, StoreError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub struct JsonTable {
    pub def: TableDefinition<'static, &'static str, &'static [u8]>,
    /// What the rows are, for errors ("CNI attachments").
    pub what: &'static str,
}

impl JsonTable {
    fn io(&self, store: &Store, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io { path: store.path().to_path_buf(), detail: format!("{}: {e}", self.what) }
    }

    fn damaged(&self, store: &Store, key: &str, e: serde_json::Error) -> StoreError {
        StoreError::Damaged {
            path: store.path().to_path_buf(),
            detail: format!("{}: the row of {key:?}: {e}", self.what),
        }
    }

    /// Durably writes `value` as the row of `key`, replacing it.
    pub fn put<T: Serialize>(&self, store: &Store, key: &str, value: &T) -> Result<(), StoreError> {
        let v = serde_json::to_vec(value).map_err(|e| self.io(store, e))?;
        let tx = store.db().begin_write().map_err(|e| self.io(store, e))?;
        {
            let mut t = tx.open_table(self.def).map_err(|e| self.io(store, e))?;
            t.insert(key, v.as_slice()).map_err(|e| self.io(store, e))?;
        }
        tx.commit().map_err(|e| self.io(store, e))
    }

    /// Durably removes the row of `key`; a missing row is fine.
    pub fn remove(&self, store: &Store, key: &str) -> Result<(), StoreError> {
        let tx = store.db().begin_write().map_err(|e| self.io(store, e))?;
        {
            let mut t = tx.open_table(self.def).map_err(|e| self.io(store, e))?;
            t.remove(key).map_err(|e| self.io(store, e))?;
        }
        tx.commit().map_err(|e| self.io(store, e))
    }

    /// Every row, in key order.
    pub fn all<T: DeserializeOwned>(&self, store: &Store) -> Result<Vec<T>, StoreError> {
        let tx = store.db().begin_read().map_err(|e| self.io(store, e))?;
        let t = match tx.open_table(self.def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
            Err(e) => return Err(self.io(store, e)),
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.io(store, e))? {
            let (k, v) = row.map_err(|e| self.io(store, e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| self.damaged(store, k.value(), e))?);
        }
        Ok(out)
    }

    /// The row of `key`, if there is one.
    pub fn get<T: DeserializeOwned>(&self, store: &Store, key: &str) -> Result<Option<T>, StoreError> {
        let tx = store.db().begin_read().map_err(|e| self.io(store, e))?;
        let t = match tx.open_table(self.def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.io(store, e)),
        };
        let Some(v) = t.get(key).map_err(|e| self.io(store, e))? else { return Ok(None) };
        serde_json::from_slice(v.value()).map(Some).map_err(|e| self.damaged(store, key, e))
    }
}
