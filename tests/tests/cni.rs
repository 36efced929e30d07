//! CNI end to end: podman with `--network weave` across hosts, the plugins invoked directly
//! as a runtime does (every command, every spec version, every error), a daemon killed
//! between ADD and DEL, `weave setup-cni`/`reset`, and the Kubernetes-style `--peers-file`.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use weave_e2e::cni::{Attachment, CniDirs, CniOutput};
use weave_e2e::{wait_for, wait_until, Cluster, Daemon, Host, Netns, Podman};

const CONNECT: Duration = Duration::from_secs(30);
const SETTLE: Duration = Duration::from_secs(20);
const VERSIONS: [&str; 7] = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The connection targets `h` reports.
fn targets(h: &Host) -> Result<Vec<String>, String> {
    let mut t = h.status()?.router.targets;
    t.sort();
    Ok(t)
}

/// `h`'s daemon alone, owning the whole range at once.
fn start_seeded(h: &Host, extra: &[&str]) -> Daemon {
    let seed = format!("seed={}", h.peer_name());
    let mut args = vec!["--ipalloc-init", seed.as_str()];
    args.extend_from_slice(extra);
    let d = h.start_daemon(&args);
    h.wait_ready();
    d
}

/// One host with a seeded daemon and the plugins installed: the setting of the direct tests.
struct Direct {
    c: Cluster,
    d: Daemon,
    dirs: CniDirs,
}

impl Direct {
    fn new() -> Direct {
        let c = Cluster::new(1);
        let d = start_seeded(c.host(0), &[]);
        Direct { c, d, dirs: CniDirs::install() }
    }

    fn host(&self) -> &Host {
        self.c.host(0)
    }

    fn plugin(&self, name: &str) -> PathBuf {
        self.dirs.bin.join(name)
    }

    /// Runs weave-net for `cmd` on the attachment (`id`, `ns`, eth0) with `conf`.
    fn net(&self, cmd: &str, id: &str, ns: &Netns, conf: &Value) -> CniOutput {
        let path = format!("/run/netns/{}", ns.name);
        let att = Attachment {
            container_id: id,
            netns: &path,
            ifname: "eth0",
            args: "IgnoreUnknown=1;K8S_POD_NAME=pod-x",
        };
        self.host().cni(&self.plugin("weave-net"), cmd, Some(&att), &self.dirs.cni_path(), conf)
    }

    /// ADD that must succeed; returns the result.
    fn add(&self, id: &str, ns: &Netns, conf: &Value) -> Value {
        let out = self.net("ADD", id, ns, conf);
        assert!(out.ok(), "ADD {id}: {out:?}\n{}", self.d.log_text());
        out.json.expect("ADD prints its result")
    }
}

/// A network configuration of `version` for weave-net, with `prev` as its prevResult.
fn conf(version: &str, prev: Option<&Value>) -> Value {
    let mut c = json!({"cniVersion": version, "name": "weave", "type": "weave-net", "hairpinMode": true});
    if let Some(p) = prev {
        c["prevResult"] = p.clone();
    }
    c
}

/// Owner -> addresses this host handed out.
fn allocations(h: &Host) -> Vec<weave_api::Allocation> {
    let (code, body) = h.http("GET", "/api/v1/ipam/allocations");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("allocations JSON")
}

fn owners(h: &Host) -> BTreeSet<String> {
    allocations(h).into_iter().map(|a| a.ident).collect()
}

/// The IPv4 addresses (CIDR) on `ifname` in `ns`.
fn addrs_in(ns: &Netns, ifname: &str) -> Vec<String> {
    let out = ns.exec("ip", &["-4", "-o", "addr", "show", "dev", ifname]);
    out.stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            w.find(|x| *x == "inet")?;
            w.next().map(str::to_string)
        })
        .collect()
}

fn ping(ns: &Netns, ip: &str) -> bool {
    ns.exec("ping", &["-c1", "-W2", ip]).ok()
}

/// The address (no prefix) of the first entry of a 1.x result's `ips`.
fn first_ip(result: &Value) -> String {
    let a = result["ips"][0]["address"].as_str().expect("an address").to_string();
    a.split('/').next().unwrap().to_string()
}

