//! `weave expose` and `weave hide`: the host's own address on the weave network, its DNS name,
//! and Weave's NAT for traffic between the weave network and the rest of the world.

use std::time::Duration;
use weave_e2e::{ethwe_addrs, wait_for, wait_until, Cluster, Host, Netns};

const CONNECT: Duration = Duration::from_secs(30);
const SETTLE: Duration = Duration::from_secs(20);

fn ping(from: &Netns, to: &str) -> bool {
    from.exec("ping", &["-c", "1", "-W", "1", to]).ok()
}

fn expose_line(h: &Host) -> String {
    let ps = h.weave(&["ps"]).stdout;
    ps.lines().next().unwrap_or_default().to_string()
}

fn nat_table(h: &Host) -> bool {
    h.ns.exec("nft", &["list", "tables"]).stdout.contains("ip weave_expose")
}

#[test]
fn expose_gives_the_host_an_address_a_name_and_nat_and_hide_takes_them_away_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&[&h2.addr.to_string()]);
    let _d2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h1.wait_established_to(&[h2], CONNECT);
    let c1 = h1.container("c1", &[]);
    let c2 = h2.container("c2", &[]);
    let (a1, a2) = (ethwe_addrs(&c1)[0].clone(), ethwe_addrs(&c2)[0].clone());
    let (a1, a2) = (a1.split('/').next().unwrap(), a2.split('/').next().unwrap());
    assert!(!ping(&h1.ns, a1), "the host has no way onto the weave network before expose");
    let out = h1.outside();

    let exposed = h1.weave(&["expose", "-h", "gateway.weave.local"]);
    assert!(exposed.ok(), "{exposed:?}");
    let ip = exposed.stdout.trim().to_string();
    assert!(ip.starts_with("10.3") && !ip.contains(' '), "one address from the range: {exposed:?}");
    assert!(expose_line(h1).starts_with("weave:expose ") && expose_line(h1).ends_with(&format!(" {ip}/12")));
    wait_until("the host reaches both containers", SETTLE, || ping(&h1.ns, a1) && ping(&h1.ns, a2));
    // Idempotent: the same address again, and still only one on the bridge.
    let again = h1.weave(&["expose"]);
    assert_eq!(again.stdout.trim(), ip, "{again:?}");
    assert_eq!(expose_line(h1).split(' ').count(), 3, "{}", expose_line(h1));
    wait_for("the host's name on the other host", SETTLE, || {
        let o = h2.weave(&["dns-lookup", "gateway"]);
        if o.stdout.trim() == ip {
            Ok(())
        } else {
            Err(format!("{o:?}"))
        }
    });
    // The outside reaches a container on the other host: the reply comes back because the
    // request left host 1 from its weave address.
    assert!(nat_table(h1));
    wait_until("the outside reaches a remote container", SETTLE, || ping(&out, a2));
    // A firewall reload that flushes everything: the periodic check puts the NAT rules back too.
    assert!(h1.ns.exec("nft", &["flush", "ruleset"]).ok());
    assert!(!nat_table(h1));
    wait_until("the NAT table is back", Duration::from_secs(30), || nat_table(h1));

    assert!(h1.http("GET", "/ip/weave:expose").1.starts_with(&format!("{ip}/12")));
    let hidden = h1.weave(&["hide"]);
    assert!(hidden.ok() && hidden.stdout.trim() == ip, "{hidden:?}");
    assert_eq!(expose_line(h1).split(' ').count(), 2, "no address left: {}", expose_line(h1));
    assert!(!ping(&h1.ns, a1));
    assert!(!nat_table(h1), "nothing masqueraded, no NAT hook");
    assert_eq!(h1.http("GET", "/ip/weave:expose").1, "", "the address is back in IPAM");
    wait_until("the name is gone everywhere", SETTLE, || {
        h2.weave(&["dns-lookup", "gateway"]).stdout.trim().is_empty()
    });

    // Without masquerading the host still reaches the containers, but the outside does not.
    let plain = h1.weave(&["expose", "--without-masquerade", &format!("{ip}/12")]);
    assert!(plain.ok() && plain.stdout.trim() == ip, "{plain:?}");
    wait_until("the host reaches the remote container again", SETTLE, || ping(&h1.ns, a2));
    assert!(!nat_table(h1));
    assert!(!ping(&out, a2), "with no masquerading the container's reply has no way back");
    assert!(h1.weave(&["hide", &format!("{ip}/12")]).ok());
}

#[test]
fn weaves_expose_endpoint_and_bad_input_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let seed = format!("seed={}", h.peer_name());
    let _d = h.start_daemon(&["--ipalloc-init", &seed]);
    h.wait_ready();
    assert_eq!(h.http("POST", "/expose/10.32.9.9/12?skipNAT=true"), (204, String::new()));
    assert!(expose_line(h).ends_with(" 10.32.9.9/12"), "{}", expose_line(h));
    assert!(!nat_table(h), "skipNAT");
    assert_eq!(
        h.http("POST", "/expose/10.32.9.300/12"),
        (400, "invalid CIDR address: 10.32.9.300/12\n".into())
    );
    let out = h.weave(&["expose", "net:10.32.0.1/24"]);
    assert!(out.code == 1 && out.stderr.contains("bits after network prefix are not all zero"), "{out:?}");
    let out = h.weave(&["expose", "-h", "gw.example.com"]);
    assert!(out.code == 1 && out.stderr.contains("outside the DNS domain"), "{out:?}");
    assert!(h.weave(&["hide"]).ok());
    assert_eq!(expose_line(h).split(' ').count(), 2, "{}", expose_line(h));
}
