//! This peer's own live names, kept under the data directory so a restarted daemon (crash,
//! `weave stop` then `weave launch`) still answers for the targets that stayed attached,
//! instead of tombstoning its own entries when the other peers gossip them back. Targets that
//! went away meanwhile lose their names at the next death check.
//!
//! Two files: `dns-entries.json`, every name as of some moment, and `dns-entries.log`, one JSON
//! line per name that appeared or went since. A write appends only what changed (one flush for
//! however many names a group commit carries), so registering a name costs the same with ten
//! names saved or ten thousand; when the log outgrows the names, they are folded into a new
//! `dns-entries.json` and the log starts again. Every write is flushed to disk before it is
//! acknowledged; a damaged file is reported and kept aside, never ignored or overwritten.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use weave_dns::Nameserver;

/// The names file under the data directory (removed by `weave reset`, as the others here).
pub const FILE: &str = "dns-entries.json";
/// Where a damaged names file is moved.
pub const DAMAGED: &str = "dns-entries.json.damaged";
/// The log of changes since the names file was written.
pub const LOG: &str = "dns-entries.log";
/// Where a damaged log is copied.
pub const LOG_DAMAGED: &str = "dns-entries.log.damaged";
/// The log is folded into the names file once it has more lines than this and than twice the
/// names: the fold's cost, a write of every name, is spread over at least as many changes.
const FOLD_AFTER: usize = 4096;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Saved {
    pub hostname: String,
    pub container_id: String,
    pub addr: Ipv4Addr,
}

/// One line of the log: the name is live from here on, or gone.
#[derive(Deserialize)]
struct Change {
    live: bool,
    #[serde(flatten)]
    name: Saved,
}

/// [`Change`] as written.
#[derive(Serialize)]
struct ChangeOut<'a> {
    live: bool,
    #[serde(flatten)]
    name: &'a Saved,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

fn log_path(file: &Path) -> PathBuf {
    file.with_file_name(LOG)
}

fn named(op: &str, p: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{op} {}: {e}", p.display()))
}

/// Our live entries.
pub fn ours(ns: &Nameserver) -> Vec<Saved> {
    let us = ns.our_name();
    ns.entries()
        .iter()
        .filter(|e| e.origin == us && !e.is_tombstoned())
        .map(|e| Saved { hostname: e.hostname.clone(), container_id: e.container_id.clone(), addr: e.addr })
        .collect()
}

/// Writes the names file atomically and durably: a temporary file, flushed to disk, renamed
/// over the old one, and the directory flushed so the rename survives a power cut.
pub fn save(path: &Path, entries: &[Saved]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = File::create(&tmp).map_err(|e| named("create", &tmp, e))?;
    f.write_all(&serde_json::to_vec(entries)?).map_err(|e| named("write", &tmp, e))?;
    f.sync_all().map_err(|e| named("fsync", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| named("rename over", path, e))?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir).and_then(|d| d.sync_all()).map_err(|e| named("fsync", dir, e)),
        None => Ok(()),
    }
}

/// What was saved: the names file with the log's changes applied; nothing when neither exists.
/// A damaged names file is moved aside (to `…json.damaged`, so the next save cannot overwrite
/// what someone may want to read), the log with it, and the error says which file, what was
/// wrong and what to do. In the log, a last line cut short is a write that never finished (and
/// was never acknowledged): it is dropped quietly. A damaged line before the end keeps the
/// changes before it, and a copy of the log goes to `…log.damaged`.
pub fn load(path: &Path) -> Result<Vec<Saved>, String> {
    let mut names: HashSet<Saved> = read_names(path)?.into_iter().collect();
    let log = log_path(path);
    let bytes = match std::fs::read(&log) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => {
            return Err(format!("reading {}: {e}; this peer's DNS names were not restored", log.display()))
        }
    };
    let mut damaged = None;
    let mut lines = bytes.split_inclusive(|b| *b == b'\n').enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let last = lines.peek().is_none();
        match serde_json::from_slice::<Change>(line) {
            Ok(c) if c.live => drop(names.insert(c.name)),
            Ok(c) => drop(names.remove(&c.name)),
            Err(_) if last && !line.ends_with(b"\n") => break,
            Err(e) => {
                damaged = Some((n + 1, e));
                break;
            }
        }
    }
    let mut out: Vec<Saved> = names.into_iter().collect();
    out.sort();
    if let Some((line, e)) = damaged {
        let aside = log.with_file_name(LOG_DAMAGED);
        let kept = match std::fs::copy(&log, &aside) {
            Ok(_) => format!("a copy is in {}", aside.display()),
            Err(r) => format!("copying it aside failed ({r})"),
        };
        tracing::warn!(
            "{} is damaged at line {line} ({e}): the DNS names changed after that line were not \
             restored and {kept}; re-register them with `weave dns-add` (or re-attach the targets)",
            log.display()
        );
    }
    Ok(out)
}

