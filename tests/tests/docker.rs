//! Docker end to end: a real dockerd per Docker host (its own mount namespace, see
//! `weave_e2e::Docker`), weave's network plugin and Docker containers as targets, against
//! netns-only peers or a second Docker host.

use std::collections::BTreeSet;
use std::time::Duration;
use weave_e2e::cni::{Attachment, CniDirs};
use weave_e2e::{ethwe_addrs, wait_for, wait_until, Cluster, Daemon, Docker, Host, Netns, IMAGE};

/// Generous: a shared 2-core test machine, dockerd and vfs copies.
const SETTLE: Duration = Duration::from_secs(30);
/// Weave's grace period for a dead container's addresses, plus slack.
const GRACE: Duration = Duration::from_secs(45);

/// `docker run --rm IMAGE ping -c1 -W2 ADDR` on Docker's own bridge network.
fn bridge_ping(d: &Docker, addr: &str) -> Result<(), String> {
    let out = d.docker(&["run", "--rm", IMAGE, "ping", "-c1", "-W2", addr]);
    if out.ok() {
        Ok(())
    } else {
        Err(format!("{}{}", out.stdout, out.stderr))
    }
}

/// One ping from inside a container.
fn ping_from(d: &Docker, container: &str, to: &str) -> Result<(), String> {
    let out = d.docker(&["exec", container, "ping", "-c1", "-W2", to]);
    if out.ok() {
        Ok(())
    } else {
        Err(format!("{}{}", out.stdout, out.stderr))
    }
}

/// The container's address on the Docker network `weave`.
fn weave_ip(d: &Docker, container: &str) -> String {
    d.inspect(container, "{{.NetworkSettings.Networks.weave.IPAddress}}")
}

/// Docker's bridge address, where weaveDNS answers containers (as Weave's `dns-args`).
fn dns_server(d: &Docker) -> String {
    let out = d.exec("ip", &["-4", "-o", "addr", "show", "docker0"]);
    let inet = out.stdout.split_whitespace().skip_while(|w| *w != "inet").nth(1);
    inet.and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("docker0 has no address: {out:?}"))
        .to_string()
}

/// `docker run -d --net=weave --name NAME [EXTRA] IMAGE sleep 600`; returns the full id.
fn run_on_weave(d: &Docker, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--net=weave", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sleep", "600"]);
    d.docker_ok(&args)
}

/// Starts the daemon on a Docker host and waits until the plugin's network exists.
fn launch(d: &Docker, h: &Host, extra: &[&str]) -> Daemon {
    let daemon = d.start_daemon(h, extra);
    h.wait_ready();
    wait_for("the Docker network weave", SETTLE, || {
        let out = d.docker(&["network", "inspect", "-f", "{{.Driver}}", "weave"]);
        if out.ok() && out.stdout.trim() == "weavemesh" {
            Ok(())
        } else {
            Err(format!("{}{}", out.stdout, out.stderr))
        }
    });
    daemon
}

/// What weaveDNS on `h` answers for `name` (sorted).
fn lookup(h: &Host, name: &str) -> BTreeSet<String> {
    let out = h.ns.exec("dig", &["@127.0.0.1", "+short", "+tries=1", "+time=2", name]);
    out.stdout.lines().map(str::to_string).collect()
}

