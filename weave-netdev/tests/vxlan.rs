//! VXLAN devices (for fastdp) and their forwarding entries, plus an isolated VXLAN bridge port.

mod common;

use common::TestNs;
use std::net::Ipv4Addr;
use weave_netdev::{BridgePort, FdbEntry, LinkKind, VxlanConfig};

const ZERO: [u8; 6] = [0; 6];
const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

fn ip(last: u8) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::new(10, 0, 0, last))
}

fn sorted(mut v: Vec<FdbEntry>) -> Vec<FdbEntry> {
    v.sort_by_key(|e| (e.mac, e.dst));
    v
}

#[test]
fn vxlan_with_fdb_entries() {
    let t = TestNs::new();
    let mut nl = t.netlink();
    let config = VxlanConfig {
        vni: 42,
        dst_port: 4789,
        local: Some(Ipv4Addr::new(10, 9, 0, 1)),
        learning: false,
        external: false,
        mtu: Some(1400),
        df: true,
        ttl: Some(64),
    };
    nl.create_vxlan("vxw42", &config).unwrap();
    let vx = nl.link_by_name("vxw42").unwrap().unwrap();
    assert_eq!((vx.kind.clone(), vx.mtu), (LinkKind::Vxlan, 1400));
    let shown = t.ip(&["-d", "link", "show", "dev", "vxw42"]);
    for word in
        ["vxlan id 42", "local 10.9.0.1", "dstport 4789", "nolearning", "mtu 1400", "df set", "ttl 64"]
    {
        assert!(shown.contains(word), "{word:?} not in {shown}");
    }

    // The same VNI and port twice is refused, naming the device.
    let e = nl.create_vxlan("vxw42b", &config).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EEXIST));
    assert!(e.to_string().starts_with("create vxlan vxw42b (vni 42, port 4789): File exists"), "{e}");

    assert!(nl.fdb_list(vx.index).unwrap().is_empty());
    nl.fdb_add(vx.index, ZERO, ip(2), None).unwrap(); // flood list
    nl.fdb_add(vx.index, ZERO, ip(3), None).unwrap();
    nl.fdb_add(vx.index, ZERO, ip(3), None).unwrap(); // again: no error, no duplicate
    nl.fdb_add(vx.index, MAC, ip(4), Some(43)).unwrap();
    nl.fdb_add_port(vx.index, [2, 0, 0, 0, 0, 7], ip(6), Some(44), Some(6790)).unwrap();
    assert!(t
        .bridge(&["fdb", "show", "dev", "vxw42"])
        .contains("02:00:00:00:00:07 dst 10.0.0.6 port 6790 vni 44"));
    nl.fdb_del(vx.index, [2, 0, 0, 0, 0, 7], None, None).unwrap();
    assert_eq!(
        sorted(nl.fdb_list(vx.index).unwrap()),
        [
            FdbEntry { mac: ZERO, dst: ip(2), vni: None },
            FdbEntry { mac: ZERO, dst: ip(3), vni: None },
            FdbEntry { mac: MAC, dst: ip(4), vni: Some(43) },
        ]
    );
    let fdb = t.bridge(&["fdb", "show", "dev", "vxw42"]);
    for line in [
        "00:00:00:00:00:00 dst 10.0.0.2 self permanent",
        "00:00:00:00:00:00 dst 10.0.0.3 self permanent",
        "02:11:22:33:44:55 dst 10.0.0.4 vni 43 self permanent",
    ] {
        assert!(fdb.contains(line), "{line:?} not in {fdb}");
    }

    // A unicast MAC moves to its new destination.
    nl.fdb_add(vx.index, MAC, ip(5), Some(43)).unwrap();
    nl.fdb_del(vx.index, ZERO, ip(2), None).unwrap();
    assert_eq!(
        sorted(nl.fdb_list(vx.index).unwrap()),
        [FdbEntry { mac: ZERO, dst: ip(3), vni: None }, FdbEntry { mac: MAC, dst: ip(5), vni: Some(43) }]
    );
    // The kernel shrugs at a destination the MAC does not have, but not at an unknown MAC.
    nl.fdb_del(vx.index, ZERO, ip(2), None).unwrap();
    let e = nl.fdb_del(vx.index, [2, 0, 0, 0, 0, 0x99], ip(2), None).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert!(
        e.to_string()
            .starts_with(&format!("delete fdb entry 02:00:00:00:00:99 on link {} dst 10.0.0.2: ", vx.index)),
        "{e}"
    );
    nl.fdb_del(vx.index, MAC, None, None).unwrap();
    assert_eq!(nl.fdb_list(vx.index).unwrap(), [FdbEntry { mac: ZERO, dst: ip(3), vni: None }]);

    // As a bridge port it can be isolated.
    nl.create_bridge("wbr1", [2, 0, 0, 0, 0, 5], None).unwrap();
    let bridge = nl.link_by_name("wbr1").unwrap().unwrap();
    nl.set_master(&vx, Some(bridge.index)).unwrap();
    nl.set_bridge_port_isolated(&vx, true).unwrap();
    let vx = nl.link_by_index(vx.index).unwrap().unwrap();
    // A port that is down is not forwarding; learning is on by default.
    assert_eq!(
        vx.bridge_port,
        Some(BridgePort { hairpin: false, isolated: true, forwarding: false, learning: true })
    );
    let shown = t.bridge(&["-d", "link", "show", "dev", "vxw42"]);
    assert!(shown.contains("isolated on"), "{shown}");
    assert_eq!(t.exec(&["cat", "/sys/class/net/vxw42/brport/isolated"]).trim(), "1");
    nl.set_bridge_port_isolated(&vx, false).unwrap();
    assert_eq!(t.exec(&["cat", "/sys/class/net/vxw42/brport/isolated"]).trim(), "0");
    // An up port forwards (once the carrier event arrives); learning can be turned off.
    nl.set_up(&bridge, true).unwrap();
    nl.set_up(&vx, true).unwrap();
    let state = || t.exec(&["cat", "/sys/class/net/vxw42/brport/state"]).trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while state() != "3" {
        assert!(std::time::Instant::now() < deadline, "the port never started forwarding");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A MAC can be pointed at the port as if learnt there: dynamic, not static.
    nl.bridge_fdb_move(vx.index, [2, 0, 0, 0, 0, 0x66]).unwrap();
    let fdb = t.bridge(&["fdb", "show", "br", "wbr1"]);
    let line = fdb.lines().find(|l| l.starts_with("02:00:00:00:00:66")).unwrap_or_else(|| panic!("{fdb}"));
    assert!(line.contains("dev vxw42") && line.contains("master wbr1"), "{line}");
    assert!(!line.contains("static") && !line.contains("permanent"), "{line}");
    nl.set_bridge_port_learning(&vx, false).unwrap();
    let port = nl.link_by_index(vx.index).unwrap().unwrap().bridge_port.unwrap();
    assert!(port.forwarding && !port.learning, "{port:?}");
    assert!(nl.link_by_index(vx.index).unwrap().unwrap().stats.is_some());
    // The FDB listing is still only the device's own table, not what the bridge holds for it.
    assert_eq!(nl.fdb_list(vx.index).unwrap(), [FdbEntry { mac: ZERO, dst: ip(3), vni: None }]);
}

