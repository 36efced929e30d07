//! IPAM end to end: consensus across hosts, unique addresses, crash and relaunch, rmpeer,
//! reset, rings seeded apart, bad input and a damaged database.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use weave_e2e::{ethwe_addrs, wait_for, wait_until, Cluster, Daemon, Host, Netns};

const CONNECT: Duration = Duration::from_secs(30);
const SETTLE: Duration = Duration::from_secs(20);

/// Starts `h`'s daemon with every other host of `c` as a peer (so the default quorum counts
/// them all, as Weave's), plus `extra` flags.
fn start_with_peers(c: &Cluster, h: &Host, extra: &[&str]) -> Daemon {
    let peers: Vec<String> =
        c.hosts().iter().filter(|o| o.index != h.index).map(|o| o.addr.to_string()).collect();
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(peers.iter().map(String::as_str));
    h.start_daemon(&args)
}

/// All daemons of `c`, fully connected.
fn start_all(c: &Cluster, extra: &[&str]) -> Vec<Daemon> {
    let d: Vec<Daemon> = c.hosts().iter().map(|h| start_with_peers(c, h, extra)).collect();
    for h in c.hosts() {
        let others: Vec<&Host> = c.hosts().iter().filter(|o| o.index != h.index).collect();
        h.wait_established_to(&others, CONNECT);
    }
    d
}

/// `h`'s daemon alone, seeded with its own name (it owns the whole range at once), ready.
fn start_seeded(h: &Host, extra: &[&str]) -> Daemon {
    let seed = format!("seed={}", h.peer_name());
    let mut args = vec!["--ipalloc-init", seed.as_str()];
    args.extend_from_slice(extra);
    let d = h.start_daemon(&args);
    h.wait_ready();
    d
}

/// `weave attach [ADDR...] netns:NAME` that must succeed; returns the printed addresses.
fn attach_ok(h: &Host, c: &Netns, addrs: &[&str]) -> Vec<String> {
    let out = h.attach(c, addrs);
    assert!(out.ok(), "weave attach {addrs:?} {} on {}: {out:?}", c.name, h.nickname());
    out.stdout.split_whitespace().map(str::to_string).collect()
}

fn ip(s: &str) -> u32 {
    u32::from(
        s.split('/').next().unwrap().parse::<Ipv4Addr>().unwrap_or_else(|_| panic!("not an address: {s}")),
    )
}

fn in_range(addr: &str, cidr: &str) -> bool {
    let (net, len) = cidr.split_once('/').unwrap();
    let len: u32 = len.parse().unwrap();
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    ip(addr) & mask == ip(net) & mask
}

/// Peers owning ring entries, as `host` sees them.
fn owners(h: &Host) -> Result<BTreeSet<String>, String> {
    Ok(h.ipam()?.status.entries.iter().filter(|e| e.size > 0).map(|e| e.peer.clone()).collect())
}

fn assert_unique(addrs: &[String]) {
    let mut seen = BTreeSet::new();
    for a in addrs {
        assert!(seen.insert(ip(a)), "address {a} handed out twice: {addrs:?}");
    }
}

