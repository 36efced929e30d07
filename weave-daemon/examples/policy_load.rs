//! Benchmark helper for bench/policy.sh (not a test): loads a synthetic policy rule set into the
//! kernel of the namespace it runs in, through the daemon's enforcer, and measures it.
//!
//! policy_load apply   TARGETS POLICIES [ADDR=APP ...]   install and leave the table in place
//! policy_load latency TARGETS POLICIES SAMPLES          time from a target's arrival to its
//!                                                       rules in the kernel, then remove all
//! policy_load remove                                    delete the table
//!
//! Synthetic targets are 10.40.0.0/16 addresses labelled `app=appN` (N = i mod POLICIES), half
//! on this host. Policy N selects `app=appN` and allows ingress from `app=app(N+1)` on TCP 80,
//! 443 and 8000-8100 and from an ipBlock with an except; every fifth also isolates egress
//! (allowing DNS and its neighbour). ADDR=APP adds real targets: policy `allow-bench` lets
//! `app=client` reach `app=server` (any protocol, so ping measures too).

use std::net::Ipv4Addr;
use std::time::Instant;
use weave_daemon::policy::enforce::Enforcer;
use weave_policy::{Model, Target};

fn policies(n: usize) -> String {
    let mut y = String::new();
    for i in 0..n {
        let next = (i + 1) % n;
        y.push_str(&format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p{i}}}\nspec:\n  podSelector: {{matchLabels: {{app: app{i}}}}}\n  ingress:\n  - from: [{{podSelector: {{matchLabels: {{app: app{next}}}}}}}, {{ipBlock: {{cidr: 192.168.0.0/16, except: [192.168.{}.0/24]}}}}]\n    ports: [{{port: 80}}, {{port: 443}}, {{port: 8000, endPort: 8100}}]\n",
            i % 256
        ));
        if i % 5 < 1 {
            y.push_str(&format!(
                "  egress:\n  - ports: [{{port: 53, protocol: UDP}}, {{port: 53}}]\n  - to: [{{podSelector: {{matchLabels: {{app: app{next}}}}}}}]\n  policyTypes: [Ingress, Egress]\n"
            ));
        }
    }
    y.push_str("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-bench}\nspec:\n  podSelector: {matchLabels: {app: server}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: client}}}]\n");
    y
}

fn synthetic(i: usize, policies: usize) -> Target {
    Target {
        id: format!("t{i}"),
        namespace: "default".into(),
        labels: [("app".to_string(), format!("app{}", i % policies))].into(),
        addrs: vec![Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 40, 0, 0)) + i as u32 + 1)],
        host: if i & 1 == 0 { "here".into() } else { "there".into() },
        ..Default::default()
    }
}

fn build(targets: usize, n: usize, real: &[String]) -> Model {
    let mut m = Model::new("here");
    for i in 0..targets {
        m.upsert_target(synthetic(i, n));
    }
    for (k, r) in real.iter().enumerate() {
        let (addr, app) = r.split_once('=').expect("ADDR=APP");
        m.upsert_target(Target {
            id: format!("real{k}"),
            namespace: "default".into(),
            labels: [("app".to_string(), app.to_string())].into(),
            addrs: vec![addr.parse().expect("an IPv4 address")],
            host: "here".into(),
            ..Default::default()
        });
    }
    m.set_policies(weave_policy::parse(&policies(n)).expect("the synthetic policies parse"));
    m
}

fn slab_kb() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find(|l| l.starts_with("SUnreclaim:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<usize>().ok()).expect("a number");
    match args.first().map(String::as_str) {
        Some("apply") => {
            let (targets, n) = (num(1), num(2));
            let t0 = Instant::now();
            let m = build(targets, n, &args[3..]);
            let compile = t0.elapsed();
            let view = m.kernel_view();
            let elems: usize = view.sets.values().map(|(_, e)| e.len()).sum();
            let batch = serde_json::to_vec(&weave_daemon::policy::nft::transition(
                None,
                &view,
                &weave_daemon::policy::nft::OVERLAY_PORTS,
            ))
            .unwrap();
            let slab0 = slab_kb();
            let t1 = Instant::now();
            Enforcer::new().sync(&view).expect("apply the rule set");
            let apply = t1.elapsed();
            let slab1 = slab_kb();
            println!(
                "targets={targets} policies={} sets={} elements={elems} rules={} batch_bytes={} compile_ms={:.1} apply_ms={:.1} kernel_slab_delta_kb={}",
                view.policies.len(),
                view.sets.len(),
                view.rules.len(),
                batch.len(),
                compile.as_secs_f64() * 1e3,
                apply.as_secs_f64() * 1e3,
                slab1 as i64 - slab0 as i64
            );
        }
        Some("latency") => {
            let (targets, n, samples) = (num(1), num(2), num(3));
            let mut m = build(targets, n, &[]);
            let mut enforcer = Enforcer::new();
            enforcer.sync(&m.kernel_view()).expect("apply the rule set");
            let mut times = Vec::new();
            for s in 0..samples {
                // A new local target that three policies' sets take in.
                let mut t = synthetic(targets + s * 2, n);
                t.host = "here".into();
                let t0 = Instant::now();
                let changes = m.upsert_target(t);
                enforcer.apply(&changes).expect("apply element changes");
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "targets={targets} policies={n} samples={samples} attach_to_enforced_ms median={:.1} max={:.1}",
                times[times.len() / 2],
                times[times.len() - 1]
            );
            Enforcer::remove().expect("remove the table");
        }
        Some("remove") => Enforcer::remove().expect("remove the table"),
        _ => {
            eprintln!("usage: policy_load apply TARGETS POLICIES [ADDR=APP...] | latency TARGETS POLICIES SAMPLES | remove");
            std::process::exit(1);
        }
    }
}
