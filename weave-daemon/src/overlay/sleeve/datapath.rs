//! The per-packet path, on dedicated threads: frames captured from the bridge's local port are
//! learnt, routed and packed into sleeve UDP packets; sleeve packets received are opened,
//! relayed or injected into the bridge. Sends are batched per burst with sendmmsg; packet
//! buffers come from a per-thread pool, so steady state allocates nothing.

use super::forwarder::{DataEvent, ForwarderRef, MAX_UDP_PAYLOAD};
use super::udp::{send_batch, send_gathered, RecvBatch, SendError, Sockets};
use crate::overlay::frame::{fragment, icmp_frag_needed, FrameInfo, ETH_HLEN};
use crate::overlay::fxhash::{FxHashMap, FxHashSet};
use crate::overlay::gso::{complete_checksum, segment_tcp4, Coalescer, Segmenter};
use crate::overlay::maccache::{Learned, MacCache};
use arc_swap::ArcSwap;
use std::io;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weave_mesh::Routes;
use weave_netdev::virtio::{
    VirtioNetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_LEN,
};
use weave_wire::sleeve::{frames, split_sender};
use weave_wire::PeerName;

/// STP and friends: never forwarded, as Weave.
const BRIDGE_GROUP: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x00];
/// Weave puts at most this many frames in one UDP packet.
const MAX_FRAMES_PER_PACKET: usize = 100;
/// Packet buffer sizes: small ones for packets limited by the path MTU (the common case; a
/// few dozen of them stay in cache), large ones for the non-DF path and jumbo underlays.
const SMALL_BUF: usize = 2048;
const LARGE_BUF: usize = 65536;

/// A packet buffer of `size` bytes, zero-filled once so later reuse never exposes
/// uninitialised memory.
fn new_packet_buf(size: usize) -> Vec<u8> {
    let mut b = vec![0u8; size];
    b.clear();
    b
}

/// A packet of one frame starts with the sender's name and the frame record's header.
const PACKET_HEAD: usize = 6 + 14;

/// Frames read from the local port before pending packets are sent anyway.
const CAPTURE_BURST: usize = 64;

/// The local side of the switch: the bridge port frames are captured from and injected into.
/// Frames travel with a virtio-net header in front (segmentation and checksum offload).
pub trait LocalPort: Send + Sync {
    /// Reads one virtio-net header and frame into `buf`; returns the total length.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes one frame behind the virtio-net header `hdr`.
    fn write(&self, hdr: &[u8], frame: &[u8]) -> io::Result<usize>;
    /// Writes one frame gathered from `head` and `payloads` behind `hdr`.
    fn write_gather(&self, hdr: &[u8], head: &[u8], payloads: &[libc::iovec]) -> io::Result<usize>;
    /// Waits until a frame can be read (the port is non-blocking).
    fn wait_readable(&self) -> io::Result<()>;
}

/// A virtio-net header for a frame that needs nothing from the kernel.
const PLAIN_HDR: [u8; VIRTIO_NET_HDR_LEN] = [0; VIRTIO_NET_HDR_LEN];

/// What the datapath threads share.
pub struct Shared {
    pub us: PeerName,
    /// The mesh's routes, published on every change.
    pub routes: ArcSwap<Routes>,
    /// The confirmed forwarder of each connected peer.
    pub fwds: ArcSwap<FxHashMap<PeerName, ForwarderRef>>,
    pub macs: MacCache,
    pub sockets: Sockets,
    pub port: Box<dyn LocalPort>,
    /// Neighbours the kernel already floods our local broadcasts to (their fastdp port is on
    /// the bridge): sleeve does not send those a second copy.
    pub kernel_flood: ArcSwap<FxHashSet<PeerName>>,
    /// Datagrams dropped before any connection could own them: too short to name a sender, or
    /// from a peer we have no sleeve connection with.
    pub rejected: AtomicU64,
}

/// A packet being filled for one forwarder and path.
struct Open {
    fwd: ForwarderRef,
    df: bool,
    buf: Vec<u8>,
    frames: usize,
    limit: usize,
}

/// A sealed packet waiting for the next flush.
struct Ready {
    fwd: ForwarderRef,
    dst: SocketAddrV4,
    buf: Vec<u8>,
}

