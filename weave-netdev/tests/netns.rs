//! Namespace handles, running code inside a namespace, sysctls there, and gratuitous ARP
//! between two namespaces.

mod common;

use common::TestNs;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use weave_netdev::{arp, sysctl, Netlink, Netns};

#[test]
fn run_enters_the_namespace_on_its_own_thread() {
    let t = TestNs::new();
    let mine = Netns::current().unwrap();
    assert_ne!(t.ns.inode(), mine.inode());

    let inside = t.ns.run(|| Netns::current().unwrap().inode()).unwrap();
    assert_eq!(inside, t.ns.inode());
    assert_eq!(Netns::current().unwrap().inode(), mine.inode(), "the caller's thread never moves");
    assert_eq!(Netns::pid(std::process::id()).unwrap().inode(), mine.inode());
    assert_eq!(Netns::path(format!("/var/run/netns/{}", t.name)).unwrap().inode(), t.ns.inode());
    assert_eq!(Netns::named(&t.name).unwrap().label(), format!("netns:{}", t.name));

    // The closure may borrow from the caller.
    let v = [1, 2, 3];
    assert_eq!(t.ns.run(|| v.iter().sum::<i32>()).unwrap(), 6);

    // A fresh namespace has only lo; a socket opened there keeps seeing it from this thread.
    let mut nl = Netlink::open_in(&t.ns).unwrap();
    let names: Vec<String> = nl.links().unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["lo"]);
    nl.create_bridge("wndbr", [2, 0, 0, 0, 0, 3], None).unwrap();
    assert!(t.ip(&["link", "show", "dev", "wndbr"]).contains("wndbr"));
    assert_eq!(
        Netlink::open().unwrap().link_by_name("wndbr").unwrap(),
        None,
        "not in the runner's namespace"
    );
}

