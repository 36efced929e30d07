//! Table-driven tests of the Kubernetes semantics, checked two ways: the compiled rules (`why`,
//! what the kernel runs) and a reference evaluator written straight from the Kubernetes
//! definition over the validated policies; plus parsing and refusal with field paths, and the
//! incremental element changes against full recompiles.

use crate::model::{DirVerdict, Elem, Model};
use crate::types::NamespaceScope;
use crate::types::{Direction, NamedPort, Peer, Policy, PolicyId, Ports, Protocol, Target};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn target(
    id: &str,
    ns: &str,
    labels: &[(&str, &str)],
    ports: &[(&str, u16, Protocol)],
    addr: &str,
    host: &str,
) -> Target {
    Target {
        id: id.into(),
        namespace: ns.into(),
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ports: ports
            .iter()
            .map(|(n, p, pr)| NamedPort { name: n.to_string(), port: *p, protocol: *pr })
            .collect(),
        addrs: vec![ip(addr)],
        host: host.into(),
    }
}

/// Two hosts, three namespaces with labels, kube-system DNS, and addresses outside weave.
fn world() -> Model {
    let mut m = Model::new("h1");
    m.set_namespace("prod", [("env".to_string(), "prod".to_string())].into());
    m.set_namespace("dev", [("env".to_string(), "dev".to_string())].into());
    use Protocol::*;
    for t in [
        target("web", "default", &[("app", "web")], &[("http", 8080, Tcp)], "10.32.0.1", "h1"),
        target("db", "default", &[("app", "db")], &[("pg", 5432, Tcp)], "10.32.0.2", "h2"),
        target("client", "default", &[("app", "client"), ("role", "frontend")], &[], "10.32.0.3", "h2"),
        target("api-prod", "prod", &[("app", "api")], &[("http", 80, Tcp)], "10.32.1.1", "h2"),
        target("api-dev", "dev", &[("app", "api")], &[("http", 8000, Tcp)], "10.32.2.1", "h1"),
        target(
            "dns",
            "kube-system",
            &[("k8s-app", "kube-dns")],
            &[("dns", 53, Udp), ("dns-tcp", 53, Tcp)],
            "10.32.3.1",
            "h2",
        ),
    ] {
        m.upsert_target(t);
    }
    m
}

const WEB: &str = "10.32.0.1";
const DB: &str = "10.32.0.2";
const CLIENT: &str = "10.32.0.3";
const API_PROD: &str = "10.32.1.1";
const API_DEV: &str = "10.32.2.1";
const DNS: &str = "10.32.3.1";
const OUT: &str = "192.168.1.5";
const OUT_EXCEPT: &str = "192.168.1.200";

/// Kubernetes' definition, evaluated over the validated policies without the compiled sets.
fn reference(m: &Model, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, port: Option<u16>) -> bool {
    let policies: Vec<&Policy> = m.policies().collect();
    let st = m.target_by_addr(src);
    let dt = m.target_by_addr(dst);
    let peer_ok = |peer: &Peer, addr: Ipv4Addr, t: Option<&Target>| match peer {
        Peer::Block(b) => b.contains(addr),
        Peer::Pods { namespaces, pods } => t.is_some_and(|t| {
            let ns_ok = match namespaces {
                NamespaceScope::Own(ns) => *ns == t.namespace,
                NamespaceScope::Selected(sel) => sel.matches(&m.namespace_labels(&t.namespace)),
            };
            ns_ok && pods.matches(&t.labels)
        }),
    };
    let allows = |p: &Policy, dir: Direction, other: Ipv4Addr, ot: Option<&Target>| {
        p.rules(dir).unwrap_or_default().iter().any(|r| {
            let peers = r.peers.as_ref().is_none_or(|ps| ps.iter().any(|peer| peer_ok(peer, other, ot)));
            let ports = r.ports.as_ref().is_none_or(|ps| {
                ps.iter().any(|pm| {
                    pm.protocol.number() == proto
                        && match &pm.ports {
                            Ports::All => true,
                            Ports::Range(a, b) => port.is_some_and(|p| *a <= p && p <= *b),
                            Ports::Named(n) => {
                                port.is_some() && dt.and_then(|t| t.named_port(n, pm.protocol)) == port
                            }
                        }
                })
            });
            peers && ports
        })
    };
    let side = |t: Option<&Target>, dir: Direction, other: Ipv4Addr, ot: Option<&Target>| {
        let Some(t) = t else { return true };
        let selecting: Vec<&&Policy> = policies
            .iter()
            .filter(|p| {
                p.rules(dir).is_some() && p.id.namespace == t.namespace && p.selector.matches(&t.labels)
            })
            .collect();
        selecting.is_empty() || selecting.iter().any(|p| allows(p, dir, other, ot))
    };
    side(st, Direction::Egress, dst, dt) && side(dt, Direction::Ingress, src, st)
}

