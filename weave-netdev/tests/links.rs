//! Links, addresses and routes against the real kernel: the container-attach sequence weave
//! performs (veth, bridge port, hairpin, alias, MTU, move, rename to ethwe, address, routes)
//! and the wording of errors.

mod common;

use common::{eventually, TestNs};
use std::net::Ipv4Addr;
use weave_netdev::{Ipv4Net, LinkKind, Netns, Route};

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

#[test]
fn veth_from_bridge_into_container() {
    let host = TestNs::new();
    let cont = TestNs::new();
    let mut nl = host.netlink();

    nl.create_bridge("weave", [0x02, 0, 0, 0, 0, 1], Some(1376)).unwrap();
    let bridge = nl.link_by_name("weave").unwrap().unwrap();
    nl.set_up(&bridge, true).unwrap();

    nl.create_veth("vethwl1", "vethwg1", Some(1376)).unwrap();
    let local = nl.link_by_name("vethwl1").unwrap().unwrap();
    let peer = nl.link_by_name("vethwg1").unwrap().unwrap();
    assert_eq!((local.kind.clone(), local.mtu, local.up), (LinkKind::Veth, 1376, false));
    assert_eq!((peer.kind.clone(), peer.mtu), (LinkKind::Veth, 1376));
    assert_eq!(local.bridge_port, None);
    assert_eq!(local.alias, None);

    nl.set_master(&local, Some(bridge.index)).unwrap();
    nl.set_hairpin(&local, true).unwrap();
    nl.set_alias(&local, "container:5f3e2a").unwrap();
    nl.set_mtu(&local, 1410).unwrap();
    nl.set_up(&local, true).unwrap();

    // Read back through the crate...
    let local = nl.link_by_index(local.index).unwrap().unwrap();
    assert_eq!(local.name, "vethwl1");
    assert_eq!(local.master, Some(bridge.index));
    assert_eq!(local.alias.as_deref(), Some("container:5f3e2a"));
    let port = local.bridge_port.unwrap();
    assert!(port.hairpin && !port.isolated, "{port:?}");
    assert_eq!(local.mtu, 1410);
    assert!(local.up);
    let ports: Vec<String> =
        nl.links_with_master(bridge.index).unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(ports, ["vethwl1"]);
    // ...and through iproute2 and sysfs.
    let brlink = host.bridge(&["-d", "link", "show", "dev", "vethwl1"]);
    assert!(brlink.contains("master weave") && brlink.contains("hairpin on"), "{brlink}");
    assert_eq!(host.exec(&["cat", "/sys/class/net/vethwl1/brport/hairpin_mode"]).trim(), "1");
    let iplink = host.ip(&["-d", "link", "show", "dev", "vethwl1"]);
    assert!(iplink.contains("mtu 1410") && iplink.contains("alias container:5f3e2a"), "{iplink}");

    nl.set_hairpin(&local, false).unwrap();
    assert_eq!(host.exec(&["cat", "/sys/class/net/vethwl1/brport/hairpin_mode"]).trim(), "0");
    nl.set_alias(&local, "").unwrap();
    assert_eq!(nl.link_by_index(local.index).unwrap().unwrap().alias, None);

    // Into the container namespace, renamed to ethwe.
    nl.move_to_netns(&peer, &cont.ns).unwrap();
    assert_eq!(nl.link_by_name("vethwg1").unwrap(), None);
    let mut cnl = cont.netlink();
    let moved = cnl.link_by_name("vethwg1").unwrap().unwrap();
    cnl.rename(&moved, "ethwe").unwrap();
    let ethwe = cnl.link_by_name("ethwe").unwrap().unwrap();
    assert_eq!(ethwe.index, moved.index);
    assert_eq!(cnl.link_by_name("vethwg1").unwrap(), None);
    cnl.set_mtu(&ethwe, 1410).unwrap();
    cnl.set_up(&ethwe, true).unwrap();
    let ethwe = cnl.link_by_name("ethwe").unwrap().unwrap();
    assert!(ethwe.up);
    assert_eq!(ethwe.mtu, 1410);
    assert!(cont.ip(&["link", "show", "dev", "ethwe"]).contains("ethwe@if"));

    // Addresses (adding twice is fine).
    let addr = net("10.32.0.5/12");
    cnl.add_address(&ethwe, addr).unwrap();
    cnl.add_address(&ethwe, addr).unwrap();
    assert_eq!(cnl.addresses(ethwe.index).unwrap(), [addr]);
    let shown = cont.ip(&["-4", "addr", "show", "dev", "ethwe"]);
    assert!(shown.contains("inet 10.32.0.5/12 brd 10.47.255.255"), "{shown}");
    cnl.add_address(&ethwe, net("10.40.0.9/32")).unwrap();
    assert_eq!(cnl.addresses(ethwe.index).unwrap(), [addr, net("10.40.0.9/32")]);
    let lo = cnl.link_by_name("lo").unwrap().unwrap();
    cnl.set_up(&lo, true).unwrap(); // a new namespace's lo is down and has no address yet
    assert_eq!(cnl.addresses(lo.index).unwrap(), [net("127.0.0.1/8")], "lo keeps its own");

    // Routes: weave's multicast route, one via a gateway, a default route.
    let mcast = net("224.0.0.0/4");
    let gw = Some(Ipv4Addr::new(10, 32, 0, 1));
    cnl.add_route(mcast, ethwe.index, None).unwrap();
    cnl.add_route(mcast, ethwe.index, None).unwrap();
    cnl.add_route(net("10.99.0.0/16"), ethwe.index, gw).unwrap();
    cnl.add_route(net("0.0.0.0/0"), ethwe.index, gw).unwrap();
    let routes = cnl.routes(Some(ethwe.index)).unwrap();
    let dev = Some(ethwe.index);
    for want in [
        Route { dst: mcast, gateway: None, dev },
        Route { dst: net("10.99.0.0/16"), gateway: gw, dev },
        Route { dst: net("0.0.0.0/0"), gateway: gw, dev },
        Route { dst: net("10.32.0.0/12"), gateway: None, dev }, // the kernel's prefix route
    ] {
        assert!(routes.contains(&want), "{want:?} not in {routes:?}");
    }
    assert_eq!(routes.len(), 4, "{routes:?}");
    assert!(cnl.routes(None).unwrap().len() >= 4);
    let shown = cont.ip(&["route", "show"]);
    for line in [
        "224.0.0.0/4 dev ethwe scope link",
        "10.99.0.0/16 via 10.32.0.1 dev ethwe",
        "default via 10.32.0.1 dev ethwe",
    ] {
        assert!(shown.contains(line), "{line:?} not in {shown}");
    }

    cnl.del_route(mcast, ethwe.index, None).unwrap();
    cnl.del_route(net("0.0.0.0/0"), ethwe.index, gw).unwrap();
    let e = cnl.del_route(mcast, ethwe.index, None).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ESRCH));
    assert!(e.to_string().starts_with(&format!("delete route 224.0.0.0/4 on link {}: ", ethwe.index)), "{e}");
    let routes = cnl.routes(Some(ethwe.index)).unwrap();
    assert!(!routes.iter().any(|r| r.dst == mcast || r.dst.prefix_len() == 0), "{routes:?}");
    assert!(!cont.ip(&["route", "show"]).contains("224.0.0.0/4"));

    cnl.del_address(&ethwe, addr).unwrap();
    assert_eq!(cnl.addresses(ethwe.index).unwrap(), [net("10.40.0.9/32")]);
    let e = cnl.del_address(&ethwe, addr).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EADDRNOTAVAIL));
    assert!(e.to_string().starts_with("delete address 10.32.0.5/12 from ethwe: "), "{e}");

    // Deleting one end removes the pair across namespaces.
    cnl.delete_link(&ethwe).unwrap();
    eventually("host end to go", || nl.link_by_name("vethwl1").unwrap().is_none());
    assert!(nl.links_with_master(bridge.index).unwrap().is_empty());
}