/// One datapath thread's working state.
pub struct Worker {
    sh: Arc<Shared>,
    open: Vec<Open>,
    ready: [Vec<Ready>; 2],
    /// Free packet buffers, small and large.
    pool: [Vec<Vec<u8>>; 2],
    scratch: Vec<u8>,
    scratch2: Vec<u8>,
    segs: Vec<u8>,
    /// Packet headers and iovecs for segments sent from where they lie (`send_segments`).
    heads: Vec<u8>,
    iovs: Vec<libc::iovec>,
    /// Source peer, source and destination MAC of the last frame delivered here in this burst,
    /// when the MAC table had nothing to change: a flow's next frames skip the table (and its
    /// lock, shared with the other datapath threads). Cleared at every flush.
    rx_memo: Option<(PeerName, [u8; 6], [u8; 6])>,
    /// The same for captured frames: source and destination MAC, and the destination's peer.
    tx_memo: Option<([u8; 6], [u8; 6], PeerName)>,
    /// Received segments being merged for the local port.
    coalescer: Coalescer,
    /// One ICMP "fragmentation needed" per captured burst is enough for the sender.
    icmp_sent: bool,
    /// The time, read once per burst.
    now: Instant,
    last_log: Instant,
}

impl Worker {
    pub fn new(sh: Arc<Shared>) -> Worker {
        Worker {
            sh,
            open: Vec::new(),
            ready: [Vec::new(), Vec::new()],
            pool: [Vec::new(), Vec::new()],
            scratch: Vec::with_capacity(65536),
            scratch2: Vec::with_capacity(65536),
            segs: Vec::with_capacity(65536),
            heads: Vec::with_capacity(16384),
            iovs: Vec::with_capacity(256),
            rx_memo: None,
            tx_memo: None,
            coalescer: Coalescer::default(),
            icmp_sent: false,
            now: Instant::now(),
            last_log: Instant::now() - Duration::from_secs(60),
        }
    }

    /// Logs at most once a second per thread: the packet path must not flood the log.
    fn log(&mut self, msg: impl FnOnce() -> String) {
        let now = Instant::now();
        if now.duration_since(self.last_log) >= Duration::from_secs(1) {
            self.last_log = now;
            tracing::info!("{}", msg());
        }
    }

    // ---- captured frames ---------------------------------------------------------------

    /// What the local port read: a virtio-net header and a frame, possibly a TCP super-frame
    /// to cut into segments, possibly with its checksum left to us.
    pub fn captured_with_header(&mut self, buf: &mut [u8]) {
        let Some(hdr) = VirtioNetHdr::parse(buf) else { return };
        let frame = &mut buf[VIRTIO_NET_HDR_LEN..];
        self.icmp_sent = false;
        if hdr.gso_kind() == VIRTIO_NET_HDR_GSO_TCPV4 && hdr.gso_size > 0 {
            if let Some(seg) = Segmenter::new(frame, hdr.gso_size as usize) {
                if self.captured_gso(frame, &seg) {
                    return;
                }
            }
            let mut out = std::mem::take(&mut self.segs);
            if !segment_tcp4(frame, hdr.gso_size as usize, &mut out, |seg| self.captured(seg)) {
                self.log(|| "dropping a segmentation-offload frame that is not TCP/IPv4".into());
            }
            self.segs = out;
            return;
        }
        if hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0
            && !complete_checksum(frame, hdr.csum_start as usize, hdr.csum_offset as usize)
        {
            return;
        }
        self.captured(frame);
    }

    /// The fast path for a TCP super-frame to one remote peer: routed once, cut straight into
    /// the sleeve packets. False when the generic per-segment path must handle it (broadcast,
    /// no contact yet, segments too big, not DF).
    fn captured_gso(&mut self, frame: &[u8], seg: &Segmenter<'_>) -> bool {
        let Some(info) = FrameInfo::parse(frame) else { return false };
        let us = self.sh.us;
        if self.sh.macs.add_local(info.src_mac, us, self.now) != Learned::Known {
            return false;
        }
        let dst = match self.sh.macs.lookup(&info.dst_mac) {
            Some(p) if p != us => p,
            _ => return false,
        };
        let Some(hop) = self.sh.routes.load().next_hop(&dst) else { return false };
        let Some(fwd) = self.sh.fwds.load().get(&hop).cloned() else { return false };
        if !info.df || fwd.addr().is_none() || seg.len(0) > fwd.mtu() as usize + ETH_HLEN {
            return false;
        }
        if fwd.crypto.is_none()
            && PACKET_HEAD + seg.len(0) <= fwd.max_payload.load(Ordering::Relaxed) as usize
        {
            self.send_segments(&fwd, us, dst, seg);
            return true;
        }
        for i in 0..seg.count() {
            if let Some(buf) = self.reserve(&fwd, true, us, dst, seg.len(i)) {
                seg.write(i, buf);
            }
        }
        true
    }

