//! The policy rules in a real kernel: a host namespace with a `weave` bridge and three
//! containers on it, the policy model rendered by the enforcer into nftables, and real
//! TCP and UDP connections that must pass or not. Checks replies through connection tracking,
//! incremental target changes, the drop log and counters, and that a failed nft transaction
//! leaves the rules in force.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;
use weave_netdev::Netns;
use weave_policy::{Direction, ElemChange, Model, Target};
use weave_policy_service::{drops, enforce::Enforcer};

/// A namespace deleted on drop.
struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Ns {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("wp{}x{n}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        assert!(Command::new("ip").args(["netns", "add", &name]).status().unwrap().success());
        let ns = Ns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let st = Command::new("ip").arg("-n").arg(&self.0).args(args).status().unwrap();
        assert!(st.success(), "ip -n {} {args:?}", self.0);
    }

    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        Netns::named(&self.0).unwrap().run(f).unwrap()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

struct Lab {
    host: Ns,
    containers: Vec<(Ns, Ipv4Addr)>,
}

/// A host with bridge `weave` and containers at 10.32.0.1.. on it.
fn lab(n: usize) -> Lab {
    let host = Ns::new("host");
    host.ip(&["link", "add", "weave", "type", "bridge"]);
    host.ip(&["link", "set", "weave", "up"]);
    let mut containers = Vec::new();
    for i in 1..=n {
        let c = Ns::new(&format!("c{i}"));
        let (hv, cv) = (format!("vethwepl{i}"), format!("ethwe{i}"));
        host.ip(&["link", "add", &hv, "type", "veth", "peer", "name", &cv, "netns", &c.0]);
        host.ip(&["link", "set", &hv, "master", "weave", "up"]);
        c.ip(&["link", "set", &cv, "name", "ethwe"]);
        c.ip(&["addr", "add", &format!("10.32.0.{i}/12"), "dev", "ethwe"]);
        c.ip(&["link", "set", "ethwe", "up"]);
        containers.push((c, Ipv4Addr::new(10, 32, 0, i as u8)));
    }
    Lab { host, containers }
}

fn target(id: &str, app: &str, addr: Ipv4Addr) -> Target {
    Target {
        id: id.into(),
        namespace: "default".into(),
        labels: [("app".to_string(), app.to_string())].into(),
        addrs: vec![addr],
        host: "h".into(),
        ..Default::default()
    }
}

const WAIT: Duration = Duration::from_millis(700);

/// Whether a TCP connection from `from` to `to:port` completes and carries a byte each way.
fn tcp(from: &Ns, to: &Ns, addr: Ipv4Addr, port: u16) -> bool {
    let listener = to.run(|| TcpListener::bind(("0.0.0.0", port)).unwrap());
    listener.set_nonblocking(true).unwrap();
    let client = from.run(|| TcpStream::connect_timeout(&SocketAddr::from((addr, port)), WAIT));
    let Ok(mut client) = client else { return false };
    client.set_read_timeout(Some(WAIT)).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let mut server = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return false,
        }
    };
    server.set_nonblocking(false).unwrap();
    server.set_read_timeout(Some(WAIT)).unwrap();
    let mut b = [0u8; 1];
    client.write_all(b"q").is_ok()
        && server.read_exact(&mut b).is_ok()
        && server.write_all(b"r").is_ok()
        && client.read_exact(&mut b).is_ok()
}

/// Whether a UDP request from `from` reaches `to:port` and its reply comes back.
fn udp(from: &Ns, to: &Ns, addr: Ipv4Addr, port: u16) -> bool {
    let server = to.run(|| UdpSocket::bind(("0.0.0.0", port)).unwrap());
    server.set_read_timeout(Some(WAIT)).unwrap();
    let client = from.run(|| UdpSocket::bind("0.0.0.0:0").unwrap());
    client.set_read_timeout(Some(WAIT)).unwrap();
    client.send_to(b"q", (addr, port)).unwrap();
    let mut b = [0u8; 8];
    let Ok((_, peer)) = server.recv_from(&mut b) else { return false };
    server.send_to(b"r", peer).unwrap();
    client.recv_from(&mut b).is_ok()
}

fn counter(lab: &Lab, name: &str) -> u64 {
    let all = lab.host.run(Enforcer::counters).unwrap();
    all.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no counter {name} in {all:?}")).packets
}

fn table_exists(lab: &Lab) -> bool {
    lab.host.run(|| weave_netdev::nft::table_exists("inet", "weave_policy"))
}

const POLICIES: &str = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-closed}
spec:
  podSelector: {matchLabels: {app: web}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-web}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 5432}, {port: 53, protocol: UDP}]
";