#[test]
fn errors_say_what_failed() {
    let t = TestNs::new();
    let mut nl = t.netlink();
    nl.create_veth("vethdup", "vethdupp", None).unwrap();

    let e = nl.create_veth("vethdup", "vethother", None).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EEXIST));
    assert_eq!(e.to_string(), "create veth vethdup (peer vethother): File exists (os error 17)");
    let e = nl.create_bridge("vethdup", [2, 0, 0, 0, 0, 9], None).unwrap_err();
    assert_eq!(e.to_string(), "create bridge vethdup: File exists (os error 17)");

    assert_eq!(nl.link_by_name("nosuchlink").unwrap(), None);
    assert_eq!(nl.link_by_index(999_999).unwrap(), None);

    let link = nl.link_by_name("vethdup").unwrap().unwrap();
    let e = nl.rename(&link, "vethdupp").unwrap_err();
    assert_eq!(e.to_string(), "rename vethdup to vethdupp: File exists (os error 17)");
    let e = nl.set_mtu(&link, 1_000_000).unwrap_err();
    assert!(e.to_string().starts_with("set MTU of vethdup to 1000000: "), "{e}");
    let e = nl.set_hairpin(&link, true).unwrap_err();
    assert!(e.to_string().starts_with("set hairpin on on bridge port vethdup: "), "{e}");
    let e = nl.set_master(&link, Some(999_999)).unwrap_err();
    assert!(e.to_string().starts_with("set master of vethdup to link 999999: "), "{e}");

    let mut ghost = link.clone();
    ghost.index = 999_999;
    ghost.name = "ghost".into();
    let e = nl.delete_link(&ghost).unwrap_err();
    assert_eq!(e.to_string(), "delete link ghost: No such device (os error 19)");
    let e = nl.add_address(&ghost, net("10.1.0.1/24")).unwrap_err();
    assert!(e.to_string().starts_with("add address 10.1.0.1/24 to ghost: "), "{e}");

    let e = Netns::named("wnd-no-such-ns").unwrap_err();
    assert_eq!(
        e.to_string(),
        "network namespace netns:wnd-no-such-ns: No such file or directory (os error 2)"
    );
    let e = Netns::path("/etc/hostname").unwrap_err();
    assert_eq!(
        e.to_string(),
        "network namespace /etc/hostname: it is an ordinary file, not a network namespace"
    );
    let e = Netns::named("../etc").unwrap_err();
    assert!(e.to_string().starts_with("network namespace netns:../etc: "), "{e}");
}
