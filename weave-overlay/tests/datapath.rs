//! The sleeve packet path between two ends joined by in-memory ports: frames captured at A
//! come out of B's port as they went in (segmented and merged again, encrypted and opened),
//! and what must not pass (tampered packets, corrupt segments, oversized DF frames) does not.

use std::sync::atomic::Ordering;
use std::time::Instant;
use weave_overlay::gso::{checksum, complete_checksum};
use weave_overlay::sleeve::forwarder::DataEvent;
use weave_overlay::sleeve::mem::{pair_with_cipher, Batch, End};
use weave_overlay::virtio::{
    VirtioNetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_LEN,
};
use weave_wire::crypto::{SleeveCipher, Suite};
use weave_wire::PeerName;

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb1];
const MTU: u32 = 1376;
const MSS: usize = MTU as usize - 40;
const KEY: [u8; 32] = [9; 32];

#[allow(clippy::disallowed_methods)] // a base for the MAC cache's ages
fn now() -> Instant {
    Instant::now()
}

/// An IPv4 frame from MAC_A to `dst_mac`: TCP (`proto` 6, valid checksums, sequence `seq`)
/// or anything else, with `payload` bytes and DF as asked.
fn frame(dst_mac: [u8; 6], proto: u8, seq: u32, payload: usize, df: bool) -> Vec<u8> {
    let mut f = dst_mac.to_vec();
    f.extend(MAC_A);
    f.extend([0x08, 0x00]);
    let total = 20 + 20 + payload;
    let flags = if df { 0x40 } else { 0 };
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, flags, 0, 64, proto, 0, 0, 10, 32, 0, 1, 10, 32, 0, 2];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend([0x30, 0x39, 0x14, 0x51]);
    f.extend(seq.to_be_bytes());
    f.extend([0, 0, 0, 7, 0x50, 0x10, 0x01, 0x00, 0, 0, 0, 0]);
    f.extend((0..payload).map(|i| (i * 13 + 1) as u8));
    if proto == 6 {
        assert!(tcp_valid_with(&mut f), "built with a valid checksum");
    }
    f
}

/// Fills in the TCP checksum of a frame (IPv4, 20-byte header) and says whether the result
/// verifies.
fn tcp_valid_with(f: &mut [u8]) -> bool {
    f[50..52].copy_from_slice(&[0, 0]);
    let tcp_len = f.len() - 34;
    let mut pseudo = f[26..34].to_vec();
    pseudo.extend([0, 6]);
    pseudo.extend((tcp_len as u16).to_be_bytes());
    pseudo.extend(&f[34..]);
    let c = checksum(&pseudo);
    f[50..52].copy_from_slice(&c.to_be_bytes());
    tcp_valid(f)
}

fn tcp_valid(f: &[u8]) -> bool {
    let mut pseudo = f[26..34].to_vec();
    pseudo.extend([0, 6]);
    pseudo.extend(((f.len() - 34) as u16).to_be_bytes());
    pseudo.extend(&f[34..]);
    checksum(&f[14..34]) == 0 && checksum(&pseudo) == 0
}

fn with_vnet(hdr: VirtioNetHdr, f: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; VIRTIO_NET_HDR_LEN];
    hdr.emit(&mut v);
    v.extend_from_slice(f);
    v
}

/// Two ends whose MAC caches know each other's MAC.
fn ends(key: Option<[u8; 32]>) -> (End, End, Batch) {
    ends_with(key, SleeveCipher::Nacl)
}

/// Plain, Weave's NaCl, and the two negotiated AEADs.
const CIPHERS: [(Option<[u8; 32]>, SleeveCipher); 4] = [
    (None, SleeveCipher::Nacl),
    (Some(KEY), SleeveCipher::Nacl),
    (Some(KEY), SleeveCipher::Aead(Suite::Aes256Gcm)),
    (Some(KEY), SleeveCipher::Aead(Suite::ChaCha20Poly1305)),
];

fn ends_with(key: Option<[u8; 32]>, cipher: SleeveCipher) -> (End, End, Batch) {
    let t = now();
    let (a, b) = pair_with_cipher(t, MTU, key, cipher, true);
    a.sh.macs.add_local(MAC_A, a.name, t);
    a.sh.macs.add_forced(MAC_B, b.name, t);
    b.sh.macs.add_local(MAC_B, b.name, t);
    b.sh.macs.add_forced(MAC_A, a.name, t);
    (a, b, Batch::default())
}