#[test]
fn policy_enforced_on_a_bridge_with_replies_increments_drops_and_atomic_failure_1() {
    let lab = lab(4);
    let [(web, web_ip), (db, db_ip), (client, client_ip), (web2, web2_ip)] = &lab.containers[..] else {
        unreachable!()
    };
    let mut model = Model::new("h");
    model.upsert_target(target("web", "web", *web_ip));
    model.upsert_target(target("db", "db", *db_ip));
    model.upsert_target(target("client", "client", *client_ip));
    let mut enforcer = Enforcer::new();

    // No policy: no table, everything open.
    lab.host.run(|| enforcer.sync(&model.kernel_view())).unwrap();
    assert!(!table_exists(&lab));
    assert!(tcp(client, db, *db_ip, 5432));

    model.set_policies(weave_policy::parse(POLICIES).unwrap());
    lab.host.run(|| enforcer.sync(&model.kernel_view())).unwrap();
    assert!(table_exists(&lab));
    let log = lab.host.run(|| weave_netdev::nflog::Nflog::bind(86, 64)).unwrap();

    // Allowed, with replies into a target whose ingress is closed (connection tracking).
    assert!(tcp(web, db, *db_ip, 5432), "web -> db:5432 is allowed");
    assert!(udp(web, db, *db_ip, 53), "web -> db:53/udp is allowed and its reply returns");
    // Denied: wrong source, wrong port, wrong protocol, and anything new into web.
    assert!(!tcp(client, db, *db_ip, 5432), "client -> db is denied");
    assert!(!tcp(web, db, *db_ip, 5433), "web -> db:5433 is denied");
    assert!(!udp(web, db, *db_ip, 5432), "web -> db:5432/udp is denied");
    assert!(!tcp(db, web, *web_ip, 80), "db -> web is denied (web-closed)");
    // Open: client's ingress is not isolated.
    assert!(tcp(db, client, *client_ip, 80));
    assert!(counter(&lab, "p2_i0") >= 2, "the allowing rule counted");
    assert!(counter(&lab, "p2_drop_i") >= 3, "db's isolating policy counted its drops");
    assert!(counter(&lab, "p1_drop_i") >= 1);

    // The drop log: the first logged drop is client -> db:5432, isolated by db-from-web.
    let mut log = log;
    let first = lab.host.run(move || {
        let p = log.recv().unwrap();
        (p, log)
    });
    let (packets, _log) = first;
    let rec = drops::record(&model, &packets[0].prefix, &packets[0].payload, 0).expect("a drop record");
    assert_eq!(
        (rec.src, rec.dst, rec.protocol, rec.port, rec.direction),
        (*client_ip, *db_ip, 6, Some(5432), Direction::Ingress)
    );
    assert_eq!(rec.isolating[0].name, "db-from-web");

    // A new web container: covered by element changes alone.
    assert!(!tcp(web2, db, *db_ip, 5432));
    let changes = model.upsert_target(target("web2", "web", *web2_ip));
    assert!(!changes.is_empty());
    lab.host.run(|| enforcer.apply(&changes)).unwrap();
    assert!(tcp(web2, db, *db_ip, 5432), "web2 is allowed once its labels are known");
    assert!(!tcp(db, web2, *web2_ip, 80), "and isolated like web");
    let changes = model.remove_target("web2");
    lab.host.run(|| enforcer.apply(&changes)).unwrap();
    assert!(!tcp(web2, db, *db_ip, 5432));

    // A failing transaction changes nothing: the rules in force stay.
    let bad = vec![
        ElemChange { set: "iso_in".into(), elem: weave_policy::Elem::Addr(*client_ip), add: true },
        ElemChange { set: "no_such_set".into(), elem: weave_policy::Elem::Addr(*client_ip), add: true },
    ];
    assert!(lab.host.run(|| enforcer.apply(&bad)).is_err());
    assert!(tcp(db, client, *client_ip, 80), "client's ingress is still open");
    assert!(tcp(web, db, *db_ip, 5432));

    // Policies gone: the table goes, and with it connection tracking's cost.
    model.set_policies(vec![]);
    lab.host.run(|| enforcer.sync(&model.kernel_view())).unwrap();
    assert!(!table_exists(&lab));
    assert!(tcp(client, db, *db_ip, 5432));
}

#[test]
fn policy_change_rebuilds_rules_in_one_transaction_1() {
    let lab = lab(2);
    let [(a, a_ip), (b, b_ip)] = &lab.containers[..] else { unreachable!() };
    let mut model = Model::new("h");
    model.upsert_target(target("a", "a", *a_ip));
    model.upsert_target(target("b", "b", *b_ip));
    let mut enforcer = Enforcer::new();
    let p = |port: u16| {
        weave_policy::parse(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: b}}\nspec:\n  podSelector: {{matchLabels: {{app: b}}}}\n  ingress: [{{ports: [{{port: {port}}}], from: [{{ipBlock: {{cidr: 10.32.0.0/24, except: [10.32.0.128/25]}}}}]}}]\n"
        ))
        .unwrap()
    };
    model.set_policies(p(80));
    lab.host.run(|| enforcer.sync(&model.kernel_view())).unwrap();
    assert!(tcp(a, b, *b_ip, 80));
    assert!(!tcp(a, b, *b_ip, 81));
    model.set_policies(p(81));
    lab.host.run(|| enforcer.sync(&model.kernel_view())).unwrap();
    assert!(!tcp(a, b, *b_ip, 80));
    assert!(tcp(a, b, *b_ip, 81));
    // The counter of the changed rule survived the rebuild under the same name.
    assert!(counter(&lab, "p1_i0") >= 2);
}

