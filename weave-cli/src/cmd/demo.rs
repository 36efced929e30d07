//! `weave demo up|down`: a weave network on one machine. Each "host" is a network namespace on
//! an underlay bridge (itself in a namespace) running its own weave-daemon; each host has one
//! "container" namespace attached with 10.32.0.N/12. Everything is named `weavedemo-*`.

use crate::cli::DemoAction;
use crate::output::{CmdResult, Failure};
use std::process::Command;
use std::time::{Duration, Instant};

const PREFIX: &str = "weavedemo";
const DATA: &str = "/tmp/weavedemo";

fn run(args: &[&str]) -> Result<String, Failure> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| Failure::new(format!("cannot run {}: {e}", args[0])))?;
    if !out.status.success() {
        return Err(Failure::new(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn demo_namespaces() -> Vec<String> {
    run(&["ip", "netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(PREFIX))
        .map(String::from)
        .collect()
}

pub async fn exec(action: DemoAction) -> CmdResult {
    match action {
        DemoAction::Up { hosts, daemon_flags } => up(hosts as usize, &daemon_flags),
        DemoAction::Down => down(),
    }
}

fn up(n: usize, flags: &[String]) -> CmdResult {
    if !demo_namespaces().is_empty() {
        return Err(Failure::new("a demo cluster already exists: remove it with `weave demo down`"));
    }
    let weave = std::env::current_exe().map_err(|e| Failure::new(e.to_string()))?;
    let weave = weave.to_str().ok_or_else(|| Failure::new("the weave binary's path is not UTF-8"))?;
    let ul = format!("{PREFIX}-ul");
    let result = (|| -> CmdResult {
        run(&["ip", "netns", "add", &ul])?;
        run(&["ip", "-n", &ul, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &ul, "link", "set", "br0", "up"])?;
        for i in 1..=n {
            let h = format!("{PREFIX}-h{i}");
            run(&["ip", "netns", "add", &h])?;
            run(&["ip", "-n", &h, "link", "set", "lo", "up"])?;
            let port = format!("vh{i}");
            run(&[
                "ip", "-n", &ul, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &h,
            ])?;
            run(&["ip", "-n", &ul, "link", "set", &port, "master", "br0", "up"])?;
            run(&["ip", "-n", &h, "addr", "add", &format!("10.99.0.{i}/24"), "dev", "eth0"])?;
            run(&["ip", "-n", &h, "link", "set", "eth0", "up"])?;
            let data = format!("{DATA}/h{i}");
            let name = format!("02:00:00:00:00:{i:02x}");
            let nick = format!("host{i}");
            let mut args: Vec<&str> = vec![
                "ip",
                "netns",
                "exec",
                &h,
                weave,
                "launch",
                "--name",
                &name,
                "--nickname",
                &nick,
                "--data-dir",
                &data,
                "--resolv-conf",
                "",
                "--docker-api",
                "",
            ];
            args.extend(flags.iter().map(String::as_str));
            let first = "10.99.0.1".to_string();
            if i > 1 {
                args.push(&first);
            }
            run(&args)?;
            let c = format!("{PREFIX}-c{i}");
            run(&["ip", "netns", "add", &c])?;
            run(&["ip", "-n", &c, "link", "set", "lo", "up"])?;
            run(&[
                "ip",
                "netns",
                "exec",
                &h,
                weave,
                "attach",
                &format!("10.32.0.{i}/12"),
                &format!("netns:{c}"),
            ])?;
            println!(
                "host{i}: namespace {h}, peer {name}, underlay 10.99.0.{i}; container {c} at 10.32.0.{i}"
            );
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = down();
        return Err(e);
    }
    // Wait until every container reaches every other.
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 1..=n {
        for j in 1..=n {
            if i == j {
                continue;
            }
            let c = format!("{PREFIX}-c{i}");
            let to = format!("10.32.0.{j}");
            while run(&["ip", "netns", "exec", &c, "ping", "-c", "1", "-W", "1", &to]).is_err() {
                if Instant::now() > deadline {
                    return Err(Failure::new(format!("container {i} cannot reach 10.32.0.{j} after 60s")));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    println!("all {n} containers reach each other over weave.");
    println!("try: ip netns exec {PREFIX}-h1 weave status peers");
    println!("     ip netns exec {PREFIX}-c1 ping 10.32.0.{n}");
    println!("remove it with: weave demo down");
    Ok(())
}

fn down() -> CmdResult {
    let namespaces = demo_namespaces();
    for ns in &namespaces {
        // Stop whatever runs inside (daemons), then remove the namespace.
        if let Ok(pids) = run(&["ip", "netns", "pids", ns]) {
            for pid in pids.split_whitespace() {
                let _ = run(&["kill", "-TERM", pid]);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for ns in &namespaces {
        while run(&["ip", "netns", "pids", ns]).map(|p| !p.trim().is_empty()).unwrap_or(false)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Ok(pids) = run(&["ip", "netns", "pids", ns]) {
            for pid in pids.split_whitespace() {
                let _ = run(&["kill", "-KILL", pid]);
            }
        }
        let _ = run(&["ip", "netns", "del", ns]);
    }
    let _ = std::fs::remove_dir_all(DATA);
    println!("removed {} demo namespaces", namespaces.len());
    Ok(())
}
