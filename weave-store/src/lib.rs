//! weave-store: the embedded database under `--data-dir`: one redb file holding what must
//! survive a restart (the IPAM ring and owned addresses, connection targets, this peer's name).
//!
//! A file that cannot be read is refused with a message saying what to do; it is never
//! silently replaced. Subsystems own their tables; this module owns the file and the `meta`
//! table.

#![forbid(unsafe_code)]

pub mod json_table;

use redb::{Database, DatabaseError, ReadableDatabase, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Schema version of the file; bumped on incompatible changes.
const SCHEMA_VERSION: u32 = 1;
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("database {path} is in use by another process (is another weave-daemon running with the same --data-dir?)")]
    InUse { path: PathBuf },
    #[error("database {path} cannot be read ({detail}); weave will not overwrite it: move it aside to start with empty state, or restore a backup")]
    Damaged { path: PathBuf, detail: String },
    #[error("database {path} was written by a newer weave (schema {found}, this one knows {SCHEMA_VERSION}); upgrade weave or move the file aside")]
    TooNew { path: PathBuf, found: u32 },
    #[error("database {path}: {detail}")]
    Io { path: PathBuf, detail: String },
}

#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) `<dir>/weave.db`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::CreateDir { path: dir.into(), source })?;
        }
        let p = path.to_path_buf();
        let db = match Database::create(path) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::InUse { path: p }),
            Err(e) => return Err(StoreError::Damaged { path: p, detail: e.to_string() }),
        };
        let store = Store { db: Arc::new(db), path: p };
        store.check_schema()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    fn io(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io { path: self.path.clone(), detail: e.to_string() }
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        match self.meta("schema")? {
            Some(v) => {
                let found =
                    v.as_slice().try_into().map(u32::from_be_bytes).map_err(|_| StoreError::Damaged {
                        path: self.path.clone(),
                        detail: "schema version is not 4 bytes".into(),
                    })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew { path: self.path.clone(), found });
                }
                Ok(())
            }
            None => self.set_meta("schema", &SCHEMA_VERSION.to_be_bytes()),
        }
    }

    /// A value of the `meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let v = table.get(key).map_err(|e| self.io(e))?;
        Ok(v.map(|v| v.value().to_vec()))
    }

    /// Durably sets a value of the `meta` table.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = tx.open_table(META).map_err(|e| self.io(e))?;
            table.insert(key, value).map_err(|e| self.io(e))?;
        }
        tx.commit().map_err(|e| self.io(e))
    }
}

/// Key of the persisted connection targets (Weave's `directPeers`).
const TARGETS: &str = "directPeers";

impl Store {
    /// The persisted connection targets, if any were ever stored.
    pub fn targets(&self) -> Result<Option<Vec<String>>, StoreError> {
        match self.meta(TARGETS)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| StoreError::Damaged {
                path: self.path.clone(),
                detail: format!("persisted targets: {e}"),
            }),
        }
    }

    pub fn set_targets(&self, targets: &[String]) -> Result<(), StoreError> {
        let v = serde_json::to_vec(targets).map_err(|e| self.io(e))?;
        self.set_meta(TARGETS, &v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("weave-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn values_survive_reopening() {
        let dir = tmp("reopen");
        let path = dir.join("weave.db");
        {
            let s = Store::open(&path).unwrap();
            s.set_meta("peername", b"abc").unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.meta("peername").unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(s.meta("missing").unwrap(), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_second_opener_is_told_the_file_is_in_use() {
        let dir = tmp("inuse");
        let path = dir.join("weave.db");
        let _first = Store::open(&path).unwrap();
        let err = Store::open(&path).err().expect("second open must fail");
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_damaged_file_is_refused_and_left_alone() {
        let dir = tmp("damaged");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("weave.db");
        let junk = b"this is not a redb database, it is a text file".repeat(100);
        std::fs::write(&path, &junk).unwrap();
        let err = Store::open(&path).err().expect("junk must be refused");
        assert!(err.to_string().contains("will not overwrite"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), junk, "the file must be untouched");
        let _ = std::fs::remove_dir_all(dir);
    }
}
