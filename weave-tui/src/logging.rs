//! The dashboard logs to a file: the terminal belongs to the screen. The path is
//! `$WEAVE_TOP_LOG`, else `weave/top.log` under the user's cache directory, else
//! `/tmp/weave-top-<uid>.log`; the level comes from `WEAVE_LOG` (default `info`).

use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Mutex;

/// The log starts over once it grows past this.
const MAX_BYTES: u64 = 4 << 20;

/// Where the log goes.
pub fn path() -> PathBuf {
    if let Some(p) = std::env::var_os("WEAVE_TOP_LOG").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cache =
        std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()).map(PathBuf::from).or_else(|| {
            std::env::var_os("HOME").filter(|p| !p.is_empty()).map(|h| PathBuf::from(h).join(".cache"))
        });
    if let Some(dir) = cache.map(|c| c.join("weave")) {
        if std::fs::create_dir_all(&dir).is_ok() {
            return dir.join("top.log");
        }
    }
    // Our uid, as the owner of our own /proc entry.
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or_default();
    std::env::temp_dir().join(format!("weave-top-{uid}.log"))
}

/// Sends `tracing` output to the file at `path`. Returns what to show as the log's location:
/// the path, or why there is no log.
pub fn init(path: &std::path::Path) -> String {
    let too_big = std::fs::metadata(path).map(|m| m.len() > MAX_BYTES).unwrap_or(false);
    let file = OpenOptions::new().create(true).append(!too_big).write(true).truncate(too_big).open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) => return format!("none ({}: {e})", path.display()),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEAVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    path.display().to_string()
}