fn read_names(path: &Path) -> Result<Vec<Saved>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(format!("reading {}: {e}; this peer's DNS names were not restored", path.display()))
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        let aside = path.with_file_name(DAMAGED);
        let kept = match std::fs::rename(path, &aside) {
            Ok(()) => format!("it was moved to {}", aside.display()),
            Err(r) => format!("moving it aside failed ({r})"),
        };
        // The log's changes apply to the file that was lost: keep them for reading, not replay.
        let log = log_path(path);
        let _ = std::fs::rename(&log, log.with_file_name(LOG_DAMAGED));
        format!(
            "{} is damaged ({e}): this peer's DNS names were not restored and {kept}; \
             re-register them with `weave dns-add` (or re-attach the targets), then remove the damaged copy",
            path.display()
        )
    })
}

/// The writer of the two files. It remembers what is on disk, so each write appends only the
/// difference.
pub struct Store {
    path: PathBuf,
    on_disk: HashSet<Saved>,
    log: Option<Log>,
    /// [`FOLD_AFTER`], smaller in tests.
    fold_after: usize,
}

struct Log {
    file: File,
    /// Bytes known to be on disk: after a failed append the file is cut back to here.
    len: u64,
    lines: usize,
}

impl Store {
    /// Reads what was saved (see [`load`]), then folds the log into the names file, so the
    /// log holds only changes made by this run.
    pub fn open(path: &Path) -> (Store, Result<Vec<Saved>, String>) {
        let loaded = load(path);
        let names: HashSet<Saved> = loaded.iter().flatten().cloned().collect();
        // What the files hold, folded or not: a failed fold leaves the log to append to.
        let mut store =
            Store { path: path.to_path_buf(), on_disk: names.clone(), log: None, fold_after: FOLD_AFTER };
        if let Err(e) = store.fold(names) {
            tracing::warn!("saving DNS names: {e}");
        }
        (store, loaded)
    }

    /// Makes `ours`, every live name of ours, what is on disk (a scan of all names: for when
    /// the changes are not known one by one).
    pub fn write(&mut self, ours: Vec<Saved>) -> std::io::Result<()> {
        let now: HashSet<Saved> = ours.into_iter().collect();
        let mut changes: Vec<(Saved, bool)> =
            self.on_disk.difference(&now).map(|n| (n.clone(), false)).collect();
        changes.extend(now.into_iter().filter(|n| !self.on_disk.contains(n)).map(|n| (n, true)));
        self.commit(changes)
    }