#[test]
fn thirty_containers_get_unique_addresses_by_consensus_3() {
    const RANGE: &str = "10.40.0.0/22";
    let c = Cluster::new(3);
    let _d = start_all(&c, &["--ipalloc-range", RANGE]);
    // Ten containers per host, the hosts at the same time.
    let per_host: Vec<Vec<(Netns, Vec<String>)>> = std::thread::scope(|s| {
        let jobs: Vec<_> = c
            .hosts()
            .iter()
            .map(|h| {
                s.spawn(move || {
                    (0..10)
                        .map(|i| {
                            let n = Netns::new(&format!("c{}-{i}", h.index));
                            let addrs = attach_ok(h, &n, &[]);
                            (n, addrs)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        jobs.into_iter().map(|j| j.join().expect("attach thread")).collect()
    });
    let mut all = Vec::new();
    for (h, containers) in c.hosts().iter().zip(&per_host) {
        for (n, addrs) in containers {
            assert_eq!(addrs.len(), 1, "{addrs:?}");
            assert!(in_range(&addrs[0], RANGE), "{} outside {RANGE}", addrs[0]);
            // The container carries exactly the address IPAM gave it, with the range's prefix.
            assert_eq!(ethwe_addrs(n), [format!("{}/22", addrs[0])]);
            all.push(addrs[0].clone());
        }
        let info = h.ipam().unwrap();
        assert_eq!(info.state, "ready", "{}: {info:?}", h.nickname());
        assert_eq!(info.status.active_ips, 10, "{}", h.nickname());
        // Weave's own view: every container of this host under its target id.
        let (code, body) = h.http("GET", "/ip");
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["owned"].as_array().map(Vec::len), Some(10), "{body}");
    }
    assert_eq!(all.len(), 30);
    assert_unique(&all);
    // The ring agrees everywhere.
    wait_for("the same ring on every host", SETTLE, || {
        let views: Vec<_> =
            c.hosts().iter().map(|h| h.ipam().map(|i| i.status.entries)).collect::<Result<_, _>>()?;
        let tokens: Vec<Vec<(String, String)>> =
            views.iter().map(|e| e.iter().map(|e| (e.token.clone(), e.peer.clone())).collect()).collect();
        if tokens.windows(2).all(|w| w[0] == w[1]) {
            Ok(())
        } else {
            Err(format!("{tokens:?}"))
        }
    });
    let out = c.host(0).weave(&["status", "ipam"]);
    assert!(out.ok() && out.stdout.lines().next().unwrap().contains("(10 active)"), "{out:?}");
}

#[test]
fn a_killed_daemon_keeps_every_address_after_relaunch_3() {
    let c = Cluster::new(3);
    let mut d = start_all(&c, &[]);
    let mut containers: Vec<(usize, Netns)> = Vec::new();
    for h in c.hosts() {
        for i in 0..2 {
            let n = Netns::new(&format!("pre{}-{i}", h.index));
            attach_ok(h, &n, &[]);
            containers.push((h.index, n));
        }
    }
    // Allocations on host 2 while its daemon is killed.
    let h2 = c.host(1);
    let batch: Vec<Netns> = (0..12).map(|i| Netns::new(&format!("k{i}"))).collect();
    let got: Mutex<Vec<Option<Vec<String>>>> = Mutex::new(vec![None; batch.len()]);
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for (i, n) in batch.iter().enumerate() {
                let out = h2.attach(n, &[]);
                if out.ok() {
                    got.lock().unwrap()[i] =
                        Some(out.stdout.split_whitespace().map(str::to_string).collect());
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
        wait_until("a few attaches on host 2", SETTLE, || done.load(Ordering::SeqCst) >= 3);
        d[1].kill();
    });
    let before = got.into_inner().unwrap();
    assert!(before.iter().flatten().count() >= 3, "{before:?}");
    assert!(before.iter().any(Option::is_none), "the kill should interrupt the batch: {before:?}");

    // Relaunched on the same data dir, it adopts what it finds.
    d[1] = start_with_peers(&c, h2, &[]);
    h2.wait_ready();
    let others: Vec<&Host> = c.hosts().iter().filter(|o| o.index != h2.index).collect();
    h2.wait_established_to(&others, CONNECT);
    for (n, had) in batch.iter().zip(&before) {
        let now = attach_ok(h2, n, &[]);
        if let Some(had) = had {
            assert_eq!(&now, had, "{} changed address across the crash", n.name);
        }
    }
    for (i, h) in c.hosts().iter().enumerate() {
        for j in 0..3 {
            let n = Netns::new(&format!("post{i}-{j}"));
            attach_ok(h, &n, &[]);
            containers.push((h.index, n));
        }
    }
    // Every container carries one address, no two the same, and IPAM agrees with them.
    let mut all = Vec::new();
    for (host, n) in containers.iter().map(|(i, n)| (*i, n)).chain(batch.iter().map(|n| (h2.index, n))) {
        let addrs = ethwe_addrs(n);
        assert_eq!(addrs.len(), 1, "{}: {addrs:?}", n.name);
        let h = c.hosts().iter().find(|h| h.index == host).unwrap();
        let (_, body) = h.http("GET", &format!("/ip/netns:{}", n.name));
        assert_eq!(body, addrs[0], "IPAM on {} disagrees with {}", h.nickname(), n.name);
        all.push(addrs[0].clone());
    }
    assert_eq!(all.len(), 6 + 12 + 9);
    assert_unique(&all);
}

#[test]
fn rmpeer_takes_over_a_dead_peers_space_3() {
    let c = Cluster::new(3);
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    let seed = format!("seed={}", h1.peer_name());
    let mut d = start_all(&c, &["--ipalloc-init", &seed, "--ipalloc-range", "10.41.0.0/24"]);
    let only_h1: BTreeSet<String> = [h1.peer_name()].into();
    wait_for("host 1 owns the ring", SETTLE, || match owners(h3)? {
        o if o == only_h1 => Ok(()),
        o => Err(format!("{o:?}")),
    });
    // rmpeer refuses a live peer and one it does not know.
    let out = h2.weave(&["rmpeer", &h1.nickname()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("is reachable"), "{out:?}");
    let out = h2.weave(&["rmpeer", "nosuchpeer"]);
    assert!(out.code == 1 && out.stderr.contains("unknown peer"), "{out:?}");

    d[0].kill();
    for h in [h2, h3] {
        wait_for(&format!("{} sees host 1 unreachable", h.nickname()), SETTLE, || {
            let info = h.ipam()?;
            if info.state.starts_with("all IP ranges owned by unreachable peers") {
                Ok(())
            } else {
                Err(info.state)
            }
        });
    }
    let out = h3.weave(&["ipam", "check", "-o", "json"]);
    assert!(out.ok(), "{out:?}");
    let check: weave_api::IpamCheck = serde_json::from_str(&out.stdout).unwrap();
    assert!(!check.ok);
    assert_eq!(check.unreachable.len(), 1, "{check:?}");
    assert_eq!(check.unreachable[0].peer, h1.peer_name());
    assert_eq!(check.unreachable[0].fix, format!("weave rmpeer {}", h1.peer_name()));

    // Meanwhile an attach says why it cannot get an address and what would fix it, instead of
    // waiting for ever.
    let stuck = Netns::new("stuck");
    let out = h3.attach(&stuck, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("the free addresses in 10.41.0.0/24 belong to unreachable peers"), "{out:?}");
    assert!(out.stderr.contains(&format!("weave rmpeer {}", h1.peer_name())), "{out:?}");

    let out = h2.weave(&["rmpeer", &h1.nickname()]);
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout, format!("256 IPs taken over from {}\n", h1.nickname()));
    // Host 3 learns at once and allocates from host 2's space.
    let n = Netns::new("after");
    let got = attach_ok(h3, &n, &[]);
    assert!(in_range(&got[0], "10.41.0.0/24"), "{got:?}");
    assert_eq!(h3.ipam().unwrap().state, "ready");
    let out = h2.weave(&["ipam", "check"]);
    assert_eq!(out.stdout, "IPAM: no problems found\n", "{out:?}");
}

#[test]
fn reset_hands_space_over_and_cleans_the_host_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let d = start_all(&c, &[]);
    let mut d = d.into_iter();
    let _d1 = d.next().unwrap();
    let mut d2 = d.next().unwrap();
    let a = Netns::new("a");
    let a_addr = attach_ok(h1, &a, &[]);
    let b = Netns::new("b");
    attach_ok(h2, &b, &[]);
    let both: BTreeSet<String> = [h1.peer_name(), h2.peer_name()].into();
    wait_for("both hosts own space", SETTLE, || match owners(h1)? {
        o if o == both => Ok(()),
        o => Err(format!("{o:?}")),
    });

    // The host's own exposed address and its NAT table go too.
    assert!(h2.weave(&["expose"]).ok());
    assert!(h2.ns.exec("nft", &["list", "tables"]).stdout.contains("ip weave_expose"));
    let out = h2.weave(&["reset"]);
    assert!(out.ok(), "{out:?}");
    assert!(d2.wait_exit(Duration::from_secs(10)).is_some(), "the daemon should stop after reset");
    let log = d2.log_text();
    assert!(!log.contains("gossip not flushed"), "the heir should acknowledge the handover: {log}");
    let only_h1: BTreeSet<String> = [h1.peer_name()].into();
    wait_for("host 1 inherits all the space", SETTLE, || match owners(h1)? {
        o if o == only_h1 => Ok(()),
        o => Err(format!("{o:?}")),
    });
    let out = h1.weave(&["status", "ipam"]);
    assert!(out.stdout.contains("1048576 IPs (100.0% of total)"), "{out:?}");
    // Nothing of weave is left on host 2.
    let links = h2.ns.exec("ip", &["-o", "link", "show"]).stdout;
    assert!(!links.contains(" weave:") && !links.contains("vethwe"), "{links}");
    assert!(!h2.data_dir.join("weave.db").exists());
    let tables = h2.ns.exec("nft", &["list", "tables"]).stdout;
    assert!(!tables.contains("inet weave") && !tables.contains("weave_expose"), "{tables}");
    // Without a daemon, reset needs --force (nothing can be handed over then).
    let out = h2.weave(&["reset"]);
    assert!(out.code == 1 && out.stderr.contains("use --force"), "{out:?}");
    let dir = h2.data_dir.display().to_string();
    let out = h2.weave(&["reset", "--force", "--data-dir", &dir]);
    assert!(out.ok(), "{out:?}");

    // Launched again, it joins host 1's ring and borrows space from it.
    let _d2 = start_with_peers(&c, h2, &[]);
    h2.wait_established_to(&[h1], CONNECT);
    let b2 = Netns::new("b2");
    let got = attach_ok(h2, &b2, &[]);
    assert_ne!(got, a_addr);
    wait_for("host 2 owns space again", SETTLE, || match owners(h1)? {
        o if o == both => Ok(()),
        o => Err(format!("{o:?}")),
    });
}

#[test]
fn rings_seeded_apart_meet_without_a_crash_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let s1 = format!("seed={}", h1.peer_name());
    let s2 = format!("seed={}", h2.peer_name());
    let mut d1 = h1.start_daemon(&["--ipalloc-init", &s1]);
    let mut d2 = h2.start_daemon(&["--ipalloc-init", &s2, &h1.addr.to_string()]);
    h1.wait_ready();
    h2.wait_ready();
    // Each ring works on its own.
    let a = Netns::new("a");
    attach_ok(h1, &a, &[]);
    let b = Netns::new("b");
    attach_ok(h2, &b, &[]);
    for h in [h1, h2] {
        wait_for(&format!("{} reports the other ring", h.nickname()), CONNECT, || {
            let info = h.ipam()?;
            match info.errors.iter().find(|e| e.error.contains("IP allocation was seeded by different peers"))
            {
                Some(_) => Ok(()),
                None => Err(format!("{:?}", info.errors)),
            }
        });
    }
    let out = h2.weave(&["ipam", "check"]);
    assert!(out.stdout.contains("seeded by different peers") && out.stdout.contains("fix:"), "{out:?}");
    // The connection that carried the other ring says why it was closed.
    wait_for("the dialling side shows the reason", CONNECT, || {
        let out = h2.weave(&["status", "connections"]);
        if out.stdout.contains("IP allocation was seeded by different peers") {
            Ok(())
        } else {
            Err(out.stdout)
        }
    });
    // Both keep running and keep their own rings.
    assert!(d1.wait_exit(Duration::ZERO).is_none() && d2.wait_exit(Duration::ZERO).is_none());
    assert_eq!(owners(h1).unwrap(), [h1.peer_name()].into());
    assert_eq!(owners(h2).unwrap(), [h2.peer_name()].into());
    let c2 = Netns::new("c2");
    attach_ok(h2, &c2, &[]);
}

#[test]
fn bad_input_gets_a_4xx_with_a_clear_message_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = start_seeded(h, &[]);
    let n = Netns::new("c");
    for (addr, says) in [
        ("net:10.32.0.1/24", "bits after network prefix are not all zero"),
        ("net:10.32.0.0/31", "smaller than minimum size 4"),
        ("net:192.168.0.0/24", "range 192.168.0.0/24 out of bounds: 10.32.0.0/12"),
        ("10.32.0.300/12", "invalid address"),
        ("net:nonsense", "invalid CIDR address"),
    ] {
        let out = h.attach(&n, &[addr]);
        assert_eq!(out.code, 1, "{addr}: {out:?}");
        assert!(out.stderr.contains(says), "{addr}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    }
    let out = h.weave(&["attach", "netns:does-not-exist"]);
    assert!(out.code == 1 && out.stderr.contains("cannot open the network namespace"), "{out:?}");
    let out = h.weave(&["detach", "netns:does-not-exist"]);
    assert_eq!(out.code, 1, "{out:?}");
    let out = h.weave(&["rmpeer", "nosuchpeer"]);
    assert!(out.code == 1 && out.stderr.contains("unknown peer"), "{out:?}");
    // Weave's endpoints, Weave's texts.
    assert_eq!(
        h.http("POST", "/ip/x/192.168.0.0/24"),
        (400, "range 192.168.0.0/24 out of bounds: 10.32.0.0/12\n".into())
    );
    assert_eq!(h.http("DELETE", "/ip/nonexistent"), (400, "Delete: no addresses for nonexistent\n".into()));
    assert_eq!(h.http("PUT", "/ip/x/10.32.0.1/99"), (400, "invalid CIDR address: 10.32.0.1/99\n".into()));
    assert_eq!(h.http("DELETE", "/ip/x/10.32.0"), (400, "invalid IP address: 10.32.0\n".into()));
    let (code, body) = h.http("POST", &format!("/ip/{}", "x".repeat(2000)));
    assert_eq!((code, body.as_str()), (400, "identifier too long (2000 bytes; at most 1024)\n"));
    let (code, body) = h.http("POST", "/api/v1/ipam/allocate");
    assert!((400..500).contains(&code), "{code} {body}");
    assert!(serde_json::from_str::<weave_api::ApiError>(&body).is_ok(), "{body}");
    // Nothing was allocated by any of it.
    assert_eq!(h.http("GET", "/ip"), (200, "{\"owned\":null}\n".into()));
}

#[test]
fn detach_releases_and_check_finds_orphans_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = start_seeded(h, &[]);
    let keep = Netns::new("keep");
    let kept = attach_ok(h, &keep, &["net:default", "10.32.5.5/12", "192.168.7.7/24"]);
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(kept.contains(&"10.32.5.5".to_string()) && kept.contains(&"192.168.7.7".to_string()), "{kept:?}");
    let allocated = kept.iter().find(|a| a.starts_with("10.32.0.")).expect("one from net:default").clone();
    let (_, body) = h.http("GET", &format!("/ip/netns:{}", keep.name));
    assert_eq!(body, format!("{allocated}/12 10.32.5.5/12"));
    // Another target may not take a claimed address.
    let other = Netns::new("other");
    let out = h.attach(&other, &["10.32.5.5/12"]);
    assert!(out.code == 1 && out.stderr.contains("already owned by netns:"), "{out:?}");

    // Detach one address: it is gone from the interface and from IPAM.
    let out = h.weave(&["detach", "10.32.5.5/12", &format!("netns:{}", keep.name)]);
    assert_eq!(out.stdout.trim(), "10.32.5.5", "{out:?}");
    let (_, body) = h.http("GET", &format!("/ip/netns:{}", keep.name));
    assert_eq!(body, format!("{allocated}/12"));
    attach_ok(h, &other, &["10.32.5.5/12"]);

    // A target that vanishes leaves an orphan; check names it with the fix, and the fix works.
    let gone_name = {
        let gone = Netns::new("gone");
        attach_ok(h, &gone, &[]);
        gone.name.clone()
    };
    let out = h.weave(&["ipam", "check", "-o", "json"]);
    let check: weave_api::IpamCheck = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(check.orphans.len(), 1, "{check:?}");
    let fix = check.orphans[0].fix.clone();
    assert_eq!(fix, format!("weave detach netns:{gone_name}"));
    let args: Vec<&str> = fix.split_whitespace().skip(1).collect();
    let out = h.weave(&args);
    assert!(out.ok(), "{out:?}");
    let out = h.weave(&["ipam", "check"]);
    assert_eq!(out.stdout, "IPAM: no problems found\n", "{out:?}");
    // Detaching everything releases everything.
    let out = h.weave(&["detach", &format!("netns:{}", keep.name)]);
    assert!(out.ok(), "{out:?}");
    assert!(ethwe_addrs(&keep).is_empty());
    let (_, body) = h.http("GET", &format!("/ip/netns:{}", keep.name));
    assert_eq!(body, "");
}

#[test]
fn disabled_ipam_exits_4_and_explicit_addresses_still_work_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = h.start_daemon(&["--ipalloc-range", ""]);
    h.wait_ready();
    let n = Netns::new("c");
    for args in [vec!["status", "ipam"], vec!["prime"], vec!["ipam", "check"], vec!["rmpeer", "x"]] {
        let out = h.weave(&args);
        assert_eq!(out.code, 4, "{args:?}: {out:?}");
    }
    let out = h.attach(&n, &[]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("IP address allocation must be enabled to use 'net:'"), "{out:?}");
    assert_eq!(attach_ok(h, &n, &["10.32.0.9/12"]), ["10.32.0.9"]);
    assert_eq!(h.http("GET", "/ip").0, 404);
}

#[test]
fn a_damaged_database_is_refused_and_left_alone_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let seed = format!("seed={}", h.peer_name());
    {
        let _d = start_seeded(h, &[]);
        let n = Netns::new("c");
        attach_ok(h, &n, &[]);
        let out = h.weave(&["stop"]);
        assert!(out.ok(), "{out:?}");
    }
    let db = h.data_dir.join("weave.db");
    let mut bytes = std::fs::read(&db).unwrap();
    for (i, b) in bytes.iter_mut().take(4096).enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    std::fs::write(&db, &bytes).unwrap();
    let mut d = h.start_daemon(&["--ipalloc-init", &seed]);
    let code = d.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{}", d.log_text());
    let log = d.log_text();
    assert!(log.contains("will not overwrite it: move it aside"), "{log}");
    assert!(log.contains(&db.display().to_string()), "{log}");
    assert!(std::fs::read(&db).unwrap() == bytes, "the damaged file must be left as it was");
}

#[test]
fn weaves_views_prime_ps_report_and_events_3() {
    const RANGE: &str = "10.42.0.0/16";
    let c = Cluster::new(3);
    let _d = start_all(&c, &["--ipalloc-range", RANGE]);
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    // The event stream of host 2 from before anything is allocated; curl's own limit is the
    // deadline of every wait on it.
    let mut events = h2.events();
    // Connected once the first traffic sample (sent at once) arrives.
    events.wait_line("event: traffic");
    // Consensus through `weave prime` on one host and Weave's `GET /ring` on the others.
    let out = h1.weave(&["prime"]);
    assert!(out.ok() && out.stdout.is_empty(), "{out:?}");
    for h in [h2, h3] {
        assert_eq!(h.http("GET", "/ring"), (200, String::new()), "{}", h.nickname());
        assert_eq!(h.http("GET", "/ipinfo/defaultsubnet"), (200, RANGE.to_string()));
    }
    events.wait_line("event: ring_changed");

    let n = Netns::new("views");
    let got = attach_ok(h2, &n, &["net:default", "net:10.42.7.0/24", "ip:10.42.9.9/16"]);
    assert_eq!(got.len(), 3, "{got:?}");
    let id = format!("netns:{}", n.name);
    let line = events.wait_line(&format!("\"ident\":\"{id}\""));
    let e: weave_api::Event = serde_json::from_str(line.trim().trim_start_matches("data: ")).unwrap();
    assert!(matches!(&e, weave_api::Event::AllocationAdded { ident, .. } if *ident == id), "{e:?}");
    assert!(got.iter().any(|a| in_range(a, "10.42.7.0/24")) && got.contains(&"10.42.9.9".to_string()));
    // `weave ps` shows the target with each address and its prefix.
    let out = h2.weave(&["ps", &id]);
    assert!(out.ok(), "{out:?}");
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(words.len(), 5, "{out:?}");
    assert_eq!(words[0], id);
    let mut cidrs: Vec<String> = words[2..].iter().map(|s| s.to_string()).collect();
    cidrs.sort();
    let mut want = ethwe_addrs(&n);
    want.sort();
    assert_eq!(cidrs, want);
    // Weave's text block in `weave status`, and its status/ipam table: one line per owner, ours
    // first with its active count.
    let out = h2.weave(&["status"]);
    let block = format!(
        "        Service: ipam\n         Status: ready\n          Range: {RANGE}\n  DefaultSubnet: {RANGE}\n"
    );
    assert!(out.stdout.contains(&block), "{}", out.stdout);
    let (code, table) = h2.http("GET", "/status/ipam");
    assert_eq!(code, 200);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines.len() >= 2, "at least a quorum owns space: {table}");
    let first = format!("{}({})", h2.peer_name(), h2.nickname());
    assert!(lines[0].starts_with(&format!("{first:<40}")), "{table}");
    assert!(lines[0].ends_with("(3 active)"), "the three addresses, all in our space now: {table}");
    for l in &lines[1..] {
        assert!(l.contains(" IPs (") && l.contains("% of total) ") && !l.contains("active"), "{table}");
    }
    assert_eq!(h2.weave(&["status", "ipam"]).stdout, table);
    // `weave report`: Weave's IPAM object, covering the whole range between its entries.
    let r = h2.report().unwrap();
    let ipam = r.ipam.expect("an IPAM block");
    assert_eq!((ipam.range.as_str(), ipam.range_num_ips, ipam.active_ips), (RANGE, 65536, 3));
    assert_eq!(ipam.entries.iter().map(|e| u64::from(e.size)).sum::<u64>(), 65536, "{:?}", ipam.entries);
    let out = h2.weave(&["report", "-f", "{{.IPAM.DefaultSubnet}} {{.IPAM.ActiveIPs}}"]);
    assert_eq!(out.stdout.trim(), format!("{RANGE} 3"), "{out:?}");

    // Weave's `DELETE /peer` (what `weave reset` does first): host 3 hands its space on, keeps
    // running, and the others see it own nothing.
    assert_eq!(h3.http("DELETE", "/peer").0, 204);
    let h3_name = h3.peer_name();
    for h in [h1, h2] {
        wait_for(&format!("{} sees host 3 own nothing", h.nickname()), SETTLE, || match owners(h)? {
            o if o.contains(&h3_name) || o.is_empty() => Err(format!("{o:?}")),
            _ => Ok(()),
        });
    }
    assert!(h3.weave(&["status"]).ok());
}

