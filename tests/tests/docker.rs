//! Docker end to end: a real dockerd per Docker host (its own mount namespace, see
//! `weave_e2e::Docker`), weave's network plugin and Docker containers as targets, against
//! netns-only peers or a second Docker host.

use std::time::Duration;
use weave_e2e::{Cluster, Docker, IMAGE};

/// Generous: a shared 2-core test machine, dockerd and vfs copies.
const SETTLE: Duration = Duration::from_secs(30);

/// `docker run --rm IMAGE ping -c1 -W2 ADDR` on Docker's own bridge network.
fn bridge_ping(d: &Docker, addr: &str) -> Result<(), String> {
    let out = d.docker(&["run", "--rm", IMAGE, "ping", "-c1", "-W2", addr]);
    if out.ok() {
        Ok(())
    } else {
        Err(format!("{}{}", out.stdout, out.stderr))
    }
}

#[test]
fn dockers_bridge_still_reaches_outside_after_weave_launches_and_stops_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let out = h.outside();
    let d = Docker::start(h);
    bridge_ping(&d, "192.168.77.2").expect("Docker's bridge reaches the outside before weave");
    let mut daemon = d.start_daemon(h, &[]);
    h.wait_ready();
    bridge_ping(&d, "192.168.77.2").expect("and while weave runs");
    assert!(d.weave(&["stop"]).ok());
    assert_eq!(daemon.wait_exit(SETTLE), Some(0), "weave stop ends the daemon");
    bridge_ping(&d, "192.168.77.2").expect("and after weave stopped");
    drop(out);
}
