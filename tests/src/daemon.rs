//! A weave-daemon running in a test namespace, killed on drop.

use crate::netns::Netns;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Daemon {
    child: Child,
    pub log: PathBuf,
    ns_name: String,
}

impl Daemon {
    /// Spawns `weave-daemon ARGS` in `ns`, logging to `<dir>/daemon-<n>.log`.
    pub fn start(ns: &Netns, dir: &Path, args: &[String]) -> Daemon {
        let bin = crate::binary("weave-daemon");
        Daemon::spawn(ns.command(&bin), dir, &ns.name, args)
    }

    /// Spawns weave-daemon through `command` (which runs it where it belongs) with `args`.
    pub fn spawn(mut command: Command, dir: &Path, ns_name: &str, args: &[String]) -> Daemon {
        let n = std::fs::read_dir(dir)
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("daemon-")).count())
            .unwrap_or(0);
        let log = dir.join(format!("daemon-{n}.log"));
        let file = std::fs::File::create(&log).expect("create daemon log");
        let child = command
            .args(args)
            .env("WEAVE_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file)
            .spawn()
            .expect("spawn weave-daemon");
        Daemon { child, log, ns_name: ns_name.to_string() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's log so far (for assertion messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit by itself and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// kill -9, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- weave-daemon log ({}) ---\n{}", self.ns_name, self.log_text());
        }
    }
}
