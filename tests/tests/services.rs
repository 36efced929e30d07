//! Services end to end: `weave service export|import|bind|ls|rm` over namespaces. Servers and
//! clients are the `svcecho` helper, whose answer names the server and the client address it
//! saw, so each test also asserts where the traffic came from.

use std::time::Duration;
use weave_api::{Service, ServiceState};
use weave_e2e::svcecho::{ask, serve};
use weave_e2e::{ethwe_addrs, wait_for, wait_until, Cluster, Host, Netns};

const CONNECT: Duration = Duration::from_secs(30);
const SETTLE: Duration = Duration::from_secs(20);
/// Long enough for the services' periodic check (every 10 s, probes of up to 3 s) twice over.
const RECHECKED: Duration = Duration::from_secs(40);

/// Waits until `ns` gets an answer from `to` starting with `tag`; returns it.
fn reaches(ns: &Netns, proto: &str, to: &str, tag: &str) -> String {
    wait_for(&format!("{} reaches {proto} {to}", ns.name), SETTLE, || {
        let a = ask(ns, proto, to)?;
        if a.starts_with(&format!("{tag} ")) {
            Ok(a)
        } else {
            Err(a)
        }
    })
}

/// In the default allocation range, 10.32.0.0/12 (which peer owns which part varies per run).
fn in_weave_range(addr: &str) -> bool {
    addr.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.octets()[0] == 10 && (32..48).contains(&a.octets()[1]))
}

fn ip(cidr: &str) -> String {
    cidr.split('/').next().unwrap_or_default().to_string()
}

/// `weave service ARGS`, which must succeed: its id and weave address.
fn service(h: &Host, args: &[&str]) -> (String, String) {
    let mut full = vec!["service"];
    full.extend_from_slice(args);
    let out = h.weave(&full);
    assert!(out.ok(), "weave service {args:?}: {out:?}");
    let mut words = out.stdout.split_whitespace();
    (words.next().unwrap_or_default().to_string(), words.next().unwrap_or_default().to_string())
}

