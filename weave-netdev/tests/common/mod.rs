//! Test namespaces: each test makes its own with `ip netns add wnd<pid>x<n>` and a guard
//! deletes it on drop, also when the test panics. Nothing touches the runner's namespace.
#![allow(dead_code)] // each test binary uses a different part

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use weave_netdev::{Netlink, Netns};

static NEXT: AtomicU32 = AtomicU32::new(0);
// The first `ip netns add` sets up /var/run/netns as a shared mount; concurrent first calls race.
static IP_NETNS: Mutex<()> = Mutex::new(());

/// Runs a command, panics (with its stderr) when it fails, returns its stdout.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes the named namespace when dropped.
struct Guard(String);

impl Drop for Guard {
    fn drop(&mut self) {
        let _lock = IP_NETNS.lock().unwrap_or_else(|p| p.into_inner());
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

pub struct TestNs {
    pub name: String,
    pub ns: Netns,
    _guard: Guard,
}

impl TestNs {
    pub fn new() -> TestNs {
        let name = format!("wnd{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let guard = {
            let _lock = IP_NETNS.lock().unwrap_or_else(|p| p.into_inner());
            run("ip", &["netns", "add", &name]);
            Guard(name.clone())
        };
        let ns = Netns::named(&name).unwrap();
        TestNs { name, ns, _guard: guard }
    }

    /// An rtnetlink socket inside this namespace.
    pub fn netlink(&self) -> Netlink {
        Netlink::open_in(&self.ns).unwrap()
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> String {
        run("ip", &[&["-n", &self.name], args].concat())
    }

    /// `bridge -n NAME ARGS`.
    pub fn bridge(&self, args: &[&str]) -> String {
        run("bridge", &[&["-n", &self.name], args].concat())
    }

    /// `ip netns exec NAME ARGS`: sees this namespace's /sys and /proc/sys.
    pub fn exec(&self, args: &[&str]) -> String {
        run("ip", &[&["netns", "exec", &self.name], args].concat())
    }
}

/// Polls `f` until it returns true, for up to 5 seconds.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn mac_str(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
