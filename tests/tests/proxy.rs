//! The Docker API proxy end to end: a real dockerd per Docker host (see `weave_e2e::Docker`),
//! Debian's docker CLI pointed at the proxy's socket (`weave env`), busybox containers.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};
use weave_e2e::{wait_for, Cluster, Daemon, Docker, Host, Output, IMAGE};

/// Generous: a shared 2-core test machine, dockerd and vfs copies.
const SETTLE: Duration = Duration::from_secs(30);
const PROXY: &str = "unix:///var/run/weave/weave.sock";
const DOCKER_CLI: &str = "/usr/bin/docker";

/// `docker -H PROXY ARGS`.
fn via(d: &Docker, args: &[&str]) -> Output {
    let mut full = vec!["-H", PROXY];
    full.extend_from_slice(args);
    d.exec(DOCKER_CLI, &full)
}

fn via_ok(d: &Docker, args: &[&str]) -> String {
    let out = via(d, args);
    assert!(out.ok(), "docker -H {PROXY} {}: {}\n{}", args.join(" "), out.stderr.trim(), d.log_tail());
    out.stdout.trim().to_string()
}

/// Starts the daemon and waits until the proxy answers.
fn launch(d: &Docker, h: &Host, extra: &[&str]) -> Daemon {
    let daemon = d.start_daemon(h, extra);
    h.wait_ready();
    wait_for("the proxy to answer", SETTLE, || {
        let out = via(d, &["version", "-f", "{{.Server.Version}}"]);
        if out.ok() {
            Ok(())
        } else {
            Err(out.stderr)
        }
    });
    daemon
}

