//! Network namespaces as RAII guards, and running commands inside them.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();
/// Every namespace the harness makes starts with this.
const PREFIX: &str = "wt";

/// A unique name: `wt<pid>x<n>-<tag>`.
pub fn unique_name(tag: &str) -> String {
    SWEEP.call_once(sweep_stale);
    format!("{PREFIX}{}x{}-{tag}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Removes namespaces left by test processes that no longer exist (killed before Drop ran).
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if is_stale(name) {
            kill_processes_in(name);
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Whether `name` was made by the harness in a test process that no longer exists.
pub(crate) fn is_stale(name: &str) -> bool {
    let Some(pid) = name.strip_prefix(PREFIX).and_then(|r| r.split('x').next()) else { return false };
    let Ok(pid) = pid.parse::<i32>() else { return false };
    // SAFETY: kill with signal 0 only checks whether the process exists.
    unsafe { libc::kill(pid, 0) != 0 }
}

/// The output of a command run in a namespace.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// A network namespace, deleted (with everything in it) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = unique_name(tag);
        run_ok("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip ARGS` in this namespace, panicking on failure.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run_ok("ip", &full);
    }

    /// Runs a program in this namespace and collects its output.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program} in {}: {e}", self.name));
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A `Command` that runs `program` in this namespace, for callers that spawn.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_processes_in(&self.name);
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// SIGKILLs whatever still runs in the namespace, so deleting it frees everything.
fn kill_processes_in(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: plain kill(2) on a pid listed in our own test namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

fn run_ok(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}
