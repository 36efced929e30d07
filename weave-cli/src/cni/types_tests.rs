//! The spec's own examples (CNI SPEC.md 1.1.0, appendix and section 5), read and written back.

use super::*;
use serde_json::json;

/// The `bridge` plugin's result in the spec's ADD example.
fn bridge_result() -> Value {
    json!({
        "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "interfaces": [
            {"name": "cni0", "mac": "00:11:22:33:44:55"},
            {"name": "veth3243", "mac": "55:44:33:22:11:11"},
            {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue"}
        ],
        "dns": {"nameservers": ["10.1.0.1"]}
    })
}

/// The spec's `tuning` request of the ADD example: a configuration with a `prevResult`.
fn tuning_request() -> Value {
    json!({
        "cniVersion": "1.1.0",
        "name": "dbnet",
        "type": "tuning",
        "sysctl": {"net.core.somaxconn": "500"},
        "runtimeConfig": {"mac": "00:11:22:33:44:66"},
        "prevResult": bridge_result()
    })
}

#[test]
fn the_specs_add_result_reads_and_writes_back_unchanged() {
    let r = CniResult::parse(Version::V1_1_0, &bridge_result(), "prevResult").unwrap();
    assert_eq!(r.interfaces.len(), 3);
    assert_eq!(r.ips[0].address.to_string(), "10.1.0.5/16", "the host part is kept");
    assert_eq!(r.ips[0].interface, Some(2));
    let mut expected = bridge_result();
    expected["cniVersion"] = json!("1.1.0");
    assert_eq!(r.to_json(Version::V1_1_0).unwrap(), expected);
}

#[test]
fn the_specs_host_local_answer_reads_without_interfaces() {
    let ipam = json!({
        "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {"nameservers": ["10.1.0.1"]}
    });
    let r = CniResult::parse(Version::V1_1_0, &ipam, "the IPAM result").unwrap();
    assert!(r.interfaces.is_empty());
    assert_eq!(r.ips[0].interface, None);
    assert_eq!(r.ips[0].gateway, Some("10.1.0.1".parse().unwrap()));
    assert_eq!(r.dns.nameservers, ["10.1.0.1"]);
}

#[test]
fn a_request_with_prev_result_and_foreign_keys_is_read() {
    let conf: NetConf = serde_json::from_value(tuning_request()).unwrap();
    assert_eq!(conf.cni_version.as_deref(), Some("1.1.0"));
    assert_eq!(conf.name.as_deref(), Some("dbnet"));
    let prev = CniResult::parse(Version::V1_1_0, conf.prev_result.as_ref().unwrap(), "prevResult").unwrap();
    assert_eq!(prev.interfaces[2].name, "eth0");
}

#[test]
fn the_specs_bridge_request_reads_weaves_ipam_keys() {
    // The ADD example's request to `bridge`, with Weave's keys in it.
    let conf: NetConf = serde_json::from_value(json!({
        "cniVersion": "1.1.0", "name": "dbnet", "type": "bridge", "bridge": "cni0",
        "keyA": ["some more", "plugin specific", "configuration"],
        "ipam": {"type": "host-local", "subnet": "10.1.0.0/16", "gateway": "10.1.0.1",
                 "routes": [{"dst": "0.0.0.0/0"}]},
        "dns": {"nameservers": ["10.1.0.1"]},
        "mtu": 1400, "hairpinMode": false
    }))
    .unwrap();
    let ipam = conf.ipam.unwrap();
    assert_eq!(ipam.plugin_type.as_deref(), Some("host-local"));
    assert_eq!(ipam.subnet.as_deref(), Some("10.1.0.0/16"));
    assert_eq!(ipam.routes.unwrap()[0].dst.to_string(), "0.0.0.0/0");
    assert_eq!(
        (conf.bridge.as_deref(), conf.mtu, conf.hairpin_mode),
        (Some("cni0"), Some(1400), Some(false))
    );
}

#[test]
fn the_gc_request_lists_valid_attachments() {
    let conf: NetConf = serde_json::from_value(json!({
        "cniVersion": "1.1.0", "name": "weave", "type": "weave-net",
        "cni.dev/valid-attachments": [{"containerID": "abc", "ifname": "eth0"}]
    }))
    .unwrap();
    assert_eq!(
        conf.valid_attachments.unwrap(),
        [ValidAttachment { container_id: "abc".into(), ifname: "eth0".into() }]
    );
}

