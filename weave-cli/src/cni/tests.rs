//! The protocol layer end to end in-process: environment and stdin in, stdout and exit code
//! out. What needs a daemon is covered by tests/tests/cni.rs.

use super::*;
use serde_json::json;
use std::collections::HashMap;

/// Runs `plugin` with `vars` and `stdin`; the daemon address is a closed port unless given.
fn invoke(plugin: Plugin, vars: &[(&str, &str)], stdin: &str) -> Outcome {
    let mut m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    m.entry("WEAVE_HTTP_ADDR".into()).or_insert_with(|| "127.0.0.1:1".into());
    run(plugin, |k| m.get(k).cloned(), Ok(stdin.as_bytes().to_vec()))
}

fn code(o: &Outcome) -> u64 {
    assert_eq!(o.code, 1, "expected a failure: {o:?}");
    o.stdout.as_ref().and_then(|v| v["code"].as_u64()).expect("an error object on stdout")
}

const ADD: [(&str, &str); 4] = [
    ("CNI_COMMAND", "ADD"),
    ("CNI_CONTAINERID", "c1"),
    ("CNI_NETNS", "/run/netns/c1"),
    ("CNI_IFNAME", "eth0"),
];

fn conf(version: &str) -> String {
    json!({"cniVersion": version, "name": "weave", "type": "weave-net"}).to_string()
}