#[test]
fn external_vxlan_takes_vni_per_entry() {
    let t = TestNs::new();
    let mut nl = t.netlink();
    let config = VxlanConfig { external: true, learning: true, ..VxlanConfig::new(0, 6784) };
    nl.create_vxlan("vxwext", &config).unwrap();
    let vx = nl.link_by_name("vxwext").unwrap().unwrap();
    let shown = t.ip(&["-d", "link", "show", "dev", "vxwext"]);
    for word in ["external", "dstport 6784"] {
        assert!(shown.contains(word), "{word:?} not in {shown}");
    }
    assert!(!shown.contains("nolearning"), "{shown}");
    nl.fdb_add(vx.index, MAC, ip(7), Some(0x123456)).unwrap();
    assert_eq!(nl.fdb_list(vx.index).unwrap(), [FdbEntry { mac: MAC, dst: ip(7), vni: Some(0x123456) }]);
}

/// A fastdp port gets no IPv6 address of its own (nor the `fe80::/64` route that comes with
/// one), where a device left alone gets a link-local address when it goes up.
#[test]
fn a_port_set_to_make_no_ipv6_addresses_has_none_when_up() {
    let t = TestNs::new();
    let mut nl = t.netlink();
    let mut made = |name: &str, vni: u32, none: bool| {
        nl.create_vxlan(name, &VxlanConfig::new(vni, 4789 + vni as u16)).unwrap();
        let link = nl.link_by_name(name).unwrap().unwrap();
        if none {
            nl.set_no_ipv6_addresses(&link).unwrap();
        }
        nl.set_up(&link, true).unwrap();
    };
    made("vxplain", 1, false);
    made("vxnone", 2, true);
    assert!(t.ip(&["-6", "addr", "show", "dev", "vxplain"]).contains("inet6 fe80::"), "the control has one");
    let none = t.ip(&["-6", "addr", "show", "dev", "vxnone"]);
    assert!(!none.contains("inet6"), "{none}");
    assert!(t.ip(&["-d", "link", "show", "dev", "vxnone"]).contains("addrgenmode none"));
    assert!(!t.ip(&["-6", "route", "show", "dev", "vxnone"]).contains("fe80::/64"));
}
