//! weaveDNS end to end: three hosts (namespaces) with containers, queried with `dig` inside
//! the hosts; names registered anywhere resolve everywhere, follow attach/detach and
//! partitions, non-weave names go to an upstream server run in a test namespace, and garbage
//! never stops the server.

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::Duration;
use weave_e2e::{wait_for, Cluster, Daemon, Host, Netns, Output};

const CONNECT: Duration = Duration::from_secs(30);
/// Gossip of a change is immediate; this covers a slow, shared test machine.
const SPREAD: Duration = Duration::from_secs(20);

/// Daemons on every host of `c`, all peered with host 1, without IPAM (explicit addresses).
fn start_all(c: &Cluster, extra: &[&str]) -> Vec<Daemon> {
    let first = c.host(0).addr.to_string();
    let d: Vec<Daemon> = c
        .hosts()
        .iter()
        .map(|h| {
            let mut args = vec!["--ipalloc-range", ""];
            args.extend_from_slice(extra);
            if h.index != 1 {
                args.push(&first);
            }
            h.start_daemon(&args)
        })
        .collect();
    for h in c.hosts() {
        let others: Vec<&Host> = c.hosts().iter().filter(|o| o.index != h.index).collect();
        h.wait_established_to(&others, CONNECT);
    }
    d
}

/// `dig @127.0.0.1 ARGS` inside `h` (its weaveDNS), one try.
fn dig(h: &Host, args: &[&str]) -> Output {
    let mut full = vec!["@127.0.0.1", "+tries=1", "+time=2"];
    full.extend_from_slice(args);
    h.ns.exec("dig", &full)
}

/// The A records `h`'s weaveDNS gives for `name`, sorted.
fn lookup(h: &Host, name: &str) -> Result<BTreeSet<String>, String> {
    lookup_over(h, "+notcp", name)
}