#[test]
fn setup_cni_installs_the_plugins_and_conflist_and_reset_removes_them_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = h.start_daemon(&["--ipalloc-init", &format!("seed={}", h.peer_name())]);
    h.wait_ready();
    let dirs = CniDirs::install();
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

#[test]
fn add_check_del_and_what_check_finds_wrong_1() {
    let t = Direct::new();
    let h = t.host();
    let c = Netns::new("c");
    let r = t.add("ctr-a", &c, &conf("1.1.0", None));
    // The result: the container's interface with its address from weave's range, the
    // bridge's address as gateway, a default route, weaveDNS as resolver.
    assert_eq!(r["cniVersion"], "1.1.0");
    let ip = &r["ips"][0];
    let idx = ip["interface"].as_u64().expect("an interface index") as usize;
    let iface = &r["interfaces"][idx];
    assert_eq!(iface["name"], "eth0");
    assert_eq!(iface["sandbox"], format!("/run/netns/{}", c.name));
    assert_eq!(r["interfaces"][0]["name"], "weave");
    let addr = ip["address"].as_str().unwrap();
    assert!(addr.starts_with("10.3") && addr.ends_with("/12"), "{addr}");
    assert_eq!(addrs_in(&c, "eth0"), [addr]);
    let gw = ip["gateway"].as_str().expect("a gateway");
    assert!(r["routes"].as_array().unwrap().iter().any(|x| x["dst"] == "0.0.0.0/0"), "{r}");
    assert!(c.exec("ip", &["route"]).stdout.contains(&format!("default via {gw}")));
    assert_eq!(r["dns"]["nameservers"][0], gw, "weaveDNS on the bridge answers the container");
    assert!(ping(&c, gw), "the container reaches its gateway, the bridge");
    // Keyed by the container id in IPAM, named by the pod in weaveDNS, listed by `weave ps`.
    assert!(owners(h).contains("ctr-a"));
    let found = h.weave(&["dns-lookup", "pod-x"]);
    assert_eq!(found.stdout.trim(), first_ip(&r), "{found:?}");
    let ps = h.weave(&["ps"]);
    assert!(ps.stdout.lines().any(|l| l.starts_with("ctr-a") && l.contains(addr)), "{ps:?}");

    // CHECK with the result of ADD passes.
    let ok = t.net("CHECK", "ctr-a", &c, &conf("1.1.0", Some(&r)));
    assert!(ok.ok(), "{ok:?}");
    // A route that went missing, an address that is not there, then the interface itself.
    c.ip(&["route", "del", "default"]);
    let no_route = t.net("CHECK", "ctr-a", &c, &conf("1.1.0", Some(&r)));
    assert_eq!(no_route.code(), Some(102), "{no_route:?}");
    let mut wrong = r.clone();
    wrong["ips"][0]["address"] = json!("10.32.99.99/12");
    let bad_addr = t.net("CHECK", "ctr-a", &c, &conf("1.1.0", Some(&wrong)));
    assert_eq!(bad_addr.code(), Some(101), "{bad_addr:?}");
    c.ip(&["link", "del", "eth0"]);
    let gone = t.net("CHECK", "ctr-a", &c, &conf("1.1.0", Some(&r)));
    assert_eq!(gone.code(), Some(100), "{gone:?}");
    assert!(gone.stderr.contains("eth0"), "the message names the interface: {gone:?}");

    // DEL releases the address and the name; a second DEL is fine too.
    for _ in 0..2 {
        let del = t.net("DEL", "ctr-a", &c, &conf("1.1.0", Some(&r)));
        assert!(del.ok(), "{del:?}");
    }
    assert!(!owners(h).contains("ctr-a"));
    assert!(lookup(h, "pod-x").is_err(), "DEL removed the name");
    // CHECK of an attachment that no longer exists: unknown container.
    let unknown = t.net("CHECK", "ctr-a", &c, &conf("1.1.0", Some(&r)));
    assert_eq!(unknown.code(), Some(3), "{unknown:?}");
}