struct Case {
    name: &'static str,
    yaml: &'static str,
    /// (source, destination, protocol, port, allowed)
    checks: &'static [(&'static str, &'static str, u8, u16, bool)],
}

const CASES: &[Case] = &[
    Case {
        name: "no policy: everything open",
        yaml: "",
        checks: &[(CLIENT, WEB, TCP, 8080, true), (OUT, DB, UDP, 1, true), (WEB, OUT, TCP, 443, true)],
    },
    Case {
        name: "default deny ingress in a namespace",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\nspec:\n  podSelector: {}\n",
        checks: &[
            (CLIENT, WEB, TCP, 8080, false),
            (WEB, DB, TCP, 5432, false),
            (OUT, WEB, UDP, 53, false),
            (API_PROD, WEB, TCP, 8080, false),
            // Egress stays open, and other namespaces are not isolated.
            (WEB, API_PROD, TCP, 80, true),
            (WEB, OUT, ICMP, 0, true),
        ],
    },
    Case {
        name: "default deny egress",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-eg, namespace: prod}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n",
        checks: &[(API_PROD, WEB, TCP, 8080, false), (API_PROD, OUT, UDP, 53, false), (WEB, API_PROD, TCP, 80, true)],
    },
    Case {
        name: "allow from a label",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db-from-web}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: web}}\n",
        checks: &[
            (WEB, DB, TCP, 5432, true),
            (WEB, DB, UDP, 9, true),
            (CLIENT, DB, TCP, 5432, false),
            // Same labels in another namespace: a podSelector alone looks only in its own.
            (API_DEV, DB, TCP, 5432, false),
            (CLIENT, WEB, TCP, 8080, true),
        ],
    },
    Case {
        name: "allow from a namespace",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: from-prod}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {env: prod}}\n",
        checks: &[(API_PROD, WEB, TCP, 8080, true), (API_DEV, WEB, TCP, 8080, false), (CLIENT, WEB, TCP, 8080, false)],
    },
    Case {
        name: "namespace and pod selector together (one peer: both must hold)",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: both}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions: [{key: env, operator: In, values: [prod, dev]}]\n      podSelector: {matchLabels: {app: api}}\n",
        checks: &[(API_PROD, WEB, TCP, 1, true), (API_DEV, WEB, TCP, 1, true), (CLIENT, WEB, TCP, 1, false), (DNS, WEB, UDP, 1, false)],
    },
    Case {
        name: "namespace or pod selector (two peers: either)",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: either}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {env: dev}}\n    - podSelector:\n        matchExpressions: [{key: role, operator: Exists}]\n",
        checks: &[(API_DEV, WEB, TCP, 1, true), (CLIENT, WEB, TCP, 1, true), (DB, WEB, TCP, 1, false), (API_PROD, WEB, TCP, 1, false)],
    },
    Case {
        name: "the automatic namespace name label and NotIn / DoesNotExist",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ns-name}\nspec:\n  podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [web, client]}]}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}\n    - podSelector: {matchExpressions: [{key: role, operator: DoesNotExist}]}\n",
        checks: &[(DNS, DB, UDP, 1, true), (WEB, DB, TCP, 1, true), (CLIENT, DB, TCP, 1, false), (CLIENT, WEB, TCP, 1, true)],
    },
    Case {
        name: "ipBlock with except",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: block}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.128/25]}\n",
        checks: &[(OUT, WEB, TCP, 80, true), (OUT_EXCEPT, WEB, TCP, 80, false), ("10.40.0.5", WEB, TCP, 80, false), (CLIENT, WEB, TCP, 80, false)],
    },
    Case {
        name: "egress to an ipBlock that holds targets",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: eg-block}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.32.0.0/24, except: [10.32.0.2/32]}\n",
        checks: &[(CLIENT, WEB, TCP, 8080, true), (CLIENT, DB, TCP, 5432, false), (CLIENT, API_PROD, TCP, 80, false), (WEB, DB, TCP, 1, true)],
    },
    Case {
        name: "ports, protocols and endPort",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ports}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - ports:\n    - {port: 5432}\n    - {protocol: UDP, port: 7000, endPort: 7010}\n    - {protocol: SCTP}\n",
        checks: &[
            (WEB, DB, TCP, 5432, true),
            (WEB, DB, UDP, 5432, false),
            (WEB, DB, TCP, 5433, false),
            (WEB, DB, UDP, 7000, true),
            (WEB, DB, UDP, 7010, true),
            (WEB, DB, UDP, 7011, false),
            (WEB, DB, TCP, 7005, false),
            (WEB, DB, 132, 9999, true),
            (OUT, DB, ICMP, 0, false),
        ],
    },
    Case {
        name: "named ports resolve per destination",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: named, namespace: dev}\nspec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: http}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: named-eg}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{namespaceSelector: {}}]\n    ports: [{port: http}]\n",
        checks: &[
            (WEB, API_DEV, TCP, 8000, true),
            (WEB, API_DEV, TCP, 80, false),
            (WEB, API_DEV, UDP, 8000, false),
            (CLIENT, WEB, TCP, 8080, true),
            (CLIENT, API_PROD, TCP, 80, true),
            (CLIENT, API_PROD, TCP, 8080, false),
            (CLIENT, DB, TCP, 5432, false),
            (CLIENT, OUT, TCP, 80, false),
        ],
    },
    Case {
        name: "egress to DNS only",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: dns-only}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}\n      podSelector: {matchLabels: {k8s-app: kube-dns}}\n    ports:\n    - {protocol: UDP, port: 53}\n    - {protocol: TCP, port: 53}\n",
        checks: &[
            (WEB, DNS, UDP, 53, true),
            (WEB, DNS, TCP, 53, true),
            (WEB, DNS, UDP, 54, false),
            (WEB, DB, TCP, 5432, false),
            (WEB, OUT, UDP, 53, false),
            (DB, WEB, TCP, 8080, true),
        ],
    },
    Case {
        name: "policies add up: any selecting policy may allow",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: b}\nspec:\n  podSelector: {}\n  ingress: [{ports: [{port: 9000}]}]\n",
        checks: &[(WEB, DB, TCP, 1, true), (CLIENT, DB, TCP, 9000, true), (CLIENT, DB, TCP, 9001, false), (OUT, WEB, TCP, 9000, true)],
    },
    Case {
        name: "allow all ingress with an empty rule; deny all with none",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: all}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress: [{}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: none}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress: []\n",
        checks: &[(OUT, WEB, ICMP, 0, true), (OUT, DB, ICMP, 0, false), (WEB, DB, TCP, 5432, false)],
    },
    Case {
        name: "both directions: the source's egress and the destination's ingress",
        yaml: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: eg}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress: [{to: [{podSelector: {matchLabels: {app: db}}}]}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: in}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]\n",
        checks: &[(WEB, DB, TCP, 5432, false), (CLIENT, DB, TCP, 5432, true), (WEB, CLIENT, TCP, 1, false), (CLIENT, WEB, TCP, 8080, true)],
    },
];