/// The IPv4 addresses (CIDR) in `ip addr` output for ethwe.
fn inets(ip_addr_output: &str) -> Vec<String> {
    ip_addr_output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("inet "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn in_net(cidr: &str, prefix: &str, len: &str) -> bool {
    cidr.starts_with(prefix) && cidr.ends_with(len)
}

#[test]
fn docker_run_through_the_proxy_is_on_weave_before_its_command_runs_with_weave_cidr_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = launch(&d, h, &[]);

    // weave env / config / dns-args, as Weave prints them.
    let env = d.weave(&["env"]);
    assert!(
        env.ok() && env.stdout.starts_with(&format!("export DOCKER_HOST={PROXY} ORIG_DOCKER_HOST=")),
        "{env:?}"
    );
    assert_eq!(d.weave(&["config"]).stdout.trim(), format!("-H={PROXY}"));
    let dns_args = d.weave(&["dns-args"]).stdout;
    let bridge = d.exec("ip", &["-4", "-o", "addr", "show", "docker0"]).stdout;
    let bridge_ip =
        bridge.split_whitespace().skip_while(|w| *w != "inet").nth(1).unwrap().split('/').next().unwrap();
    assert_eq!(dns_args.trim(), format!("--dns={bridge_ip} --dns-search=weave.local."));
    let proxyaddrs = h.http("GET", "/proxyaddrs");
    assert_eq!((proxyaddrs.0, proxyaddrs.1.trim()), (200, PROXY));
    assert!(h.weave(&["status"]).stdout.contains(&format!("Service: proxy\n        Address: {PROXY}\n")));

    // The command's very first look finds ethwe with an address of the default subnet.
    let out = via_ok(&d, &["run", "--rm", "--name", "web", IMAGE, "ip", "addr", "show", "ethwe"]);
    let addrs = inets(&out);
    assert!(addrs.len() == 1 && in_net(&addrs[0], "10.3", "/12"), "{out}");
    // The hostname came from the name, in the weave domain; weaveDNS is the resolver.
    let out =
        via_ok(&d, &["run", "--rm", "--name", "db", IMAGE, "sh", "-c", "hostname; cat /etc/resolv.conf"]);
    assert!(out.starts_with("db\n"), "{out}");
    assert!(out.contains(&format!("nameserver {bridge_ip}")), "{out}");

    let out = via_ok(
        &d,
        &["run", "--rm", "-e", "WEAVE_CIDR=net:10.40.1.0/24", IMAGE, "ip", "addr", "show", "ethwe"],
    );
    let addrs = inets(&out);
    assert!(addrs.len() == 1 && in_net(&addrs[0], "10.40.1.", "/24"), "{out}");
    let out =
        via_ok(&d, &["run", "--rm", "-e", "WEAVE_CIDR=ip:10.2.0.9/24", IMAGE, "ip", "addr", "show", "ethwe"]);
    assert_eq!(inets(&out), ["10.2.0.9/24"], "{out}");
    // Two words, two addresses.
    let out = via_ok(
        &d,
        &[
            "run",
            "--rm",
            "-e",
            "WEAVE_CIDR=ip:10.2.0.10/24 ip:10.2.1.10/24",
            IMAGE,
            "ip",
            "addr",
            "show",
            "ethwe",
        ],
    );
    assert_eq!(
        inets(&out).into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from(["10.2.0.10/24".into(), "10.2.1.10/24".to_string()])
    );

    // WEAVE_CIDR=none and --net=host stay off weave, untouched.
    let id = via_ok(&d, &["create", "-e", "WEAVE_CIDR=none", IMAGE, "ip", "link"]);
    assert_eq!(d.inspect(&id, "{{json .Config.Entrypoint}}"), "null");
    let out = via_ok(&d, &["start", "-a", &id]);
    assert!(!out.contains("ethwe"), "{out}");
    let id = via_ok(&d, &["create", "--net=host", IMAGE, "true"]);
    assert_eq!(d.inspect(&id, "{{json .Config.Entrypoint}}"), "null");

    // An attach that cannot be done stops the container, and its log says why.
    let out = via(&d, &["run", "--name", "bad", "-e", "WEAVE_CIDR=ip:10.2.0.300/24", IMAGE, "true"]);
    assert!(!out.ok() && out.stderr.contains("attaching the container to weave failed"), "{out:?}");
    wait_for("the failed container to stop", SETTLE, || {
        let running = d.inspect("bad", "{{.State.Running}}");
        if running == "false" {
            Ok(())
        } else {
            Err(running)
        }
    });
    let logs = d.docker(&["logs", "bad"]);
    assert!(logs.stderr.contains("weave: attaching the container to weave failed"), "{logs:?}");

    // An image without a command is refused with Weave's words.
    let out = via(&d, &["create", IMAGE]);
    assert!(!out.ok() && out.stderr.contains("No command specified"), "{out:?}");
}

/// Runs `docker -H PROXY ARGS` with `input` on stdin; returns stdout.
fn via_stdin(d: &Docker, args: &[&str], input: &[u8]) -> String {
    let mut child = d
        .command(DOCKER_CLI)
        .args(["-H", PROXY])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn docker");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("docker");
    writer.join().expect("writer");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sha256(data: &[u8]) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

#[test]
fn hijacked_streams_logs_exec_and_plain_calls_pass_through_the_proxy_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = launch(&d, h, &[]);

    // docker run -i: 10 MB in, its checksum out, then the container sees EOF (half-close).
    let data: Vec<u8> = (0..10u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let got = via_stdin(&d, &["run", "-i", "--rm", IMAGE, "sha256sum"], &data);
    assert_eq!(got.split_whitespace().next(), Some(sha256(&data).as_str()), "{got}");

    // docker logs -f streams: lines arrive while the container still runs.
    let id = via_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "ticker",
            IMAGE,
            "sh",
            "-c",
            "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done",
        ],
    );
    let mut follow = d
        .command(DOCKER_CLI)
        .args(["-H", PROXY, "logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker logs -f");
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let start = Instant::now();
    for want in ["tick0", "tick1", "tick2", "tick3", "tick4"] {
        assert_eq!(lines.next().and_then(|l| l.ok()).as_deref(), Some(want));
    }
    assert!(start.elapsed() < SETTLE);
    // A client that goes away mid-stream leaves the proxy serving.
    let _ = follow.kill();
    let _ = follow.wait();

    // exec runs through weavewait and sees ethwe.
    let out = via_ok(&d, &["exec", "ticker", "ip", "addr", "show", "ethwe"]);
    assert_eq!(inets(&out).len(), 1, "{out}");
    via_ok(&d, &["exec", "-d", "ticker", "sleep", "30"]);
    let exec_ids = d.inspect(&id, "{{range .ExecIDs}}{{.}} {{end}}");
    let through_weavewait = exec_ids.split_whitespace().any(|e| {
        let exec =
            d.exec("curl", &["-s", "--unix-socket", "/run/docker.sock", &format!("http://d/exec/{e}/json")]);
        exec.stdout.contains(r#""entrypoint":"/w/w","arguments":["sleep","30"]"#)
    });
    assert!(through_weavewait, "no exec of /w/w sleep 30 among {exec_ids}");

    // More than 64 KiB of chunked response.
    let big =
        via_ok(&d, &["run", "--name", "big", IMAGE, "sh", "-c", "yes 0123456789abcdef | head -c 300000"]);
    assert_eq!(big.len(), 300000, "docker run's output");
    let logs = via(&d, &["logs", "big"]);
    assert_eq!(logs.stdout, d.docker(&["logs", "big"]).stdout);
    assert_eq!(logs.stdout.len(), 300000);

    // The same answers as dockerd itself (lists without their "N seconds ago" columns: the two
    // calls may fall either side of a second).
    for args in [
        &["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Image}} {{.Command}} {{.Names}} {{.Ports}}"][..],
        &["inspect", "ticker"],
        &["inspect", "big"],
        &["version"],
        &["images", "--no-trunc", "--format", "{{.ID}} {{.Repository}} {{.Tag}} {{.Size}}"],
    ] {
        assert_eq!(via_ok(&d, args), d.docker_ok(args), "docker {args:?}");
    }
}

#[test]
fn proxy_containers_resolve_on_another_host_and_keep_their_address_across_restarts_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let d1 = Docker::start(h1);
    let mut w1 = launch(&d1, h1, &["--rewrite-inspect"]);
    let _w2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h2.wait_established_to(&[h1], SETTLE);
    via_ok(&d1, &["run", "-d", "--name", "web", IMAGE, "sleep", "600"]);
    let addr = |d: &Docker| inets(&d.docker_ok(&["exec", "web", "ip", "addr", "show", "ethwe"]));
    let first = addr(&d1);
    assert_eq!(first.len(), 1, "{first:?}");
    let ip = first[0].split('/').next().unwrap().to_string();
    let resolves = |h: &Host, want: &str| {
        wait_for(&format!("web.weave.local to be {want:?} on {}", h.nickname()), SETTLE, || {
            let out = h.ns.exec("dig", &["@127.0.0.1", "+short", "+tries=1", "+time=2", "web.weave.local"]);
            if out.stdout.trim() == want {
                Ok(())
            } else {
                Err(out.stdout)
            }
        })
    };
    resolves(h2, &ip);
    // --rewrite-inspect: the weave address through the proxy, Docker's own directly.
    let fmt = "{{.NetworkSettings.IPAddress}}/{{.NetworkSettings.IPPrefixLen}}";
    assert_eq!(via_ok(&d1, &["inspect", "-f", fmt, "web"]), first[0]);
    assert!(d1.inspect("web", fmt).starts_with("172."), "{}", d1.inspect("web", fmt));
    let mac = d1.docker_ok(&["exec", "web", "cat", "/sys/class/net/ethwe/address"]);
    assert_eq!(via_ok(&d1, &["inspect", "-f", "{{.NetworkSettings.MacAddress}}", "web"]), mac);
    // It pings the other host's netns container by name.
    let other = h2.container("other", &[]);
    let name = format!("{}.weave.local", other.name);
    wait_for("web pings the other host's container by name", SETTLE, || {
        let out = d1.docker(&["exec", "web", "ping", "-c1", "-W2", &name]);
        if out.ok() {
            Ok(())
        } else {
            Err(out.stdout + &out.stderr)
        }
    });

    via_ok(&d1, &["restart", "-t", "1", "web"]);
    assert_eq!(addr(&d1), first, "a restart through the proxy keeps the address");
    resolves(h2, &ip);
    // Restarted behind the proxy's back: Docker's start event attaches it again.
    let on_weave_again = |why: &str| {
        wait_for(why, SETTLE, || {
            let a = inets(&d1.docker(&["exec", "web", "ip", "addr", "show", "ethwe"]).stdout);
            if a == first {
                Ok(())
            } else {
                Err(format!("{a:?}"))
            }
        })
    };
    d1.docker_ok(&["restart", "-t", "1", "web"]);
    on_weave_again("web on weave again after a restart by Docker");
    resolves(h2, &ip);
    // Restarted while no daemon runs: weavewait holds its command until the next daemon
    // attaches it at launch.
    w1.kill();
    d1.docker_ok(&["restart", "-t", "1", "web"]);
    let ps = d1.docker_ok(&["top", "web"]);
    assert!(ps.contains("/w/w sleep 600"), "weavewait still waits: {ps}");
    let _w1 = launch(&d1, h1, &["--rewrite-inspect"]);
    on_weave_again("web attached by the relaunched daemon");
    wait_for("web's command to run", SETTLE, || {
        let ps = d1.docker_ok(&["top", "web"]);
        if ps.contains("sleep 600") && !ps.contains("/w/w") {
            Ok(())
        } else {
            Err(ps)
        }
    });
    resolves(h2, &ip);
}

#[test]
fn bad_requests_vanishing_clients_and_docker_going_away_leave_the_proxy_serving_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let mut d = Docker::start(h);
    let w = launch(
        &d,
        h,
        &[
            "--hostname-match",
            "^aws-(.*)-(.*)$",
            "--hostname-replacement",
            "my-$2-$1",
            "-H",
            PROXY,
            "-H",
            "tcp://127.0.0.1:12375",
        ],
    );
    // A second listener, on TCP.
    let out = d.exec(DOCKER_CLI, &["-H", "tcp://127.0.0.1:12375", "version", "-f", "{{.Server.Version}}"]);
    assert!(out.ok() && !out.stdout.trim().is_empty(), "{out:?}");
    assert_eq!(h.http("GET", "/proxyaddrs").1.trim(), format!("{PROXY}\ntcp://127.0.0.1:12375"));
    // The hostname rules (before the bad requests below).
    assert_eq!(via_ok(&d, &["run", "--rm", "--name", "aws-a-b", IMAGE, "hostname"]), "my-b-a");
    let curl = |args: &[&str]| {
        let mut full = vec!["-s", "-w", "\n%{http_code}", "--unix-socket", "/var/run/weave/weave.sock"];
        full.extend_from_slice(args);
        d.exec("curl", &full)
    };
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", w.pid())).map(|r| r.count()).unwrap_or(0);
    // Warm up: the first calls open what stays open (Docker's client, the event stream).
    via_ok(&d, &["ps"]);
    let fds_before = fds();

    let out = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        "{not json",
        "http://d/v1.41/containers/create",
    ]);
    assert!(out.stdout.ends_with("\n400") && out.stdout.contains("not valid JSON"), "{out:?}");
    let out = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"Image":"x","Cmd":5}"#,
        "http://d/containers/create",
    ]);
    assert!(
        out.stdout.ends_with("\n400") && out.stdout.contains("Cmd must be a string or an array of strings"),
        "{out:?}"
    );
    let big = format!(r#"{{"Image":"x","Env":["A={}"]}}"#, "a".repeat(9 << 20));
    let path = h.data_dir.join("big.json");
    std::fs::write(&path, big).unwrap();
    let out = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", path.display()),
        "http://d/containers/create",
    ]);
    assert!(out.stdout.ends_with("\n413") && out.stdout.contains("larger than"), "{out:?}");

    // Clients that go away mid-request: a hijacked attach, a follow of events.
    for i in 0..5 {
        let name = format!("vanishing-{i}");
        let mut run = d
            .command(DOCKER_CLI)
            .args(["-H", PROXY, "run", "-i", "--rm", "--name", &name, IMAGE, "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        run.stdin.as_mut().unwrap().write_all(b"partial").unwrap();
        let mut events =
            d.command(DOCKER_CLI).args(["-H", PROXY, "events"]).stdout(Stdio::null()).spawn().unwrap();
        // Gone mid-stream: once the container runs, its client is on the hijacked connection.
        wait_for(&format!("{name} to run"), SETTLE, || {
            let ps = via_ok(&d, &["ps", "-q", "-f", &format!("name=^{name}$")]);
            if ps.trim().is_empty() {
                Err("not running yet".to_string())
            } else {
                Ok(())
            }
        });
        let _ = run.kill();
        let _ = events.kill();
        let _ = run.wait();
        let _ = events.wait();
    }
    for _ in 0..20 {
        via_ok(&d, &["ps"]);
    }
    // Containers of the aborted runs wind down; then no descriptor is left behind.
    wait_for("the proxy's descriptors to settle", SETTLE, || {
        let n = fds();
        if n <= fds_before + 4 {
            Ok(())
        } else {
            Err(format!("{n} open, {fds_before} before"))
        }
    });

    // dockerd going away: a clear error; back: served again.
    d.stop_dockerd();
    let out = via(&d, &["ps"]);
    assert!(!out.ok() && out.stderr.contains("weave proxy: cannot reach Docker"), "{out:?}");
    d.start_dockerd();
    wait_for("the proxy serving again", SETTLE, || {
        let out = via(&d, &["ps"]);
        if out.ok() {
            Ok(())
        } else {
            Err(out.stderr)
        }
    });
}

#[test]
fn no_proxy_runs_no_proxy_and_weave_env_says_so_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = d.start_daemon(h, &["--no-proxy"]);
    h.wait_ready();
    let env = d.weave(&["env"]);
    assert!(!env.ok() && env.stderr.contains("the Docker API proxy is not running"), "{env:?}");
    assert!(!d.weave(&["config"]).ok());
    assert_eq!(h.http("GET", "/proxyaddrs").0, 404);
    assert!(!h.weave(&["status"]).stdout.contains("Service: proxy"));
    assert!(!d.exec("test", &["-e", "/var/run/weave/weave.sock"]).ok(), "no proxy socket");
    // --restore needs no daemon.
    let restore = d
        .command(weave_e2e::binary("weave").to_str().unwrap())
        .args(["env", "--restore"])
        .env("ORIG_DOCKER_HOST", "unix:///x.sock")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&restore.stdout).trim(),
        "export DOCKER_HOST=unix:///x.sock; unset ORIG_DOCKER_HOST"
    );
}