#[test]
fn gc_frees_what_the_runtime_no_longer_lists_1() {
    let t = Direct::new();
    let h = t.host();
    let (c1, c2, c3) = (Netns::new("c"), Netns::new("c"), Netns::new("c"));
    t.add("ctr-1", &c1, &conf("1.1.0", None));
    t.add("ctr-2", &c2, &conf("1.1.0", None));
    t.add("ctr-3", &c3, &conf("1.1.0", None));
    let gc = |valid: Value| {
        let mut c = conf("1.1.0", None);
        c["cni.dev/valid-attachments"] = valid;
        h.cni(&t.plugin("weave-net"), "GC", None, &t.dirs.cni_path(), &c)
    };
    let out = gc(json!([{"containerID": "ctr-3", "ifname": "eth0"}]));
    assert!(out.ok(), "{out:?}");
    let left = owners(h);
    assert!(!left.contains("ctr-1") && !left.contains("ctr-2") && left.contains("ctr-3"), "{left:?}");
    assert!(addrs_in(&c1, "eth0").is_empty() && addrs_in(&c2, "eth0").is_empty());
    assert_eq!(addrs_in(&c3, "eth0").len(), 1, "a listed attachment is kept");
    // Another network's GC touches nothing of this one.
    let mut other = conf("1.1.0", None);
    other["name"] = json!("other");
    other["cni.dev/valid-attachments"] = json!([]);
    assert!(h.cni(&t.plugin("weave-net"), "GC", None, &t.dirs.cni_path(), &other).ok());
    assert!(owners(h).contains("ctr-3"));
    // An empty list frees everything.
    assert!(gc(json!([])).ok());
    assert!(!owners(h).contains("ctr-3"));
    assert!(addrs_in(&c3, "eth0").is_empty());
}

#[test]
fn every_spec_version_gets_its_own_result_shape_1() {
    let t = Direct::new();
    let h = t.host();
    for v in VERSIONS {
        let c = Netns::new("v");
        let id = format!("ver-{}", v.replace('.', "-"));
        let r = t.add(&id, &c, &conf(v, None));
        assert_eq!(r["cniVersion"], v);
        let addr = if v < "0.3.0" {
            assert!(r.get("interfaces").is_none(), "{v}: {r}");
            assert!(r["ip4"]["routes"].as_array().is_some_and(|x| !x.is_empty()), "{v}: {r}");
            r["ip4"]["ip"].as_str().unwrap().to_string()
        } else {
            let ip = &r["ips"][0];
            assert_eq!(ip.get("version").is_some(), v < "1.0.0", "{v}: {r}");
            let container = &r["interfaces"][ip["interface"].as_u64().unwrap() as usize];
            assert_eq!(container.get("mtu").is_some(), v == "1.1.0", "{v}: {r}");
            ip["address"].as_str().unwrap().to_string()
        };
        assert_eq!(addrs_in(&c, "eth0"), [addr], "{v}");
        if v >= "0.4.0" {
            let check = t.net("CHECK", &id, &c, &conf(v, Some(&r)));
            assert!(check.ok(), "{v}: {check:?}");
        }
        let prev = (v >= "0.4.0").then_some(&r);
        let del = t.net("DEL", &id, &c, &conf(v, prev));
        assert!(del.ok(), "{v}: {del:?}");
        assert!(!owners(h).contains(&id), "{v}");
    }
}