fn model_with(yaml: &str) -> Model {
    let mut m = world();
    if !yaml.is_empty() {
        m.set_policies(crate::parse(yaml).unwrap_or_else(|e| panic!("{e}")));
    }
    m
}

#[test]
fn kubernetes_semantics_table_both_evaluators_agree() {
    for case in CASES {
        let m = model_with(case.yaml);
        for &(src, dst, proto, port, want) in case.checks {
            let port = (proto != ICMP).then_some(port);
            let v = m.why(ip(src), ip(dst), proto, port);
            assert_eq!(v.allowed(), want, "{}: {src} -> {dst} proto {proto} port {port:?}: {v:?}", case.name);
            assert_eq!(
                reference(&m, ip(src), ip(dst), proto, port),
                want,
                "{}: reference, {src} -> {dst}",
                case.name
            );
        }
    }
}

#[test]
fn every_pair_and_port_agrees_with_the_reference() {
    let addrs = [WEB, DB, CLIENT, API_PROD, API_DEV, DNS, OUT, OUT_EXCEPT, "10.40.0.5"];
    let probes: &[(u8, Option<u16>)] = &[
        (TCP, Some(53)),
        (UDP, Some(53)),
        (TCP, Some(80)),
        (TCP, Some(5432)),
        (TCP, Some(8000)),
        (TCP, Some(8080)),
        (UDP, Some(7005)),
        (TCP, Some(9000)),
        (132, Some(1)),
        (ICMP, None),
    ];
    let mut checked = 0;
    for case in CASES {
        let m = model_with(case.yaml);
        for s in addrs {
            for d in addrs {
                for &(proto, port) in probes {
                    let got = m.why(ip(s), ip(d), proto, port).allowed();
                    assert_eq!(
                        got,
                        reference(&m, ip(s), ip(d), proto, port),
                        "{}: {s} -> {d} {proto} {port:?}",
                        case.name
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10_000);
}

#[test]
fn why_names_the_allowing_rule_and_the_isolating_policies() {
    let m = model_with(CASES[12].yaml); // egress to DNS only
    let id = |n: &str| PolicyId { namespace: "default".into(), name: n.into() };
    let v = m.why(ip(WEB), ip(DNS), TCP, Some(53));
    assert_eq!(v.egress, DirVerdict::Allowed { policy: id("dns-only"), rule: 0 });
    assert_eq!(v.ingress, DirVerdict::Open);
    let v = m.why(ip(WEB), ip(DB), TCP, Some(5432));
    assert_eq!(v.egress, DirVerdict::Denied { isolating: vec![id("dns-only")] });
    assert_eq!(m.isolating(ip(WEB), Direction::Egress), vec![id("dns-only")]);
    assert!(m.isolating(ip(WEB), Direction::Ingress).is_empty());
}

#[test]
fn hosted_sets_hold_only_this_hosts_targets() {
    let m = model_with(CASES[1].yaml); // default deny ingress in default
    let view = m.kernel_view();
    let iso = &view.sets["iso_in"].1;
    // web is on h1 (this host); db and client are on h2.
    assert_eq!(iso.iter().copied().collect::<Vec<_>>(), vec![Elem::Addr(ip(WEB))]);
    // The model still answers for h2's targets as h2's kernel does.
    assert!(!m.why(ip(WEB), ip(DB), TCP, Some(5432)).allowed());
}

#[test]
fn target_changes_give_exactly_the_element_changes_of_a_full_recompile() {
    // Every case's policies at once, renamed apart.
    let mut by_id = BTreeMap::new();
    for (i, c) in CASES.iter().enumerate() {
        if !c.yaml.is_empty() {
            for mut p in crate::parse(c.yaml).unwrap() {
                p.id.name = format!("{}-{i}", p.id.name);
                by_id.insert(p.id.clone(), p);
            }
        }
    }
    let mut m = world();
    m.set_policies(by_id.into_values().collect());
    let mut kernel = m.kernel_view().sets;
    let apply = |kernel: &mut BTreeMap<String, (crate::SetKind, BTreeSet<Elem>)>,
                 changes: Vec<crate::ElemChange>| {
        for c in changes {
            let set = &mut kernel.get_mut(&c.set).unwrap().1;
            if c.add {
                set.insert(c.elem);
            } else {
                assert!(set.remove(&c.elem), "deleting {:?} from {} that is not there", c.elem, c.set);
            }
        }
    };
    use Protocol::*;
    type Step = Box<dyn Fn(&mut Model) -> Vec<crate::ElemChange>>;
    let steps: Vec<Step> = vec![
        Box::new(|m| {
            m.upsert_target(target(
                "web2",
                "default",
                &[("app", "web")],
                &[("http", 8081, Tcp)],
                "10.32.0.9",
                "h1",
            ))
        }),
        Box::new(|m| m.upsert_target(target("web2", "default", &[("app", "db")], &[], "10.32.0.9", "h1"))),
        Box::new(|m| {
            m.upsert_target(target(
                "x",
                "dev",
                &[("app", "api"), ("role", "r")],
                &[("http", 1, Tcp)],
                "10.32.2.7",
                "h1",
            ))
        }),
        Box::new(|m| m.set_namespace("dev", [("env".to_string(), "prod".to_string())].into())),
        Box::new(|m| m.remove_target("web")),
        Box::new(|m| {
            m.upsert_target(target(
                "web",
                "default",
                &[("app", "web")],
                &[("http", 8080, Tcp)],
                "10.32.0.1",
                "h1",
            ))
        }),
        Box::new(|m| m.remove_target("web2")),
        Box::new(|m| m.remove_target("db")),
        Box::new(|m| m.set_namespace("dev", BTreeMap::new())),
    ];
    for (i, step) in steps.iter().enumerate() {
        let changes = step(&mut m);
        apply(&mut kernel, changes);
        assert_eq!(kernel, m.kernel_view().sets, "after step {i}");
        // And a model built from scratch agrees.
        let mut fresh = Model::new("h1");
        for (ns, l) in m.namespaces().clone() {
            fresh.set_namespace(&ns, l);
        }
        for t in m.targets().cloned().collect::<Vec<_>>() {
            fresh.upsert_target(t);
        }
        fresh.set_policies(m.policies().cloned().collect());
        assert_eq!(
            fresh.kernel_view().sets.values().collect::<Vec<_>>(),
            kernel.values().collect::<Vec<_>>(),
            "fresh, step {i}"
        );
    }
}

#[test]
fn a_changed_policy_keeps_its_set_names() {
    let mut m = model_with(CASES[3].yaml);
    let before: Vec<String> = m.kernel_view().sets.keys().cloned().collect();
    m.set_policies(crate::parse(CASES[3].yaml).unwrap());
    assert_eq!(before, m.kernel_view().sets.keys().cloned().collect::<Vec<_>>());
}

// ---- parsing ----

#[test]
fn yaml_json_multi_document_and_lists_parse() {
    let multi = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: prod}\nspec: {podSelector: {}}\n---\n# comment\napiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n  metadata: {name: b}\n- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n  metadata: {name: c}\n---\n";
    let ps = crate::parse(multi).unwrap();
    let names: Vec<String> = ps.iter().map(|p| p.id.to_string()).collect();
    assert_eq!(names, ["prod/a", "default/b", "default/c"]);
    let json = r#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicyList","items":[{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"j"},"spec":{"podSelector":{"matchLabels":{"app":"x"}},"egress":[{"ports":[{"port":"dns","protocol":"UDP"}]}]}}]}"#;
    let ps = crate::parse(json).unwrap();
    assert_eq!(ps[0].id.name, "j");
    // policyTypes defaulted: Ingress always, Egress because egress rules are given.
    assert_eq!(ps[0].ingress, Some(vec![]));
    assert_eq!(
        ps[0].egress.as_ref().unwrap()[0].ports.as_ref().unwrap()[0].ports,
        Ports::Named("dns".into())
    );
    // The source survives a round trip through gossip or the data dir.
    let again = crate::parse::from_source(&serde_json::to_vec(&ps[0].source).unwrap()).unwrap();
    assert_eq!(again, ps[0]);
}

#[test]
fn policy_types_default_as_kubernetes_does() {
    let p = |spec: &str| {
        crate::parse(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p}}\nspec: {spec}\n"
        ))
        .unwrap()
        .remove(0)
    };
    let only_ingress = p("{podSelector: {}}");
    assert!(only_ingress.ingress.is_some() && only_ingress.egress.is_none());
    let both = p("{podSelector: {}, egress: [{}]}");
    assert!(both.ingress.is_some() && both.egress.is_some());
    // Given types win; rules of a missing type are ignored.
    let eg = p("{podSelector: {}, policyTypes: [Egress], ingress: [{}]}");
    assert!(eg.ingress.is_none() && eg.egress == Some(vec![]));
    // An empty egress list with no types: Ingress only.
    let e = p("{podSelector: {}, egress: []}");
    assert!(e.egress.is_none());
}

