//! Baseline of the sleeve packet path before the port traits: two datapath workers joined by
//! real UDP sockets on loopback, with a counting local port. TCP super-frames (64 KiB TSO) and
//! single 1400-byte frames, plain and encrypted. `cargo bench -p weave-daemon --bench sleeve_loopback`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::SocketAddrV4;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use weave_daemon::overlay::sleeve::udp::Sockets;
use weave_mesh::Routes;
use weave_netdev::udp::RecvBatch;
use weave_overlay::sleeve::datapath::{Shared, Worker};
use weave_overlay::sleeve::forwarder::{Crypto, Forwarder};
use weave_overlay::sleeve::mem::MemPort;
use weave_overlay::virtio::{VirtioNetHdr, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_LEN};
use weave_wire::crypto::SessionKey;
use weave_wire::PeerName;

const A: PeerName = PeerName(0x02_00_00_00_00_0a);
const B: PeerName = PeerName(0x02_00_00_00_00_0b);
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb1];

struct Side {
    sh: Arc<Shared>,
    sockets: Arc<Sockets>,
    port: Arc<MemPort>,
}

fn side(us: PeerName, them: PeerName, addr: SocketAddrV4, key: Option<[u8; 32]>, outbound: bool) -> Side {
    let sockets = Arc::new(Sockets::bind(SocketAddrV4::new([127, 0, 0, 1].into(), 0)).unwrap());
    sockets.df.set_nonblocking(true).unwrap();
    sockets.nodf.set_nonblocking(true).unwrap();
    let port = Arc::new(MemPort::counting());
    let sh = Arc::new(Shared::new(us, Box::new(sockets.clone()), Box::new(port.clone())));
    let crypto = key.map(|k| Crypto::new(&SessionKey::from_bytes(k), outbound));
    let fwd = Arc::new(Forwarder::new(them, 1, Some(addr), crypto, Box::new(|_| {})));
    fwd.mtu.store(1376, Ordering::Relaxed);
    fwd.max_payload.store(1376 + 28 + 6 + 14 + 14 + if key.is_some() { 24 } else { 0 }, Ordering::Relaxed);
    sh.routes.store(Arc::new(Routes::of_links(us, &[(us, them)])));
    sh.fwds.store(Arc::new([(them, fwd)].into_iter().collect()));
    Side { sh, sockets, port }
}

/// A TCP/IPv4 frame from MAC_A to MAC_B with `payload` bytes and valid checksums, DF set.
fn tcp_frame(seq: u32, payload: usize) -> Vec<u8> {
    let mut f = MAC_B.to_vec();
    f.extend(MAC_A);
    f.extend([0x08, 0x00]);
    let total = 20 + 20 + payload;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 32, 0, 1, 10, 32, 0, 2];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let c = weave_overlay::gso::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend([0x30, 0x39, 0x14, 0x51]);
    f.extend(seq.to_be_bytes());
    f.extend(7u32.to_be_bytes());
    f.extend([0x50, 0x10, 0x01, 0x00, 0, 0, 0, 0]);
    f.extend((0..payload).map(|i| i as u8));
    // TCP checksum over the pseudo-header and segment.
    let mut pseudo = vec![10, 32, 0, 1, 10, 32, 0, 2, 0, 6];
    pseudo.extend(((20 + payload) as u16).to_be_bytes());
    pseudo.extend(&f[34..]);
    let c = weave_overlay::gso::checksum(&pseudo);
    f[50..52].copy_from_slice(&c.to_be_bytes());
    f
}

struct Pair {
    b: Side,
    wa: Worker,
    wb: Worker,
    batch: RecvBatch,
}

fn pair(encrypted: bool) -> Pair {
    let key = encrypted.then_some([7u8; 32]);
    // Bind B first to learn its address, then A pointing at it, then point B at A.
    let placeholder = SocketAddrV4::new([127, 0, 0, 1].into(), 9);
    let b = side(B, A, placeholder, key, false);
    let b_addr = SocketAddrV4::new([127, 0, 0, 1].into(), b.sockets.df.local_addr().unwrap().port());
    let a = side(A, B, b_addr, key, true);
    let a_addr = SocketAddrV4::new([127, 0, 0, 1].into(), a.sockets.df.local_addr().unwrap().port());
    b.sh.fwds.load().get(&A).unwrap().addr.store(Some(Arc::new(a_addr)));
    let now = Instant::now();
    a.sh.macs.add_forced(MAC_B, B, now);
    a.sh.macs.add_local(MAC_A, A, now);
    b.sh.macs.add_local(MAC_B, B, now);
    b.sh.macs.add_forced(MAC_A, A, now);
    let wa = Worker::new(a.sh.clone(), now);
    let wb = Worker::new(b.sh.clone(), now);
    Pair { b, wa, wb, batch: RecvBatch::new(32, 65536) }
}

impl Pair {
    /// Captures `frames` (each with its virtio header) at A and receives at B until `bytes`
    /// more have reached B's port.
    fn run(&mut self, frames: &mut [Vec<u8>], bytes: u64) {
        let out = &self.b.port.bytes;
        let target = out.load(Ordering::Relaxed) + bytes;
        for f in frames.iter_mut() {
            self.wa.captured_with_header(f);
        }
        self.wa.flush(&[]);
        let mut idle = 0;
        while out.load(Ordering::Relaxed) < target {
            let mut got = 0;
            for df in [true, false] {
                if let Ok(n) = self.batch.recv(self.b.sockets.get(df)) {
                    got += n;
                    let (buf, datagrams) = self.batch.parts();
                    self.wb.received_batch(
                        buf,
                        datagrams.iter().map(|d| (d.from, d.offset..d.offset + d.len, d.seg)),
                    );
                }
            }
            if got == 0 {
                idle += 1;
                assert!(idle < 1_000_000, "frames lost on loopback");
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sleeve_loopback");
    for encrypted in [false, true] {
        let name = if encrypted { "encrypted" } else { "plain" };
        // One 64 KiB TSO super-frame, MSS 1322 (fits MTU 1376 with timestamps-free headers).
        let mut p = pair(encrypted);
        let payload = 49 * 1322;
        let mut tso = vec![0u8; VIRTIO_NET_HDR_LEN];
        VirtioNetHdr {
            gso_type: VIRTIO_NET_HDR_GSO_TCPV4,
            gso_size: 1322,
            hdr_len: 54,
            ..Default::default()
        }
        .emit(&mut tso);
        tso.extend(tcp_frame(0, payload));
        let mut frames = [tso];
        g.throughput(Throughput::Bytes(payload as u64));
        g.bench_function(format!("tso_64k_{name}"), |bch| {
            bch.iter(|| p.run(&mut frames, payload as u64 + 54))
        });
        // 32 single frames of 1390 bytes (the MTU; non-TCP: IP proto 17), as one capture burst.
        let mut p = pair(encrypted);
        let mut single = tcp_frame(0, 1390 - 54);
        single[23] = 17;
        let mut framed = vec![0u8; VIRTIO_NET_HDR_LEN];
        framed.extend(&single);
        g.throughput(Throughput::Elements(32));
        g.bench_function(format!("frames_1390x32_{name}"), |bch| {
            let mut fs: Vec<Vec<u8>> = (0..32).map(|_| framed.clone()).collect();
            bch.iter(|| p.run(&mut fs, 32 * 1390))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