    /// Plain sleeve, one segment per packet: each packet is written as headers only and sent
    /// with its payload where it lies in the super-frame, so the kernel's copy is the only one.
    fn send_segments(&mut self, fwd: &ForwarderRef, src: PeerName, dst: PeerName, seg: &Segmenter<'_>) {
        let Some(addr) = fwd.addr() else { return };
        // Whatever is queued goes first: frames keep their order.
        self.flush();
        let n = seg.count();
        let h = PACKET_HEAD + seg.header_len();
        let mut heads = std::mem::take(&mut self.heads);
        heads.clear();
        heads.resize(n * h, 0);
        for (i, head) in heads.chunks_exact_mut(h).enumerate() {
            head[..6].copy_from_slice(&self.sh.us.bytes());
            head[6..12].copy_from_slice(&src.bytes());
            head[12..18].copy_from_slice(&dst.bytes());
            head[18..20].copy_from_slice(&(seg.len(i) as u16).to_be_bytes());
            seg.write_headers_for(i, &mut head[PACKET_HEAD..]);
        }
        let mut iovs = std::mem::take(&mut self.iovs);
        let (mut failed, mut too_big, mut other) = (0u64, false, None);
        send_gathered(
            self.sh.sockets.get(true),
            addr,
            &heads,
            n,
            |i| seg.payload(i),
            &mut iovs,
            |_, e| {
                failed += 1;
                match e {
                    SendError::TooBig => too_big = true,
                    SendError::Other(e) => other = Some(e),
                }
            },
        );
        iovs.clear();
        self.iovs = iovs;
        self.heads = heads;
        let c = &fwd.counters;
        c.tx_packets.fetch_add(n as u64 - failed, Ordering::Relaxed);
        c.tx_bytes.fetch_add((n * PACKET_HEAD + seg.frame_len()) as u64, Ordering::Relaxed);
        c.drops.fetch_add(failed, Ordering::Relaxed);
        if too_big {
            fwd.notify(DataEvent::TooBig);
        }
        if let Some(e) = other {
            self.log(|| format!("sleeve ->[{addr}]: send: {e}"));
        }
    }

    /// A frame from the local bridge.
    pub fn captured(&mut self, frame: &[u8]) {
        let Some(info) = FrameInfo::parse(frame) else { return };
        let us = self.sh.us;
        if let Some((s, d, peer)) = self.tx_memo {
            if (s, d) == (info.src_mac, info.dst_mac) {
                return self.relay(us, peer, frame);
            }
        }
        if let Learned::Conflict(peer) = self.sh.macs.add_local(info.src_mac, us, self.now) {
            self.log(|| {
                format!(
                    "captured frame from MAC {} associated with another peer {peer}; dropped",
                    mac(&info.src_mac)
                )
            });
            return;
        }
        if info.dst_mac == BRIDGE_GROUP {
            return;
        }
        match self.sh.macs.lookup(&info.dst_mac) {
            Some(p) if p == us => {}
            None => self.relay_broadcast(us, frame),
            Some(peer) => {
                self.tx_memo = Some((info.src_mac, info.dst_mac, peer));
                self.relay(us, peer, frame)
            }
        }
    }

    // ---- received packets ----------------------------------------------------------------

