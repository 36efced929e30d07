//! The sleeve's packet-path threads: one reads the bridge's local port in bursts, one per
//! socket receives batches of datagrams. Each runs a `weave_overlay` datapath worker, which
//! does the per-packet work.

use super::udp::Sockets;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weave_netdev::udp::RecvBatch;
use weave_overlay::sleeve::datapath::{Shared, Worker, CAPTURE_BURST};
use weave_overlay::virtio::VIRTIO_NET_HDR_LEN;

/// Datagrams per receive call, and the largest (a UDP GRO run fits 64 KiB).
const RECV_BATCH: usize = 32;
const RECV_SIZE: usize = 65536;

/// The capture thread: reads the local port in bursts and sends what it routed.
pub fn capture_loop(sh: Arc<Shared>) {
    let mut w = Worker::new(sh.clone(), Instant::now());
    let mut buf = vec![0u8; 65536 + VIRTIO_NET_HDR_LEN];
    loop {
        w.set_now(Instant::now());
        let mut n = 0;
        while n < CAPTURE_BURST {
            match sh.port.read(&mut buf) {
                Ok(len) => {
                    w.captured_with_header(&mut buf[..len]);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!("reading the bridge's local port: {e}; sleeve capture stops");
                    return;
                }
            }
        }
        w.flush(&[]);
        if n < CAPTURE_BURST {
            if let Err(e) = sh.port.wait_readable() {
                tracing::error!("waiting on the bridge's local port: {e}; sleeve capture stops");
                return;
            }
        }
    }
}

/// A receive thread for one of the sleeve sockets.
pub fn receive_loop(sh: Arc<Shared>, sockets: Arc<Sockets>, df: bool) {
    let mut w = Worker::new(sh, Instant::now());
    let mut batch = RecvBatch::new(RECV_BATCH, RECV_SIZE);
    loop {
        match batch.recv(sockets.get(df)) {
            Ok(_) => {
                w.set_now(Instant::now());
                let (buf, datagrams) = batch.parts();
                w.received_batch(buf, datagrams.iter().map(|d| (d.from, d.offset..d.offset + d.len, d.seg)));
            }
            Err(e) => {
                tracing::error!("receiving sleeve packets: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