/// Captures `frames` at A and hands what A sent to B.
fn cross(a: &mut End, b: &mut End, batch: &mut Batch, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    for f in frames {
        a.worker.captured_with_header(&mut f.clone());
    }
    a.deliver_to(b, batch);
    b.port.take()
}

fn hdr_of(written: &[u8]) -> VirtioNetHdr {
    VirtioNetHdr::parse(written).expect("a virtio header")
}

#[test]
fn frames_cross_unchanged_plain_and_encrypted() {
    for (key, cipher) in CIPHERS {
        let (mut a, mut b, mut batch) = ends_with(key, cipher);
        let frames: Vec<Vec<u8>> = (0..5).map(|i| frame(MAC_B, 17, i, 100 + i as usize * 50, true)).collect();
        let vnet: Vec<Vec<u8>> = frames.iter().map(|f| with_vnet(VirtioNetHdr::default(), f)).collect();
        for f in &vnet {
            a.worker.captured_with_header(&mut f.clone());
        }
        a.worker.flush(&[]);
        a.wire.take(&mut batch);
        // Encrypted, the payload bytes are nowhere in clear on the wire.
        let wire = &batch.arena[batch.datagrams[0].range.clone()];
        let clear = wire.windows(40).any(|w| w == &frames[4][60..100]);
        assert_eq!(clear, key.is_none(), "{cipher:?}, key {}", key.is_some());
        batch.deliver(&mut b.worker);
        assert_eq!(
            b.port.take(),
            vnet,
            "each frame behind a plain header ({cipher:?}, key {})",
            key.is_some()
        );
        assert_eq!(batch.datagrams.len(), 1, "five frames fit one packet");
        let (tx, rx) = (&a.fwd(b.name).counters, &b.fwd(a.name).counters);
        assert_eq!(tx.tx_packets.load(Ordering::Relaxed), 1);
        assert_eq!(rx.rx_packets.load(Ordering::Relaxed), 1);
        assert_eq!(rx.drops.load(Ordering::Relaxed), 0);
    }
}

#[test]
fn a_tcp_super_frame_is_cut_into_segments_and_merged_again() {
    for (key, cipher) in CIPHERS {
        let (mut a, mut b, mut batch) = ends_with(key, cipher);
        let payload = 40 * MSS + 123;
        let big = frame(MAC_B, 6, 1000, payload, true);
        let hdr = VirtioNetHdr {
            gso_type: VIRTIO_NET_HDR_GSO_TCPV4,
            gso_size: MSS as u16,
            hdr_len: 54,
            ..Default::default()
        };
        let got = cross(&mut a, &mut b, &mut batch, &[with_vnet(hdr, &big)]);
        assert_eq!(batch.datagrams.len(), 41, "one segment per datagram");
        let max = a.fwd(b.name).max_payload.load(Ordering::Relaxed) as usize;
        assert!(batch.datagrams.iter().all(|d| d.range.len() <= max && d.df));
        // B's port gets the stream back as one super-frame whose checksum is left to the kernel.
        assert_eq!(got.len(), 1, "merged into one write");
        let h = hdr_of(&got[0]);
        assert_eq!(
            (h.gso_type, h.gso_size, h.flags),
            (VIRTIO_NET_HDR_GSO_TCPV4, MSS as u16, VIRTIO_NET_HDR_F_NEEDS_CSUM)
        );
        let mut f = got[0][VIRTIO_NET_HDR_LEN..].to_vec();
        assert_eq!(&f[54..], &big[54..], "the payload, in order");
        assert!(complete_checksum(&mut f, h.csum_start as usize, h.csum_offset as usize));
        assert!(tcp_valid(&f), "completed, the checksum verifies");
    }
}

#[test]
fn a_segment_with_a_corrupt_checksum_reaches_the_port_alone_and_unchanged() {
    let (mut a, mut b, mut batch) = ends(None);
    let segs: Vec<Vec<u8>> = (0..6u32).map(|i| frame(MAC_B, 6, 5000 + i * MSS as u32, MSS, true)).collect();
    let vnet: Vec<Vec<u8>> = segs.iter().map(|f| with_vnet(VirtioNetHdr::default(), f)).collect();
    for f in &vnet {
        a.worker.captured_with_header(&mut f.clone());
    }
    a.worker.flush(&[]);
    a.wire.take(&mut batch);
    assert_eq!(batch.datagrams.len(), 6, "one MTU-sized frame per packet");
    // One bit flips on the way in the third segment's payload (plain sleeve: nothing but the
    // TCP checksum notices).
    let d = batch.datagrams[2].range.clone();
    let at = d.start + 6 + 14 + 54 + 100;
    batch.arena[at] ^= 0x08;
    batch.deliver(&mut b.worker);
    let got = b.port.take();
    assert_eq!(got.len(), 3, "two merged frames around the corrupt segment");
    assert_eq!(hdr_of(&got[0]).gso_size, MSS as u16);
    let alone = &got[1];
    assert_eq!(&alone[..VIRTIO_NET_HDR_LEN], &[0; VIRTIO_NET_HDR_LEN], "no offload: the kernel checks it");
    let mut corrupt = segs[2].clone();
    corrupt[54 + 100] ^= 0x08;
    assert_eq!(&alone[VIRTIO_NET_HDR_LEN..], corrupt.as_slice(), "passed on as it came");
    assert!(!tcp_valid(&alone[VIRTIO_NET_HDR_LEN..]), "and the kernel will drop it");
    assert_eq!(hdr_of(&got[2]).gso_size, MSS as u16, "the rest merged again");
}

