//! In-memory ports, so the sleeve packet path runs in tests and benchmarks without devices or
//! sockets: a local port that keeps (or counts) what is written to it, and a UDP side whose
//! datagrams wait in one buffer, laid out as a receive batch, until the other end takes them.
//! [`pair`] joins two datapath ends, each with its own ports and worker.

use super::datapath::{Shared, Worker};
use super::forwarder::{Crypto, DataEvent, Forwarder};
use super::port::{LocalPort, OnError, SendError, Underlay};
use std::io::{self, IoSlice};
use std::net::SocketAddrV4;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use weave_mesh::Routes;
use weave_wire::crypto::aead::Binding;
use weave_wire::crypto::suite::Ends;
use weave_wire::crypto::{SessionKey, SleeveCipher};
use weave_wire::PeerName;

/// A local port in memory. Reading finds nothing (tests hand frames to the worker directly).
#[derive(Default)]
pub struct MemPort {
    keep: bool,
    written: Mutex<Vec<Vec<u8>>>,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
}

impl MemPort {
    /// Keeps every frame written (virtio-net header first).
    pub fn recording() -> MemPort {
        MemPort { keep: true, ..MemPort::default() }
    }

    /// Only counts frames and bytes.
    pub fn counting() -> MemPort {
        MemPort::default()
    }

    /// The frames written since the last call.
    pub fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.written.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl LocalPort for MemPort {
    fn read(&self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if self.keep {
            let frame = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            self.written.lock().unwrap_or_else(|e| e.into_inner()).push(frame);
        }
        Ok(n)
    }

    fn wait_readable(&self) -> io::Result<()> {
        Ok(())
    }
}

/// A datagram on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddrV4,
    pub to: SocketAddrV4,
    pub df: bool,
    /// Where its payload is in the batch's arena.
    pub range: Range<usize>,
}

/// Datagrams back to back in one buffer, as one receive call gets them.
#[derive(Default)]
pub struct Batch {
    pub arena: Vec<u8>,
    pub datagrams: Vec<Datagram>,
}

impl Batch {
    pub fn payload(&self, i: usize) -> &[u8] {
        &self.arena[self.datagrams[i].range.clone()]
    }

    /// Hands every datagram to `w` as its receive thread would, then flushes it.
    pub fn deliver(&mut self, w: &mut Worker) {
        let Batch { arena, datagrams } = self;
        w.received_batch(arena, datagrams.iter().map(|d| (d.from, d.range.clone(), 0)));
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.datagrams.clear();
    }
}

/// One end's UDP side: what it sends waits here until [`Wire::take`].
pub struct Wire {
    from: SocketAddrV4,
    q: Mutex<Wired>,
}

#[derive(Default)]
struct Wired {
    batch: Batch,
    /// The largest DF payload the path carries; larger ones are refused as too big.
    max_df: Option<usize>,
    /// Everything sent is lost.
    cut: bool,
}

impl Wire {
    /// The UDP side of an end whose datagrams come from `from`.
    pub fn new(from: SocketAddrV4) -> Wire {
        Wire { from, q: Mutex::new(Wired::default()) }
    }

    fn q(&self) -> std::sync::MutexGuard<'_, Wired> {
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses DF datagrams with payloads above `max` (a path MTU less UDP/IP headers).
    pub fn set_max_df_payload(&self, max: Option<usize>) {
        self.q().max_df = max;
    }

    /// Loses everything sent from now on (or stops losing it).
    pub fn cut(&self, cut: bool) {
        self.q().cut = cut;
    }

    /// Moves what was sent into `into` (whose old contents go), reusing both buffers.
    pub fn take(&self, into: &mut Batch) {
        into.clear();
        std::mem::swap(&mut self.q().batch, into);
    }

    fn push(&self, q: &mut Wired, to: SocketAddrV4, df: bool, parts: &[&[u8]]) -> Result<(), ()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if df && q.max_df.is_some_and(|m| len > m) {
            return Err(());
        }
        if !q.cut {
            let start = q.batch.arena.len();
            for p in parts {
                q.batch.arena.extend_from_slice(p);
            }
            q.batch.datagrams.push(Datagram { from: self.from, to, df, range: start..start + len });
        }
        Ok(())
    }
}