#[test]
fn errors_say_what_is_wrong_with_the_specs_codes_1() {
    let t = Direct::new();
    let c = Netns::new("e");
    // A namespace that does not exist: the container is unknown.
    let ghost = Netns::new("gone");
    let ghost_name = ghost.name.clone();
    drop(ghost);
    let path = format!("/run/netns/{ghost_name}");
    let att = Attachment { container_id: "ghost", netns: &path, ifname: "eth0", args: "" };
    let out =
        t.host().cni(&t.plugin("weave-net"), "ADD", Some(&att), &t.dirs.cni_path(), &conf("1.0.0", None));
    assert_eq!(out.code(), Some(3), "{out:?}");
    assert!(!owners(t.host()).contains("ghost"), "nothing is allocated for a missing namespace");
    // An unsupported version, a bad configuration, a subnet outside weave's range.
    assert_eq!(t.net("ADD", "e1", &c, &conf("0.5.0", None)).code(), Some(1));
    let mut bad = conf("1.0.0", None);
    bad["mtu"] = json!("big");
    assert_eq!(t.net("ADD", "e1", &c, &bad).code(), Some(6));
    let mut outside = conf("1.0.0", None);
    outside["ipam"] = json!({"subnet": "192.168.7.0/24"});
    let out = t.net("ADD", "e1", &c, &outside);
    assert_eq!(out.code(), Some(7), "{out:?}");
    assert!(out.stderr.contains("192.168.7"), "{out:?}");
    // The same attachment twice: the interface exists.
    t.add("e1", &c, &conf("1.0.0", None));
    let again = t.net("ADD", "e1", &c, &conf("1.0.0", None));
    assert_eq!(again.code(), Some(107), "{again:?}");
    assert_eq!(addrs_in(&c, "eth0").len(), 1, "the refused ADD changed nothing");
    // An exhausted subnet: a /30 holds two addresses, the bridge's gateway and one container.
    let small = json!({"cniVersion": "1.0.0", "name": "small", "type": "weave-net", "ipam": {"subnet": "10.32.200.0/30"}});
    let (s1, s2) = (Netns::new("s"), Netns::new("s"));
    t.add("small-1", &s1, &small);
    let full = t.net("ADD", "small-2", &s2, &small);
    assert_eq!(full.code(), Some(103), "{full:?}");
    assert!(full.stderr.contains("10.32.200.0/30"), "the message names the subnet: {full:?}");
    assert!(addrs_in(&s2, "eth0").is_empty() && !owners(t.host()).contains("small-2"));
}

#[test]
fn labels_in_args_cni_and_the_pod_namespace_select_the_pod_for_network_policy_1() {
    let t = Direct::new();
    let h = t.host();
    let c = Netns::new("lp");
    let mut labelled = conf("1.1.0", None);
    labelled["args"] = json!({"cni": {"labels": [{"key": "app", "value": "web"}]}});
    let path = format!("/run/netns/{}", c.name);
    let att = Attachment {
        container_id: "ctr-l",
        netns: &path,
        ifname: "eth0",
        args: "IgnoreUnknown=1;K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=shop",
    };
    let out = h.cni(&t.plugin("weave-net"), "ADD", Some(&att), &t.dirs.cni_path(), &labelled);
    assert!(out.ok(), "{out:?}");
    let file = h.data_dir.join("shop-web.yaml");
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: web}}\n";
    std::fs::write(&file, policy).unwrap();
    let applied = h.weave(&["policy", "apply", "-f", &file.display().to_string()]);
    assert!(applied.ok(), "{applied:?}");
    let selected = || {
        let out = h.weave(&["policy", "ls", "-o", "json"]);
        let list: Vec<weave_api::PolicyInfo> = serde_json::from_str(&out.stdout).unwrap_or_default();
        list.iter().find(|p| p.name == "shop/web").map_or(0, |p| p.selected)
    };
    wait_until("the pod, in namespace shop with app=web, is selected", Duration::from_secs(20), || {
        selected() == 1
    });
    // A label Kubernetes would refuse is refused with the reason; nothing is attached.
    let mut bad = conf("1.1.0", None);
    bad["args"] = json!({"cni": {"labels": [{"key": "app", "value": "not a label value"}]}});
    let c2 = Netns::new("lq");
    let out = t.net("ADD", "ctr-bad", &c2, &bad);
    assert!(
        !out.ok() && out.stderr.contains("args.cni.labels") && out.stderr.contains("label value"),
        "{out:?}"
    );
    assert!(!owners(h).contains("ctr-bad"), "nothing allocated");
    let del = h.cni(&t.plugin("weave-net"), "DEL", Some(&att), &t.dirs.cni_path(), &labelled);
    assert!(del.ok(), "{del:?}");
    wait_until("the deleted pod leaves the selection", Duration::from_secs(20), || selected() == 0);
}

