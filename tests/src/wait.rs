//! Waiting on conditions with a deadline: tests never sleep blindly.

use std::time::{Duration, Instant};

/// Polls `probe` until it returns `Some`, or panics after `timeout` naming `what` and the
/// last thing the probe saw.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            panic!("timed out after {:?} waiting for {what}; last seen: {last}", timeout);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls a boolean condition.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    wait_for(what, timeout, || if cond() { Ok(()) } else { Err("condition false".into()) })
}
