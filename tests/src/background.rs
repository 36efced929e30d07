//! A process running in a namespace for the length of a test (a listener, a capture), killed on
//! drop so a failing test leaves nothing behind.

use crate::Netns;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Background {
    child: Child,
    // Kept across calls so lines buffered by one `wait_line` are seen by the next.
    out: Option<BufReader<ChildStdout>>,
}

impl Background {
    /// Starts `program args` in `ns` with stdout piped (stderr discarded).
    pub fn spawn(ns: &Netns, program: &str, args: &[&str]) -> Background {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, program])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program} in {}: {e}", ns.name));
        let out = child.stdout.take().map(BufReader::new);
        Background { child, out }
    }

    /// Starts `program args` in `ns` with stderr merged into stdout, and returns once it has
    /// printed a line containing `ready` (tcpdump's "listening on", written when it captures).
    pub fn spawn_ready(ns: &Netns, program: &str, args: &[&str], ready: &str) -> Background {
        let mut sh = vec!["-c", "exec \"$0\" \"$@\" 2>&1", program];
        sh.extend_from_slice(args);
        let mut bg = Background::spawn(ns, "sh", &sh);
        bg.wait_line(ready);
        bg
    }

    /// Reads stdout lines until one contains `needle`, and returns it.
    pub fn wait_line(&mut self, needle: &str) -> String {
        let out = self.out.as_mut().expect("stdout is piped");
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).expect("read stdout") == 0 {
                panic!("process ended before printing {needle:?}");
            }
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Whether the process has not exited yet.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }

    /// Kills the process and reaps it (for captures, whose output is complete once it is gone).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code and the rest of its
    /// stdout, or `(None, "")` if it is still running (it is then killed on drop).
    pub fn finish(mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                let mut s = String::new();
                if let Some(mut o) = self.out.take() {
                    let _ = o.read_to_string(&mut s);
                }
                return (st.code(), s);
            }
            if Instant::now() > deadline {
                return (None, String::new());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