#[test]
fn bad_input_is_refused_whole_with_the_field_path() {
    let head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n";
    let cases: &[(&str, &str, &str)] = &[
        ("spec: {podSelector: {}, ingres: []}", "spec.ingres", "unknown field"),
        ("spec: {podSelector: {matchLabels: {app: true}}}", "spec.podSelector.matchLabels.app", "string"),
        ("spec: {podSelector: {}, policyTypes: [Inbound]}", "spec.policyTypes[0]", "Inbound"),
        ("spec: {podSelector: {}, policyTypes: [Ingress, Ingress]}", "spec.policyTypes[1]", "twice"),
        ("spec: {podSelector: {}, ingress: [{from: [{}]}]}", "spec.ingress[0].from[0]", "must specify a peer"),
        ("spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}", "spec.ingress[0].from[0]", "may not be combined"),
        ("spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}", "spec.ingress[0].from[0].ipBlock.cidr", "not a CIDR"),
        ("spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 'fd00::/8'}}]}]}", "spec.ingress[0].from[0].ipBlock.cidr", "IPv6"),
        ("spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]}", "spec.ingress[0].from[0].ipBlock.except[0]", "strictly inside"),
        ("spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]}]}", "spec.ingress[0].from[0].ipBlock.except[0]", "strictly inside"),
        ("spec: {podSelector: {}, egress: [{ports: [{port: 0}]}]}", "spec.egress[0].ports[0].port", "not a port"),
        ("spec: {podSelector: {}, egress: [{ports: [{port: 70000}]}]}", "spec.egress[0].ports[0].port", "not a port"),
        ("spec: {podSelector: {}, egress: [{ports: [{port: 99999999999}]}]}", "spec.egress[0].ports[0].port", "32-bit"),
        ("spec: {podSelector: {}, egress: [{ports: [{port: 80, endPort: 79}]}]}", "spec.egress[0].ports[0].endPort", "less than"),
        ("spec: {podSelector: {}, egress: [{ports: [{port: http, endPort: 90}]}]}", "spec.egress[0].ports[0].endPort", "name"),
        ("spec: {podSelector: {}, egress: [{ports: [{endPort: 90}]}]}", "spec.egress[0].ports[0].endPort", "without port"),
        ("spec: {podSelector: {}, egress: [{ports: [{port: HTTP}]}]}", "spec.egress[0].ports[0].port", "lower-case"),
        ("spec: {podSelector: {}, egress: [{ports: [{port: 80, protocol: tcp}]}]}", "spec.egress[0].ports[0].protocol", "TCP"),
        ("spec: {podSelector: {}, egress: [{ports: [{port: 80, protocol: ICMP}]}]}", "spec.egress[0].ports[0].protocol", "SCTP"),
        ("spec: {podSelector: {matchExpressions: [{key: a, operator: In}]}}", "spec.podSelector.matchExpressions[0].values", "non-empty"),
        ("spec: {podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}}", "spec.podSelector.matchExpressions[0].values", "must be empty"),
        ("spec: {podSelector: {matchExpressions: [{key: a, operator: Gt, values: ['1']}]}}", "spec.podSelector.matchExpressions[0].operator", "supported operators"),
        ("spec: {podSelector: {matchLabels: {'-bad': x}}}", "spec.podSelector.matchLabels.-bad", "label key"),
        ("spec: {podSelector: {matchLabels: {a: 'x y'}}}", "spec.podSelector.matchLabels.a", "label value"),
    ];
    for (spec, path, reason) in cases {
        // A good policy first: the file is refused as a whole all the same.
        let good = format!("{head}spec: {{podSelector: {{}}}}\n");
        let text = format!("{good}---\n{}", head.replace("name: p", "name: q")) + spec + "\n";
        let err = crate::parse(&text).expect_err(spec);
        assert_eq!(err.document, 2, "{spec}: {err}");
        assert_eq!(err.path, *path, "{spec}: {err}");
        assert!(err.reason.contains(reason), "{spec}: {err}");
    }
    let whole: &[(&str, &str, &str)] = &[
        ("", "", "no NetworkPolicy"),
        ("kind: Pod\napiVersion: v1\n", "kind", "not a NetworkPolicy"),
        ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {}\n", "metadata.name", "missing"),
        ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: Bad_Name}\n", "metadata.name", "lower-case"),
        ("apiVersion: networking.k8s.io/v2\nkind: NetworkPolicy\nmetadata: {name: a}\n", "apiVersion", "networking.k8s.io/v1"),
        ("apiVersion: v1\nkind: List\nitems: [{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a}, spec: {podSelector: {}, egres: []}}]\n", "items[0].spec.egres", "unknown field"),
        ("a: [unclosed\n", "", "not valid YAML"),
        ("a: 1\na: 2\n", "", "not valid YAML"),
        ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\n", "", "twice"),
    ];
    for (text, path, reason) in whole {
        let err = crate::parse(text).expect_err(text);
        assert_eq!(err.path, *path, "{text}: {err}");
        assert!(err.reason.contains(reason), "{text}: {err}");
    }
}