fn wait_lookup(h: &Host, name: &str, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    wait_for(&format!("{} to answer {name} with {want:?}", h.nickname()), GRACE, || {
        let got = lookup(h, name);
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
}

/// Addresses this peer's IPAM has handed out.
fn active_ips(h: &Host) -> u64 {
    h.report().expect("report").ipam.expect("IPAM").active_ips
}

/// The plugin's host-side veths on `h`.
fn plugin_veths(h: &Host) -> Vec<String> {
    let out = h.ns.exec("ip", &["-o", "link", "show"]);
    out.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|n| n.trim_end_matches(':').split('@').next().unwrap_or_default().to_string())
        .filter(|n| n.starts_with("vethwl") || n.starts_with("vethwepl"))
        .collect()
}

fn weave_ok(h: &Host, args: &[&str]) -> String {
    let out = h.weave(args);
    assert!(out.ok(), "weave {} on {}: {out:?}", args.join(" "), h.nickname());
    out.stdout
}

#[test]
fn dockers_bridge_still_reaches_outside_after_weave_launches_and_stops_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let out = h.outside();
    let d = Docker::start(h);
    bridge_ping(&d, "192.168.77.2").expect("Docker's bridge reaches the outside before weave");
    let mut daemon = launch(&d, h, &[]);
    bridge_ping(&d, "192.168.77.2").expect("and while weave runs");
    let stop = d.weave(&["stop"]);
    assert!(stop.ok() && stop.stderr.is_empty(), "{stop:?}");
    assert_eq!(daemon.wait_exit(SETTLE), Some(0), "weave stop ends the daemon");
    // As Weave's `weave stop`: the plugin's network goes with the daemon.
    let net = d.docker(&["network", "inspect", "weave"]);
    assert!(!net.ok() && net.stderr.contains("No such network"), "{net:?}");
    bridge_ping(&d, "192.168.77.2").expect("and after weave stopped");
    drop(out);
}

/// `weave reset` removes the Docker network `weave` as `weave stop` does, and the plugin's
/// sockets go with the daemon; Docker runs on without them.
#[test]
fn weave_reset_removes_the_docker_network_and_the_plugin_sockets_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let mut daemon = launch(&d, h, &[]);
    let sockets = ["/run/docker/plugins/weave.sock", "/run/docker/plugins/weavemesh.sock"];
    for s in sockets {
        assert!(d.exec("test", &["-S", s]).ok(), "{s} while weave runs");
    }
    run_on_weave(&d, "brief", &[]);
    d.docker_ok(&["rm", "-f", "brief"]);
    let reset = d.weave(&["reset"]);
    assert!(reset.ok() && !reset.stderr.contains("WARNING"), "{reset:?}");
    assert_eq!(daemon.wait_exit(SETTLE), Some(0), "weave reset ends the daemon");
    let net = d.docker(&["network", "inspect", "weave"]);
    assert!(!net.ok() && net.stderr.contains("No such network"), "{net:?}");
    for s in sockets {
        assert!(!d.exec("test", &["-e", s]).ok(), "{s} after reset");
    }
    d.docker_ok(&["run", "--rm", IMAGE, "true"]);
}

/// As Weave's: `weave stop` cannot remove the network while containers are on it, and says
/// which; the daemon stops all the same, and the next launch finds the network there.
#[test]
fn weave_stop_warns_of_containers_still_on_the_docker_network_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let mut daemon = launch(&d, h, &[]);
    let id = run_on_weave(&d, "stays", &[]);
    let stop = d.weave(&["stop"]);
    assert!(stop.ok(), "{stop:?}");
    assert!(
        stop.stderr.contains("WARNING")
            && stop.stderr.contains(&id[..12])
            && stop.stderr.contains("\"weave\""),
        "{stop:?}"
    );
    assert_eq!(daemon.wait_exit(SETTLE), Some(0));
    assert!(d.docker(&["network", "inspect", "weave"]).ok(), "the network stays while in use");
    let _w = launch(&d, h, &[]);
}