#[test]
fn answers_under_16_concurrent_clients_survive_kill_9_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let mut d = start_seeded(h, &["--ipalloc-range", "10.43.0.0/22"]);
    // 16 clients allocate for new owners until the daemon dies under them.
    let answered: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..16 {
            let answered = &answered;
            s.spawn(move || {
                for i in 0..60 {
                    let id = format!("k{t}-{i}");
                    match h.http("POST", &format!("/ip/{id}")) {
                        (200, addr) => answered.lock().unwrap().push((id, addr)),
                        _ => break,
                    }
                }
            });
        }
        wait_until("100 answers", SETTLE, || answered.lock().unwrap().len() >= 100);
        d.kill();
    });
    let answered = answered.into_inner().unwrap();
    assert!(answered.len() < 16 * 60, "the kill should interrupt the clients");

    let _d = start_seeded(h, &["--ipalloc-range", "10.43.0.0/22"]);
    // Every answer was on disk: the same owner has the same address after the relaunch.
    for (id, addr) in &answered {
        assert_eq!(h.http("GET", &format!("/ip/{id}")), (200, addr.clone()), "{id} lost its address");
    }
    for i in 0..50 {
        assert_eq!(h.http("POST", &format!("/ip/after{i}")).0, 200);
    }
    let (_, body) = h.http("GET", "/ip");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let all: Vec<String> = v["owned"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["addrs"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()))
        .collect();
    assert!(all.len() >= answered.len() + 50, "{} of {}", all.len(), answered.len() + 50);
    assert_unique(&all);
}

