//! The frame: launching, status and stop in namespaces, bad flags, no daemon.

use std::time::Duration;
use weave_e2e::{wait_for, Cluster, Daemon};

const READY: Duration = Duration::from_secs(20);

#[test]
fn launch_status_and_stop_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let dir = h.data_dir.display().to_string();
    let name = h.peer_name();
    let launch = [
        "launch",
        "--name",
        &name,
        "--nickname",
        "host1",
        "--data-dir",
        &dir,
        "--resolv-conf",
        "",
        "--docker-api",
        "",
    ];
    let out = h.weave(&launch);
    assert!(out.ok(), "launch failed: {out:?}");
    assert_eq!(out.stdout.trim(), name, "launch prints the peer name");
    assert!(out.stderr.contains("weave-daemon.log"), "launch says where the log is: {}", out.stderr);
    assert!(h.data_dir.join("weave-daemon.log").is_file());

    // Weave's text status, and JSON.
    let out = h.weave(&["status"]);
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.starts_with("\n        Version: "), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("           Name: {name}(host1)\n")), "{}", out.stdout);
    let s = h.status().expect("status -o json");
    assert!(s.ready);
    assert_eq!(s.name, name);
    let out = h.weave(&["report", "-f", "{{.Router.Name}} {{.Router.NickName}} {{.IPAM.DefaultSubnet}}"]);
    assert_eq!(out.stdout, format!("{name} host1 10.32.0.0/12"), "{out:?}");
    let r = h.report().expect("report parses as Weave's WeaveStatus");
    assert_eq!(r.router.port, 6783);

    // The bridge exists with the peer name as its MAC.
    let out = h.ns.exec("ip", &["-o", "link", "show", "weave"]);
    assert!(out.stdout.contains(&format!("link/ether {name}")), "{out:?}");

    // A second launch refuses while the first answers.
    let out = h.weave(&launch);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("already running"), "{}", out.stderr);

    let out = h.weave(&["stop"]);
    assert!(out.ok(), "stop: {out:?}");
    let out = h.weave(&["status"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no weave daemon answers"), "{}", out.stderr);
    // The bridge outlives the daemon, so attached containers keep their interfaces.
    assert!(h.ns.exec("ip", &["link", "show", "weave"]).ok());
}

#[test]
fn two_daemons_in_two_hosts_ready_2() {
    let c = Cluster::new(2);
    let daemons: Vec<_> = c.hosts().iter().map(|h| h.start_daemon(&[])).collect();
    for h in c.hosts() {
        let s = wait_for(&format!("{} ready", h.nickname()), READY, || {
            h.status().and_then(|s| if s.ready { Ok(s) } else { Err("not ready".into()) })
        });
        assert_eq!(s.name, h.peer_name());
        assert_eq!(s.nickname, h.nickname());
        let out = h.ns.exec("ip", &["-o", "link", "show", "weave"]);
        assert!(out.stdout.contains(&format!("link/ether {}", h.peer_name())), "{out:?}");
    }
    drop(daemons);
}

#[test]
fn bad_flags_are_refused_naming_the_flag_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    for (flag, value) in [
        ("--port", "0"),
        ("--ipalloc-range", "10.32.0.0/40"),
        ("--ipalloc-init", "majority"),
        ("--trusted-subnets", "nonsense"),
    ] {
        let mut d = h.start_daemon(&[flag, value]);
        let code = d.wait_exit(Duration::from_secs(10));
        assert_eq!(code, Some(1), "{flag} {value}: daemon must exit 1");
        let log = d.log_text();
        assert!(log.contains(flag) && log.contains(value), "{flag} {value}: {log}");
        assert_eq!(log.trim().lines().count(), 1, "one line: {log}");
    }
    let mut d = Daemon::start(&h.ns, &h.data_dir, &["--name".into(), "not-a-mac".into()]);
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(1));
    assert!(d.log_text().contains("--name") && d.log_text().contains("not-a-mac"), "{}", d.log_text());
    // Through `weave launch` the daemon's message reaches the user.
    let dir = h.data_dir.display().to_string();
    let out = h.weave(&["launch", "--data-dir", &dir, "--dns-ttl", "soon"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("--dns-ttl"), "{}", out.stderr);
}

#[test]
fn commands_without_a_daemon_say_so_in_one_line_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    for cmd in [&["status"][..], &["status", "peers"], &["report"], &["status", "-o", "json"]] {
        let out = h.weave(cmd);
        assert_eq!(out.code, 1, "{cmd:?}: {out:?}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{cmd:?}: {}", out.stderr);
        assert!(out.stderr.contains("no weave daemon answers at 127.0.0.1:6784"), "{}", out.stderr);
        assert!(out.stderr.contains("weave launch"), "{}", out.stderr);
    }
}
