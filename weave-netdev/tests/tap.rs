//! TAP devices: created inside a test namespace, attached to a bridge, offloads and vnet header
//! read back, and frames round-tripped (one thread blocked reading while another writes).

mod common;

use common::{eventually, TestNs};
use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;
use weave_netdev::tap::*;
use weave_netdev::{sysctl, Ipv4Net, LinkKind, Tap};
use weave_overlay::virtio::{VirtioNetHdr, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_V1_LEN};

const BRIDGE_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 1];
const REMOTE_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 2];
const BRIDGE_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const REMOTE_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

/// An ARP reply from REMOTE to the bridge, as a frame with a (12-byte) virtio header.
fn arp_reply() -> Vec<u8> {
    let mut f = vec![0u8; VIRTIO_NET_HDR_V1_LEN];
    VirtioNetHdr::default().emit_v1(&mut f);
    f.extend_from_slice(&BRIDGE_MAC);
    f.extend_from_slice(&REMOTE_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&REMOTE_MAC);
    f.extend_from_slice(&REMOTE_IP.octets());
    f.extend_from_slice(&BRIDGE_MAC);
    f.extend_from_slice(&BRIDGE_IP.octets());
    f
}

/// Reads frames until `want` accepts one; returns its virtio header and Ethernet frame.
fn read_until(tap: &Tap, want: impl Fn(&[u8]) -> bool) -> (VirtioNetHdr, Vec<u8>) {
    let mut buf = vec![0u8; 65536 + VIRTIO_NET_HDR_V1_LEN];
    loop {
        assert!(tap.wait_readable(Some(Duration::from_secs(5))).unwrap(), "no frame from the tap");
        let n = tap.read(&mut buf).unwrap();
        let hdr = VirtioNetHdr::parse_v1(&buf[..n]).unwrap();
        let frame = &buf[VIRTIO_NET_HDR_V1_LEN..n];
        if want(frame) {
            return (hdr, frame.to_vec());
        }
    }
}