/// `docker network disconnect` releases the address Docker gave the container on weave's
/// network and its name there, at once (the container runs on); `docker network connect` of a
/// container on Docker's bridge takes an address, and the disconnect gives it back.
#[test]
fn docker_network_disconnect_releases_the_address_and_name_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = launch(&d, h, &[]);
    let before = active_ips(h);
    run_on_weave(&d, "web", &[]);
    let ip = weave_ip(&d, "web");
    wait_lookup(h, "web.weave.local", &[&ip]);
    assert_eq!(active_ips(h), before + 1);
    d.docker_ok(&["network", "connect", "bridge", "web"]);
    d.docker_ok(&["network", "disconnect", "weave", "web"]);
    let wait_active = |want: u64| {
        wait_for(&format!("{want} addresses in use"), SETTLE, || match active_ips(h) {
            n if n == want => Ok(()),
            n => Err(format!("{n} active")),
        })
    };
    wait_active(before);
    wait_lookup(h, "web.weave.local", &[]);
    assert!(d.inspect("web", "{{.State.Running}}") == "true");
    let ps = weave_ok(h, &["ps"]);
    assert!(!ps.contains(&ip), "{ps}");
    // Connected while running, then disconnected.
    d.docker_ok(&["run", "-d", "--name", "late", IMAGE, "sleep", "600"]);
    d.docker_ok(&["network", "connect", "weave", "late"]);
    let late = weave_ip(&d, "late");
    assert!(!late.is_empty());
    assert_eq!(active_ips(h), before + 1);
    d.docker_ok(&["network", "disconnect", "weave", "late"]);
    wait_active(before);
    wait_for("no plugin veth left", SETTLE, || match plugin_veths(h) {
        v if v.is_empty() => Ok(()),
        v => Err(format!("{v:?}")),
    });
}

#[test]
fn docker_run_net_weave_pings_across_docker_hosts_by_ip_and_name_over_fastdp_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let (d1, d2) = (Docker::start(h1), Docker::start(h2));
    let _w1 = launch(&d1, h1, &[]);
    let _w2 = launch(&d2, h2, &[&h1.addr.to_string()]);
    h2.wait_established_to(&[h1], SETTLE);
    let dns1 = format!("--dns={}", dns_server(&d1));
    let dns2 = format!("--dns={}", dns_server(&d2));
    run_on_weave(&d1, "c1", &["--hostname", "c1.weave.local", &dns1]);
    run_on_weave(&d2, "c2", &[&dns2]);
    let (ip1, ip2) = (weave_ip(&d1, "c1"), weave_ip(&d2, "c2"));
    assert_ne!(ip1, ip2, "one ring: distinct addresses");
    wait_for("c1 pings c2 by address", SETTLE, || ping_from(&d1, "c1", &ip2));
    wait_for("c2 pings c1 by name", SETTLE, || ping_from(&d2, "c2", "c1.weave.local"));
    wait_for("c1 pings c2 by its container name", SETTLE, || ping_from(&d1, "c1", "c2.weave.local"));
    let conns = weave_ok(h1, &["status", "connections"]);
    assert!(conns.contains("fastdp"), "{conns}");
    let status = weave_ok(h1, &["status"]);
    assert!(status.contains("Service: plugin (legacy)\n     DriverName: weave\n"), "{status}");
    assert!(status.contains("Service: docker\n         Status: connected (Docker 20.10"), "{status}");
    // The multicast route of the default network, in the interface Docker named ethwe0.
    let routes = d1.docker_ok(&["exec", "c1", "ip", "route"]);
    assert!(routes.contains("224.0.0.0/4 dev ethwe0"), "{routes}");
}

#[test]
fn docker_container_and_netns_container_ping_by_ip_and_name_over_encrypted_sleeve_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let d1 = Docker::start(h1);
    let _w1 = launch(&d1, h1, &["--password", "s3cret"]);
    let _w2 = h2.start_daemon(&["--password", "s3cret", &h1.addr.to_string()]);
    h2.wait_established_to(&[h1], SETTLE);
    let dns1 = format!("--dns={}", dns_server(&d1));
    run_on_weave(&d1, "c1", &[&dns1]);
    let other = h2.container("other", &[]);
    let other_ip = ethwe_addrs(&other)[0].split('/').next().unwrap().to_string();
    let ip1 = weave_ip(&d1, "c1");
    wait_for("c1 pings the netns container by address", SETTLE, || ping_from(&d1, "c1", &other_ip));
    let name = format!("{}.weave.local", other.name);
    wait_for("c1 pings it by name", SETTLE, || ping_from(&d1, "c1", &name));
    let back = other.exec("ping", &["-c1", "-W2", &ip1]);
    assert!(back.ok(), "{back:?}");
    let conns = weave_ok(h1, &["status", "connections"]);
    assert!(conns.contains("encrypted") && conns.contains("sleeve"), "{conns}");
}

