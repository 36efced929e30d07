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