fn policy_yaml(name: &str, port: u16) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  podSelector: {{matchLabels: {{app: db}}}}\n  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: web}}}}}}], ports: [{{port: {port}}}]}}]\n"
    )
}

fn names(svc: &weave_policy_service::service::PolicyService) -> Vec<String> {
    svc.list().into_iter().map(|p| p.id.to_string()).collect()
}

/// Two hosts' policy services: one applies, the other takes the gossip and enforces; a
/// restart restores from the store; a partition with writes on both sides heals to one state.
#[test]
fn policy_service_gossip_restart_and_partition_heal_2() {
    use weave_policy_service::service::PolicyService;
    let (h1, h2) = (lab(2), lab(2));
    let dir = std::env::temp_dir().join(format!("weave-policy-svc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store1 = weave_store::Store::open(&dir.join("h1.db")).unwrap();
    let s1 = PolicyService::new("h1", Some(store1.clone()));
    let s2 = PolicyService::new("h2", None);
    let [(web, web_ip), _] = &h1.containers[..] else { unreachable!() };
    let [(_, _), (db, db_ip)] = &h2.containers[..] else { unreachable!() };
    // web lives on h1, db on h2; each host announces its own target.
    let on = |mut t: Target, host: &str| {
        t.host = host.into();
        t
    };
    let d = h1.host.run(|| s1.target_up(on(target("web", "web", *web_ip), "h1"))).unwrap();
    h2.host.run(|| s2.on_gossip(&d)).unwrap();
    let d = h2.host.run(|| s2.target_up(on(target("db", "db", *db_ip), "h2"))).unwrap();
    h1.host.run(|| s1.on_gossip(&d)).unwrap();

    // Applied on h1: enforced on h2 once the delta arrives (db's ingress lives there).
    let (ids, delta) = h1.host.run(|| s1.apply(&policy_yaml("db-in", 5432))).unwrap();
    assert_eq!(ids[0].to_string(), "default/db-in");
    assert!(h2.host.run(|| s2.on_gossip(&delta)).unwrap().is_some());
    assert!(h2.host.run(|| weave_netdev::nft::table_exists("inet", "weave_policy")));
    let v = s2.why(*web_ip, *db_ip, 6, Some(5432));
    assert!(v.allowed(), "{v:?}");
    assert!(!s2.why(*web_ip, *db_ip, 6, Some(22)).allowed());
    // The same gossip again is nothing new.
    assert!(h2.host.run(|| s2.on_gossip(&delta)).unwrap().is_none());
    // Bad input changes nothing.
    assert!(s1.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec: {podSelector: {}, policyTypes: [Up]}\n").is_err());
    assert_eq!(names(&s1), ["default/db-in"]);

    // Restart h1 from its store: same policies, same targets.
    s1.flush();
    drop(s1);
    let s1 = PolicyService::new("h1", Some(store1));
    assert_eq!(names(&s1), ["default/db-in"]);
    assert!(s1.why(*web_ip, *db_ip, 6, Some(5432)).allowed());

    // Partition: each side writes; then full states cross and both agree.
    h1.host.run(|| s1.apply(&policy_yaml("only-h1", 1))).unwrap();
    h2.host.run(|| s2.apply(&policy_yaml("db-in", 6000))).unwrap();
    let (f1, f2) = (s1.gossip(), s2.gossip());
    h1.host.run(|| s1.on_gossip(&f2)).unwrap();
    h2.host.run(|| s2.on_gossip(&f1)).unwrap();
    assert_eq!(names(&s1), names(&s2));
    assert_eq!(names(&s1), ["default/db-in", "default/only-h1"]);
    for s in [&s1, &s2] {
        assert!(s.why(*web_ip, *db_ip, 6, Some(6000)).allowed(), "the later write of db-in wins everywhere");
        assert!(!s.why(*web_ip, *db_ip, 6, Some(5432)).allowed());
    }
    // And the kernel on h2 enforces the healed state: db takes web's connections on 6000 only.
    let _ = (web, db);
    let id = weave_policy::PolicyId { namespace: "default".into(), name: "only-h1".into() };
    let d = h1.host.run(|| s1.delete(&id)).unwrap();
    h2.host.run(|| s2.on_gossip(&d)).unwrap();
    assert_eq!(names(&s2), ["default/db-in"]);
    assert!(matches!(s1.delete(&id), Err(weave_policy_service::service::ServiceError::NotFound(_))));
    let _ = std::fs::remove_dir_all(&dir);
}
