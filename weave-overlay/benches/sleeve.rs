//! The sleeve packet path without devices or sockets: frames captured at one end are
//! encapsulated (and encrypted), and the datagrams opened, merged and written to the other
//! end's port, all through in-memory ports (`weave_overlay::sleeve::mem`). A 64 KiB TCP
//! super-frame (segmented, then merged again) and bursts of 32 MTU-sized frames, plain and
//! encrypted. `cargo bench -p weave-overlay --bench sleeve`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::atomic::Ordering;
use std::time::Instant;
use weave_overlay::gso::checksum;
use weave_overlay::sleeve::mem::{pair, Batch, End};
use weave_overlay::virtio::{VirtioNetHdr, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_LEN};

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb1];
const MTU: u32 = 1376;
/// The largest TCP payload in an MTU-sized frame (20-byte IP and TCP headers).
const MSS: usize = MTU as usize - 40;

/// A TCP/IPv4 frame from MAC_A to MAC_B with `payload` bytes, DF, valid checksums.
fn tcp_frame(payload: usize, proto: u8) -> Vec<u8> {
    let mut f = MAC_B.to_vec();
    f.extend(MAC_A);
    f.extend([0x08, 0x00]);
    let total = 20 + 20 + payload;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 10, 32, 0, 1, 10, 32, 0, 2];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend([0x30, 0x39, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 7, 0x50, 0x10, 0x01, 0x00, 0, 0, 0, 0]);
    f.extend((0..payload).map(|i| i as u8));
    let mut pseudo = vec![10, 32, 0, 1, 10, 32, 0, 2, 0, 6];
    pseudo.extend(((20 + payload) as u16).to_be_bytes());
    pseudo.extend(&f[34..]);
    let c = checksum(&pseudo);
    f[50..52].copy_from_slice(&c.to_be_bytes());
    f
}

/// Two ends that know where each other's MACs are.
fn ends(encrypted: bool) -> (End, End, Batch) {
    #[allow(clippy::disallowed_methods)] // the bench's clock: the packet path reads none
    let now = Instant::now();
    let (a, b) = pair(now, MTU, encrypted.then_some([7; 32]), false);
    a.sh.macs.add_local(MAC_A, a.name, now);
    a.sh.macs.add_forced(MAC_B, b.name, now);
    b.sh.macs.add_local(MAC_B, b.name, now);
    b.sh.macs.add_forced(MAC_A, a.name, now);
    (a, b, Batch::default())
}

/// Captures `frames` at A, delivers to B, and checks all of `bytes` arrived.
fn run(a: &mut End, b: &mut End, batch: &mut Batch, frames: &mut [Vec<u8>], bytes: u64) {
    let before = b.port.bytes.load(Ordering::Relaxed);
    for f in frames.iter_mut() {
        a.worker.captured_with_header(f);
    }
    a.deliver_to(b, batch);
    let got = b.port.bytes.load(Ordering::Relaxed) - before;
    assert!(got >= bytes, "{got} of {bytes} bytes arrived");
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sleeve_mem");
    for encrypted in [false, true] {
        let name = if encrypted { "encrypted" } else { "plain" };
        let (mut a, mut b, mut batch) = ends(encrypted);
        let payload = 48 * MSS;
        let mut tso = vec![0u8; VIRTIO_NET_HDR_LEN];
        let hdr = VirtioNetHdr {
            gso_type: VIRTIO_NET_HDR_GSO_TCPV4,
            gso_size: MSS as u16,
            hdr_len: 54,
            ..Default::default()
        };
        hdr.emit(&mut tso);
        tso.extend(tcp_frame(payload, 6));
        let mut frames = [tso];
        g.throughput(Throughput::Bytes(payload as u64));
        g.bench_function(format!("tso_64k_{name}"), |bch| {
            bch.iter(|| run(&mut a, &mut b, &mut batch, &mut frames, payload as u64))
        });
        // 32 frames of the MTU (UDP: no merging), one capture burst.
        let (mut a, mut b, mut batch) = ends(encrypted);
        let mut one = vec![0u8; VIRTIO_NET_HDR_LEN];
        one.extend(tcp_frame(MSS, 17));
        let mut frames: Vec<Vec<u8>> = (0..32).map(|_| one.clone()).collect();
        g.throughput(Throughput::Elements(32));
        g.bench_function(format!("frames_{}x32_{name}", MTU + 14), |bch| {
            bch.iter(|| run(&mut a, &mut b, &mut batch, &mut frames, 32 * (MTU as u64 + 14)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