#[test]
fn prime_waits_for_a_quorum_of_peers_3() {
    let c = Cluster::new(3);
    let (h1, h2) = (c.host(0), c.host(1));
    std::thread::scope(|s| {
        // Two peers given: the quorum is 2, as Weave's. Started in the scope, so a failure
        // stops the daemon and with it the waiting `weave prime`.
        let _d1 = start_with_peers(&c, h1, &[]);
        h1.wait_ready();
        let (tx, rx) = std::sync::mpsc::channel();
        s.spawn(move || tx.send(h1.weave(&["prime"])));
        wait_for("host 1 awaits consensus", SETTLE, || {
            let out = h1.weave(&["status"]);
            if out.stdout.contains("         Status: awaiting consensus (quorum: 2, known: 1)\n") {
                Ok(())
            } else {
                Err(out.stdout)
            }
        });
        assert!(rx.try_recv().is_err(), "prime returned without a quorum");
        let _d2 = start_with_peers(&c, h2, &[]);
        let out = rx.recv_timeout(CONNECT).expect("prime returns once a quorum is there");
        assert!(out.ok(), "{out:?}");
        let info = h1.ipam().unwrap();
        assert_eq!(info.state, "ready");
        let owners = owners(h1).unwrap();
        assert!(owners.contains(&h1.peer_name()) && !owners.contains(&c.host(2).peer_name()), "{owners:?}");
    });
}