#[test]
fn a_tampered_encrypted_packet_is_dropped_and_counted() {
    for (key, cipher) in CIPHERS.into_iter().filter(|(k, _)| k.is_some()) {
        let (mut a, mut b, mut batch) = ends_with(key, cipher);
        let f = with_vnet(VirtioNetHdr::default(), &frame(MAC_B, 17, 0, 500, true));
        a.worker.captured_with_header(&mut f.clone());
        a.worker.flush(&[]);
        a.wire.take(&mut batch);
        let r = batch.datagrams[0].range.clone();
        let sent = batch.arena[r.clone()].to_vec();
        batch.arena[r.end - 1] ^= 1;
        batch.deliver(&mut b.worker);
        assert!(b.port.take().is_empty(), "{cipher:?}");
        assert_eq!(b.fwd(a.name).counters.drops.load(Ordering::Relaxed), 1);
        // The genuine packet opens once; replayed, it is dropped and counted.
        batch.arena[r.clone()].copy_from_slice(&sent);
        batch.deliver(&mut b.worker);
        assert_eq!(b.port.take(), vec![f.clone()], "{cipher:?}");
        batch.arena[r].copy_from_slice(&sent);
        batch.deliver(&mut b.worker);
        assert!(b.port.take().is_empty(), "{cipher:?}: a replay");
        assert_eq!(b.fwd(a.name).counters.drops.load(Ordering::Relaxed), 2);
        // The next, untouched, packet still opens.
        assert_eq!(cross(&mut a, &mut b, &mut batch, std::slice::from_ref(&f)), vec![f]);
    }
}

/// The two ends must agree on the cipher: packets sealed with one do not open with another
/// (what a stripped or altered offer would lead to), and are dropped and counted.
#[test]
fn packets_of_another_cipher_are_dropped() {
    let (mut a, _, mut batch) = ends_with(Some(KEY), SleeveCipher::Aead(Suite::Aes256Gcm));
    let (_, mut b, _) = ends_with(Some(KEY), SleeveCipher::Nacl);
    let f = with_vnet(VirtioNetHdr::default(), &frame(MAC_B, 17, 0, 200, true));
    a.worker.captured_with_header(&mut f.clone());
    a.worker.flush(&[]);
    a.wire.take(&mut batch);
    batch.deliver(&mut b.worker);
    assert!(b.port.take().is_empty());
    assert_eq!(b.fwd(a.name).counters.drops.load(Ordering::Relaxed), 1);
}

#[test]
fn a_df_frame_above_the_mtu_is_answered_with_fragmentation_needed() {
    let (mut a, mut b, mut batch) = ends(None);
    let big = frame(MAC_B, 17, 0, MSS + 100, true);
    let got = cross(&mut a, &mut b, &mut batch, &[with_vnet(VirtioNetHdr::default(), &big)]);
    assert!(got.is_empty() && batch.datagrams.is_empty(), "nothing sent");
    let icmp = a.port.take();
    assert_eq!(icmp.len(), 1, "an ICMP error back into A's bridge");
    let f = &icmp[0][VIRTIO_NET_HDR_LEN..];
    assert_eq!(&f[0..6], &MAC_A, "to the sender");
    assert_eq!((f[23], f[34], f[35]), (1, 3, 4), "ICMP type 3 code 4");
    assert_eq!(u16::from_be_bytes([f[40], f[41]]), MTU as u16, "next-hop MTU");
}