#[test]
fn restart_keeps_address_and_name_and_rm_releases_both_on_every_peer_2() {
    let c = Cluster::new(2);
    let (h1, h2) = (c.host(0), c.host(1));
    let d1 = Docker::start(h1);
    let _w1 = launch(&d1, h1, &[]);
    let _w2 = h2.start_daemon(&[&h1.addr.to_string()]);
    h2.wait_established_to(&[h1], SETTLE);
    let before = active_ips(h1);
    let id = run_on_weave(&d1, "web", &[]);
    let ip = weave_ip(&d1, "web");
    wait_lookup(h2, "web.weave.local", &[&ip]);
    assert_eq!(active_ips(h1), before + 1);
    // The address belongs to the container: Weave's /ip/{id} finds it.
    let (code, body) = h1.http("GET", &format!("/ip/{id}"));
    assert_eq!((code, body.trim().split('/').next()), (200, Some(ip.as_str())), "{body}");

    d1.docker_ok(&["restart", "-t", "1", "web"]);
    assert_eq!(weave_ip(&d1, "web"), ip, "docker restart keeps the address");
    wait_lookup(h1, "web.weave.local", &[&ip]);
    wait_lookup(h2, "web.weave.local", &[&ip]);

    d1.docker_ok(&["rm", "-f", "web"]);
    wait_lookup(h2, "web.weave.local", &[]);
    wait_lookup(h1, "web.weave.local", &[]);
    wait_for("the address released", GRACE, || {
        let n = active_ips(h1);
        if n == before {
            Ok(())
        } else {
            Err(format!("{n} active, {before} before"))
        }
    });
    assert_eq!(h1.http("GET", &format!("/ip/{id}")).1.trim(), "", "the container owns nothing");
    assert!(plugin_veths(h1).is_empty(), "{:?}", plugin_veths(h1));
}

#[test]
fn a_killed_daemon_relaunched_reregisters_running_containers_and_docker_keeps_working_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let mut w = launch(&d, h, &[]);
    run_on_weave(&d, "stays", &[]);
    // On Docker's bridge, attached with weave attach (so stopping it needs no plugin call).
    d.docker_ok(&["run", "-d", "--name", "goes", "--hostname", "goes", IMAGE, "sleep", "600"]);
    weave_ok(h, &["attach", "goes"]);
    let stays = weave_ip(&d, "stays");
    wait_lookup(h, "stays.weave.local", &[&stays]);
    assert_eq!(lookup(h, "goes.weave.local").len(), 1);
    w.kill();
    // Gone while weave is down: nobody tells weave; its saved name goes at relaunch.
    d.docker_ok(&["kill", "goes"]);
    let mut w = launch(&d, h, &[]);
    wait_lookup(h, "stays.weave.local", &[&stays]);
    wait_lookup(h, "goes.weave.local", &[]);
    // Without its saved names, a relaunched daemon learns them from Docker alone.
    w.kill();
    std::fs::remove_file(h.data_dir.join("dns-entries.json")).expect("the saved DNS names");
    // And the log of changes since they were written, if the last run made any.
    let _ = std::fs::remove_file(h.data_dir.join("dns-entries.log"));
    let _w = launch(&d, h, &[]);
    wait_lookup(h, "stays.weave.local", &[&stays]);
    let ps = weave_ok(h, &["ps", "stays"]);
    assert!(ps.trim().ends_with(&format!("{stays}/12")), "{ps}");
    // Docker still uses the plugin, and the new container reaches the old one.
    let dns = format!("--dns={}", dns_server(&d));
    run_on_weave(&d, "new", &[&dns]);
    let new = weave_ip(&d, "new");
    assert!(new != stays, "{new}");
    wait_for("new pings stays by name", SETTLE, || ping_from(&d, "new", "stays.weave.local"));
}