impl Underlay for Wire {
    fn send(&self, df: bool, msgs: &[(SocketAddrV4, &[u8])], on_error: &mut OnError<'_>) {
        let mut q = self.q();
        for (i, (to, payload)) in msgs.iter().enumerate() {
            if self.push(&mut q, *to, df, &[payload]).is_err() {
                on_error(i, SendError::TooBig);
            }
        }
    }

    fn send_gathered<'p>(
        &self,
        dst: SocketAddrV4,
        heads: &[u8],
        n: usize,
        payload: &dyn Fn(usize) -> &'p [u8],
        on_error: &mut OnError<'_>,
    ) {
        if n == 0 {
            return;
        }
        let h = heads.len() / n;
        let mut q = self.q();
        for i in 0..n {
            if self.push(&mut q, dst, true, &[&heads[i * h..(i + 1) * h], payload(i)]).is_err() {
                on_error(i, SendError::TooBig);
            }
        }
    }
}

/// One end of a [`pair`].
pub struct End {
    pub name: PeerName,
    pub addr: SocketAddrV4,
    pub sh: Arc<Shared>,
    pub port: Arc<MemPort>,
    pub wire: Arc<Wire>,
    pub worker: Worker,
    /// What the datapath handed to the forwarder's control task.
    pub events: Arc<Mutex<Vec<DataEvent>>>,
}

impl End {
    /// The forwarder to the other end.
    pub fn fwd(&self, to: PeerName) -> Arc<Forwarder> {
        self.sh.fwds.load().get(&to).cloned().expect("a forwarder to the other end")
    }

    /// Sends what is pending and delivers what this end sent to `to`, through `batch`.
    pub fn deliver_to(&mut self, to: &mut End, batch: &mut Batch) {
        self.worker.flush(&[]);
        self.wire.take(batch);
        batch.datagrams.retain(|d| d.to == to.addr);
        batch.deliver(&mut to.worker);
    }
}

/// Two datapath ends, A (10.0.0.1:6783, it dialled) and B (10.0.0.2:6783), each with a
/// forwarder to the other (an overlay MTU of `mtu`, encrypted with `key` by Weave's NaCl),
/// routes to each other, and ports that record frames or only count them.
pub fn pair(now: Instant, mtu: u32, key: Option<[u8; 32]>, record: bool) -> (End, End) {
    pair_with_cipher(now, mtu, key, SleeveCipher::Nacl, record)
}

/// As [`pair`], encrypting with `cipher` when there is a key.
pub fn pair_with_cipher(
    now: Instant,
    mtu: u32,
    key: Option<[u8; 32]>,
    cipher: SleeveCipher,
    record: bool,
) -> (End, End) {
    let a = (PeerName(0x02_00_00_00_00_0a), SocketAddrV4::new([10, 0, 0, 1].into(), 6783));
    let b = (PeerName(0x02_00_00_00_00_0b), SocketAddrV4::new([10, 0, 0, 2].into(), 6783));
    let end = |us: (PeerName, SocketAddrV4), them: (PeerName, SocketAddrV4), outbound: bool| {
        let port = Arc::new(if record { MemPort::recording() } else { MemPort::counting() });
        let wire = Arc::new(Wire::new(us.1));
        let sh = Arc::new(Shared::new(us.0, Box::new(wire.clone()), Box::new(port.clone())));
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = events.clone();
        let notify = Box::new(move |e| ev.lock().unwrap_or_else(|e| e.into_inner()).push(e));
        let ends = Ends { us: us.0.bytes(), peer: them.0.bytes(), outbound };
        let binding = Binding::new((us.0.bytes(), "offer"), (them.0.bytes(), "offer"));
        let crypto = key.map(|k| Crypto::with_cipher(&SessionKey::from_bytes(k), cipher, &binding, ends));
        let fwd = Arc::new(Forwarder::new(them.0, 1, Some(them.1), crypto, notify));
        fwd.mtu.store(mtu, Ordering::Relaxed);
        let payload = mtu as usize + fwd.overhead_df() - super::forwarder::UDP_OVERHEAD;
        fwd.max_payload.store(payload as u32, Ordering::Relaxed);
        sh.routes.store(Arc::new(Routes::of_links(us.0, &[(us.0, them.0)])));
        sh.fwds.store(Arc::new([(them.0, fwd)].into_iter().collect()));
        let worker = Worker::new(sh.clone(), now);
        End { name: us.0, addr: us.1, sh, port, wire, worker, events }
    };
    (end(a, b, true), end(b, a, false))
}