#[test]
fn a_changed_range_discards_the_persisted_ring_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let old = Netns::new("old");
    {
        let _d = start_seeded(h, &["--ipalloc-range", "10.44.0.0/24"]);
        assert!(in_range(&attach_ok(h, &old, &[])[0], "10.44.0.0/24"));
        assert!(h.weave(&["stop"]).ok());
    }
    drop(old);
    // As Weave: another range means another ring; what was persisted for the old one goes.
    let mut d = start_seeded(h, &["--ipalloc-range", "10.45.0.0/24"]);
    let new = Netns::new("new");
    assert!(in_range(&attach_ok(h, &new, &[])[0], "10.45.0.0/24"));
    assert_eq!(h.ipam().unwrap().status.range, "10.45.0.0/24");
    // Only the new allocation: the old one went with the old ring (its target is gone, so
    // nothing re-claims it from an interface at start).
    let (_, body) = h.http("GET", "/ip");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let owners: Vec<&str> =
        v["owned"].as_array().unwrap().iter().map(|o| o["containerid"].as_str().unwrap()).collect();
    assert_eq!(owners, [format!("netns:{}", new.name)], "{body}");
    let log = d.log_text();
    assert!(log.contains("discarding persisted data of another peer name or range"), "{log}");
    d.kill();
}