#[test]
fn weave_ps_attach_and_detach_docker_containers_by_name_and_id_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = launch(&d, h, &[]);
    let plugged = run_on_weave(&d, "plugged", &[]);
    // A container on Docker's own bridge, attached by name.
    let bridged =
        d.docker_ok(&["run", "-d", "--name", "bridged", "--hostname", "br1", IMAGE, "sleep", "600"]);
    let attached = weave_ok(h, &["attach", "10.32.9.9/12", "bridged"]);
    assert_eq!(attached.trim(), "10.32.9.9");
    let inside = d.docker_ok(&["exec", "bridged", "ip", "-4", "-o", "addr", "show", "ethwe"]);
    assert!(inside.contains("10.32.9.9/12"), "{inside}");
    wait_lookup(h, "br1.weave.local", &["10.32.9.9"]);
    let ps = weave_ok(h, &["ps"]);
    let line = |id: &str| ps.lines().find(|l| l.starts_with(&id[..12])).map(str::to_string);
    let b = line(&bridged).unwrap_or_else(|| panic!("bridged in ps: {ps}"));
    assert!(b.split_whitespace().next().unwrap().len() == 12 && b.ends_with("10.32.9.9/12"), "{b}");
    let p = line(&plugged).unwrap_or_else(|| panic!("plugged in ps: {ps}"));
    assert!(p.contains(&weave_ip(&d, "plugged")), "{p}");
    // ps of one container, by name and by short id.
    assert_eq!(weave_ok(h, &["ps", "bridged"]).trim(), b);
    assert_eq!(weave_ok(h, &["ps", &bridged[..12]]).trim(), b);
    assert_eq!(weave_ok(h, &["ps", "docker:bridged"]).trim(), b, "docker:NAME names the same container");
    // dns-add by container name, then detach by short id.
    weave_ok(h, &["dns-add", "bridged", "-h", "alias.weave.local"]);
    wait_lookup(h, "alias.weave.local", &["10.32.9.9"]);
    // dns-remove by docker:NAME takes that name alone; add it back for the detach below.
    weave_ok(h, &["dns-remove", "docker:bridged", "-h", "alias.weave.local"]);
    wait_lookup(h, "alias.weave.local", &[]);
    assert_eq!(lookup(h, "br1.weave.local").len(), 1, "the hostname's name stays");
    weave_ok(h, &["dns-add", &bridged[..12], "-h", "alias.weave.local"]);
    wait_lookup(h, "alias.weave.local", &["10.32.9.9"]);
    let removed = weave_ok(h, &["detach", &bridged[..12]]);
    assert_eq!(removed.trim(), "10.32.9.9");
    let gone = d.docker(&["exec", "bridged", "ip", "link", "show", "ethwe"]);
    assert!(!gone.ok(), "ethwe remains: {gone:?}");
    wait_lookup(h, "br1.weave.local", &[]);
    wait_lookup(h, "alias.weave.local", &[]);
    assert!(!weave_ok(h, &["ps"]).contains(&bridged[..12]));
    // Bad targets are refused with one clear line.
    let out = h.weave(&["attach", "no-such-container"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no target no-such-container: Docker has no container"), "{out:?}");
    let stopped = d.docker_ok(&["create", "--name", "idle", IMAGE, "true"]);
    let out = h.weave(&["attach", &stopped]);
    assert!(out.stderr.contains("is not running"), "{out:?}");
}

#[test]
fn a_container_that_dies_during_attach_leaves_nothing_behind_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = launch(&d, h, &[]);
    let before = active_ips(h);
    for i in 0..3 {
        let name = format!("brief{i}");
        let id = d.docker_ok(&["run", "-d", "--name", &name, IMAGE, "sh", "-c", "sleep 0.2"]);
        let out = h.weave(&["attach", &name]);
        // Either it was attached before it died, or the refusal says why.
        assert!(
            out.ok()
                || ["is not running", "went away during the attach", "cannot open the network namespace"]
                    .iter()
                    .any(|m| out.stderr.contains(m)),
            "{out:?}"
        );
        d.docker_ok(&["wait", &id]);
        d.docker_ok(&["rm", &id]);
    }
    wait_for("every address released", GRACE, || {
        let n = active_ips(h);
        if n == before {
            Ok(())
        } else {
            Err(format!("{n} active, {before} before"))
        }
    });
    wait_for("no veth left", SETTLE, || {
        let v = plugin_veths(h);
        if v.is_empty() {
            Ok(())
        } else {
            Err(format!("{v:?}"))
        }
    });
    assert!(h.report().unwrap().dns.unwrap().entries.iter().all(|e| e.tombstone > 0));
}