    /// A sleeve UDP payload from `from`. The buffer is decrypted in place.
    pub fn received(&mut self, from: SocketAddrV4, packet: &mut [u8]) {
        let reject = || self.sh.rejected.fetch_add(1, Ordering::Relaxed);
        let Ok((sender, _)) = split_sender(packet) else {
            reject();
            return;
        };
        let Some(fwd) = self.sh.fwds.load().get(&sender).cloned() else {
            reject();
            return;
        };
        fwd.counters.rx_packets.fetch_add(1, Ordering::Relaxed);
        fwd.counters.rx_bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
        let body = &mut packet[6..];
        let range = match &fwd.crypto {
            None => 0..body.len(),
            Some(c) => match c.dec.lock().unwrap_or_else(|e| e.into_inner()).open_in_place(body) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    // A replay, or older than the replay window.
                    fwd.counters.drops.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    fwd.counters.drops.fetch_add(1, Ordering::Relaxed);
                    self.log(|| format!("sleeve ->[{from}|{sender}]: {e}"));
                    return;
                }
            },
        };
        let body = &body[range];
        for rec in frames(body) {
            match rec {
                Ok(r) => self.received_frame(from, &fwd, r.src, r.dst, r.frame),
                Err(e) => {
                    fwd.counters.drops.fetch_add(1, Ordering::Relaxed);
                    self.log(|| format!("sleeve ->[{from}|{sender}]: {e}"));
                    break;
                }
            }
        }
    }

    fn received_frame(
        &mut self,
        from: SocketAddrV4,
        fwd: &ForwarderRef,
        src: PeerName,
        dst: PeerName,
        frame: &[u8],
    ) {
        let routes = self.sh.routes.load();
        if frame.len() < ETH_HLEN || !routes.known.contains(&src) || !routes.known.contains(&dst) {
            fwd.counters.drops.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if FrameInfo::is_special(frame) {
            if src == fwd.remote && dst == self.sh.us {
                fwd.notify(DataEvent::Special { from, frame: frame.to_vec() });
            }
            return;
        }
        drop(routes);
        self.forwarded(src, dst, frame);
    }

    /// A frame that arrived over the overlay from `src`, addressed to peer `dst`.
    fn forwarded(&mut self, src: PeerName, dst: PeerName, frame: &[u8]) {
        let us = self.sh.us;
        if dst != us {
            self.relay(src, dst, frame);
            return;
        }
        let Some(info) = FrameInfo::parse(frame) else { return };
        let key = (src, info.src_mac, info.dst_mac);
        if self.rx_memo == Some(key) {
            self.inject(frame);
            return;
        }
        let learned = self.sh.macs.add_forced(info.src_mac, src, self.now);
        if let Learned::Conflict(was) = learned {
            self.log(|| format!("Discovered remote MAC {} at {src} (was at {was})", mac(&info.src_mac)));
        }
        self.inject(frame);
        let local = self.sh.macs.lookup(&info.dst_mac) == Some(us);
        self.rx_memo = (local && !matches!(learned, Learned::Conflict(_))).then_some(key);
        if !local {
            self.relay_broadcast(src, frame);
        }
    }

    /// Hands a frame to the local bridge, merging runs of TCP segments into super-frames.
    fn inject(&mut self, frame: &[u8]) {
        if self.coalescer.append(frame) {
            return;
        }
        self.flush_injected();
        if !self.coalescer.start(frame) {
            self.write_port(&PLAIN_HDR, frame);
        }
    }

    /// Writes the super-frame being built, if any.
    fn flush_injected(&mut self) {
        if self.coalescer.is_empty() {
            return;
        }
        let (g, head, payloads) = self.coalescer.finish();
        let mut h = PLAIN_HDR;
        if g.gso_size != 0 {
            let hdr = VirtioNetHdr {
                flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
                gso_type: VIRTIO_NET_HDR_GSO_TCPV4,
                hdr_len: g.hdr_len,
                gso_size: g.gso_size,
                csum_start: g.csum_start,
                csum_offset: g.csum_offset,
                num_buffers: 0,
            };
            hdr.emit(&mut h);
        }
        if let Err(e) = self.sh.port.write_gather(&h, head, payloads) {
            self.log(|| format!("injecting a frame into the bridge: {e}"));
        }
    }

    fn write_port(&mut self, hdr: &[u8], frame: &[u8]) {
        if let Err(e) = self.sh.port.write(hdr, frame) {
            self.log(|| format!("injecting a frame into the bridge: {e}"));
        }
    }

    // ---- routing -------------------------------------------------------------------------

    fn relay(&mut self, src: PeerName, dst: PeerName, frame: &[u8]) {
        let hop = self.sh.routes.load().next_hop(&dst);
        let Some(hop) = hop else {
            self.log(|| format!("Received packet for unknown destination: {dst}"));
            return;
        };
        let Some(fwd) = self.sh.fwds.load().get(&hop).cloned() else {
            self.log(|| format!("Unable to find connection to relay peer {hop}"));
            return;
        };
        self.forward(&fwd, src, dst, frame, false);
    }

    fn relay_broadcast(&mut self, src: PeerName, frame: &[u8]) {
        let routes = self.sh.routes.load();
        let fwds = self.sh.fwds.load();
        let kernel = self.sh.kernel_flood.load();
        for hop in routes.broadcast_hops(&src) {
            // A neighbour that relays for others still gets the sleeve copy (and so sees the
            // frame twice) because the kernel path does not relay.
            if src == self.sh.us && kernel.contains(hop) && !routes.relays(hop) {
                continue;
            }
            if let Some(fwd) = fwds.get(hop) {
                let fwd = fwd.clone();
                self.forward(&fwd, src, *hop, frame, true);
            }
        }
    }

    /// Sends a frame to `fwd`'s peer, choosing the DF or non-DF path as Weave: DF frames that
    /// do not fit get an ICMP "fragmentation needed", non-DF IPv4 is fragmented here unless the
    /// peer confirmed the kernel's fragments reach it.
    fn forward(&mut self, fwd: &ForwarderRef, src: PeerName, dst: PeerName, frame: &[u8], broadcast: bool) {
        if fwd.addr().is_none() {
            self.log(|| format!("sleeve ->[{}]: Cannot forward frame yet - awaiting contact", fwd.remote));
            return;
        }
        let Some(info) = FrameInfo::parse(frame) else { return };
        let mtu = fwd.mtu() as usize;
        let fits = frame.len() <= mtu + ETH_HLEN;
        if info.df {
            if fits {
                self.push(fwd, true, src, dst, frame);
            } else if !broadcast && !self.icmp_sent {
                self.icmp_sent = true;
                let mut icmp = std::mem::take(&mut self.scratch);
                if icmp_frag_needed(frame, mtu as u16, &mut icmp).is_some() {
                    tracing::debug!("Sending ICMP 3,4: PMTU={mtu}");
                    // Back to the sender, as if it came from the destination peer.
                    self.forwarded(dst, src, &icmp);
                }
                self.scratch = icmp;
            }
            return;
        }
        if fwd.stack_frag.load(Ordering::Relaxed) || info.ipv4.is_none() {
            self.push(fwd, false, src, dst, frame);
        } else if fits {
            self.push(fwd, true, src, dst, frame);
        } else {
            let mut scratch = std::mem::take(&mut self.scratch2);
            fragment(frame, mtu, &mut scratch, |f| self.push(fwd, true, src, dst, f));
            self.scratch2 = scratch;
        }
    }

    /// Appends a frame record to the forwarder's open packet on that path.
    fn push(&mut self, fwd: &ForwarderRef, df: bool, src: PeerName, dst: PeerName, frame: &[u8]) {
        if let Some(buf) = self.reserve(fwd, df, src, dst, frame.len()) {
            buf.copy_from_slice(frame);
        }
    }

    /// Makes room for a frame record of `len` bytes in the forwarder's open packet on that
    /// path (starting a new packet when it does not fit) and returns the space for the frame.
    fn reserve(
        &mut self,
        fwd: &ForwarderRef,
        df: bool,
        src: PeerName,
        dst: PeerName,
        len: usize,
    ) -> Option<&mut [u8]> {
        let need = 14 + len;
        // Open packets are few (one per peer and path in a burst): a scan beats hashing.
        let mut at = self.open.iter().position(|o| o.df == df && Arc::ptr_eq(&o.fwd, fwd));
        if let Some(i) = at {
            let o = &self.open[i];
            if o.buf.len() + need > o.limit || o.frames >= MAX_FRAMES_PER_PACKET {
                let o = self.open.swap_remove(i);
                self.seal(o, df);
                at = None;
            }
        }
        let i = match at {
            Some(i) => i,
            None => {
                let limit =
                    if df { fwd.max_payload.load(Ordering::Relaxed) as usize } else { MAX_UDP_PAYLOAD };
                let class = (limit > SMALL_BUF) as usize;
                let size = [SMALL_BUF, LARGE_BUF][class];
                let mut buf = self.pool[class].pop().unwrap_or_else(|| new_packet_buf(size));
                buf.clear();
                buf.extend_from_slice(&self.sh.us.bytes());
                if fwd.encrypted() {
                    buf.extend_from_slice(&[0u8; 24]);
                }
                self.open.push(Open { fwd: fwd.clone(), df, buf, frames: 0, limit: limit.min(size) });
                self.open.len() - 1
            }
        };
        if self.open[i].buf.len() + need > self.open[i].limit {
            fwd.counters.drops.fetch_add(1, Ordering::Relaxed);
            let limit = self.open[i].limit;
            self.log(|| format!("Dropping too big frame during forwarding: frame len {len}, limit {limit}"));
            return None;
        }
        let o = &mut self.open[i];
        o.buf.extend_from_slice(&src.bytes());
        o.buf.extend_from_slice(&dst.bytes());
        o.buf.extend_from_slice(&(len as u16).to_be_bytes());
        let start = o.buf.len();
        debug_assert!(start + len <= o.buf.capacity());
        // SAFETY: every packet buffer was zero-filled to its capacity when allocated and
        // its capacity never changes, so these bytes are initialised; the caller overwrites them.
        unsafe { o.buf.set_len(start + len) };
        o.frames += 1;
        Some(&mut o.buf[start..])
    }

    /// Returns a packet buffer to its pool.
    fn recycle(&mut self, buf: Vec<u8>) {
        self.pool[(buf.capacity() > SMALL_BUF) as usize].push(buf);
    }

    /// Closes a packet: encrypts it and queues it for the next flush.
    fn seal(&mut self, mut o: Open, df: bool) {
        let Some(dst) = o.fwd.addr() else { return self.recycle(o.buf) };
        if let Some(c) = &o.fwd.crypto {
            let enc = if df { &c.enc_df } else { &c.enc };
            if enc.lock().unwrap_or_else(|e| e.into_inner()).seal_in_place(&mut o.buf[6..]).is_err() {
                return self.recycle(o.buf);
            }
        }
        self.ready[df as usize].push(Ready { fwd: o.fwd, dst, buf: o.buf });
    }

    /// Sends everything pending, and writes what was merged for the local port.
    pub fn flush(&mut self) {
        self.rx_memo = None;
        self.tx_memo = None;
        self.flush_injected();
        while let Some(o) = self.open.pop() {
            let df = o.df;
            self.seal(o, df);
        }
        for df in [false, true] {
            let mut ready = std::mem::take(&mut self.ready[df as usize]);
            if ready.is_empty() {
                continue;
            }
            let msgs: Vec<(SocketAddrV4, &[u8])> = ready.iter().map(|r| (r.dst, r.buf.as_slice())).collect();
            let mut failed: Vec<(usize, SendError)> = Vec::new();
            send_batch(self.sh.sockets.get(df), &msgs, |i, e| failed.push((i, e)));
            drop(msgs);
            for (i, e) in failed {
                let fwd = &ready[i].fwd;
                fwd.counters.drops.fetch_add(1, Ordering::Relaxed);
                match e {
                    SendError::TooBig => fwd.notify(DataEvent::TooBig),
                    SendError::Other(e) => self.log(|| format!("sleeve ->[{}]: send: {e}", ready[i].dst)),
                }
            }
            for r in ready.drain(..) {
                r.fwd.counters.tx_packets.fetch_add(1, Ordering::Relaxed);
                r.fwd.counters.tx_bytes.fetch_add(r.buf.len() as u64, Ordering::Relaxed);
                self.recycle(r.buf);
            }
            // Keep the vector's capacity for the next burst.
            self.ready[df as usize] = ready;
        }
    }
}

