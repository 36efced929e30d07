//! Network policy end to end: Kubernetes NetworkPolicy applied with `weave policy apply` on one
//! host, enforced in the kernel of the host whose target it selects, checked with real TCP
//! connections between namespaces on two hosts (the `svcecho` helper), and the refused
//! connection seen in `weave policy drops` and explained by `weave policy why`.

use std::time::Duration;
use weave_api::{PolicyDrop, PolicyInfo, PolicyVerdict};
use weave_e2e::svcecho::{ask, serve};
use weave_e2e::{ethwe_addrs, wait_for, wait_until, Cluster, Host, Netns};

const CONNECT: Duration = Duration::from_secs(30);
/// Gossip from the other host, then the kernel.
const SETTLE: Duration = Duration::from_secs(20);

fn reaches(ns: &Netns, proto: &str, to: &str) {
    wait_for(&format!("{} reaches {proto} {to}", ns.name), SETTLE, || ask(ns, proto, to).map(|_| ()));
}

fn blocked(ns: &Netns, proto: &str, to: &str) {
    wait_until(&format!("{} is refused {proto} {to}", ns.name), SETTLE, || ask(ns, proto, to).is_err());
}

fn ip(ns: &Netns) -> String {
    ethwe_addrs(ns)[0].split('/').next().unwrap_or_default().to_string()
}

/// A namespace attached with `weave attach --label ...`.
fn labelled(h: &Host, tag: &str, labels: &[&str]) -> Netns {
    let c = Netns::new(tag);
    let target = format!("netns:{}", c.name);
    let mut args = vec!["attach"];
    for l in labels {
        args.extend(["--label", l]);
    }
    args.push(&target);
    let out = h.weave(&args);
    assert!(out.ok(), "weave attach: {out:?}");
    c
}

/// `weave policy apply -f` of `yaml`; must succeed.
fn apply(h: &Host, yaml: &str) -> String {
    let file = h.data_dir.join(format!("policy-{}.yaml", weave_e2e::unique_name("p")));
    std::fs::write(&file, yaml).unwrap();
    let out = h.weave(&["policy", "apply", "-f", &file.display().to_string()]);
    assert!(out.ok(), "weave policy apply: {out:?}");
    out.stdout
}

/// `weave policy ARGS -o json`, which must succeed.
fn json_out(h: &Host, args: &[&str]) -> String {
    let mut full = vec!["policy"];
    full.extend_from_slice(args);
    full.extend(["-o", "json"]);
    let out = h.weave(&full);
    assert!(out.ok(), "weave {full:?}: {out:?}");
    out.stdout
}