#[test]
fn twenty_parallel_docker_runs_get_unique_addresses_and_names_and_leave_nothing_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = launch(&d, h, &[]);
    let before = active_ips(h);
    let names: Vec<String> = (0..20).map(|i| format!("par{i}")).collect();
    std::thread::scope(|s| {
        for n in &names {
            let d = &d;
            s.spawn(move || run_on_weave(d, n, &[]));
        }
    });
    let ips: BTreeSet<String> = names.iter().map(|n| weave_ip(&d, n)).collect();
    assert_eq!(ips.len(), 20, "20 unique addresses: {ips:?}");
    for n in &names {
        wait_lookup(h, &format!("{n}.weave.local"), &[&weave_ip(&d, n)]);
    }
    assert_eq!(active_ips(h), before + 20);
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    d.docker_ok(&rm);
    wait_for("every address released", GRACE, || {
        let n = active_ips(h);
        if n == before {
            Ok(())
        } else {
            Err(format!("{n} active, {before} before"))
        }
    });
    assert!(plugin_veths(h).is_empty(), "{:?}", plugin_veths(h));
    let live: Vec<_> =
        h.report().unwrap().dns.unwrap().entries.into_iter().filter(|e| e.tombstone == 0).collect();
    assert!(live.is_empty(), "{live:?}");
}

/// `docker network create` with weave's drivers: a network of the user's with the multicast
/// option gives its containers the multicast route and one without does not; both take
/// addresses from weave's ring; the networks go with `docker network rm` once empty.
#[test]
fn docker_network_create_with_weaves_drivers_and_the_multicast_option_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = launch(&d, h, &[]);
    let before = active_ips(h);
    let mesh = ["network", "create", "-d", "weavemesh", "--ipam-driver", "weavemesh"];
    d.docker_ok(&[&mesh[..], &["-o", "works.weave.multicast", "mcast"]].concat());
    d.docker_ok(&[&mesh[..], &["quiet"]].concat());
    for (name, net) in [("m1", "mcast"), ("q1", "quiet")] {
        d.docker_ok(&["run", "-d", "--net", net, "--name", name, IMAGE, "sleep", "600"]);
    }
    let routes = |c: &str| d.docker_ok(&["exec", c, "ip", "route"]);
    assert!(routes("m1").contains("224.0.0.0/4 dev ethwe0"), "{}", routes("m1"));
    assert!(!routes("q1").contains("224.0.0.0/4"), "{}", routes("q1"));
    let ip = |c: &str, net: &str| d.inspect(c, &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}"));
    let (m, q) = (ip("m1", "mcast"), ip("q1", "quiet"));
    assert!(m.starts_with("10.") && q.starts_with("10.") && m != q, "{m} {q}");
    assert_eq!(active_ips(h), before + 2, "both from weave's IPAM");
    d.docker_ok(&["rm", "-f", "m1", "q1"]);
    d.docker_ok(&["network", "rm", "mcast", "quiet"]);
    wait_for("both addresses released", GRACE, || match active_ips(h) {
        n if n == before => Ok(()),
        n => Err(format!("{n} active")),
    });
}