fn services(h: &Host) -> Vec<Service> {
    let out = h.weave(&["service", "ls", "-o", "json"]);
    assert!(out.ok(), "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn nft_table(h: &Host) -> String {
    h.ns.exec("nft", &["list", "table", "ip", "weave_services"]).stdout
}

/// A namespace on the underlay alone (10.99.0.200/24): no route to the weave network.
fn underlay_client(c: &Cluster) -> Netns {
    let ns = Netns::new("cl");
    c.underlay.ip(&["link", "add", "vcl", "type", "veth", "peer", "name", "eth0", "netns", &ns.name]);
    c.underlay.ip(&["link", "set", "vcl", "master", "br0", "up"]);
    ns.ip(&["addr", "add", "10.99.0.200/24", "dev", "eth0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns
}

fn dig(h: &Host, name: &str) -> String {
    h.ns.exec("dig", &["@127.0.0.1", "+short", "+tries=1", "+time=1", name]).stdout.trim().to_string()
}

#[test]
fn export_publishes_a_remote_containers_tcp_and_udp_service_to_the_underlay_and_rm_stops_it_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&[&h2.addr.to_string()]);
    let _d2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h1.wait_established_to(&[h2], CONNECT);
    let web = h2.container("web", &[]);
    let web_ip = ip(&ethwe_addrs(&web)[0]);
    let _tcp = serve(&web, "tcp", 80, "web");
    let _udp = serve(&web, "udp", 53, "dns");
    let client = underlay_client(&c);
    let mut events = h1.events();
    assert!(ask(&client, "tcp", "10.99.0.1:8080").is_err(), "nothing published yet");

    // The target is a container on the other host, named by its weave address.
    let (tcp_id, via) = service(h1, &["export", &format!("{web_ip}:80"), "--publish", "8080"]);
    let (udp_id, via_udp) =
        service(h1, &["export", &format!("{web_ip}:53/udp"), "--publish", "10.99.0.1:5353"]);
    assert!(tcp_id.starts_with("svc-") && in_weave_range(&via), "{tcp_id} {via}");
    let added = events.wait_line("\"type\":\"service_added\"");
    assert!(added.contains(&tcp_id) || added.contains(&udp_id), "{added}");

    // The client sees the service; the service sees the exporting host's weave address.
    let a = reaches(&client, "tcp", "10.99.0.1:8080", "web");
    assert!(a.starts_with(&format!("web {via}:")), "the target sees the host's own weave address: {a}");
    let a = reaches(&client, "udp", "10.99.0.1:5353", "dns");
    assert!(a.starts_with(&format!("dns {via_udp}:")), "{a}");
    // Hairpin: the exporting host itself, at its own address.
    reaches(&h1.ns, "tcp", "10.99.0.1:8080", "web");
    // The same request again is the same service.
    assert_eq!(service(h1, &["export", &format!("{web_ip}:80"), "--publish", "8080"]).0, tcp_id);

    let list = services(h1);
    assert_eq!(list.len(), 2, "{list:?}");
    let tcp = list.iter().find(|s| s.id == tcp_id).unwrap();
    assert_eq!(
        (tcp.state, tcp.target_address.as_deref(), tcp.publish_port),
        (ServiceState::Active, Some(web_ip.as_str()), Some(8080))
    );
    let status = h1.weave(&["status"]).stdout;
    assert!(
        status.contains("Service: services") && status.contains("Services: 2 (2 active, 0 broken)"),
        "{status}"
    );
    let report = h1.report().unwrap();
    assert_eq!(report.services.len(), 2);
    assert_eq!(h1.status().unwrap().services.active, 2);
    // The exporting host's addresses do not show as exposed, and `weave hide` leaves them.
    assert!(!h1.weave(&["ps"]).stdout.lines().next().unwrap_or_default().contains(&via), "weave ps");
    assert!(h1.weave(&["hide"]).ok());
    reaches(&client, "tcp", "10.99.0.1:8080", "web");

    let rm = h1.weave(&["service", "rm", &tcp_id]);
    assert!(rm.ok() && rm.stdout.trim() == tcp_id, "{rm:?}");
    events.wait_line("\"type\":\"service_removed\"");
    wait_until("the TCP export stops answering", SETTLE, || ask(&client, "tcp", "10.99.0.1:8080").is_err());
    reaches(&client, "udp", "10.99.0.1:5353", "dns");
    assert!(!nft_table(h1).contains("8080"), "{}", nft_table(h1));

    // The container on the other host goes: the export stays, broken with the reason (nothing
    // answers ARP at its address any more), and comes back with it.
    let web_cidr = ethwe_addrs(&web)[0].clone();
    assert!(h2.weave(&["detach", &format!("netns:{}", web.name)]).ok());
    let broken = wait_for("the export of a gone remote container is broken", RECHECKED, || {
        let s = services(h1).into_iter().find(|s| s.id == udp_id).unwrap();
        if s.state == ServiceState::Broken {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    });
    assert!(
        broken.reason.as_deref().unwrap_or_default().contains(&format!("answers at {web_ip}")),
        "{broken:?}"
    );
    assert!(h1.weave(&["service", "ls"]).stdout.contains("broken: "));
    assert!(h2.attach(&web, &[&web_cidr]).ok());
    wait_until("the export is active again", RECHECKED, || {
        services(h1).iter().any(|s| s.id == udp_id && s.state == ServiceState::Active)
    });
    reaches(&client, "udp", "10.99.0.1:5353", "dns");
    assert!(h1.weave(&["service", "rm", &udp_id]).ok());
    assert!(nft_table(h1).is_empty(), "no service, no NAT table: {}", nft_table(h1));
    let gone = h1.weave(&["service", "rm", &udp_id]);
    assert!(gone.code == 1 && gone.stderr.contains("no service"), "{gone:?}");
    let ipam = h1.http("GET", "/api/v1/ipam/allocations").1;
    assert!(!ipam.contains("weave:service:"), "the addresses went back to IPAM: {ipam}");
}

#[test]
fn an_export_of_a_local_target_breaks_with_it_follows_it_to_a_new_address_and_survives_kill_9_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let flags = ["--ipalloc-init".to_string(), format!("seed={}", h.peer_name())];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut d = h.start_daemon(&flags);
    h.wait_ready();
    let web = h.container("web", &["10.32.0.7/12"]);
    let _srv = serve(&web, "tcp", 80, "web");
    let client = underlay_client(&c);
    let (id, via) = service(h, &["export", &format!("netns:{}:80", web.name), "--publish", "8080"]);
    let a = reaches(&client, "tcp", "10.99.0.1:8080", "web");
    assert!(a.starts_with(&format!("web {via}:")), "{a}");

    // The target goes: the export stays, broken with the reason, and stops answering.
    let mut events = h.events();
    assert!(h.weave(&["detach", &format!("netns:{}", web.name)]).ok());
    let changed = events.wait_line("\"type\":\"service_changed\"");
    assert!(changed.contains(&id) && changed.contains("broken"), "{changed}");
    let s = services(h).pop().unwrap();
    assert_eq!((s.id.as_str(), s.state), (id.as_str(), ServiceState::Broken));
    assert!(s.reason.as_deref().unwrap_or_default().contains("not attached"), "{s:?}");
    wait_until("the broken export stops answering", SETTLE, || {
        ask(&client, "tcp", "10.99.0.1:8080").is_err()
    });

    // It comes back at another address: the export follows it.
    assert!(h.attach(&web, &["10.32.0.9/12"]).ok());
    wait_until("the export is active at the new address", SETTLE, || {
        let s = services(h).pop().unwrap();
        s.state == ServiceState::Active && s.target_address.as_deref() == Some("10.32.0.9")
    });
    reaches(&client, "tcp", "10.99.0.1:8080", "web");
    let table = nft_table(h);
    assert!(table.contains("10.32.0.9") && !table.contains("10.32.0.7"), "{table}");

    // kill -9 with the rules gone from the kernel meanwhile: the next daemon puts them back.
    d.kill();
    assert!(h.ns.exec("nft", &["delete", "table", "ip", "weave_services"]).ok());
    assert!(ask(&client, "tcp", "10.99.0.1:8080").is_err(), "gone with the rules");
    let _d = h.start_daemon(&flags);
    h.wait_ready();
    let s = services(h).pop().unwrap();
    assert_eq!((s.id.as_str(), s.target_address.as_deref()), (id.as_str(), Some("10.32.0.9")));
    reaches(&client, "tcp", "10.99.0.1:8080", "web");
}

#[test]
fn import_reaches_an_outside_service_from_every_host_by_address_and_name_across_restarts_3() {
    let c = Cluster::new(3);
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    let peers = |h: &Host| -> Vec<String> {
        c.hosts().iter().filter(|o| o.index != h.index).map(|o| o.addr.to_string()).collect()
    };
    let start = |h: &Host| {
        let p = peers(h);
        h.start_daemon(&p.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let _d1 = start(h1);
    let mut d2 = start(h2);
    let _d3 = start(h3);
    h2.wait_established_to(&[h1, h3], CONNECT);
    // The outside service: reachable from host 2 only (192.168.77.2, linked to host 2).
    let outside = h2.outside();
    let _srv = serve(&outside, "tcp", 8000, "ext");
    assert!(ask(&h1.ns, "tcp", "192.168.77.2:8000").is_err(), "host 1 has no way to it");
    let c1 = h1.container("c1", &[]);
    let c3 = h3.container("c3", &[]);

    let (id, w) = service(h2, &["import", "192.168.77.2:8000", "--as", "80", "-h", "ext"]);
    assert!(in_weave_range(&w), "from IPAM: {w}");
    let to = format!("{w}:80");
    let a = reaches(&c1, "tcp", &to, "ext");
    assert!(a.starts_with("ext 192.168.77.1:"), "the outside sees host 2 (masqueraded): {a}");
    reaches(&c3, "tcp", &to, "ext");
    // By name, on every host.
    for h in [h1, h3] {
        wait_until(&format!("ext.weave.local on {}", h.nickname()), SETTLE, || {
            dig(h, "ext.weave.local") == w
        });
    }
    reaches(&c3, "tcp", &format!("{}:80", dig(h3, "ext.weave.local")), "ext");
    // Host 2 itself reaches it at its weave address too.
    reaches(&h2.ns, "tcp", &to, "ext");
    // UDP as well.
    let _srv_udp = serve(&outside, "udp", 5300, "extu");
    let (_, wu) = service(h2, &["import", "192.168.77.2:5300/udp", "--as", "53"]);
    let a = reaches(&c3, "udp", &format!("{wu}:53"), "extu");
    assert!(a.starts_with("extu 192.168.77.1:"), "the outside sees host 2 (masqueraded): {a}");

    // weave stop + launch: the rules stay in the kernel meanwhile, and the service is restored.
    assert!(h2.weave(&["stop"]).ok());
    assert_eq!(d2.wait_exit(Duration::from_secs(20)), Some(0));
    reaches(&c1, "tcp", &to, "ext");
    d2 = start(h2);
    h2.wait_ready();
    let list = services(h2);
    assert_eq!(list.len(), 2, "{list:?}");
    let tcp = list.iter().find(|s| s.id == id).unwrap();
    assert_eq!(tcp.state, ServiceState::Active);
    reaches(&c1, "tcp", &to, "ext");

    // kill -9, and the kernel loses the service's rules and address meanwhile: the next daemon
    // puts them back from the database.
    d2.kill();
    assert!(h2.ns.exec("nft", &["delete", "table", "ip", "weave_services"]).ok());
    h2.ns.ip(&["addr", "del", &format!("{w}/12"), "dev", "weave"]);
    assert!(ask(&c1, "tcp", &to).is_err(), "gone with the rules");
    let _d2 = start(h2);
    h2.wait_ready();
    reaches(&c1, "tcp", &to, "ext");
    reaches(&c3, "tcp", &to, "ext");
    reaches(&c1, "udp", &format!("{wu}:53"), "extu");
    assert_eq!(dig(h1, "ext.weave.local"), w);
}

#[test]
fn bind_answers_at_the_bound_address_on_every_host_and_at_the_targets_own_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let mut d1 = h1.start_daemon(&[&h2.addr.to_string()]);
    let _d2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h1.wait_established_to(&[h2], CONNECT);
    let web = h1.container("web", &[]);
    let web_ip = ip(&ethwe_addrs(&web)[0]);
    let _srv = serve(&web, "tcp", 8080, "web");
    let c1 = h1.container("c1", &[]);
    let c2 = h2.container("c2", &[]);
    let c2_ip = ip(&ethwe_addrs(&c2)[0]);

    let target = format!("netns:{}:8080", web.name);
    let (id, w) = service(h1, &["bind", &target, "--as", "10.32.9.9:80", "-h", "www"]);
    assert_eq!(w, "10.32.9.9");
    let a = reaches(&c2, "tcp", "10.32.9.9:80", "web");
    assert!(a.starts_with(&format!("web {c2_ip}:")), "the target sees its real client: {a}");
    reaches(&c1, "tcp", "10.32.9.9:80", "web");
    reaches(&c2, "tcp", &format!("{web_ip}:8080"), "web");
    wait_until("www.weave.local on host 2", SETTLE, || dig(h2, "www.weave.local") == "10.32.9.9");
    assert!(nft_table(h1).is_empty(), "a bind needs nothing on the host");

    // kill -9: the bind lives in the target's namespace and answers all the same (from the
    // same host: across hosts sleeve needs the daemon); the next daemon finds it in force.
    d1.kill();
    reaches(&c1, "tcp", "10.32.9.9:80", "web");
    let _d1 = h1.start_daemon(&[&h2.addr.to_string()]);
    h1.wait_established_to(&[h2], CONNECT);
    let s = services(h1).pop().unwrap();
    assert_eq!((s.id.as_str(), s.state), (id.as_str(), ServiceState::Active));
    reaches(&c2, "tcp", "10.32.9.9:80", "web");

    // The target goes: the service stays, broken, with the reason; it comes back with it.
    let mut events = h1.events();
    assert!(h1.weave(&["detach", &format!("netns:{}", web.name)]).ok());
    let changed = events.wait_line("\"type\":\"service_changed\"");
    assert!(changed.contains(&id) && changed.contains("broken"), "{changed}");
    let s = services(h1).pop().unwrap();
    assert_eq!(s.state, ServiceState::Broken);
    assert!(s.reason.as_deref().unwrap_or_default().contains("not attached"), "{s:?}");
    assert!(h1.weave(&["service", "ls"]).stdout.contains("broken: "));
    assert!(ask(&c2, "tcp", "10.32.9.9:80").is_err());
    assert!(h1.attach(&web, &[]).ok());
    wait_until("the bind is active again", SETTLE, || services(h1)[0].state == ServiceState::Active);
    reaches(&c2, "tcp", "10.32.9.9:80", "web");
    assert!(h1.weave(&["service", "rm", &id]).ok());
    wait_until("the bound address is gone", SETTLE, || ask(&c2, "tcp", "10.32.9.9:80").is_err());
    reaches(&c2, "tcp", &format!("{}:8080", ip(&ethwe_addrs(&web)[0])), "web");
}

#[test]
fn routing_joins_two_separate_networks_with_overlapping_addresses_2() {
    let c = Cluster::new(2);
    let (ha, hb) = (c.host(0), c.host(1));
    // No mesh connection: each its own network, the same range, each its own seed.
    let _da = ha.start_daemon(&["--ipalloc-init", &format!("seed={}", ha.peer_name()), "--no-discovery"]);
    let _db = hb.start_daemon(&["--ipalloc-init", &format!("seed={}", hb.peer_name()), "--no-discovery"]);
    ha.wait_ready();
    hb.wait_ready();
    let client = ha.container("client", &["10.32.0.10/12"]);
    let server = hb.container("server", &["10.32.0.10/12"]);
    let _other = ha.container("decoy", &["10.32.0.11/12"]);
    let _srv = serve(&server, "tcp", 80, "B");
    assert_eq!(ha.status().unwrap().router.connections.established, 0, "no mesh between the two");

    // Network B exports its service on host B's underlay address; network A imports it.
    service(hb, &["export", &format!("netns:{}:80", server.name), "--publish", "9000"]);
    let (_, w) = service(ha, &["import", "10.99.0.2:9000", "--as", "10.32.5.5:80", "-h", "b-svc"]);
    assert_eq!(w, "10.32.5.5");
    let a = reaches(&client, "tcp", "10.32.5.5:80", "B");
    let seen = a.split_whitespace().nth(1).and_then(|s| s.split(':').next()).unwrap_or_default();
    assert!(in_weave_range(seen), "B's server sees host B's weave address in network B: {a}");
    wait_until("the imported name", SETTLE, || dig(ha, "b-svc.weave.local") == "10.32.5.5");
}

#[test]
fn bad_input_is_refused_with_the_reason_and_nothing_half_applied_and_reset_removes_it_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = h.start_daemon(&["--ipalloc-init", &format!("seed={}", h.peer_name())]);
    h.wait_ready();
    let web = h.container("web", &["10.32.0.7/12"]);
    let t = |port: &str| format!("netns:{}:{port}", web.name);
    let (good, _) = service(h, &["export", &t("80"), "--publish", "8080"]);
    let before_table = nft_table(h);
    let before_bridge = h.weave(&["ps"]).stdout;
    let before_ipam = h.http("GET", "/api/v1/ipam/allocations").1;

    let refused = |args: &[&str], says: &str| {
        let mut full = vec!["service"];
        full.extend_from_slice(args);
        let out = h.weave(&full);
        assert!(out.code == 1 && out.stderr.contains(says), "{args:?} should fail saying {says:?}: {out:?}");
    };
    refused(&["export", "netns:nosuch-x:80", "--publish", "81"], "no target netns:nosuch-x");
    refused(&["export", &t("70000"), "--publish", "81"], "port 70000 is out of range");
    refused(&["export", &t("80"), "--publish", "0"], "publish port 0 is out of range");
    refused(&["export", &t("81"), "--publish", "8080"], "tcp port 8080 is published already");
    refused(
        &["import", "192.168.1.1:80", "--as", "10.200.0.1:80"],
        "outside the weave network's range 10.32.0.0/12",
    );
    refused(&["import", "192.168.1.1:80", "--as", "10.32.0.7:80"], "10.32.0.7");
    refused(&["import", "127.0.0.1:80", "--as", "80"], "address 127.0.0.1 is a loopback address");
    refused(&["import", "192.168.1.1:80", "--as", "80", "-h", "x.example.com"], "outside the DNS domain");
    refused(&["bind", "10.32.0.7:80", "--as", "81"], "bind needs a target attached on this host");
    refused(&["rm", "svc-nosuch"], "no service svc-nosuch");

    let list = services(h);
    assert_eq!(list.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [good.as_str()]);
    assert_eq!(nft_table(h), before_table, "the rules are as they were");
    assert_eq!(h.weave(&["ps"]).stdout, before_bridge, "no address was left behind");
    assert_eq!(h.http("GET", "/api/v1/ipam/allocations").1, before_ipam, "nothing stays allocated");

    let reset = h.weave(&["reset"]);
    assert!(reset.ok(), "{reset:?}");
    assert!(nft_table(h).is_empty(), "reset removes the services' rules");
    let _d = h.start_daemon(&["--ipalloc-init", &format!("seed={}", h.peer_name())]);
    h.wait_ready();
    assert!(services(h).is_empty(), "and their records");
}