fn ls(h: &Host) -> Vec<PolicyInfo> {
    let out = json_out(h, &["ls"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn drops(h: &Host) -> Vec<PolicyDrop> {
    let out = json_out(h, &["drops"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn why(h: &Host, src: &str, dst: &str, port: &str) -> PolicyVerdict {
    let out = json_out(h, &["why", src, dst, port]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

const DENY_WEB: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
";

const ALLOW_CLIENT: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
    ports:
    - {protocol: TCP, port: 80}
";

#[test]
fn default_deny_then_allow_from_a_label_across_hosts_with_drops_and_why_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&[&h2.addr.to_string()]);
    let _d2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h1.wait_established_to(&[h2], CONNECT);
    let web = labelled(h2, "web", &["app=web"]);
    let client = labelled(h1, "cli", &["role=client"]);
    let other = labelled(h1, "oth", &["role=other"]);
    let _srv = serve(&web, "tcp", 80, "web");
    let to = format!("{}:80", ip(&web));
    // No policy selects web: open.
    reaches(&client, "tcp", &to);
    reaches(&other, "tcp", &to);

    let mut events = h2.events();
    // Applied on host 1, enforced by host 2 (web's host).
    assert_eq!(apply(h1, DENY_WEB).trim(), "default/deny-web");
    wait_until("host 2 has the policy", SETTLE, || {
        ls(h2).iter().any(|p| p.name == "default/deny-web" && p.selected == 1)
    });
    blocked(&client, "tcp", &to);
    assert!(ask(&other, "tcp", &to).is_err(), "default deny refuses every client");

    // The refused connection is in host 2's drops, with the policy that isolated web.
    let drop = wait_for("the drop is logged on host 2", SETTLE, || {
        drops(h2)
            .into_iter()
            .find(|d| d.src == ip(&client) && d.dst == ip(&web) && d.port == Some(80))
            .ok_or_else(|| "no drop of client -> web:80 yet".to_string())
    });
    assert_eq!(drop.direction, "ingress");
    assert_eq!(drop.protocol, "tcp");
    assert_eq!(drop.isolating, vec!["default/deny-web".to_string()]);
    let text = h2.weave(&["policy", "drops"]);
    assert!(text.ok() && text.stdout.contains(&format!("{} -> {to}/tcp ingress", ip(&client))), "{text:?}");

    // And on host 2's events stream, with its policy.
    let e = events.wait_line("\"type\":\"policy_drop\"");
    assert!(e.contains("default/deny-web") && e.contains(&ip(&web)), "{e}");
    // Counted in the kernel: /metrics and `weave status` on host 2 (counters are read every
    // few seconds).
    let dropped = wait_for("host 2's metrics count the drops", SETTLE, || {
        let (_, m) = h2.http("GET", "/metrics");
        let line = m
            .lines()
            .find(|l| {
                l.starts_with(
                    r#"weave_policy_dropped_packets_total{policy="default/deny-web",direction="ingress"}"#,
                )
            })
            .map(str::to_string);
        match line.and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok()) {
            Some(n) if n > 0 => Ok(n),
            other => Err(format!("{other:?} in\n{m}")),
        }
    });
    let status = h2.weave(&["status"]).stdout;
    assert!(status.contains("Service: policy") && status.contains("Policies: 1 ("), "{status}");
    assert!(status.contains("Dropped: ") && dropped > 0, "{status}");
    let report = h2.report().unwrap();
    let p = report.policy.expect("a policy section in the report");
    assert_eq!((p.policies, p.local_targets), (1, 1), "{p:?}");

    // Allow from the label: the labelled client gets in, the other stays out.
    assert_eq!(apply(h1, ALLOW_CLIENT).trim(), "default/allow-client");
    reaches(&client, "tcp", &to);
    assert!(ask(&other, "tcp", &to).is_err(), "the unlabelled client stays blocked");

    // `why` on either host names the rule, or the isolating policies.
    let v = why(h1, &ip(&client), &ip(&web), "80/tcp");
    assert!(v.allowed, "{v:?}");
    assert_eq!(v.ingress.policy.as_deref(), Some("default/allow-client"), "{v:?}");
    let v = why(h2, &ip(&other), &ip(&web), "80");
    assert!(!v.allowed, "{v:?}");
    assert_eq!(v.ingress.verdict, "denied");
    assert!(v.ingress.isolating.contains(&"default/deny-web".to_string()), "{v:?}");
    let v = why(h2, &ip(&client), &ip(&web), "81");
    assert!(!v.allowed, "port 81 is not in the allow rule: {v:?}");

    // Deleting both on host 2 opens web again, for both.
    for name in ["deny-web", "default/allow-client"] {
        let out = h2.weave(&["policy", "delete", name]);
        assert!(out.ok(), "{out:?}");
    }
    reaches(&other, "tcp", &to);
    wait_until("host 1 forgets the policies deleted on host 2", SETTLE, || ls(h1).is_empty());
}

#[test]
fn a_bad_policy_is_refused_whole_with_its_field_path_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _d = h.start_daemon(&[]);
    wait_until("the daemon answers", CONNECT, || h.weave(&["policy", "ls"]).ok());
    let file = h.data_dir.join("bad.yaml");
    let bad = format!("{DENY_WEB}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: b}}\nspec:\n  podSelector: {{}}\n  ingress:\n  - ports:\n    - {{protocol: TCP, port: 70000}}\n");
    std::fs::write(&file, bad).unwrap();
    let out = h.weave(&["policy", "apply", "-f", &file.display().to_string()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("spec.ingress[0].ports[0].port"), "the field path is named: {out:?}");
    assert!(ls(h).is_empty(), "nothing of the file was applied");
    let out = h.weave(&["policy", "delete", "nope"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no policy default/nope"), "{out:?}");
}

/// A target attached with `weave attach` and these extra flags (`--namespace`, `--label`,
/// `--port`).
fn attached(h: &Host, tag: &str, flags: &[&str]) -> Netns {
    let c = Netns::new(tag);
    let target = format!("netns:{}", c.name);
    let mut args = vec!["attach"];
    args.extend_from_slice(flags);
    args.push(&target);
    let out = h.weave(&args);
    assert!(out.ok(), "weave attach: {out:?}");
    c
}

/// One case of the semantics table: the policies, then what each client may reach on web.
struct Case {
    name: &'static str,
    yaml: &'static str,
    /// (client, protocol, port, allowed), denied ones checked first: they hold only once the
    /// policies are enforced.
    expect: &'static [(&'static str, &'static str, u16, bool)],
}

const CASES: &[Case] = &[
    Case {
        name: "default deny ingress",
        yaml: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: deny}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n",
        expect: &[("cli", "tcp", 80, false), ("acli", "udp", 53, false), ("oth", "udp", 80, false)],
    },
    Case {
        name: "default deny egress",
        yaml: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: no-out}\nspec:\n  podSelector: {matchLabels: {role: client}}\n  policyTypes: [Egress]\n",
        expect: &[("cli", "tcp", 80, false), ("cli", "udp", 53, false), ("oth", "tcp", 80, true), ("acli", "udp", 53, true)],
    },
    Case {
        name: "allow from a label (in the policy's namespace only)",
        yaml: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: from-clients}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {role: client}}}]\n",
        expect: &[("oth", "tcp", 80, false), ("acli", "tcp", 80, false), ("cli", "tcp", 80, true), ("cli", "udp", 53, true)],
    },
    Case {
        name: "allow from a namespace",
        yaml: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: from-team-a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: a}}}]\n",
        expect: &[("cli", "tcp", 80, false), ("oth", "udp", 53, false), ("acli", "tcp", 80, true), ("aoth", "udp", 53, true)],
    },
    Case {
        name: "namespace and pod selector together",
        yaml: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: team-a-clients}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchExpressions: [{key: team, operator: In, values: [a]}]}\n      podSelector: {matchLabels: {role: client}}\n",
        expect: &[("aoth", "tcp", 80, false), ("cli", "tcp", 80, false), ("acli", "tcp", 80, true), ("acli", "udp", 53, true)],
    },
    Case {
        name: "ipBlock with except",
        yaml: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: block}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.32.0.0/12, except: [\"{OTH}/32\"]}}]\n",
        expect: &[("oth", "tcp", 80, false), ("oth", "udp", 53, false), ("cli", "tcp", 80, true), ("cli", "udp", 53, true)],
    },
    Case {
        name: "ports and endPort",
        yaml: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: range}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{protocol: TCP, port: 8000, endPort: 8100}]\n",
        expect: &[("cli", "tcp", 80, false), ("cli", "udp", 53, false), ("cli", "tcp", 8080, true), ("aoth", "tcp", 8080, true)],
    },
    Case {
        name: "named ports",
        yaml: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: named}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: http}, {port: dns, protocol: UDP}]\n",
        expect: &[("cli", "tcp", 80, false), ("cli", "udp", 80, false), ("oth", "tcp", 8080, true), ("oth", "udp", 53, true)],
    },
    Case {
        name: "egress to DNS only",
        yaml: "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: dns-only}\nspec:\n  podSelector: {matchLabels: {role: client}}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]\n",
        expect: &[("cli", "tcp", 80, false), ("cli", "udp", 80, false), ("cli", "udp", 53, true), ("oth", "tcp", 80, true)],
    },
];