/// Docker containers, `weave attach` targets and CNI attachments draw from one ring: four of
/// each, started all at once, get twelve different addresses, each counted once by IPAM; taking
/// them all away (`docker rm -f`, `weave detach`, CNI DEL) leaves no address in use.
#[test]
fn docker_netns_and_cni_targets_share_one_ring_without_duplicates_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = launch(&d, h, &[]);
    let dirs = CniDirs::install();
    let before = active_ips(h);
    let nss: Vec<Netns> = (0..4).map(|i| Netns::new(&format!("ring{i}"))).collect();
    let cnis: Vec<Netns> = (0..4).map(|i| Netns::new(&format!("cni{i}"))).collect();
    let conf = serde_json::json!({"cniVersion": "1.1.0", "name": "weave", "type": "weave-net"});
    let cni = |cmd: &str, ns: &Netns| {
        let path = format!("/run/netns/{}", ns.name);
        let att = Attachment { container_id: &ns.name, netns: &path, ifname: "eth0", args: "" };
        h.cni(&dirs.bin.join("weave-net"), cmd, Some(&att), &dirs.cni_path(), &conf)
    };
    let addrs: Vec<String> = std::thread::scope(|s| {
        let mut all = Vec::new();
        for i in 0..4 {
            let (d, ns, cni_ns, cni) = (&d, &nss[i], &cnis[i], &cni);
            all.push(s.spawn(move || {
                let name = format!("ring{i}");
                run_on_weave(d, &name, &[]);
                weave_ip(d, &name)
            }));
            all.push(
                s.spawn(move || weave_ok(h, &["attach", &format!("netns:{}", ns.name)]).trim().to_string()),
            );
            all.push(s.spawn(move || {
                let out = cni("ADD", cni_ns);
                assert!(out.ok(), "CNI ADD: {out:?}");
                let r = out.json.expect("ADD prints its result");
                let a = r["ips"][0]["address"].as_str().expect("an address").to_string();
                a.split('/').next().unwrap().to_string()
            }));
        }
        all.into_iter().map(|t| t.join().expect("a target's thread")).collect()
    });
    // CNI's first ADD gives the bridge an address too (the pods' gateway), from the same ring.
    let bridge: Vec<String> = weave_ok(h, &["ps", "weave:expose"])
        .split_whitespace()
        .skip(2)
        .map(|a| a.split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(bridge.len(), 1, "the bridge's address: {bridge:?}");
    let unique: BTreeSet<&String> = addrs.iter().chain(&bridge).collect();
    assert_eq!(unique.len(), 13, "13 different addresses: {addrs:?} and the bridge's {bridge:?}");
    assert!(addrs.iter().all(|a| a.starts_with("10.")), "{addrs:?}");
    assert_eq!(active_ips(h), before + 13);
    let mut rm = vec!["rm", "-f"];
    let names: Vec<String> = (0..4).map(|i| format!("ring{i}")).collect();
    rm.extend(names.iter().map(String::as_str));
    d.docker_ok(&rm);
    for ns in &nss {
        weave_ok(h, &["detach", &format!("netns:{}", ns.name)]);
    }
    for ns in &cnis {
        let out = cni("DEL", ns);
        assert!(out.ok(), "CNI DEL: {out:?}");
    }
    wait_for("every target's address released", GRACE, || match active_ips(h) {
        n if n == before + 1 => Ok(()),
        n => Err(format!("{n} active, {before} before and the bridge's")),
    });
}

#[test]
fn a_dockerd_that_goes_away_and_comes_back_is_reported_and_followed_again_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let mut d = Docker::start(h);
    let _w = launch(&d, h, &[]);
    let state = |h: &Host| h.report().map(|r| r.docker.map(|d| d.state).unwrap_or_default());
    assert_eq!(state(h).unwrap(), "connected");
    d.stop_dockerd();
    wait_for("the daemon to notice", SETTLE, || match state(h)? {
        s if s == "unreachable" => Ok(()),
        s => Err(s),
    });
    let status = weave_ok(h, &["status"]);
    assert!(status.contains("Service: docker") && status.contains("unreachable"), "{status}");
    // The daemon keeps serving meanwhile.
    assert!(h.status().is_ok());
    d.start_dockerd();
    wait_for("the daemon to reconnect", SETTLE, || match state(h)? {
        s if s == "connected" => Ok(()),
        s => Err(s),
    });
    run_on_weave(&d, "after", &[]);
    let ip = weave_ip(&d, "after");
    wait_lookup(h, "after.weave.local", &[&ip]);
}

