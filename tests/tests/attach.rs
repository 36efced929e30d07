//! The attach service end to end: a failing kernel step leaves no address and no device,
//! namespace paths that are no namespaces are refused at once, and attaches and detaches cut
//! by kill -9 end all-or-nothing after the relaunch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use weave_e2e::{ethwe_addrs, wait_for, Cluster, Daemon, Host, Netns};

/// Chaos cycles per host (3 hosts run theirs in parallel): `CHAOS_CYCLES` in the environment
/// (`bench/chaos.sh 100` runs the long form), else the short form CI runs, well under a minute.
fn chaos_cycles() -> usize {
    std::env::var("CHAOS_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(10)
}
/// Targets per host in the chaos test.
const CHAOS_TARGETS: usize = 4;

/// `POST` of a JSON body to the daemon's API inside `h`: (status, body). Status 0: no answer.
fn post(h: &Host, path: &str, body: &str) -> (u16, String) {
    let (code, body, _) = post_raw(h, path, body);
    (code, body)
}

/// As [`post`], with curl's exit status (7: no connection; 52, 56: the connection broke).
fn post_raw(h: &Host, path: &str, body: &str) -> (u16, String, i32) {
    let url = format!("http://127.0.0.1:6784{path}");
    let out = h.ns.exec(
        "curl",
        &[
            "-s",
            "--max-time",
            "20",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            body,
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            &url,
        ],
    );
    let (body, code) = out.stdout.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string(), out.code)
}

fn seeded(h: &Host, extra: &[&str]) -> Daemon {
    let seed = format!("seed={}", h.peer_name());
    let mut args = vec!["--ipalloc-init", seed.as_str()];
    args.extend_from_slice(extra);
    let d = h.start_daemon(&args);
    h.wait_ready();
    d
}

/// IPAM's addresses by owner, as `/api/v1/ipam/allocations` lists them.
fn allocations(h: &Host) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let (code, body) = h.http("GET", "/api/v1/ipam/allocations");
    if code != 200 {
        return Err(format!("HTTP {code}: {body}"));
    }
    let all: Vec<weave_api::Allocation> = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    Ok(all.into_iter().map(|a| (a.ident, a.addrs.into_iter().collect())).collect())
}

/// The host's veths of weave's naming, as `ip -d -j link` shows them.
fn weave_veths(h: &Host) -> Vec<serde_json::Value> {
    let out = h.ns.exec("ip", &["-d", "-j", "link", "show", "type", "veth"]);
    let all: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
    all.into_iter().filter(|l| l["ifname"].as_str().is_some_and(|n| n.starts_with("vethwep"))).collect()
}