#[test]
fn a_non_df_frame_above_the_mtu_is_fragmented() {
    let (mut a, mut b, mut batch) = ends(None);
    let big = frame(MAC_B, 17, 0, MSS + 100, false);
    let got = cross(&mut a, &mut b, &mut batch, &[with_vnet(VirtioNetHdr::default(), &big)]);
    assert_eq!(got.len(), 2, "two fragments");
    let data: Vec<u8> = got.iter().flat_map(|w| w[VIRTIO_NET_HDR_LEN + 34..].to_vec()).collect();
    assert_eq!(data, big[34..].to_vec(), "which together carry the packet");
}

#[test]
fn broadcasts_flood_to_neighbours_the_kernel_does_not_reach() {
    let (mut a, mut b, mut batch) = ends(None);
    let bc = with_vnet(VirtioNetHdr::default(), &frame([0xff; 6], 17, 0, 100, true));
    assert_eq!(cross(&mut a, &mut b, &mut batch, std::slice::from_ref(&bc)), vec![bc.clone()]);
    // B's fastdp device is on A's bridge: the kernel floods to it, sleeve does not.
    a.sh.kernel_flood.store(std::sync::Arc::new([b.name].into_iter().collect()));
    assert!(cross(&mut a, &mut b, &mut batch, &[bc]).is_empty());
    assert!(batch.datagrams.is_empty());
}

#[test]
fn special_frames_go_to_the_control_task_and_strangers_are_rejected() {
    let (a, mut b, mut batch) = ends(Some(KEY));
    let hb = weave_wire::sleeve::SpecialFrame::Heartbeat { conn_uid: 1 }.to_frame();
    let packet = a.fwd(b.name).special_packet(a.name, true, &hb).unwrap();
    let from = a.addr;
    batch.arena = packet;
    batch.datagrams = vec![weave_overlay::sleeve::mem::Datagram {
        from,
        to: b.addr,
        df: true,
        range: 0..batch.arena.len(),
    }];
    batch.deliver(&mut b.worker);
    let events = std::mem::take(&mut *b.events.lock().unwrap());
    assert!(
        matches!(&events[..], [DataEvent::Special { from: f, frame }] if *f == from && *frame == hb),
        "{events:?}"
    );
    // A datagram from a peer we have no connection with.
    let stranger = PeerName(0x02_00_00_00_00_99);
    let mut junk = stranger.bytes().to_vec();
    junk.extend([0; 40]);
    batch.arena = junk;
    batch.datagrams[0].range = 0..batch.arena.len();
    batch.deliver(&mut b.worker);
    assert_eq!(b.sh.rejected.load(Ordering::Relaxed), 1);
}

#[test]
fn a_df_send_the_path_refuses_tells_the_control_task() {
    let (mut a, mut b, mut batch) = ends(None);
    a.wire.set_max_df_payload(Some(1000));
    let f = with_vnet(VirtioNetHdr::default(), &frame(MAC_B, 17, 0, MSS, true));
    assert!(cross(&mut a, &mut b, &mut batch, &[f]).is_empty());
    let events = std::mem::take(&mut *a.events.lock().unwrap());
    assert!(matches!(&events[..], [DataEvent::TooBig]), "{events:?}");
    assert_eq!(a.fwd(b.name).counters.drops.load(Ordering::Relaxed), 1);
}

/// Two connections to one peer are confirmed in either order (a duplicate the mesh is about
/// to drop, a restarted peer's old connection winding down). When the one the table shows
/// goes, the other carries the peer's traffic: before, the peer went unheard on sleeve until
/// its heartbeats timed out (60 s).
#[test]
fn when_the_forwarder_in_use_goes_another_confirmed_one_of_the_peer_takes_over() {
    use std::sync::Arc;
    use weave_overlay::sleeve::forwarder::Forwarder;
    let (a, _b) = pair_with_cipher(now(), 1400, None, SleeveCipher::Nacl, false);
    let peer = PeerName(0x02_00_00_00_00_0b);
    let fwd = |uid| Arc::new(Forwarder::new(peer, uid, None, None, Box::new(|_| {})));
    let shown = || a.sh.fwds.load().get(&peer).map(|f| f.conn_uid);
    let (kept, dropped) = (fwd(7), fwd(8));
    a.sh.register(kept.clone());
    a.sh.register(dropped.clone());
    assert_eq!(shown(), Some(8), "the newest confirmed one is used");
    a.sh.unregister(&dropped);
    assert_eq!(shown(), Some(7), "the one left takes over");
    // The other order: one that is not in use goes without changing anything.
    let third = fwd(9);
    a.sh.register(third.clone());
    a.sh.unregister(&kept);
    assert_eq!(shown(), Some(9));
    a.sh.unregister(&third);
    assert_eq!(shown(), None, "no confirmed connection left");
}