#[test]
fn hostile_yaml_stays_within_budget() {
    // Billion laughs: aliases expanding exponentially.
    let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        s.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    assert!(crate::parse(&s).is_err());
    // Deep nesting.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(crate::parse(&deep).is_err());
    // Too large.
    assert!(crate::parse(&" ".repeat(crate::parse::MAX_INPUT + 1)).unwrap_err().reason.contains("split"));
}

#[test]
fn named_port_flags_parse() {
    let p = crate::model::parse_named_port("http=8080/tcp").unwrap();
    assert_eq!((p.name.as_str(), p.port, p.protocol), ("http", 8080, Protocol::Tcp));
    assert_eq!(crate::model::parse_named_port("dns=53/UDP").unwrap().protocol, Protocol::Udp);
    assert_eq!(crate::model::parse_named_port("m=9").unwrap().protocol, Protocol::Tcp);
    for bad in ["http", "http=0", "http=x", "Http=80", "h=80/icmp"] {
        assert!(crate::model::parse_named_port(bad).is_err(), "{bad}");
    }
}

#[test]
fn ip_block_ranges_subtract_the_excepts() {
    let b = crate::types::IpBlock {
        cidr: "10.0.0.0/24".parse().unwrap(),
        except: vec!["10.0.0.0/26".parse().unwrap(), "10.0.0.128/25".parse().unwrap()],
    };
    assert_eq!(b.ranges(), vec![(ip("10.0.0.64"), ip("10.0.0.127"))]);
    assert!(b.contains(ip("10.0.0.64")) && !b.contains(ip("10.0.0.63")) && !b.contains(ip("10.0.0.128")));
}