#[test]
fn version_answers_every_spec_version_in_the_version_asked() {
    for plugin in [Plugin::Net, Plugin::Ipam] {
        for v in version::Version::ALL {
            let o =
                invoke(plugin, &[("CNI_COMMAND", "VERSION")], &json!({"cniVersion": v.as_str()}).to_string());
            assert_eq!(o.code, 0);
            assert_eq!(
                o.stdout.unwrap(),
                json!({"cniVersion": v.as_str(),
                       "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})
            );
        }
        // No request, or one from the future: answered in the newest version we speak.
        for stdin in ["", "{\"cniVersion\": \"9.9.9\"}"] {
            let o = invoke(plugin, &[("CNI_COMMAND", "VERSION")], stdin);
            assert_eq!(o.stdout.unwrap()["cniVersion"], json!("1.1.0"));
        }
        assert_eq!(code(&invoke(plugin, &[("CNI_COMMAND", "VERSION")], "{not json")), 6);
    }
}

#[test]
fn bad_environment_is_code_4_naming_the_variable() {
    let o = invoke(Plugin::Net, &[("CNI_COMMAND", "ADD")], &conf("1.0.0"));
    assert_eq!(code(&o), 4);
    assert!(o.stderr.unwrap().contains("CNI_CONTAINERID"));
    // The error object is in the version of the request.
    assert_eq!(o.stdout.unwrap()["cniVersion"], json!("1.0.0"));
    assert_eq!(code(&invoke(Plugin::Net, &[], &conf("1.0.0"))), 4);
}

#[test]
fn bad_stdin_is_refused_with_the_right_code() {
    assert_eq!(code(&invoke(Plugin::Net, &ADD, "")), 6);
    assert_eq!(code(&invoke(Plugin::Net, &ADD, "{\"name\": \"weave\",")), 6);
    assert_eq!(code(&invoke(Plugin::Net, &ADD, "{\"name\": \"weave\", \"mtu\": \"x\"}")), 6);
    assert_eq!(code(&invoke(Plugin::Net, &ADD, "[1, 2]")), 6);
    let nested = "[".repeat(10_000);
    assert_eq!(code(&invoke(Plugin::Net, &ADD, &nested)), 6, "deep nesting is refused, not a crash");
    let big = read_bounded(std::io::repeat(b' ').take(MAX_STDIN as u64 + 10), MAX_STDIN).unwrap_err();
    assert_eq!(big.code, 5);
    assert_eq!(read_bounded(&b"{}"[..], MAX_STDIN).unwrap(), b"{}");
}

#[test]
fn bad_configurations_are_code_7_or_1_or_2() {
    let with = |extra: serde_json::Value| {
        let mut c = json!({"cniVersion": "1.0.0", "name": "weave", "type": "weave-net"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        invoke(Plugin::Net, &ADD, &c.to_string())
    };
    assert_eq!(code(&with(json!({"name": ""}))), 7);
    assert_eq!(code(&with(json!({"name": "we ave"}))), 7);
    assert_eq!(code(&with(json!({"cniVersion": "0.5.0"}))), 1);
    let o = with(json!({"isGateway": true}));
    assert_eq!(code(&o), 2);
    assert!(o.stderr.unwrap().contains("isGateway=true"), "the unsupported key and value are named");
    assert_eq!(code(&with(json!({"ipMasq": true}))), 2);
    assert_eq!(code(&with(json!({"bridge": "docker0"}))), 2);
    assert_eq!(code(&with(json!({"ipam": {"subnet": "10.32.0.0"}}))), 7);
    let o = with(json!({"ipam": {"type": "host-local"}}));
    assert_eq!(code(&o), 4, "delegating needs CNI_PATH");
    assert_eq!(code(&with(json!({"prevResult": {"ips": [{"address": "nope"}]}}))), 6);
}

#[test]
fn commands_newer_than_the_configuration_are_refused() {
    for (cmd, old, since) in
        [("CHECK", "0.3.1", "0.4.0"), ("STATUS", "1.0.0", "1.1.0"), ("GC", "1.0.0", "1.1.0")]
    {
        let mut vars = ADD.to_vec();
        vars[0] = ("CNI_COMMAND", cmd);
        let o = invoke(Plugin::Net, &vars, &conf(old));
        assert_eq!(code(&o), 1, "{cmd}");
        assert!(o.stderr.unwrap().contains(since), "{cmd}");
    }
}

#[test]
fn without_a_daemon_status_is_not_available_and_add_is_try_later() {
    let status = invoke(Plugin::Net, &[("CNI_COMMAND", "STATUS")], &conf("1.1.0"));
    assert_eq!(code(&status), 50);
    assert!(status.stderr.unwrap().contains("not running"));
    assert_eq!(code(&invoke(Plugin::Ipam, &[("CNI_COMMAND", "STATUS")], &conf("1.1.0"))), 50);
    for v in version::Version::ALL {
        let o = invoke(Plugin::Net, &ADD, &conf(v.as_str()));
        assert_eq!(code(&o), 11, "{v}");
        assert_eq!(o.stdout.unwrap()["cniVersion"], json!(v.as_str()));
    }
    let mut del = ADD.to_vec();
    del[0] = ("CNI_COMMAND", "DEL");
    assert_eq!(code(&invoke(Plugin::Net, &del, &conf("1.0.0"))), 11, "a DEL that cannot release is retried");
}

#[test]
fn gc_and_check_need_their_inputs() {
    let o = invoke(Plugin::Net, &[("CNI_COMMAND", "GC")], &conf("1.1.0"));
    assert_eq!(code(&o), 7);
    assert!(o.stderr.unwrap().contains("valid-attachments"));
    let mut check = ADD.to_vec();
    check[0] = ("CNI_COMMAND", "CHECK");
    let o = invoke(Plugin::Net, &check, &conf("1.0.0"));
    assert_eq!(code(&o), 7);
    assert!(o.stderr.unwrap().contains("prevResult"));
}

#[test]
fn the_fuzzed_decoder_reads_and_writes_back_prev_results() {
    let stdin = json!({"cniVersion": "0.2.0", "name": "weave",
        "prevResult": {"cniVersion": "0.2.0", "ip4": {"ip": "10.32.0.5/12", "gateway": "10.32.0.1"}}});
    let back = decode_all(stdin.to_string().as_bytes()).unwrap().unwrap();
    assert_eq!(back["ip4"]["ip"], "10.32.0.5/12");
    assert_eq!(decode_all(b"{\"name\": \"weave\"}").unwrap(), None);
    assert_eq!(decode_all(b"\xff\xfe").unwrap_err().code, 6);
}