/// Host veths whose container end is not in a container: a temporary end still on the host,
/// or a host end whose peer is on the host too.
fn stray_veths(h: &Host) -> Vec<String> {
    weave_veths(h)
        .into_iter()
        .filter(|l| {
            let name = l["ifname"].as_str().unwrap_or_default();
            name.starts_with("vethwepg") || l.get("link_netnsid").is_none()
        })
        .map(|l| l["ifname"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Interface names in a namespace.
fn links(ns: &Netns) -> Vec<String> {
    let out = ns.exec("ip", &["-j", "link", "show"]);
    let all: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
    all.iter().filter_map(|l| l["ifname"].as_str().map(String::from)).collect()
}

/// The host veth name weave gives a target id (FNV-1a of the id, as the daemon).
fn host_veth(id: &str) -> String {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    format!("vethwepl{:07x}", h & 0x0fff_ffff)
}

/// `weave ipam check`: clean, or (`orphans_only`) without orphaned addresses at least (other
/// peers' space counts as unreachable while their daemons are down).
fn ipam_check(h: &Host, orphans_only: bool) -> Result<(), String> {
    let out = h.weave(&["ipam", "check", "-o", "json"]);
    let check: weave_api::IpamCheck =
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out:?}"))?;
    if check.ok || (orphans_only && check.orphans.is_empty()) {
        Ok(())
    } else {
        Err(format!("weave ipam check on {}: {check:?}", h.nickname()))
    }
}

#[test]
fn an_attach_whose_netlink_step_fails_keeps_no_address_and_no_device_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = seeded(h, &[]);
    let t = Netns::new("busy");
    let id = format!("netns:{}", t.name);
    let body = format!(r#"{{"target":"{id}"}}"#);

    // An interface called ethwe that weave did not make is in the way inside the target.
    t.ip(&["link", "add", "ethwe", "type", "veth", "peer", "name", "other"]);
    let (code, resp) = post(h, "/api/v1/attach", &body);
    assert_eq!(code, 409, "{resp}");
    let e: weave_api::ApiError = serde_json::from_str(&resp).unwrap();
    assert!(e.error.contains("already has an interface ethwe that is not weave's"), "{e:?}");
    let out = h.weave(&["attach", &id]);
    assert!(out.code == 1 && out.stderr.contains("not weave's"), "{out:?}");
    assert_eq!(allocations(h).unwrap().get(&id), None, "the address went back to IPAM");
    assert!(weave_veths(h).is_empty(), "no host veth: {:?}", weave_veths(h));
    let mut inside = links(&t);
    inside.sort();
    assert_eq!(inside, ["ethwe", "lo", "other"], "nothing of weave's in the target");
    // (its peer goes with it)
    t.ip(&["link", "del", "ethwe"]);

    // A device of the host veth's name that is not a veth: creating the veth fails.
    let veth = host_veth(&id);
    h.ns.ip(&["link", "add", &veth, "type", "bridge"]);
    let (code, resp) = post(h, "/api/v1/attach", &body);
    assert_eq!(code, 409, "{resp}");
    let e: weave_api::ApiError = serde_json::from_str(&resp).unwrap();
    assert!(e.error.contains(&format!("create veth {veth}")) && e.error.contains("File exists"), "{e:?}");
    assert_eq!(allocations(h).unwrap().get(&id), None, "the address went back to IPAM");
    assert!(weave_veths(h).is_empty(), "no veth left: {:?}", weave_veths(h));
    assert_eq!(links(&t), ["lo"], "nothing of weave's in the target");
    ipam_check(h, false).unwrap();

    // With the obstacle gone the same attach works and gets the first address again.
    h.ns.ip(&["link", "del", &veth]);
    let out = h.weave(&["attach", &id]);
    assert!(out.ok(), "{out:?}");
    assert_eq!(ethwe_addrs(&t), ["10.32.0.1/12"]);
    assert_eq!(allocations(h).unwrap()[&id], BTreeSet::from(["10.32.0.1/12".to_string()]));
}

#[test]
fn a_fifo_or_a_device_as_target_is_refused_at_once_with_400_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = seeded(h, &[]);
    let fifo = h.data_dir.join("not-a-namespace");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for (target, says) in
        [(fifo.display().to_string(), "is a FIFO"), ("/dev/null".into(), "is a character device")]
    {
        let started = Instant::now();
        let (code, resp) = post(h, "/api/v1/attach", &format!(r#"{{"target":"{target}"}}"#));
        assert!(started.elapsed() < Duration::from_secs(10), "answered at once");
        assert_eq!(code, 400, "{target}: {resp}");
        let e: weave_api::ApiError = serde_json::from_str(&resp).unwrap();
        assert!(e.error.contains(says) && e.error.contains("not a network namespace"), "{e:?}");
        assert!(e.hint.is_some_and(|h| h.contains("/proc/PID/ns/net")), "{target}");
        let out = h.weave(&["attach", &target]);
        assert!(out.code == 1 && out.stderr.contains(says), "{out:?}");
    }
    // The daemon is fine, and nothing was allocated.
    assert_eq!(allocations(h).unwrap(), BTreeMap::new());
    assert!(h.status().unwrap().ready);
}

/// One host's targets are all-or-nothing: each has weave's ethwe with exactly the addresses
/// IPAM lists for it, or no ethwe and nothing in IPAM; no stray veth; `weave ipam check` finds
/// no orphan (and nothing at all unless `orphans_only`).
fn all_or_nothing(h: &Host, targets: &[Netns], orphans_only: bool) -> Result<(), String> {
    let alloc = allocations(h)?;
    let ps = h.weave(&["ps", "-o", "json"]);
    let ps: Vec<weave_api::AttachedTarget> =
        serde_json::from_str(&ps.stdout).map_err(|e| format!("{e}: {ps:?}"))?;
    for t in targets {
        let id = format!("netns:{}", t.name);
        let on_if: BTreeSet<String> = ethwe_addrs(t).into_iter().collect();
        let has_if = links(t).iter().any(|l| l == "ethwe");
        let in_ipam = alloc.get(&id).cloned().unwrap_or_default();
        if has_if {
            if on_if != in_ipam {
                return Err(format!("{id}: ethwe has {on_if:?}, IPAM lists {in_ipam:?}"));
            }
            let listed =
                ps.iter().find(|p| p.id == id).map(|p| p.addrs.iter().cloned().collect::<BTreeSet<_>>());
            if listed.as_ref() != Some(&on_if) {
                return Err(format!("{id}: weave ps shows {listed:?}, ethwe has {on_if:?}"));
            }
        } else if !in_ipam.is_empty() {
            return Err(format!("{id}: no ethwe, but IPAM lists {in_ipam:?}"));
        }
        if links(t).iter().any(|l| l.starts_with("vethwepg")) {
            return Err(format!("{id}: a temporary veth end is left inside: {:?}", links(t)));
        }
    }
    let stray = stray_veths(h);
    if !stray.is_empty() {
        return Err(format!("host veths without a container end: {stray:?}"));
    }
    ipam_check(h, orphans_only)
}

/// xorshift64*: a reproducible stream from the seed printed at the start.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One random request: attach with an address from IPAM or an explicit one outside its
/// range (recorded in IPAM all the same), or detach one address or all. Its HTTP status (0:
/// none) and curl's exit status.
fn random_op(h: &Host, targets: &[Netns], rng: &mut Rng) -> (u16, i32) {
    let t = &targets[rng.below(targets.len() as u64) as usize];
    let id = format!("netns:{}", t.name);
    let explicit = format!("192.168.{}.{}/24", h.index, 10 + rng.below(4));
    let (path, body) = match rng.below(10) {
        0..=3 => ("/api/v1/attach", format!(r#"{{"target":"{id}"}}"#)),
        4..=5 => ("/api/v1/attach", format!(r#"{{"target":"{id}","addrs":["net:default","{explicit}"]}}"#)),
        6..=7 => ("/api/v1/detach", format!(r#"{{"target":"{id}"}}"#)),
        _ => ("/api/v1/detach", format!(r#"{{"target":"{id}","addrs":["{explicit}"]}}"#)),
    };
    let (code, _, curl) = post_raw(h, path, &body);
    (code, curl)
}

/// What a host holds that a kill could leak: its non-veth devices (bridge, VXLAN, ...), its
/// nft rules, and how many weave host veths it has. (The daemon makes no namespaces.)
#[derive(Debug)]
struct Kept {
    devices: BTreeSet<String>,
    rules: Vec<String>,
    veths: usize,
}

fn kept(h: &Host) -> Kept {
    let out = h.ns.exec("ip", &["-d", "-j", "link", "show"]);
    let all: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
    let kind = |l: &serde_json::Value| l["linkinfo"]["info_kind"].as_str().unwrap_or("").to_string();
    let devices = all
        .iter()
        .filter(|l| kind(l) != "veth")
        .map(|l| format!("{} {}", l["ifname"].as_str().unwrap_or_default(), kind(l)))
        .collect();
    // Rules without their handles and counters, which change from run to run.
    let rules = h.ns.exec("nft", &["list", "ruleset"]).stdout;
    let rules = rules
        .lines()
        .map(|l| l.split(" # handle").next().unwrap_or(l).trim().to_string())
        .map(|l| l.split(" counter packets").next().unwrap_or(&l).to_string())
        .collect();
    Kept { devices, rules, veths: weave_veths(h).len() }
}

/// What one host's chaos left: its daemon (relaunched once more) and targets, and how many
/// requests were answered and how many a kill cut in flight.
struct Chaos {
    daemon: Daemon,
    targets: Vec<Netns>,
    answered: usize,
    cut: usize,
}

/// Cycles of: relaunch, check, a stream of attaches and detaches from two clients, kill -9 at
/// a random moment; then one more relaunch.
fn chaos_on(c: &Cluster, h: &Host, seed: u64) -> Chaos {
    let targets: Vec<Netns> = (0..CHAOS_TARGETS).map(|i| Netns::new(&format!("k{i}"))).collect();
    let seeds: Vec<String> = c.hosts().iter().map(|o| o.peer_name()).collect();
    let init = format!("seed={}", seeds.join(","));
    let peers: Vec<String> =
        c.hosts().iter().filter(|o| o.index != h.index).map(|o| o.addr.to_string()).collect();
    let mut args = vec!["--ipalloc-init", init.as_str()];
    args.extend(peers.iter().map(String::as_str));
    let (answered, cut) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut rng = Rng(seed);
    for cycle in 0..chaos_cycles() {
        let mut d = h.start_daemon(&args);
        h.wait_ready();
        if let Err(e) = all_or_nothing(h, &targets, true) {
            panic!("{} after relaunch {cycle} (seed {seed}): {e}\n{}", h.nickname(), earlier_logs(h, &d));
        }
        let delay = Duration::from_millis(30 + rng.below(600));
        std::thread::scope(|s| {
            for _ in 0..2 {
                let mut rng = Rng(rng.next() | 1);
                let (answered, cut, targets) = (&answered, &cut, &targets);
                // Until the daemon is gone.
                s.spawn(move || loop {
                    match random_op(h, targets, &mut rng) {
                        (0, 52 | 56) => {
                            cut.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        (0, _) => break,
                        _ => answered.fetch_add(1, Ordering::Relaxed),
                    };
                });
            }
            std::thread::sleep(delay);
            d.kill();
        });
    }
    let daemon = h.start_daemon(&args);
    h.wait_ready();
    Chaos { daemon, targets, answered: answered.into_inner(), cut: cut.into_inner() }
}

/// The logs of the host's daemons before `d` (whose own is printed when it is dropped).
fn earlier_logs(h: &Host, d: &Daemon) -> String {
    let mut logs: Vec<_> = std::fs::read_dir(&h.data_dir)
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    logs.retain(|p: &std::path::PathBuf| {
        p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("daemon-")) && *p != d.log
    });
    logs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    logs.iter()
        .map(|p| format!("--- {} ---\n{}", p.display(), std::fs::read_to_string(p).unwrap_or_default()))
        .collect()
}

/// How many of a host's daemon starts replayed interrupted operations (from their logs).
fn replaying_starts(h: &Host) -> usize {
    std::fs::read_dir(&h.data_dir)
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("daemon-")))
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .filter(|log| log.contains("interrupted attach operations replayed"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn attaches_and_detaches_cut_by_kill_9_end_all_or_nothing_3() {
    let c = Cluster::new(3);
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("chaos seed {seed}: {} cycles on each of 3 hosts", chaos_cycles());
    // What a host holds besides its targets, after a first start: the same must be left at the
    // end, whatever the kills interrupted.
    let baseline: Vec<Kept> = c
        .hosts()
        .iter()
        .map(|h| {
            let _d = seeded(h, &[]);
            kept(h)
        })
        .collect();
    for h in c.hosts() {
        let _ = std::fs::remove_dir_all(&h.data_dir);
        let _ = std::fs::create_dir_all(&h.data_dir);
    }
    let done: Vec<Chaos> = std::thread::scope(|s| {
        let jobs: Vec<_> =
            c.hosts().iter().map(|h| s.spawn(|| chaos_on(&c, h, seed ^ h.index as u64))).collect();
        jobs.into_iter().map(|j| j.join().expect("a host's chaos failed")).collect()
    });
    // All three up again: everything is all-or-nothing and `weave ipam check` is clean.
    for (h, chaos) in c.hosts().iter().zip(&done) {
        let others: Vec<&Host> = c.hosts().iter().filter(|o| o.index != h.index).collect();
        h.wait_established_to(&others, Duration::from_secs(30));
        wait_for(
            &format!("{} all-or-nothing and a clean ipam check", h.nickname()),
            Duration::from_secs(10),
            || all_or_nothing(h, &chaos.targets, false),
        );
        eprintln!(
            "{}: {} requests answered, {} cut by a kill, {} of {} starts replayed interrupted operations",
            h.nickname(),
            chaos.answered,
            chaos.cut,
            replaying_starts(h),
            chaos_cycles() + 1
        );
        let _ = &chaos.daemon;
    }
    // Across the cluster: no address held twice, in IPAM or on an interface.
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut on_ifs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (h, chaos) in c.hosts().iter().zip(&done) {
        for (id, addrs) in allocations(h).unwrap() {
            for a in addrs {
                owners.entry(a).or_default().push(format!("{}:{id}", h.nickname()));
            }
        }
        for t in &chaos.targets {
            for a in ethwe_addrs(t) {
                on_ifs.entry(a).or_default().push(format!("{}:{}", h.nickname(), t.name));
            }
        }
    }
    let twice: Vec<_> = owners.iter().chain(&on_ifs).filter(|(_, who)| who.len() > 1).collect();
    assert!(twice.is_empty(), "addresses held twice across the cluster: {twice:?}");
    // Nothing leaked: the host's devices and firewall rules are what a first start left, plus
    // one host veth per target that has an interface now.
    for ((h, chaos), base) in c.hosts().iter().zip(&done).zip(&baseline) {
        let now = kept(h);
        let with_if = chaos.targets.iter().filter(|t| links(t).iter().any(|l| l == "ethwe")).count();
        assert_eq!(now.veths, with_if, "{}: host veths vs targets with an interface", h.nickname());
        // A first start alone has no fastdp devices; now there is at most one per other peer.
        let (vxlan, devices): (BTreeSet<String>, BTreeSet<String>) =
            now.devices.iter().cloned().partition(|d| d.ends_with(" vxlan"));
        assert!(vxlan.len() <= 2, "{}: fastdp devices {vxlan:?} for 2 peers", h.nickname());
        assert_eq!(
            (&devices, &now.rules),
            (&base.devices, &base.rules),
            "{}: devices and nft rules after the chaos vs a first start",
            h.nickname()
        );
    }
    assert!(done.iter().all(|d| d.answered > 0), "requests were answered between the kills");
    assert!(done.iter().map(|d| d.cut).sum::<usize>() > 0, "the kills cut requests in flight");
}

/// The kernel deletes a subnet's other addresses with its first unless told not to: detaching
/// (or hiding) the first of two addresses in one subnet keeps the second, on the interface
/// and in IPAM.
#[test]
fn detaching_one_address_keeps_the_others_of_its_subnet_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = seeded(h, &[]);
    let t = Netns::new("two");
    let id = format!("netns:{}", t.name);
    let out = h.weave(&["attach", "10.32.7.7/12", "10.32.7.8/12", &id]);
    assert!(out.ok(), "{out:?}");
    let out = h.weave(&["detach", "10.32.7.7/12", &id]);
    assert_eq!(out.stdout.trim(), "10.32.7.7", "{out:?}");
    assert_eq!(ethwe_addrs(&t), ["10.32.7.8/12"]);
    assert_eq!(allocations(h).unwrap()[&id], BTreeSet::from(["10.32.7.8/12".to_string()]));

    let out = h.weave(&["expose", "10.32.9.1/12", "10.32.9.2/12"]);
    assert!(out.ok(), "{out:?}");
    let out = h.weave(&["hide", "10.32.9.1/12"]);
    assert_eq!(out.stdout.trim(), "10.32.9.1", "{out:?}");
    let ps = h.weave(&["ps"]).stdout;
    assert!(ps.lines().next().unwrap().ends_with(" 10.32.9.2/12"), "{ps}");
    ipam_check(h, false).unwrap();
}