    /// Puts `changes` on disk: names that became live (`true`) or went, in the order they
    /// happened. Costs what the changes are, not what the names are.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = (Saved, bool)>) -> std::io::Result<()> {
        let mut last = std::collections::HashMap::new();
        for (name, live) in changes {
            last.insert(name, live);
        }
        let changes = last.into_iter().filter(|(n, live)| self.on_disk.contains(n) != *live).collect();
        self.commit(changes)
    }

    /// Appends one line per change, then folds the log if it outgrew the names. What is on
    /// disk changes only once the lines are.
    fn commit(&mut self, changes: Vec<(Saved, bool)>) -> std::io::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for (name, live) in &changes {
            serde_json::to_writer(&mut buf, &ChangeOut { live: *live, name })?;
            buf.push(b'\n');
        }
        self.append(&buf)?;
        if let Some(log) = self.log.as_mut() {
            log.lines += changes.len();
        }
        for (name, live) in changes {
            if live {
                self.on_disk.insert(name);
            } else {
                self.on_disk.remove(&name);
            }
        }
        let logged = self.log.as_ref().map_or(0, |l| l.lines);
        if logged > self.fold_after.max(2 * self.on_disk.len()) {
            // The log already holds every change, so a crash anywhere in the fold leaves files
            // that load to the same names.
            self.fold(self.on_disk.clone())?;
        }
        Ok(())
    }

    /// Closes the log, as after a failed write (tests: the next write opens it again).
    #[cfg(test)]
    pub fn close_log(&mut self) {
        self.log = None;
    }

    /// Appends and flushes `buf`; on failure cuts the log back to what was on disk before.
    fn append(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let path = log_path(&self.path);
        if self.log.is_none() {
            let file = std::fs::OpenOptions::new().append(true).create(true).open(&path);
            let file = file.map_err(|e| named("open", &path, e))?;
            let len = file.metadata().map_err(|e| named("stat", &path, e))?.len();
            self.log = Some(Log { file, len, lines: 0 });
        }
        let log = self.log.as_mut().expect("opened above");
        let done = log.file.write_all(buf).and_then(|()| log.file.sync_data());
        match done {
            Ok(()) => {
                log.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                if log.file.set_len(log.len).is_err() {
                    // Reopened (and cut again) at the next write.
                    self.log = None;
                }
                Err(named("append to", &path, e))
            }
        }
    }

    /// Writes every name into the names file, then empties the log.
    fn fold(&mut self, names: HashSet<Saved>) -> std::io::Result<()> {
        let mut sorted: Vec<Saved> = names.iter().cloned().collect();
        sorted.sort();
        save(&self.path, &sorted)?;
        self.on_disk = names;
        let path = log_path(&self.path);
        let file = File::create(&path).map_err(|e| named("empty", &path, e))?;
        file.sync_all().map_err(|e| named("fsync", &path, e))?;
        drop(file);
        self.log = None;
        sync_dir(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = std::env::temp_dir().join(format!("weave-dns-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = path(&dir);
        assert!(load(&p).unwrap().is_empty());
        let saved = vec![Saved {
            hostname: "a.weave.local.".into(),
            container_id: "netns:a".into(),
            addr: Ipv4Addr::new(10, 0, 0, 1),
        }];
        save(&p, &saved).unwrap();
        assert_eq!(load(&p).unwrap(), saved);
        assert!(!dir.join("dns-entries.json.tmp").exists());
        std::fs::write(&p, b"{broken").unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.contains(&p.display().to_string()) && e.contains("weave dns-add"), "{e}");
        // The damaged bytes are kept aside, and the next save does not touch them.
        assert_eq!(std::fs::read(dir.join("dns-entries.json.damaged")).unwrap(), b"{broken");
        assert!(load(&p).unwrap().is_empty());
        save(&p, &saved).unwrap();
        assert_eq!(std::fs::read(dir.join("dns-entries.json.damaged")).unwrap(), b"{broken");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn name(i: u32) -> Saved {
        Saved {
            hostname: format!("n{i}.weave.local."),
            container_id: format!("netns:c{i}"),
            addr: Ipv4Addr::from(0x0a00_0000 + i),
        }
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("weave-dns-log-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_append_only_the_changes_and_load_replays_them() {
        let dir = scratch("append");
        let p = path(&dir);
        let (mut store, loaded) = Store::open(&p);
        assert!(loaded.unwrap().is_empty());
        store.write((0..100).map(name).collect()).unwrap();
        let names_file = std::fs::read(&p).unwrap();
        // One name more, two fewer: three lines, and the names file is left alone.
        let mut now: Vec<Saved> = (2..101).map(name).collect();
        now.sort();
        store.write(now.clone()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), names_file);
        let log = std::fs::read_to_string(dir.join(LOG)).unwrap();
        assert_eq!(log.lines().count(), 103, "{log}");
        assert_eq!(load(&p).unwrap(), now);
        // Nothing changed: nothing written.
        store.write(now.clone()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(LOG)).unwrap(), log);
        // A restart folds the log into the names file.
        drop(store);
        let (_store, loaded) = Store::open(&p);
        assert_eq!(loaded.unwrap(), now);
        assert_eq!(std::fs::read(dir.join(LOG)).unwrap(), b"");
        assert_eq!(load(&p).unwrap(), now);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_log_folds_when_it_outgrows_the_names() {
        let dir = scratch("fold");
        let p = path(&dir);
        let (mut store, _) = Store::open(&p);
        store.fold_after = 64;
        // One name comes and goes: the log grows, the names do not.
        let mut folded = false;
        for i in 0..200 {
            store.write(vec![name(0), name(1 + i % 2)]).unwrap();
            let log_lines = std::fs::read_to_string(dir.join(LOG)).unwrap().lines().count();
            assert!(log_lines <= 64 + 2, "the log was not folded: {log_lines} lines");
            folded |= log_lines == 0;
        }
        assert!(folded);
        let last = 199;
        assert_eq!(load(&p).unwrap(), vec![name(0), name(1 + last % 2)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cut_last_line_is_dropped_and_a_damaged_line_keeps_what_came_before() {
        let dir = scratch("damage");
        let p = path(&dir);
        let (mut store, _) = Store::open(&p);
        store.write(vec![name(1)]).unwrap();
        store.write(vec![name(1), name(2)]).unwrap();
        drop(store);
        let log = dir.join(LOG);
        let good = std::fs::read(&log).unwrap();
        // A write that never finished (no newline): dropped, the rest kept, no copy aside.
        let mut cut = good.clone();
        cut.extend_from_slice(br#"{"live":true,"hostname":"n3.wea"#);
        std::fs::write(&log, &cut).unwrap();
        assert_eq!(load(&p).unwrap(), vec![name(1), name(2)]);
        assert!(!dir.join(LOG_DAMAGED).exists());
        // Damage before the end: the changes before it stay, the log is copied aside.
        let mut bad = b"{\"live\":true,\"hostname\":\"n1.weave.local.\",\"container_id\":\"netns:c1\",\"addr\":\"10.0.0.1\"}\n".to_vec();
        bad.extend_from_slice(b"garbage\n");
        bad.extend_from_slice(&good);
        std::fs::write(&log, &bad).unwrap();
        assert_eq!(load(&p).unwrap(), vec![name(1)]);
        assert_eq!(std::fs::read(dir.join(LOG_DAMAGED)).unwrap(), bad);
        // Opening folds what was read, so the next run starts from a clean log.
        let (_store, loaded) = Store::open(&p);
        assert_eq!(loaded.unwrap(), vec![name(1)]);
        assert_eq!(std::fs::read(&log).unwrap(), b"");
        assert_eq!(load(&p).unwrap(), vec![name(1)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_log_left_beside_a_newer_names_file_loads_to_the_same_names() {
        // A crash between writing the folded names file and emptying the log: the log's last
        // word on each name agrees with the names file.
        let dir = scratch("crash");
        let p = path(&dir);
        let (mut store, _) = Store::open(&p);
        store.write(vec![name(1), name(2)]).unwrap();
        store.write(vec![name(2), name(3)]).unwrap();
        let log = std::fs::read(dir.join(LOG)).unwrap();
        store.fold(store.on_disk.clone()).unwrap();
        std::fs::write(dir.join(LOG), &log).unwrap();
        assert_eq!(load(&p).unwrap(), vec![name(2), name(3)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn applied_changes_write_each_name_once_at_its_last_state() {
        let dir = scratch("apply");
        let p = path(&dir);
        let (mut store, _) = Store::open(&p);
        store.apply([(name(1), true), (name(2), true)]).unwrap();
        // 1 goes and comes back (nothing to write), 2 goes, 3 comes and goes (nothing), 4 comes.
        let changes =
            [(name(1), false), (name(1), true), (name(2), false), (name(3), true), (name(3), false)];
        store.apply(changes.into_iter().chain([(name(4), true)])).unwrap();
        let log = std::fs::read_to_string(dir.join(LOG)).unwrap();
        assert_eq!(log.lines().count(), 4, "{log}");
        assert_eq!(load(&p).unwrap(), vec![name(1), name(4)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