#[test]
fn wrong_types_are_refused() {
    for bad in [
        json!({"name": "n", "mtu": "big"}),
        json!({"name": "n", "mtu": -1}),
        json!({"name": "n", "hairpinMode": "yes"}),
        json!({"name": "n", "ipam": {"gateway": "not-an-ip"}}),
        json!({"name": "n", "ipam": {"routes": [{"dst": "0.0.0.0"}]}}),
        json!({"name": 5}),
    ] {
        assert!(serde_json::from_value::<NetConf>(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn results_are_written_in_every_version_as_libcni_converts_them() {
    let mut r = CniResult::parse(Version::V1_1_0, &bridge_result(), "r").unwrap();
    r.interfaces[2].mtu = Some(1376);
    r.routes[0].priority = Some(10);
    // 1.1.0 keeps the new fields.
    let v11 = r.to_json(Version::V1_1_0).unwrap();
    assert_eq!(v11["interfaces"][2]["mtu"], json!(1376));
    assert_eq!(v11["routes"][0]["priority"], json!(10));
    // 1.0.0: no 1.1.0 fields, no `version` on addresses.
    let v10 = r.to_json(Version::V1_0_0).unwrap();
    assert_eq!(v10["cniVersion"], json!("1.0.0"));
    assert_eq!(
        v10["interfaces"][2],
        json!({"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue"})
    );
    assert_eq!(v10["routes"], json!([{"dst": "0.0.0.0/0"}]));
    assert_eq!(v10["ips"][0], json!({"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2}));
    // 0.3.0 - 0.4.0: addresses carry their family.
    for v in [Version::V0_3_0, Version::V0_3_1, Version::V0_4_0] {
        let out = r.to_json(v).unwrap();
        assert_eq!(out["cniVersion"], json!(v.as_str()));
        assert_eq!(
            out["ips"][0],
            json!({"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2})
        );
        assert_eq!(out["interfaces"].as_array().unwrap().len(), 3);
    }
    // 0.1.0 / 0.2.0: ip4 with its routes, no interfaces.
    for v in [Version::V0_1_0, Version::V0_2_0] {
        assert_eq!(
            r.to_json(v).unwrap(),
            json!({"cniVersion": v.as_str(),
                   "ip4": {"ip": "10.1.0.5/16", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0"}]},
                   "dns": {"nameservers": ["10.1.0.1"]}})
        );
    }
}

#[test]
fn every_version_reads_back_what_it_wrote() {
    let r = CniResult::parse(Version::V1_1_0, &bridge_result(), "r").unwrap();
    for v in Version::ALL {
        let back = CniResult::parse(v, &r.to_json(v).unwrap(), "r").unwrap();
        assert_eq!(back.ips[0].address, r.ips[0].address, "{v}");
        assert_eq!(back.routes, r.routes, "{v}");
        assert_eq!(back.dns, r.dns, "{v}");
        if v.has_rich_result() {
            assert_eq!(back, r, "{v}");
        }
    }
}

#[test]
fn legacy_results_keep_the_first_address_of_each_family() {
    let r = CniResult::parse(
        Version::V0_4_0,
        &json!({"ips": [
            {"version": "6", "address": "fd00::5/64"},
            {"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1"},
            {"version": "4", "address": "10.1.0.6/16"}],
          "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}, {"dst": "::/0"}]}),
        "r",
    )
    .unwrap();
    let out = r.to_json(Version::V0_2_0).unwrap();
    assert_eq!(
        out["ip4"],
        json!({"ip": "10.1.0.5/16", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]})
    );
    assert_eq!(out["ip6"], json!({"ip": "fd00::5/64", "routes": [{"dst": "::/0"}]}));
    let none = CniResult::default();
    assert_eq!(none.to_json(Version::V0_2_0).unwrap_err().code, 1);
}

#[test]
fn bad_results_are_refused_with_what_is_wrong() {
    let wrong_family = json!({"ips": [{"version": "6", "address": "10.1.0.5/16"}]});
    assert!(CniResult::parse(Version::V0_4_0, &wrong_family, "prevResult")
        .unwrap_err()
        .msg
        .contains("version"));
    let bad_index =
        json!({"interfaces": [{"name": "eth0"}], "ips": [{"address": "10.1.0.5/16", "interface": 3}]});
    let e = CniResult::parse(Version::V1_0_0, &bad_index, "prevResult").unwrap_err();
    assert_eq!(e.code, 6);
    assert!(e.msg.contains("interface 3"), "{e:?}");
    let not_cidr = json!({"ip4": {"ip": "10.1.0.5"}});
    assert!(CniResult::parse(Version::V0_2_0, &not_cidr, "prevResult").unwrap_err().msg.contains("CIDR"));
}

#[test]
fn merging_appends_after_the_previous_plugins() {
    let prev = CniResult::parse(Version::V1_1_0, &bridge_result(), "r").unwrap();
    let ours = CniResult {
        interfaces: vec![Interface {
            name: "eth1".into(),
            mac: Some("aa:bb:cc:dd:ee:ff".into()),
            mtu: None,
            sandbox: Some("/var/run/netns/blue".into()),
            socket_path: None,
            pci_id: None,
        }],
        ips: vec![IpConfig { address: "10.32.0.1/12".parse().unwrap(), gateway: None, interface: Some(0) }],
        routes: vec![Route::new("0.0.0.0/0".parse().unwrap(), None)],
        dns: Dns::default(),
    };
    let m = prev.merge(ours);
    assert_eq!(m.interfaces.len(), 4);
    assert_eq!(m.ips[1].interface, Some(3), "our index points past the previous interfaces");
    assert_eq!(m.routes.len(), 1, "an identical route is not repeated");
    assert_eq!(m.dns.nameservers, ["10.1.0.1"], "the previous DNS stays when we have none");
}
