//! CNI end to end: podman with `--network weave` across hosts, the plugins invoked directly
//! as a runtime does (every command, every spec version, every error), a daemon killed
//! between ADD and DEL, `weave setup-cni`/`reset`, and the Kubernetes-style `--peers-file`.

use serde_json::{json, Value};
use std::time::Duration;
use weave_e2e::{wait_for, wait_until, Cluster, Host};

const CONNECT: Duration = Duration::from_secs(30);

/// The connection targets `h` reports.
fn targets(h: &Host) -> Result<Vec<String>, String> {
    let mut t = h.status()?.router.targets;
    t.sort();
    Ok(t)
}

#[test]
fn setup_cni_installs_the_plugins_and_conflist_and_reset_removes_them_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = h.start_daemon(&["--ipalloc-init", &format!("seed={}", h.peer_name())]);
    h.wait_ready();
    let dirs = weave_e2e::cni::CniDirs::install();
    for p in ["weave-net", "weave-ipam"] {
        let meta = std::fs::metadata(dirs.bin.join(p)).expect("plugin installed");
        assert!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0,
            "{p} is executable"
        );
    }
    let conf: Value =
        serde_json::from_str(&std::fs::read_to_string(dirs.conf.join("10-weave.conflist")).unwrap()).unwrap();
    assert_eq!(conf["name"], "weave");
    assert_eq!(conf["cniVersion"], "1.0.0");
    assert_eq!(conf["plugins"][0]["type"], "weave-net");
    assert_eq!(conf["plugins"][1]["type"], "portmap");
    // The installed plugin answers VERSION with every spec version up to 1.1.0.
    let v = h.cni(
        &dirs.bin.join("weave-net"),
        "VERSION",
        None,
        &dirs.cni_path(),
        &json!({"cniVersion": "1.1.0"}),
    );
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.json.unwrap()["supportedVersions"].as_array().unwrap().len(), 7);

    let bin = dirs.bin.display().to_string();
    let confdir = dirs.conf.display().to_string();
    let out = h.weave(&["reset", "--cni-bin-dir", &bin, "--cni-conf-dir", &confdir]);
    assert!(out.ok(), "weave reset: {out:?}");
    for f in [dirs.bin.join("weave-net"), dirs.bin.join("weave-ipam"), dirs.conf.join("10-weave.conflist")] {
        assert!(!f.exists(), "{} is left after reset", f.display());
    }
}

#[test]
fn peers_file_gives_consensus_and_is_reread_when_it_changes_3() {
    let c = Cluster::new(3);
    let all: Vec<String> = c.hosts().iter().map(|h| h.addr.to_string()).collect();
    let files: Vec<_> = c
        .hosts()
        .iter()
        .map(|h| {
            let f = h.data_dir.join("peers");
            std::fs::write(&f, format!("# every node, this one too\n{}\n", all.join("\n"))).unwrap();
            f
        })
        .collect();
    let d: Vec<_> = c
        .hosts()
        .iter()
        .zip(&files)
        .map(|(h, f)| h.start_daemon(&["--peers-file", f.to_str().unwrap()]))
        .collect();
    for h in c.hosts() {
        let others: Vec<&Host> = c.hosts().iter().filter(|o| o.index != h.index).collect();
        h.wait_established_to(&others, CONNECT);
    }
    // Quorum 2 of the 3 listed: the peers agree on a ring, and an attach gets an address.
    let web = c.host(0).container("web", &[]);
    assert_eq!(weave_e2e::ethwe_addrs(&web).len(), 1);
    for h in c.hosts() {
        wait_until(&format!("{} has the ring", h.nickname()), CONNECT, || {
            h.ipam().map(|i| !i.status.entries.is_empty()).unwrap_or(false)
        });
    }
    // A changed file replaces the targets; a bad one keeps them.
    let h3 = c.host(2);
    std::fs::write(&files[2], format!("{}\n", all[0])).unwrap();
    wait_for("host3's targets follow its file", Duration::from_secs(20), || {
        let t = targets(h3)?;
        if t == [all[0].clone()] {
            Ok(())
        } else {
            Err(format!("{t:?}"))
        }
    });
    std::fs::write(&files[2], "10.99.0.1\n10.99.0.2:0\n").unwrap();
    wait_until("host3 refuses its bad file", Duration::from_secs(20), || {
        d[2].log_text().contains("keeping the connection targets")
    });
    assert_eq!(targets(h3).unwrap(), [all[0].clone()], "a bad file keeps the targets");
}