#[test]
fn panics_come_back_as_errors() {
    let t = TestNs::new();
    let e = t.ns.run(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
    assert_eq!(e.to_string(), format!("run in network namespace netns:{}: panicked: boom 7", t.name));
    let e = t.ns.run(|| std::panic::panic_any(5u8)).unwrap_err();
    assert!(e.to_string().ends_with("panicked: non-string payload"), "{e}");
    // The handle stays usable.
    assert_eq!(t.ns.run(|| 1).unwrap(), 1);
}

#[test]
fn sysctl_writes_reach_the_target_namespace() {
    let a = TestNs::new();
    let b = TestNs::new();
    let key = "net/ipv4/ip_forward";
    let before_b = b.ns.run(|| sysctl::read(key)).unwrap().unwrap();
    let before_a = a.ns.run(|| sysctl::read(key)).unwrap().unwrap();
    let want = if before_a == "1" { "0" } else { "1" };

    a.ns.run(|| sysctl::write(key, want)).unwrap().unwrap();
    assert_eq!(a.ns.run(|| sysctl::read(key)).unwrap().unwrap(), want);
    assert_eq!(a.exec(&["sysctl", "-n", "net.ipv4.ip_forward"]).trim(), want);
    assert_eq!(b.ns.run(|| sysctl::read(key)).unwrap().unwrap(), before_b, "other namespaces keep theirs");
    assert_eq!(b.exec(&["sysctl", "-n", "net.ipv4.ip_forward"]).trim(), before_b);

    // Per-interface settings exist only where the interface does.
    let mut nl = a.netlink();
    nl.create_bridge("wndsys0", [2, 0, 0, 0, 0, 4], None).unwrap();
    let key = "net/ipv4/conf/wndsys0/arp_ignore";
    a.ns.run(|| sysctl::write(key, "1")).unwrap().unwrap();
    assert_eq!(a.exec(&["cat", "/proc/sys/net/ipv4/conf/wndsys0/arp_ignore"]).trim(), "1");
    let e = sysctl::read(key).unwrap_err();
    assert_eq!(e.source.kind(), io::ErrorKind::NotFound, "{e}");
    let e = b.ns.run(|| sysctl::write(key, "1")).unwrap().unwrap_err();
    assert_eq!(
        e.to_string(),
        "write \"1\" to /proc/sys/net/ipv4/conf/wndsys0/arp_ignore: No such file or directory (os error 2)"
    );
}

/// A raw socket receiving the ARP frames of one interface (in the calling thread's namespace).
fn arp_listener(ifindex: u32) -> io::Result<OwnedFd> {
    let proto = 0x0806u16.to_be();
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto.into()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = ifindex as i32;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
    if unsafe { libc::bind(sock.as_raw_fd(), (&addr as *const libc::sockaddr_ll).cast(), len) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

fn receive(sock: &OwnedFd, timeout_ms: i32) -> Option<Vec<u8>> {
    let mut pfd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    if unsafe { libc::poll(&mut pfd, 1, timeout_ms) } <= 0 {
        return None;
    }
    let mut buf = vec![0u8; 2048];
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    assert!(n >= 0, "recv: {}", io::Error::last_os_error());
    buf.truncate(n as usize);
    Some(buf)
}

#[test]
fn gratuitous_arp_reaches_the_peer_namespace() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut nla = a.netlink();
    nla.create_veth("garpa", "garpb", None).unwrap();
    let peer = nla.link_by_name("garpb").unwrap().unwrap();
    nla.move_to_netns(&peer, &b.ns).unwrap();
    let here = nla.link_by_name("garpa").unwrap().unwrap();
    nla.set_up(&here, true).unwrap();
    let mut nlb = b.netlink();
    let there = nlb.link_by_name("garpb").unwrap().unwrap();
    nlb.set_up(&there, true).unwrap();

    let listener = b.ns.run(|| arp_listener(there.index)).unwrap().unwrap();
    let ip = Ipv4Addr::new(10, 32, 0, 7);
    let mac = here.mac.unwrap();
    a.ns.run(|| arp::send_gratuitous_arp("garpa", ip, mac)).unwrap().unwrap();

    let frame = receive(&listener, 5000).expect("no ARP frame arrived in the peer namespace");
    assert_eq!(&frame[..42], &arp::gratuitous_arp_frame(ip, mac)[..]);
    assert_eq!(&frame[28..32], &ip.octets(), "sender IP");
    assert_eq!(&frame[38..42], &ip.octets(), "target IP");

    // And as an independent witness, tcpdump in the peer namespace sees the next one.
    let seen = AtomicBool::new(false);
    std::thread::scope(|s| {
        let dump = s.spawn(|| {
            let args = [
                "netns", "exec", &b.name, "timeout", "10", "tcpdump", "-c1", "-nn", "-e", "-i", "garpb",
                "arp",
            ];
            let out = std::process::Command::new("ip").args(args).output();
            seen.store(true, Ordering::SeqCst);
            String::from_utf8_lossy(&out.unwrap().stdout).into_owned()
        });
        // tcpdump needs a moment to attach; resend until it has reported a frame (or timed out).
        while !seen.load(Ordering::SeqCst) {
            a.ns.run(|| arp::send_gratuitous_arp("garpa", ip, mac)).unwrap().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let out = dump.join().unwrap();
        assert!(
            out.contains("Request who-has 10.32.0.7 (ff:ff:ff:ff:ff:ff) tell 10.32.0.7"),
            "tcpdump saw: {out}"
        );
        assert!(out.contains(&common::mac_str(mac)), "tcpdump saw: {out}");
    });
}

#[test]
fn an_arp_probe_finds_who_answers_for_an_address_and_nothing_where_nobody_does() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut nla = a.netlink();
    nla.create_veth("prba", "prbb", None).unwrap();
    let peer = nla.link_by_name("prbb").unwrap().unwrap();
    nla.move_to_netns(&peer, &b.ns).unwrap();
    let here = nla.link_by_name("prba").unwrap().unwrap();
    nla.set_up(&here, true).unwrap();
    let mut nlb = b.netlink();
    let there = nlb.link_by_name("prbb").unwrap().unwrap();
    nlb.set_up(&there, true).unwrap();
    b.ip(&["addr", "add", "10.32.0.9/24", "dev", "prbb"]);

    let (me, mac) = (Ipv4Addr::new(10, 32, 0, 1), here.mac.unwrap());
    let wait = std::time::Duration::from_millis(500);
    // The veth may take a moment to carry frames once up: the probe retries within its tries.
    let found = a.ns.run(|| arp::probe("prba", me, mac, Ipv4Addr::new(10, 32, 0, 9), 10, wait));
    assert_eq!(found.unwrap().unwrap(), there.mac, "the peer's MAC answers");
    let nobody = a.ns.run(|| arp::probe("prba", me, mac, Ipv4Addr::new(10, 32, 0, 10), 2, wait));
    assert_eq!(nobody.unwrap().unwrap(), None, "no one has 10.32.0.10");
    let e = arp::probe("nosuchif0", me, mac, Ipv4Addr::new(10, 32, 0, 9), 1, wait).unwrap_err();
    assert!(e.to_string().starts_with("ARP probe for 10.32.0.9 from 10.32.0.1 on nosuchif0: "), "{e}");
}

/// Files that are not network namespaces are refused at once, without opening them for I/O: a
/// FIFO nobody writes to would block an ordinary open for ever.
#[test]
fn anything_but_a_network_namespace_is_refused_at_once() {
    let dir = std::env::temp_dir().join(format!("wnd-notns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    common::run("mkfifo", &[fifo.to_str().unwrap()]);
    let plain = dir.join("plain");
    std::fs::write(&plain, b"").unwrap();
    let start = std::time::Instant::now();
    for (path, says) in [
        (fifo.clone(), "is a FIFO, not a network namespace"),
        ("/dev/null".into(), "is a character device, not a network namespace"),
        (plain.clone(), "is an ordinary file, not a network namespace"),
        (dir.clone(), "is a directory, not a network namespace"),
        ("/proc/self/ns/mnt".into(), "is a namespace of another kind"),
    ] {
        let e = Netns::path(&path).unwrap_err();
        assert!(e.is_not_a_namespace(), "{}: {e}", path.display());
        assert!(e.to_string().contains(says), "{}: {e}", path.display());
        assert!(e.to_string().starts_with(&format!("network namespace {}: ", path.display())), "{e}");
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(2), "nothing may block");
    let e = Netns::path(dir.join("missing")).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    assert!(!e.is_not_a_namespace());
    // The real thing still opens, and setns works with the descriptor kept.
    let mine = Netns::path("/proc/self/ns/net").unwrap();
    assert_eq!(mine.run(|| Netns::current().unwrap().inode()).unwrap(), mine.inode());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A veth whose peer went to another namespace names it: the peer's index there and a netnsid.
#[test]
fn a_veth_names_its_peer_and_whether_it_is_elsewhere() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut nla = a.netlink();
    nla.create_veth("pia", "pib", None).unwrap();
    let here = nla.link_by_name("pia").unwrap().unwrap();
    let peer = nla.link_by_name("pib").unwrap().unwrap();
    assert_eq!(here.peer_index, Some(peer.index));
    assert_eq!(here.link_netnsid, None, "both ends in one namespace");
    nla.move_to_netns(&peer, &b.ns).unwrap();
    let here = nla.link_by_name("pia").unwrap().unwrap();
    let there = b.netlink().link_by_name("pib").unwrap().unwrap();
    assert_eq!(here.peer_index, Some(there.index));
    assert!(here.link_netnsid.is_some() && there.link_netnsid.is_some());
    assert_eq!(there.peer_index, Some(here.index));
}