#[test]
fn kubernetes_semantics_table_with_tcp_and_udp_between_two_hosts_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let _d1 = h1.start_daemon(&[&h2.addr.to_string()]);
    let _d2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h1.wait_established_to(&[h2], CONNECT);
    // Clients on host 1 in two namespaces, web on host 2 with named ports.
    let clients: Vec<(&str, Netns)> = [
        ("cli", "default", "role=client"),
        ("oth", "default", "role=other"),
        ("acli", "a", "role=client"),
        ("aoth", "a", "role=other"),
    ]
    .into_iter()
    .map(|(tag, n, label)| (tag, attached(h1, tag, &["--namespace", n, "--label", label])))
    .collect();
    let web = attached(h2, "web", &["--label", "app=web", "--port", "http=8080/tcp", "--port", "dns=53/udp"]);
    let _servers: Vec<_> = [("tcp", 80), ("tcp", 8080), ("udp", 53), ("udp", 80)]
        .into_iter()
        .map(|(proto, port)| serve(&web, proto, port, "web"))
        .collect();
    let out = h1.weave(&["policy", "namespace", "a", "team=a"]);
    assert!(out.ok() && out.stdout.contains("team=a"), "{out:?}");
    let web_ip = ip(&web);
    let who = |tag: &str| &clients.iter().find(|(t, _)| *t == tag).expect("a client").1;
    let to = |port: u16| format!("{web_ip}:{port}");

    for case in CASES {
        eprintln!("case: {}", case.name);
        // The ipBlock case excepts oth's address.
        let yaml = case.yaml.replace("{OTH}", &ip(who("oth")));
        assert!(!apply(h1, &yaml).trim().is_empty(), "{}", case.name);
        wait_until(&format!("{}: host 2 has the policy", case.name), SETTLE, || !ls(h2).is_empty());
        let mut expect = case.expect.to_vec();
        expect.sort_by_key(|e| e.3);
        for (tag, proto, port, allowed) in expect {
            let what = format!("{}: {tag} -> web {proto}/{port}", case.name);
            if allowed {
                wait_for(&format!("{what} allowed"), SETTLE, || ask(who(tag), proto, &to(port)).map(|_| ()));
            } else {
                wait_until(&format!("{what} denied"), SETTLE, || ask(who(tag), proto, &to(port)).is_err());
            }
        }
        for p in ls(h1) {
            let out = h1.weave(&["policy", "delete", &p.name]);
            assert!(out.ok(), "{out:?}");
        }
        wait_until(&format!("{}: host 2 drops the policy", case.name), SETTLE, || ls(h2).is_empty());
        wait_for(&format!("{}: open again", case.name), SETTLE, || {
            ask(who("cli"), "tcp", &to(80)).map(|_| ())
        });
    }

    // `weave policy label` changes what a policy selects: oth becomes a client.
    apply(h1, CASES[2].yaml);
    wait_until("oth is denied", SETTLE, || ask(who("oth"), "tcp", &to(80)).is_err());
    let out = h1.weave(&["policy", "label", &format!("netns:{}", who("oth").name), "role=client"]);
    assert!(out.ok() && out.stdout.contains("default role=client"), "{out:?}");
    wait_for("relabelled, oth is allowed", SETTLE, || ask(who("oth"), "tcp", &to(80)).map(|_| ()));
}