#[test]
fn without_docker_the_status_says_so_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let _w = h.start_daemon(&[]);
    h.wait_ready();
    let status = weave_ok(h, &["status"]);
    assert!(
        status.contains("Service: docker") && status.contains("disabled (--docker-api is empty)"),
        "{status}"
    );
    let report = h.report().unwrap();
    assert!(report.plugin.is_none());
    let out = h.weave(&["attach", "somecontainer"]);
    assert!(out.stderr.contains("--docker-api"), "{out:?}");
}

#[test]
fn no_plugin_leaves_docker_networks_alone_and_containers_stay_targets_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = d.start_daemon(h, &["--no-plugin"]);
    h.wait_ready();
    wait_for("Docker connected", SETTLE, || match h.report()?.docker.map(|d| d.state) {
        Some(s) if s == "connected" => Ok(()),
        other => Err(format!("{other:?}")),
    });
    assert!(h.report().unwrap().plugin.is_none());
    let sockets = d.exec("ls", &["/run/docker/plugins"]);
    assert_eq!(sockets.stdout.trim(), "", "no plugin sockets: {sockets:?}");
    assert!(!d.docker(&["network", "inspect", "weave"]).ok(), "no Docker network weave");
    d.docker_ok(&["run", "-d", "--name", "box", "--hostname", "box", IMAGE, "sleep", "600"]);
    let ip = weave_ok(h, &["attach", "box"]);
    wait_lookup(h, "box.weave.local", &[ip.trim()]);
}

/// How many targets the policy `name` selects, as `weave policy ls` on `h` says.
fn selected(h: &Host, name: &str) -> usize {
    let out = weave_ok(h, &["policy", "ls", "-o", "json"]);
    let list: Vec<weave_api::PolicyInfo> =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    list.iter().find(|p| p.name == name).map_or(0, |p| p.selected)
}

#[test]
fn docker_labels_select_containers_for_network_policy_whichever_way_they_joined_1() {
    let c = Cluster::new(1);
    let h = c.host(0);
    let d = Docker::start(h);
    let _w = launch(&d, h, &[]);
    // One on the plugin's network, one on Docker's bridge attached with `weave attach`, one
    // without the label.
    run_on_weave(&d, "lweb", &["--label", "app=web"]);
    d.docker_ok(&["run", "-d", "--name", "lbr", "--label", "app=web", IMAGE, "sleep", "600"]);
    weave_ok(h, &["attach", "lbr"]);
    run_on_weave(&d, "lother", &["--label", "app=other"]);
    let web_ip = weave_ip(&d, "lweb");
    let client = Netns::new("lcli");
    weave_ok(h, &["attach", &format!("netns:{}", client.name)]);
    let ping = |to: &str| client.exec("ping", &["-c1", "-W1", to]).ok();
    wait_until("the client pings the labelled container", SETTLE, || ping(&web_ip));

    let file = h.data_dir.join("deny-web.yaml");
    std::fs::write(
        &file,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-web}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n",
    )
    .unwrap();
    weave_ok(h, &["policy", "apply", "-f", &file.display().to_string()]);
    wait_for("both labelled containers are selected", SETTLE, || match selected(h, "default/deny-web") {
        2 => Ok(()),
        n => Err(format!("{n} selected")),
    });
    wait_until("the plugin's container is isolated", SETTLE, || !ping(&web_ip));
    assert!(ping(&weave_ip(&d, "lother")), "the container without the label stays open");

    // Gone from Docker, gone from the policy's selection.
    d.docker_ok(&["rm", "-f", "lweb"]);
    wait_for("the removed container leaves the selection", SETTLE, || {
        match selected(h, "default/deny-web") {
            1 => Ok(()),
            n => Err(format!("{n} selected")),
        }
    });
}
