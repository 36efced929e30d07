//! Gathered TAP writes: a frame in pieces (virtio header, headers, payload in two parts) reaches
//! the kernel whole, and a frame in too many pieces is refused with a clear error.

mod common;

use common::TestNs;
use std::io::{self, IoSlice};
use std::net::UdpSocket;
use std::time::Duration;
use weave_netdev::{Tap, TapOptions};

const TAP_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 1, 1];
const REMOTE_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 1, 2];

fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h.chunks(2).map(|w| u16::from_be_bytes([w[0], w[1]]) as u32).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet, IPv4 and UDP headers (UDP checksum 0: none) from 10.9.1.2:4000 to 10.9.1.1:`port`.
fn headers(port: u16, payload_len: usize) -> Vec<u8> {
    let mut f = TAP_MAC.to_vec();
    f.extend(REMOTE_MAC);
    f.extend([0x08, 0x00]);
    let total = (20 + 8 + payload_len) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 9, 1, 2, 10, 9, 1, 1];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let c = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend(4000u16.to_be_bytes());
    f.extend(port.to_be_bytes());
    f.extend((8 + payload_len as u16).to_be_bytes());
    f.extend([0, 0]);
    f
}

#[test]
fn a_frame_written_in_pieces_arrives_whole() {
    let t = TestNs::new();
    let tap =
        t.ns.run(|| Tap::create("wtio0", TapOptions { vnet_hdr: true, multi_queue: false }))
            .unwrap()
            .unwrap();
    t.ip(&["link", "set", "wtio0", "address", "02:77:00:00:01:01", "up"]);
    t.ip(&["addr", "add", "10.9.1.1/24", "dev", "wtio0"]);
    let sock = t.ns.run(|| UdpSocket::bind("10.9.1.1:0")).unwrap().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = sock.local_addr().unwrap().port();

    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let head = headers(port, payload.len());
    let vnet = [0u8; 10];
    let (p1, p2) = payload.split_at(333);
    let bufs = [IoSlice::new(&vnet), IoSlice::new(&head), IoSlice::new(p1), IoSlice::new(p2)];
    let n = tap.write_vectored(&bufs).unwrap();
    assert_eq!(n, 10 + head.len() + payload.len());
    let mut got = [0u8; 2000];
    let (len, from) = sock.recv_from(&mut got).expect("the datagram arrives");
    assert_eq!(&got[..len], payload.as_slice());
    assert_eq!(from.to_string(), "10.9.1.2:4000");

    let empty = [0u8; 0];
    let many = vec![IoSlice::new(&empty); 1025];
    let e = tap.write_vectored(&many).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("1025 pieces"), "{e}");
}