#[test]
fn status_says_not_available_until_the_daemon_is_up_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let dirs = CniDirs::install();
    let status =
        |plugin: &str| h.cni(&dirs.bin.join(plugin), "STATUS", None, &dirs.cni_path(), &conf("1.1.0", None));
    let down = status("weave-net");
    assert_eq!(down.code(), Some(50), "{down:?}");
    assert!(down.stderr.contains("not running"), "{down:?}");
    let _d = start_seeded(h, &[]);
    for p in ["weave-net", "weave-ipam"] {
        let up = status(p);
        assert!(up.ok(), "{p}: {up:?}");
        assert!(up.stdout.trim().is_empty(), "STATUS prints nothing on success");
    }
}

#[test]
fn weave_ipam_hands_out_addresses_for_weave_net_and_releases_them_1() {
    let t = Direct::new();
    let h = t.host();
    let c = Netns::new("i");
    let mut cf = conf("1.0.0", None);
    cf["ipam"] = json!({"type": "weave-ipam", "subnet": "10.33.0.0/16"});
    let r = t.add("ipam-1", &c, &cf);
    let addr = r["ips"][0]["address"].as_str().unwrap();
    assert!(addr.starts_with("10.33.") && addr.ends_with("/16"), "{r}");
    assert_eq!(addrs_in(&c, "eth0"), [addr]);
    let gw = r["ips"][0]["gateway"].as_str().expect("the bridge's address as gateway");
    assert!(gw.starts_with("10.33."), "{gw}");
    assert!(t
        .net("CHECK", "ipam-1", &c, &{
            let mut x = cf.clone();
            x["prevResult"] = r.clone();
            x
        })
        .ok());
    assert!(t.net("DEL", "ipam-1", &c, &cf).ok());
    assert!(!owners(h).contains("ipam-1"));
}

#[test]
fn a_daemon_killed_between_add_and_del_loses_nothing_1() {
    let mut t = Direct::new();
    let c = Netns::new("k");
    let r = t.add("kill-1", &c, &conf("1.0.0", None));
    let addr = r["ips"][0]["address"].as_str().unwrap().to_string();
    t.d.kill();
    // While it is down, DEL asks to be retried rather than forgetting the address.
    let down = t.net("DEL", "kill-1", &c, &conf("1.0.0", Some(&r)));
    assert_eq!(down.code(), Some(11), "{down:?}");
    t.d = t.host().start_daemon(&["--ipalloc-init", &format!("seed={}", t.host().peer_name())]);
    t.host().wait_ready();
    assert_eq!(addrs_in(&c, "eth0"), std::slice::from_ref(&addr), "the container kept its address");
    assert!(owners(t.host()).contains("kill-1"), "the relaunched daemon still knows the owner");
    let ok = t.net("CHECK", "kill-1", &c, &conf("1.0.0", Some(&r)));
    assert!(ok.ok(), "the attachment survived: {ok:?}");
    let del = t.net("DEL", "kill-1", &c, &conf("1.0.0", Some(&r)));
    assert!(del.ok(), "{del:?}");
    assert!(!owners(t.host()).contains("kill-1"), "DEL after the relaunch released {addr}");
    assert!(addrs_in(&c, "eth0").is_empty());
}

/// Starts both daemons of a 2-host cluster connected, with a 2-peer quorum.
fn start_pair(c: &Cluster) -> Vec<Daemon> {
    let d = vec![
        c.host(0).start_daemon(&["--ipalloc-init", "consensus=2", &c.host(1).addr.to_string()]),
        c.host(1).start_daemon(&["--ipalloc-init", "consensus=2", &c.host(0).addr.to_string()]),
    ];
    c.host(0).wait_established_to(&[c.host(1)], CONNECT);
    c.host(1).wait_established_to(&[c.host(0)], CONNECT);
    d
}