fn mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The capture thread: reads the local port in bursts and sends what it routed.
pub fn capture_loop(sh: Arc<Shared>) {
    let mut w = Worker::new(sh.clone());
    let mut buf = vec![0u8; 65536 + VIRTIO_NET_HDR_LEN];
    loop {
        w.now = Instant::now();
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
        w.flush();
        if n < CAPTURE_BURST {
            if let Err(e) = sh.port.wait_readable() {
                tracing::error!("waiting on the bridge's local port: {e}; sleeve capture stops");
                return;
            }
        }
    }
}

/// A receive thread for one of the sleeve sockets.
pub fn receive_loop(sh: Arc<Shared>, df: bool) {
    let mut w = Worker::new(sh.clone());
    let mut batch = RecvBatch::new(32, 65536);
    loop {
        match batch.recv(sh.sockets.get(df)) {
            Ok(n) => {
                w.now = Instant::now();
                for i in 0..n {
                    let (from, len, seg) = (batch.from[i], batch.lens[i], batch.seg[i]);
                    let buf = &mut batch.bufs[i][..len];
                    if seg == 0 {
                        w.received(from, buf);
                    } else {
                        // The kernel coalesced same-sized datagrams (UDP GRO): split them.
                        for d in buf.chunks_mut(seg) {
                            w.received(from, d);
                        }
                    }
                }
                w.flush();
            }
            Err(e) => {
                tracing::error!("receiving sleeve packets: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