#[test]
fn a_policy_applied_on_host_1_reaches_host_3_across_a_partition_and_heal_3() {
    let c = Cluster::new(3);
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    let peers = |me: &Host| -> Vec<String> {
        [h1, h2, h3].iter().filter(|h| h.addr != me.addr).map(|h| h.addr.to_string()).collect()
    };
    let daemons: Vec<_> = [h1, h2, h3]
        .iter()
        .map(|h| {
            let p = peers(h);
            h.start_daemon(&p.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .collect();
    h1.wait_established_to(&[h2, h3], CONNECT);
    h3.wait_established_to(&[h1, h2], CONNECT);
    let web = labelled(h3, "web", &["app=web"]);
    let client = labelled(h1, "cli", &["role=client"]);
    let _srv = serve(&web, "tcp", 80, "web");
    let to = format!("{}:80", ip(&web));
    reaches(&client, "tcp", &to);

    // Applied on host 1, enforced on host 3.
    apply(h1, DENY_WEB);
    blocked(&client, "tcp", &to);

    // Host 3 cut off: host 1 deletes the deny and host 3, alone, applies another (for other
    // targets); neither sees the other's change until the heal.
    c.underlay.ip(&["link", "set", "vh3", "down"]);
    let out = h1.weave(&["policy", "delete", "deny-web"]);
    assert!(out.ok(), "{out:?}");
    let extra = DENY_WEB.replace("deny-web", "from-h3").replace("app: web", "app: db");
    apply(h3, &extra);
    wait_until("host 2 forgets deny-web", SETTLE, || !ls(h2).iter().any(|p| p.name == "default/deny-web"));
    assert!(ls(h3).iter().any(|p| p.name == "default/deny-web"), "host 3 cannot have heard of the delete");
    assert!(!ls(h1).iter().any(|p| p.name == "default/from-h3"), "nor host 1 of host 3's policy");

    // Healed: every host converges on host 3's policy alone, and host 3, without deny-web
    // now, lets the client in again.
    c.underlay.ip(&["link", "set", "vh3", "up"]);
    for h in [h1, h2, h3] {
        wait_for(&format!("{} converges", h.ns.name), Duration::from_secs(150), || {
            let names: Vec<String> = ls(h).into_iter().map(|p| p.name).collect();
            if names == ["default/from-h3"] {
                Ok(())
            } else {
                Err(format!("{names:?}"))
            }
        });
    }
    reaches(&client, "tcp", &to);
    drop(daemons);
}