/// weaveDNS's answer for `name` on `h`, or why not.
fn lookup(h: &Host, name: &str) -> Result<String, String> {
    let out = h.weave(&["dns-lookup", name]);
    match out.stdout.trim() {
        "" => Err(format!("{out:?}")),
        a => Ok(a.to_string()),
    }
}

#[test]
fn podman_containers_reach_netns_containers_across_hosts_by_ip_and_name_2() {
    let c = Cluster::new(2);
    let _d = start_pair(&c);
    let (h1, h2) = (c.host(0), c.host(1));
    let web = h2.container("web", &[]);
    let web_ip = weave_e2e::ethwe_addrs(&web)[0].split('/').next().unwrap().to_string();
    let pm = Podman::new(h1);
    pm.start("pc1");
    let id = pm.id("pc1");
    // By address and by weaveDNS name (the container's resolver is weaveDNS, from the result).
    wait_until("pc1 pings web by address", SETTLE, || pm.exec("pc1", &["ping", "-c1", "-W1", &web_ip]).ok());
    let by_name = pm.exec("pc1", &["ping", "-c1", "-W2", &web.name]);
    assert!(by_name.ok(), "pc1 pings web by name: {by_name:?}");
    // The other way: pc1's name is known on host2 (gossiped), and web reaches it.
    let pc1_ip = wait_for("pc1's name on host2", SETTLE, || lookup(h2, "pc1"));
    assert!(ping(&web, &pc1_ip), "web pings pc1");
    assert!(owners(h1).contains(&id), "pc1's address is keyed by its container id");
    assert!(h1.weave(&["ps"]).stdout.contains(&id[..12]), "weave ps lists pc1");

    // stop releases the address and the name everywhere; start gives them back.
    let stop = pm.run(&["stop", "-t", "0", "pc1"]);
    assert!(stop.ok(), "{stop:?}");
    assert!(!owners(h1).contains(&id), "stop released pc1's address");
    wait_until("pc1's name is gone from host2", SETTLE, || lookup(h2, "pc1").is_err());
    assert!(pm.run(&["start", "pc1"]).ok());
    wait_until("pc1 pings web again after start", SETTLE, || {
        pm.exec("pc1", &["ping", "-c1", "-W1", &web_ip]).ok()
    });
    let restart = pm.run(&["restart", "-t", "0", "pc1"]);
    assert!(restart.ok(), "{restart:?}");
    wait_until("pc1 pings web after restart", SETTLE, || {
        pm.exec("pc1", &["ping", "-c1", "-W1", &web.name]).ok()
    });
    let ip_now = wait_for("pc1's name on host2 after restart", SETTLE, || lookup(h2, "pc1"));
    assert!(ping(&web, &ip_now));
    assert!(pm.run(&["rm", "-f", "-t", "0", "pc1"]).ok());
    assert!(!owners(h1).contains(&id), "rm released pc1's address");
    wait_until("pc1's name is gone from host2 after rm", SETTLE, || lookup(h2, "pc1").is_err());
}

#[test]
fn twenty_podman_containers_in_parallel_get_unique_addresses_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = start_seeded(h, &[]);
    let pm = Podman::new(h);
    let names: Vec<String> = (0..20).map(|i| format!("par{i}")).collect();
    std::thread::scope(|s| {
        for n in &names {
            let pm = &pm;
            s.spawn(move || pm.start(n));
        }
    });
    let mut seen = BTreeSet::new();
    for n in &names {
        let id = pm.id(n);
        let a = allocations(h)
            .into_iter()
            .find(|a| a.ident == id)
            .unwrap_or_else(|| panic!("{n} has no address"));
        assert_eq!(a.addrs.len(), 1, "{n}: {:?}", a.addrs);
        assert!(seen.insert(a.addrs[0].clone()), "{} handed out twice", a.addrs[0]);
    }
    let rm = pm.run(&["rm", "-af", "-t", "0"]);
    assert!(rm.ok(), "{rm:?}");
    let left: Vec<_> = allocations(h).into_iter().filter(|a| a.ident != "weave:expose").collect();
    assert!(left.is_empty(), "rm released every address: {left:?}");
}