#[test]
fn an_observer_takes_no_part_in_consensus_and_borrows_space_3() {
    let c = Cluster::new(3);
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    let _d1 = start_with_peers(&c, h1, &["--ipalloc-init", "consensus=2"]);
    let _d2 = start_with_peers(&c, h2, &["--ipalloc-init", "consensus=2"]);
    let _d3 = start_with_peers(&c, h3, &["--ipalloc-init", "observer"]);
    for h in c.hosts() {
        let others: Vec<&Host> = c.hosts().iter().filter(|o| o.index != h.index).collect();
        h.wait_established_to(&others, CONNECT);
    }
    // The observer's prime waits for the electors' ring, and it gets no share of it.
    let out = h3.weave(&["prime"]);
    assert!(out.ok(), "{out:?}");
    let electors: BTreeSet<String> = [h1.peer_name(), h2.peer_name()].into();
    wait_for("the ring split between the electors", SETTLE, || match owners(h3)? {
        o if o == electors => Ok(()),
        o => Err(format!("{o:?}")),
    });
    // An attach on the observer borrows space from them.
    let n = Netns::new("obs");
    let got = attach_ok(h3, &n, &[]);
    assert!(in_range(&got[0], "10.32.0.0/12"), "{got:?}");
    assert!(owners(h3).unwrap().contains(&h3.peer_name()), "the observer owns what it borrowed");
}