/// The same over UDP (`+notcp`) or TCP (`+tcp`).
fn lookup_over(h: &Host, transport: &str, name: &str) -> Result<BTreeSet<String>, String> {
    let out = dig(h, &[transport, "+short", name]);
    if !out.ok() {
        return Err(format!("dig failed: {out:?}"));
    }
    Ok(out.stdout.lines().map(str::to_string).collect())
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Waits until every host answers `name` with exactly `want`.
fn wait_everywhere(c: &Cluster, name: &str, want: &[&str]) {
    for h in c.hosts() {
        wait_for(&format!("{} to answer {name} with {want:?}", h.nickname()), SPREAD, || {
            let got = lookup(h, name)?;
            if got == set(want) {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        });
    }
}

/// The status line (`status: NOERROR`) and the answer count of a full `dig` output.
fn status_and_answers(out: &Output) -> (String, usize) {
    let status =
        out.stdout.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("none").to_string();
    let answers = out
        .stdout
        .split("ANSWER: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(usize::MAX);
    (status, answers)
}

fn weave_ok(h: &Host, args: &[&str]) -> String {
    let out = h.weave(args);
    assert!(out.ok(), "weave {args:?} on {}: {out:?}", h.nickname());
    out.stdout
}

/// A container attached with `addr`; its DNS name is its namespace name.
fn container(h: &Host, tag: &str, addr: &str) -> Netns {
    h.container(tag, &[addr])
}

fn fqdn(c: &Netns) -> String {
    format!("{}.weave.local.", c.name)
}

#[test]
fn names_resolve_on_every_host_and_follow_attach_and_detach_3() {
    let c = Cluster::new(3);
    let _d = start_all(&c, &[]);
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    // h2's event stream sees entries registered elsewhere come and go.
    let mut events = h2.events();

    // Registered on h1 by attach: resolves from every host, qualified or as a single label.
    let web = container(h1, "web", "10.2.1.1/16");
    wait_everywhere(&c, &fqdn(&web), &["10.2.1.1"]);
    let added = events.wait_line(&format!("\"hostname\":\"{}\"", fqdn(&web)));
    assert!(added.contains("\"type\":\"dns_entry_added\"") && added.contains("10.2.1.1"), "{added}");
    assert_eq!(lookup(h3, &web.name).unwrap(), set(&["10.2.1.1"]), "single label on h3");
    // Any case.
    assert_eq!(lookup(h2, &fqdn(&web).to_uppercase()).unwrap(), set(&["10.2.1.1"]));

    // --without-dns registers nothing.
    let quiet = Netns::new("quiet");
    weave_ok(h1, &["attach", "--without-dns", "10.2.1.9/16", &format!("netns:{}", quiet.name)]);

    // One name on containers of different hosts: all their addresses, from every host.
    let a = container(h2, "a", "10.2.2.1/16");
    let b = container(h3, "b", "10.2.3.1/16");
    weave_ok(h2, &["dns-add", &format!("netns:{}", a.name), "-h", "shared.weave.local"]);
    weave_ok(h3, &["dns-add", &format!("netns:{}", b.name), "-h", "shared.weave.local"]);
    wait_everywhere(&c, "shared.weave.local", &["10.2.2.1", "10.2.3.1"]);
    // dns-lookup asks the local weaveDNS.
    let mut got: Vec<String> = weave_ok(h1, &["dns-lookup", "shared"]).lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, ["10.2.2.1", "10.2.3.1"]);
    // An external name (weave:extern) and its removal.
    weave_ok(h3, &["dns-add", "10.2.9.9", "-h", "ext.weave.local"]);
    wait_everywhere(&c, "ext.weave.local", &["10.2.9.9"]);
    weave_ok(h3, &["dns-remove", "10.2.9.9", "-h", "ext.weave.local"]);
    wait_everywhere(&c, "ext.weave.local", &[]);

    // Weave's answers: NXDOMAIN for unknown names, NOERROR without records for another type
    // of a known one, PTR for an address.
    let (status, n) = status_and_answers(&dig(h2, &["nosuch.weave.local"]));
    assert_eq!((status.as_str(), n), ("NXDOMAIN", 0));
    let (status, n) = status_and_answers(&dig(h2, &["AAAA", &fqdn(&web)]));
    assert_eq!((status.as_str(), n), ("NOERROR", 0));
    assert_eq!(lookup(h2, "quiet").unwrap(), set(&[]));
    let (status, _) = status_and_answers(&dig(h2, &[&format!("{}.weave.local", quiet.name)]));
    assert_eq!(status, "NXDOMAIN", "--without-dns registered a name");
    wait_for("PTR of web's address on h3", SPREAD, || {
        let got = dig(h3, &["+short", "-x", "10.2.1.1"]).stdout;
        if got.trim() == fqdn(&web) {
            Ok(())
        } else {
            Err(got)
        }
    });

    // Detach: the name is gone everywhere. The address, reused by a container on another
    // host, answers PTR for its new owner only.
    weave_ok(h1, &["detach", &format!("netns:{}", web.name)]);
    wait_everywhere(&c, &fqdn(&web), &[]);
    let removed =
        events.wait_line(&format!("\"type\":\"dns_entry_removed\",\"hostname\":\"{}\"", fqdn(&web)));
    assert!(removed.contains("\"address\":\"10.2.1.1\""), "{removed}");
    let (status, _) = status_and_answers(&dig(h3, &[&fqdn(&web)]));
    assert_eq!(status, "NXDOMAIN");
    let reuse = container(h2, "reuse", "10.2.1.1/16");
    for h in c.hosts() {
        wait_for(&format!("PTR of the reused address on {}", h.nickname()), SPREAD, || {
            let got = dig(h, &["+short", "-x", "10.2.1.1"]).stdout;
            if got.trim() == fqdn(&reuse) {
                Ok(())
            } else {
                Err(got)
            }
        });
    }

    // A target whose namespace goes away without a detach loses its name, too.
    let brief = container(h3, "brief", "10.2.4.1/16");
    let brief_name = fqdn(&brief);
    wait_everywhere(&c, &brief_name, &["10.2.4.1"]);
    drop(brief);
    wait_everywhere(&c, &brief_name, &[]);

    // Weave's text views and the report carry the entries.
    let status_dns = weave_ok(h1, &["status", "dns"]);
    assert!(status_dns.contains(&reuse.name) && status_dns.contains("10.2.1.1"), "{status_dns}");
    assert!(!status_dns.contains(&web.name), "{status_dns}");
    let status = weave_ok(h1, &["status"]);
    assert!(status.contains("Service: dns") && status.contains("Domain: weave.local."), "{status}");
    let report = h1.report().unwrap();
    let entries = report.dns.unwrap().entries;
    assert!(entries.iter().any(|e| e.hostname == fqdn(&reuse) && e.tombstone == 0), "{entries:?}");
    assert!(entries.iter().any(|e| e.hostname == fqdn(&web) && e.tombstone > 0), "{entries:?}");
}

#[test]
fn large_answers_truncate_over_udp_and_come_whole_over_tcp_and_edns_3() {
    let c = Cluster::new(3);
    let _d = start_all(&c, &[]);
    let (h1, h3) = (c.host(0), c.host(2));
    let ips: Vec<String> = (1..=50).map(|i| format!("10.3.0.{i}")).collect();
    let mut args: Vec<&str> = vec!["dns-add"];
    args.extend(ips.iter().map(String::as_str));
    args.extend(["-h", "many.weave.local"]);
    weave_ok(h1, &args);
    let want: Vec<&str> = ips.iter().map(String::as_str).collect();
    wait_for("h3 has all 50 over TCP", SPREAD, || {
        let got = lookup_over(h3, "+tcp", "many.weave.local")?;
        if got == set(&want) {
            Ok(())
        } else {
            Err(format!("{} records", got.len()))
        }
    });
    // Plain UDP: 512 bytes, truncated with TC set.
    let udp = dig(h3, &["+notcp", "+ignore", "+noedns", "many.weave.local"]);
    let (status, n) = status_and_answers(&udp);
    assert_eq!(status, "NOERROR", "{}", udp.stdout);
    assert!(n > 0 && n < 50, "{n} answers over 512-byte UDP: {}", udp.stdout);
    assert!(udp.stdout.contains(" tc"), "TC not set: {}", udp.stdout);
    // EDNS with room for everything: whole, no TC.
    let edns = dig(h3, &["+notcp", "+ignore", "+bufsize=4096", "many.weave.local"]);
    let (_, n) = status_and_answers(&edns);
    assert_eq!(n, 50, "{}", edns.stdout);
    assert!(!edns.stdout.contains(" tc"), "{}", edns.stdout);
    // TCP: whole.
    let tcp = dig(h3, &["+tcp", "many.weave.local"]);
    assert_eq!(status_and_answers(&tcp), ("NOERROR".to_string(), 50), "{}", tcp.stdout);
    // Shuffled on each answer: 50! orders; a few queries do not all agree.
    let orders: BTreeSet<String> =
        (0..5).map(|_| dig(h3, &["+tcp", "+short", "many.weave.local"]).stdout).collect();
    assert!(orders.len() > 1, "the same order five times");
}

/// dnsmasq serving `up.example` in its own namespace on the underlay; killed on drop.
struct Upstream {
    child: Child,
}

impl Upstream {
    fn start(h: &Host) -> Upstream {
        let listen = format!("--listen-address={}", h.addr);
        let child =
            h.ns.command(std::path::Path::new("dnsmasq"))
                .args([
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--bind-interfaces",
                    "--pid-file=",
                    "--user=root",
                    "--address=/up.example/10.7.7.7",
                    &listen,
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn dnsmasq");
        Upstream { child }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn other_names_are_forwarded_to_the_upstream_server_2() {
    let mut c = Cluster::new(1);
    let up_host = c.add_host();
    let up_addr = up_host.addr;
    let _up = Upstream::start(c.host(1));
    let h1 = c.host(0);
    let resolv = h1.data_dir.join("resolv.conf");
    // Our own listen address is never used as an upstream.
    std::fs::write(&resolv, format!("nameserver 127.0.0.1\nnameserver {up_addr}\n")).unwrap();
    // The harness's start_daemon turns resolv.conf off; the same flags with ours.
    let args: Vec<String> = [
        "--name",
        &h1.peer_name(),
        "--nickname",
        &h1.nickname(),
        "--data-dir",
        h1.data_dir.to_str().unwrap(),
        "--docker-api",
        "",
        "--ipalloc-range",
        "",
        "--resolv-conf",
        resolv.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _d = Daemon::start(&h1.ns, &h1.data_dir, &args);
    h1.wait_ready();
    // Names of the weave domain are still ours.
    weave_ok(h1, &["dns-add", "10.2.0.5", "-h", "mine.weave.local"]);
    wait_for("forwarded over UDP", SPREAD, || {
        let got = lookup(h1, "up.example")?;
        if got == set(&["10.7.7.7"]) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
    let tcp = dig(h1, &["+tcp", "+short", "up.example"]);
    assert_eq!(tcp.stdout.trim(), "10.7.7.7", "over TCP: {tcp:?}");
    assert_eq!(lookup(h1, "mine.weave.local").unwrap(), set(&["10.2.0.5"]));
    let upstream = weave_ok(h1, &["status"]);
    assert!(upstream.contains(&format!("Upstream: {up_addr}")), "{upstream}");

    // resolv.conf is followed: without servers, forwarded names fail (SERVFAIL).
    std::fs::write(&resolv, "# none\n").unwrap();
    wait_for("SERVFAIL once resolv.conf names no server", SPREAD, || {
        let (status, _) = status_and_answers(&dig(h1, &["up.example"]));
        if status == "SERVFAIL" {
            Ok(())
        } else {
            Err(status)
        }
    });
}

#[test]
fn garbage_and_floods_do_not_stop_the_server_1() {
    let c = Cluster::new(1);
    let h1 = c.host(0);
    let _d = h1.start_daemon(&["--ipalloc-range", ""]);
    h1.wait_ready();
    weave_ok(h1, &["dns-add", "10.2.0.7", "-h", "still.weave.local"]);
    // Random datagrams, truncated headers, huge section counts, an endless TCP length
    // prefix, and a flood of queries for forwarded names with no upstream.
    let script = r#"
        for i in $(seq 1 300); do head -c $((i * 7 % 1500 + 1)) /dev/urandom > /dev/udp/127.0.0.1/53; done
        printf '\x12\x34\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff' > /dev/udp/127.0.0.1/53
        printf '\x12' > /dev/udp/127.0.0.1/53
        for i in $(seq 1 20); do (printf '\xff\xff'; head -c 3000 /dev/urandom) > /dev/tcp/127.0.0.1/53 & done
        wait
        exit 0
    "#;
    let out = h1.ns.exec("bash", &["-c", script]);
    assert!(out.ok(), "{out:?}");
    // A name far beyond 255 bytes, and a compression pointer to itself.
    let mut long = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for _ in 0..40 {
        long.push(63);
        long.extend_from_slice(&[b'a'; 63]);
    }
    long.extend_from_slice(&[0, 0, 1, 0, 1]);
    let looped = [0x12u8, 0x35, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
    let udpcat = weave_e2e::binary("udpcat");
    for packet in [&long[..], &looped[..]] {
        let hex: String = packet.iter().map(|b| format!("{b:02x}")).collect();
        let out = h1.ns.exec(udpcat.to_str().unwrap(), &["sendhex", "127.0.0.1:53", &hex]);
        assert!(out.ok(), "{out:?}");
    }
    let flood = h1.ns.exec(
        "bash",
        &[
            "-c",
            "for i in $(seq 1 200); do dig @127.0.0.1 +tries=1 +time=1 x$i.example >/dev/null & done; wait",
        ],
    );
    assert!(flood.ok(), "{flood:?}");
    assert_eq!(lookup(h1, "still.weave.local").unwrap(), set(&["10.2.0.7"]));
    let tcp = dig(h1, &["+tcp", "+short", "still.weave.local"]);
    assert_eq!(tcp.stdout.trim(), "10.2.0.7", "{tcp:?}");
    // The API is still there, too.
    assert!(h1.report().is_ok());
}

#[test]
fn weaves_http_endpoints_2() {
    let c = Cluster::new(2);
    let _d = start_all(&c, &[]);
    let (h1, h2) = (c.host(0), c.host(1));
    assert_eq!(h1.http("GET", "/domain"), (200, "weave.local.".to_string()));
    // Listening on 0.0.0.0 and no address on the bridge: loopback, as the contract says.
    assert_eq!(h1.http("GET", "/dns-address"), (200, "127.0.0.1".to_string()));
    assert_eq!(h1.http("GET", "/dns-address-port"), (200, "127.0.0.1:53".to_string()));

    assert_eq!(h1.http("PUT", "/name/ctr1/10.2.5.5?fqdn=legacy.weave.local").0, 204);
    assert_eq!(h1.http("PUT", "/name/ctr1/10.2.5.6?fqdn=legacy.weave.local").0, 204);
    wait_everywhere(&c, "legacy.weave.local", &["10.2.5.5", "10.2.5.6"]);
    assert_eq!(
        h1.http("PUT", "/name/ctr1/notanip?fqdn=x.weave.local"),
        (400, "invalid IP Address: notanip\n".into())
    );
    // Outside the domain: accepted and ignored, as Weave.
    assert_eq!(h1.http("PUT", "/name/ctr1/10.2.5.7?fqdn=www.example.com").0, 204);
    let json = h2.ns.exec("curl", &["-s", "-H", "Accept: application/json", "http://127.0.0.1:6784/name"]);
    assert!(
        json.stdout.contains("\"ContainerID\":\"ctr1\"") && json.stdout.contains("\"Addr\":\"10.2.5.5\""),
        "{json:?}"
    );
    assert!(!json.stdout.contains("example.com"), "{json:?}");
    let text = h2.http("GET", "/status/dns").1;
    assert!(
        text.lines().any(|l| l.starts_with("legacy ") && l.contains("10.2.5.6") && l.contains("ctr1")),
        "{text}"
    );

    // One address, then the rest by container.
    assert_eq!(h1.http("DELETE", "/name/ctr1/10.2.5.5?fqdn=legacy.weave.local").0, 204);
    wait_everywhere(&c, "legacy.weave.local", &["10.2.5.6"]);
    assert_eq!(h1.http("DELETE", "/name/ctr1").0, 204);
    wait_everywhere(&c, "legacy.weave.local", &[]);

    // The JSON API: add, look up, remove.
    let body = r#"{"hostname":"api","addrs":["10.2.6.1"],"container_id":"c9"}"#;
    let add = h2.ns.exec(
        "curl",
        &[
            "-s",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            "http://127.0.0.1:6784/api/v1/dns/entries",
        ],
    );
    assert!(add.stdout.contains("\"hostname\":\"api.weave.local.\""), "{add:?}");
    wait_everywhere(&c, "api.weave.local", &["10.2.6.1"]);
    let (code, info) = h1.http("GET", "/api/v1/dns");
    assert_eq!(code, 200);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["domain"], "weave.local.");
    assert!(info["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["hostname"] == "api.weave.local." && e["origin"] == h2.peer_name()));
    let rm = h2.ns.exec(
        "curl",
        &[
            "-s",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"container_id":"c9"}"#,
            "http://127.0.0.1:6784/api/v1/dns/remove",
        ],
    );
    assert!(rm.stdout.contains("10.2.6.1"), "{rm:?}");
    wait_everywhere(&c, "api.weave.local", &[]);
    // Only the origin changes its entries: removing h2's from h1 removes nothing.
    weave_ok(h2, &["dns-add", "10.2.6.2", "-h", "theirs.weave.local"]);
    wait_everywhere(&c, "theirs.weave.local", &["10.2.6.2"]);
    assert_eq!(h1.http("DELETE", "/name?fqdn=theirs.weave.local").0, 204);
    assert_eq!(lookup(h1, "theirs.weave.local").unwrap(), set(&["10.2.6.2"]));
}

#[test]
fn a_name_removed_during_a_partition_is_gone_after_the_heal_3() {
    let c = Cluster::new(3);
    let _d = start_all(&c, &[]);
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    weave_ok(h1, &["dns-add", "10.4.0.1", "-h", "keep.weave.local"]);
    weave_ok(h1, &["dns-add", "10.4.0.2", "-h", "gone.weave.local"]);
    wait_everywhere(&c, "gone.weave.local", &["10.4.0.2"]);

    // Cut h3 off the underlay until h1 no longer counts it as a peer (h3's own view may lag:
    // its side of a dead connection waits for the heartbeat timeout).
    c.underlay.ip(&["link", "set", "vh3", "down"]);
    wait_for("h1 to forget h3", Duration::from_secs(150), || {
        let peers = h1.peers()?;
        match peers.iter().any(|p| p.name == h3.peer_name()) {
            true => Err(format!("{} peers", peers.len())),
            false => Ok(()),
        }
    });
    weave_ok(h1, &["dns-remove", "10.4.0.2", "-h", "gone.weave.local"]);
    weave_ok(h1, &["dns-add", "10.4.0.3", "-h", "new.weave.local"]);
    wait_for("h2 to see the changes", SPREAD, || {
        let (gone, new) = (lookup(h2, "gone.weave.local")?, lookup(h2, "new.weave.local")?);
        if gone.is_empty() && new == set(&["10.4.0.3"]) {
            Ok(())
        } else {
            Err(format!("gone {gone:?} new {new:?}"))
        }
    });

    // Heal: h3 learns the removal, the new name, and gets back what it dropped with h1.
    c.underlay.ip(&["link", "set", "vh3", "up"]);
    h3.wait_established_to(&[h1, h2], Duration::from_secs(150));
    for (name, want) in [
        ("gone.weave.local", &[][..]),
        ("new.weave.local", &["10.4.0.3"]),
        ("keep.weave.local", &["10.4.0.1"]),
    ] {
        wait_for(&format!("h3 to answer {name} with {want:?} after the heal"), SPREAD, || {
            let got = lookup(h3, name)?;
            if got == set(want) {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        });
    }
}

#[test]
fn a_restarted_daemon_keeps_the_names_of_its_targets_2() {
    let c = Cluster::new(2);
    let mut d = start_all(&c, &[]);
    let (h1, h2) = (c.host(0), c.host(1));
    let kept = container(h1, "kept", "10.2.7.1/16");
    let lost = container(h1, "lost", "10.2.7.2/16");
    weave_ok(h1, &["dns-add", "10.2.7.3", "-h", "removed.weave.local"]);
    weave_ok(h1, &["dns-remove", "10.2.7.3", "-h", "removed.weave.local"]);
    let (kept_name, lost_name) = (fqdn(&kept), fqdn(&lost));
    wait_everywhere(&c, &lost_name, &["10.2.7.2"]);

    // A crash; one target goes away while the daemon is down.
    d[0].kill();
    drop(lost);
    d[0] = h1.start_daemon(&["--ipalloc-range", ""]);
    h1.wait_established_to(&[h2], CONNECT);
    // h1 itself answers again (without its saved names it would tombstone its own entries as
    // the other peer gossips them back), and so does h2; the vanished target's name goes.
    wait_everywhere(&c, &kept_name, &["10.2.7.1"]);
    wait_everywhere(&c, &lost_name, &[]);
    assert_eq!(lookup(h2, "removed.weave.local").unwrap(), set(&[]));
    // And it stays: after the peers have exchanged everything, still there.
    weave_ok(h2, &["dns-add", "10.2.7.9", "-h", "marker.weave.local"]);
    wait_everywhere(&c, "marker.weave.local", &["10.2.7.9"]);
    assert_eq!(lookup(h1, &kept_name).unwrap(), set(&["10.2.7.1"]));
    assert_eq!(lookup(h2, &kept_name).unwrap(), set(&["10.2.7.1"]));
}

#[test]
fn an_outside_client_is_refused_while_the_host_is_answered_1() {
    let c = Cluster::new(1);
    let h1 = c.host(0);
    let _d = h1.start_daemon(&["--ipalloc-range", ""]);
    h1.wait_ready();
    weave_ok(h1, &["dns-add", "10.2.0.9", "-h", "inside.weave.local"]);
    assert_eq!(lookup(h1, "inside.weave.local").unwrap(), set(&["10.2.0.9"]));
    // A namespace routed to the host but on no weave network: weaveDNS is no open resolver.
    let out = h1.outside();
    for transport in ["+notcp", "+tcp"] {
        let q = out.exec("dig", &["@192.168.77.1", "+tries=1", "+time=2", transport, "inside.weave.local"]);
        let (status, answers) = status_and_answers(&q);
        assert!(status == "REFUSED" || status == "none", "{transport}: {}", q.stdout);
        assert_eq!(answers, 0, "{transport}: {}", q.stdout);
        let q = out.exec("dig", &["@192.168.77.1", "+tries=1", "+time=2", transport, "up.example"]);
        assert_eq!(status_and_answers(&q).1, 0, "{transport}: {}", q.stdout);
    }
    // The host itself still is.
    assert_eq!(lookup(h1, "inside.weave.local").unwrap(), set(&["10.2.0.9"]));
}

#[test]
fn a_query_to_a_secondary_address_is_answered_from_it_1() {
    let c = Cluster::new(1);
    let h1 = c.host(0);
    let _d = h1.start_daemon(&["--ipalloc-range", ""]);
    h1.wait_ready();
    weave_ok(h1, &["dns-add", "10.2.0.8", "-h", "second.weave.local"]);
    // dig sends from 127.0.0.1 to 127.0.0.2 and accepts only a reply from 127.0.0.2: a server
    // on 0.0.0.0 that lets the kernel pick the source answers from 127.0.0.1.
    for transport in ["+notcp", "+tcp"] {
        let q = h1
            .ns
            .exec("dig", &["@127.0.0.2", "+tries=1", "+time=2", "+short", transport, "second.weave.local"]);
        assert_eq!(q.stdout.trim(), "10.2.0.8", "{transport}: {q:?}");
    }
}

#[test]
fn names_acknowledged_at_once_survive_a_kill_right_after_1() {
    // Many registrations at once share their writes to disk: every one answered must still be
    // there after a kill -9 straight after the last answer.
    const NAMES: usize = 200;
    let c = Cluster::new(1);
    let h1 = c.host(0);
    let mut d = h1.start_daemon(&["--ipalloc-range", ""]);
    h1.wait_ready();
    let urls: String = (1..=NAMES)
        .map(|i| {
            format!(
                "url = \"http://127.0.0.1:6784/name/weave:extern/10.2.{}.{}?fqdn=ack-{i}.weave.local\"\n",
                i / 200,
                i % 200 + 1
            )
        })
        .collect();
    let config = h1.data_dir.join("names.curl");
    std::fs::write(&config, urls).unwrap();
    let out = h1.ns.exec(
        "curl",
        &[
            "-s",
            "-Z",
            "--parallel-max",
            "32",
            "-X",
            "PUT",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}\n",
            "-K",
            config.to_str().unwrap(),
        ],
    );
    let acked = out.stdout.lines().filter(|l| *l == "204").count();
    assert_eq!(acked, NAMES, "{out:?}");
    d.kill();

    let _d = h1.start_daemon(&["--ipalloc-range", ""]);
    h1.wait_ready();
    let (code, body) = h1.http("GET", "/api/v1/dns");
    assert_eq!(code, 200, "{body}");
    let info: weave_api::DnsInfo = serde_json::from_str(&body).unwrap();
    let live: BTreeSet<String> =
        info.entries.iter().filter(|e| e.tombstone == 0).map(|e| e.hostname.clone()).collect();
    let missing: Vec<String> =
        (1..=NAMES).map(|i| format!("ack-{i}.weave.local.")).filter(|n| !live.contains(n)).collect();
    assert!(missing.is_empty(), "lost after the kill: {missing:?}");
    assert_eq!(lookup(h1, &format!("ack-{NAMES}.weave.local")).unwrap(), set(&["10.2.1.1"]));
}
