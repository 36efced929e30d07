//! Packet sockets: the zero-destination filter lets through only fastdp-style heartbeats.

mod common;

use common::TestNs;
use std::time::{Duration, Instant};
use weave_netdev::PacketSocket;

fn frame(dst: [u8; 6], tag: u8) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[14] = tag;
    f
}

/// Polls the non-blocking socket until a frame arrives or `wait` passes.
fn recv(s: &PacketSocket, wait: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 2048];
    loop {
        match s.recv(&mut buf) {
            Ok(n) => return Some(buf[..n].to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("recv: {e}"),
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn zero_dst_socket_sees_only_zero_mac_frames() {
    let t = TestNs::new();
    let mut nl = t.netlink();
    nl.create_veth("pkta", "pktb", None).unwrap();
    let a = nl.link_by_name("pkta").unwrap().unwrap();
    let b = nl.link_by_name("pktb").unwrap().unwrap();
    nl.set_up(&a, true).unwrap();
    nl.set_up(&b, true).unwrap();
    let (sa, sb) =
        t.ns.run(|| (PacketSocket::zero_dst(a.index).unwrap(), PacketSocket::zero_dst(b.index).unwrap()))
            .unwrap();

    // Until linkwatch activates a new link's qdisc (asynchronously, late on a busy machine) the
    // kernel drops what it sends: probe with zero-MAC frames until one arrives, then drain.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        sa.send(&frame([0; 6], 0)).unwrap();
        if recv(&sb, Duration::from_millis(100)).is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the veth pair never carried a frame");
    }
    while recv(&sb, Duration::from_millis(100)).is_some() {}

    sa.send(&frame([0xff; 6], 1)).unwrap();
    sa.send(&frame([2, 0, 0, 0, 0, 2], 2)).unwrap();
    sa.send(&frame([0; 6], 3)).unwrap();
    let got = recv(&sb, Duration::from_secs(5)).expect("the zero-MAC frame did not arrive");
    assert_eq!(got[14], 3, "only the zero-destination frame passes the filter");
    assert_eq!(got.len(), 60);
    // Nothing else queued at b, and the sender does not see its own frames.
    assert!(recv(&sb, Duration::from_millis(200)).is_none());
    assert!(recv(&sa, Duration::from_millis(50)).is_none());
}

#[test]
fn unknown_link_is_an_error_naming_it() {
    let t = TestNs::new();
    let e = t.ns.run(|| PacketSocket::zero_dst(999_999).err().unwrap()).unwrap();
    assert!(e.to_string().starts_with("open packet socket on link 999999: "), "{e}");
}