#[test]
fn tap_on_a_bridge_with_vnet_hdr_and_offloads() {
    let t = TestNs::new();
    // No IPv6 chatter (router solicitations, MLD) on the tap.
    t.ns.run(|| {
        sysctl::write("net/ipv6/conf/all/disable_ipv6", "1")?;
        sysctl::write("net/ipv6/conf/default/disable_ipv6", "1")
    })
    .unwrap()
    .unwrap();

    let tap =
        t.ns.run(|| Tap::create("wtap0", TapOptions { vnet_hdr: true, multi_queue: false }))
            .unwrap()
            .unwrap();
    assert_eq!(tap.name(), "wtap0");
    let flags = tap.flags().unwrap();
    assert_eq!(flags & libc::IFF_TAP, libc::IFF_TAP);
    assert_eq!(flags & libc::IFF_NO_PI, libc::IFF_NO_PI);
    assert_eq!(flags & libc::IFF_VNET_HDR, libc::IFF_VNET_HDR);
    assert_eq!(flags & libc::IFF_MULTI_QUEUE, 0);
    assert_eq!(tap.vnet_hdr_size().unwrap(), 10);
    tap.set_vnet_hdr_size(VIRTIO_NET_HDR_V1_LEN as i32).unwrap();
    assert_eq!(tap.vnet_hdr_size().unwrap(), 12);
    tap.set_offload(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6).unwrap();

    let mut nl = t.netlink();
    nl.create_bridge("wbr0", BRIDGE_MAC, None).unwrap();
    let bridge = nl.link_by_name("wbr0").unwrap().unwrap();
    let link = nl.link_by_name("wtap0").unwrap().unwrap();
    assert_eq!(link.kind, LinkKind::Tun);
    nl.set_master(&link, Some(bridge.index)).unwrap();
    nl.set_up(&link, true).unwrap();
    nl.set_up(&bridge, true).unwrap();
    nl.add_address(&bridge, Ipv4Net::new(BRIDGE_IP, 24).unwrap()).unwrap();

    let shown = t.ip(&["-d", "link", "show", "dev", "wtap0"]);
    for word in ["master wbr0", "tun type tap", "vnet_hdr on"] {
        assert!(shown.contains(word), "{word:?} not in {shown}");
    }
    let features = t.exec(&["ethtool", "-k", "wtap0"]);
    for feature in [
        "tx-checksumming: on",
        "tx-tcp-segmentation: on",
        "tx-tcp-ecn-segmentation: on",
        "tx-tcp6-segmentation: on",
        "tx-udp-segmentation: on",
    ] {
        assert!(features.contains(feature), "{feature:?} not in {features}");
    }

    // Nothing queued: a non-blocking read says so instead of waiting.
    tap.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    while tap.read(&mut buf).is_ok() {} // whatever the bridge sent while coming up
    assert_eq!(tap.read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    tap.set_nonblocking(false).unwrap();

    // A datagram to REMOTE makes the kernel ARP for it through the bridge and the tap; we
    // answer through the tap while the reader stays blocked, and the held datagram follows.
    std::thread::scope(|s| {
        let (arp_seen, arp_seen_rx) = mpsc::channel();
        let tap = &tap;
        let reader = s.spawn(move || {
            let (hdr, req) =
                read_until(tap, |f| f[12..14] == [0x08, 0x06] && f[38..42] == REMOTE_IP.octets());
            assert_eq!(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
            assert_eq!(&req[6..12], &BRIDGE_MAC, "source MAC");
            assert_eq!(&req[20..22], &[0, 1], "ARP request");
            assert_eq!(&req[28..32], &BRIDGE_IP.octets(), "sender IP");
            arp_seen.send(()).unwrap();
            read_until(tap, |f| f[12..14] == [0x08, 0x00] && f[23] == 17)
        });
        t.ns.run(|| {
            let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
            sock.send_to(b"hello weave", (REMOTE_IP, 9)).unwrap();
        })
        .unwrap();
        arp_seen_rx.recv_timeout(Duration::from_secs(10)).expect("reader saw no ARP request");
        let reply = arp_reply();
        assert_eq!(tap.write(&reply).unwrap(), reply.len());

        let (hdr, udp) = reader.join().unwrap();
        assert_eq!(&udp[0..6], &REMOTE_MAC, "sent to the MAC we answered with");
        assert_eq!(&udp[30..34], &REMOTE_IP.octets());
        assert!(udp.ends_with(b"hello weave"));
        assert_eq!(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
        if hdr.needs_csum() {
            // With TUN_F_CSUM the checksum is left to us: UDP's is at offset 6 past csum_start.
            assert_eq!((hdr.csum_start, hdr.csum_offset), (34, 6));
        }
    });
    eventually("the neighbour entry from our reply", || {
        t.ip(&["neigh", "show", "dev", "wbr0"]).contains("10.9.0.2 lladdr 02:77:00:00:00:02")
    });

    // The device goes away with its last descriptor.
    drop(tap);
    eventually("the tap to disappear", || nl.link_by_name("wtap0").unwrap().is_none());
}

#[test]
fn multi_queue_taps_share_one_device() {
    let t = TestNs::new();
    let opts = TapOptions { vnet_hdr: true, multi_queue: true };
    let (q0, q1) =
        t.ns.run(|| (Tap::create("wmq0", opts).unwrap(), Tap::create("wmq0", opts).unwrap())).unwrap();
    assert_eq!(q0.flags().unwrap() & libc::IFF_MULTI_QUEUE, libc::IFF_MULTI_QUEUE);
    assert_eq!(q1.name(), "wmq0");
    let shown = t.ip(&["-d", "link", "show", "dev", "wmq0"]);
    assert!(shown.contains("multi_queue"), "{shown}");

    // A single-queue tap cannot take the name.
    let e = t.ns.run(|| Tap::create("wmq0", TapOptions::default())).unwrap().unwrap_err();
    assert!(e.to_string().starts_with("create tap wmq0: "), "{e}");

    // The kernel names a tap when we do not.
    let auto = t.ns.run(|| Tap::create("", TapOptions::default())).unwrap().unwrap();
    assert!(auto.name().starts_with("tap"), "{}", auto.name());
    let mut nl = t.netlink();
    assert!(nl.link_by_name(auto.name()).unwrap().is_some());

    drop(q0);
    assert!(nl.link_by_name("wmq0").unwrap().is_some(), "one queue still open");
    drop(q1);
    eventually("the tap to disappear", || nl.link_by_name("wmq0").unwrap().is_none());
}
