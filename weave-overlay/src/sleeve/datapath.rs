//! The per-packet path, run by the daemon's dedicated threads: frames captured from the
//! bridge's local port are learnt, routed and packed into sleeve UDP packets; sleeve packets
//! received are opened, relayed or injected into the bridge. Sends are batched per burst;
//! packet buffers come from a per-thread pool, so steady state allocates nothing.
//!
//! A [`Worker`] is one thread's state. The capture thread reads a burst from the local port,
//! hands each frame to [`Worker::captured_with_header`] and calls [`Worker::flush`]; a receive
//! thread hands each batch of datagrams to [`Worker::received_batch`]. The time is set per
//! burst with [`Worker::set_now`].

use super::forwarder::{DataEvent, ForwarderRef, MAX_UDP_PAYLOAD};
use super::port::{LocalPort, SendError, Underlay};
use crate::frame::{fragment, icmp_frag_needed, FrameInfo, ETH_HLEN};
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::gso::{complete_checksum, segment_tcp4, Coalescer, Merged, Segmenter, MAX_SEGMENTS};
use crate::maccache::{Learned, MacCache};
use crate::virtio::{
    VirtioNetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_LEN,
};
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::io::IoSlice;
use std::net::SocketAddrV4;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weave_mesh::Routes;
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
/// Buffers each pool keeps: what a burst of packets in flight needs (a flush sends at most a
/// capture burst), not what one broadcast to every peer took (a large buffer each: 3 MiB for
/// 49 peers, resident for the daemon's life).
const POOL_KEEP: [usize; 2] = [4 * CAPTURE_BURST, CAPTURE_BURST / 4];

/// A packet of one frame starts with the sender's name and the frame record's header.
const PACKET_HEAD: usize = 6 + 14;

/// Frames read from the local port before pending packets are sent anyway.
pub const CAPTURE_BURST: usize = 64;

/// A virtio-net header for a frame that needs nothing from the kernel.
const PLAIN_HDR: [u8; VIRTIO_NET_HDR_LEN] = [0; VIRTIO_NET_HDR_LEN];

/// What the datapath threads share.
pub struct Shared {
    pub us: PeerName,
    /// The mesh's routes, published on every change.
    pub routes: ArcSwap<Routes>,
    /// The confirmed forwarder of each connected peer (change it with [`Shared::register`]
    /// and [`Shared::unregister`]).
    pub fwds: ArcSwap<FxHashMap<PeerName, ForwarderRef>>,
    /// Every confirmed forwarder of each peer, oldest first: one, except while a duplicate
    /// connection or a restarted peer's old one winds down. `fwds` shows the newest.
    confirmed: Mutex<FxHashMap<PeerName, Vec<ForwarderRef>>>,
    pub macs: MacCache,
    pub underlay: Box<dyn Underlay>,
    pub port: Box<dyn LocalPort>,
    /// Neighbours the kernel already floods our local broadcasts to (their fastdp port is on
    /// the bridge): sleeve does not send those a second copy.
    pub kernel_flood: ArcSwap<FxHashSet<PeerName>>,
    /// Datagrams dropped before any connection could own them: too short to name a sender, or
    /// from a peer we have no sleeve connection with.
    pub rejected: AtomicU64,
    /// Sleeve payload bytes (sent, received) of forwarders that are gone, by cipher name; the
    /// daemon moves a forwarder's counts here under this lock when it leaves `fwds`.
    pub retired: Mutex<BTreeMap<&'static str, [u64; 2]>>,
}

impl Shared {
    /// The datapath's shared state, with no peers yet.
    pub fn new(us: PeerName, underlay: Box<dyn Underlay>, port: Box<dyn LocalPort>) -> Shared {
        Shared {
            us,
            routes: ArcSwap::from_pointee(Routes::default()),
            fwds: ArcSwap::from_pointee(Default::default()),
            confirmed: Default::default(),
            macs: MacCache::default(),
            underlay,
            port,
            kernel_flood: ArcSwap::from_pointee(Default::default()),
            rejected: Default::default(),
            retired: Default::default(),
        }
    }
}

impl Shared {
    /// A connection to the peer was confirmed: its forwarder carries the peer's traffic.
    pub fn register(&self, fwd: ForwarderRef) {
        let mut confirmed = self.confirmed.lock().unwrap_or_else(|e| e.into_inner());
        confirmed.entry(fwd.remote).or_default().push(fwd.clone());
        self.fwds.rcu(|m| {
            let mut m = (**m).clone();
            m.insert(fwd.remote, fwd.clone());
            m
        });
    }

    /// The forwarder's connection is gone. If it was the one carrying the peer's traffic, the
    /// newest other confirmed one takes over: two connections to one peer are confirmed in
    /// either order, and the one the mesh dropped must not leave the one it kept unheard.
    pub fn unregister(&self, fwd: &ForwarderRef) {
        let mut confirmed = self.confirmed.lock().unwrap_or_else(|e| e.into_inner());
        let next = match confirmed.get_mut(&fwd.remote) {
            Some(list) => {
                list.retain(|f| !Arc::ptr_eq(f, fwd));
                let next = list.last().cloned();
                if list.is_empty() {
                    confirmed.remove(&fwd.remote);
                }
                next
            }
            None => None,
        };
        self.fwds.rcu(|m| {
            let mut m = (**m).clone();
            if m.get(&fwd.remote).is_some_and(|f| Arc::ptr_eq(f, fwd)) {
                match &next {
                    Some(f) => m.insert(fwd.remote, f.clone()),
                    None => m.remove(&fwd.remote),
                };
            }
            m
        });
    }
}

/// A packet being filled for one forwarder and path. `buf` is a pooled buffer, zero-filled
/// once when allocated, and the packet is its first `used` bytes.
struct Open {
    fwd: ForwarderRef,
    df: bool,
    buf: Vec<u8>,
    used: usize,
    frames: usize,
    limit: usize,
}

/// A sealed packet waiting for the next flush.
struct Ready {
    fwd: ForwarderRef,
    dst: SocketAddrV4,
    buf: Vec<u8>,
    used: usize,
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
    /// Packet headers for segments sent from where they lie (`send_segments`).
    heads: Vec<u8>,
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
    /// The time, set once per burst.
    now: Instant,
    last_log: Option<Instant>,
}

impl Worker {
    pub fn new(sh: Arc<Shared>, now: Instant) -> Worker {
        Worker {
            sh,
            open: Vec::new(),
            ready: [Vec::new(), Vec::new()],
            pool: [Vec::new(), Vec::new()],
            scratch: Vec::with_capacity(65536),
            scratch2: Vec::with_capacity(65536),
            segs: Vec::with_capacity(65536),
            heads: Vec::with_capacity(16384),
            rx_memo: None,
            tx_memo: None,
            coalescer: Coalescer::default(),
            icmp_sent: false,
            now,
            last_log: None,
        }
    }

    /// The time for the burst about to be handled.
    pub fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    /// Logs at most once a second per thread: the packet path must not flood the log.
    fn log(&mut self, msg: impl FnOnce() -> String) {
        let now = self.now;
        if self.last_log.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            self.last_log = Some(now);
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
        self.flush(&[]);
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
        let (mut failed, mut too_big, mut other) = (0u64, false, None);
        self.sh.underlay.send_gathered(addr, &heads, n, &|i| seg.payload(i), &mut |_, e| {
            failed += 1;
            match e {
                SendError::TooBig => too_big = true,
                SendError::Other(e) => other = Some(e.to_string()),
            }
        });
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

    /// Everything one receive call brought: `(sender's address, where in arena, UDP GRO
    /// segment size or 0)` per datagram. Datagrams are decrypted in place; segments merged for
    /// the local port keep their payloads in `arena` until the flush at the end.
    pub fn received_batch(
        &mut self,
        arena: &mut [u8],
        datagrams: impl IntoIterator<Item = (SocketAddrV4, Range<usize>, usize)>,
    ) {
        for (from, range, seg) in datagrams {
            if seg == 0 || seg >= range.len() {
                self.received(from, arena, range);
                continue;
            }
            // The kernel coalesced same-sized datagrams (UDP GRO): split them.
            let mut at = range.start;
            while at < range.end {
                let end = (at + seg).min(range.end);
                self.received(from, arena, at..end);
                at = end;
            }
        }
        self.flush(arena);
    }

    /// A sleeve UDP payload from `from`, at `range` in `arena`; it is decrypted in place.
    pub fn received(&mut self, from: SocketAddrV4, arena: &mut [u8], range: Range<usize>) {
        let packet = &mut arena[range.clone()];
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
        let plain = match &fwd.crypto {
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
        // From here on the arena is only read: frames merged for the local port point into it.
        let arena: &[u8] = arena;
        let at = range.start + 6;
        let body = &arena[at + plain.start..at + plain.end];
        for rec in frames(body) {
            match rec {
                Ok(r) => self.received_frame(from, &fwd, r.src, r.dst, r.frame, arena),
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
        arena: &[u8],
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
        self.forwarded(src, dst, frame, arena);
    }

    /// A frame that arrived over the overlay from `src`, addressed to peer `dst` (`arena`: the
    /// receive buffer it is in, or empty).
    fn forwarded(&mut self, src: PeerName, dst: PeerName, frame: &[u8], arena: &[u8]) {
        let us = self.sh.us;
        if dst != us {
            self.relay(src, dst, frame);
            return;
        }
        let Some(info) = FrameInfo::parse(frame) else { return };
        let key = (src, info.src_mac, info.dst_mac);
        if self.rx_memo == Some(key) {
            self.inject(frame, arena);
            return;
        }
        let learned = self.sh.macs.add_forced(info.src_mac, src, self.now);
        if let Learned::Conflict(was) = learned {
            self.log(|| format!("Discovered remote MAC {} at {src} (was at {was})", mac(&info.src_mac)));
        }
        self.inject(frame, arena);
        let local = self.sh.macs.lookup(&info.dst_mac) == Some(us);
        self.rx_memo = (local && !matches!(learned, Learned::Conflict(_))).then_some(key);
        if !local {
            self.relay_broadcast(src, frame);
        }
    }

    /// Hands a frame to the local bridge, merging runs of TCP segments of `arena` into
    /// super-frames.
    fn inject(&mut self, frame: &[u8], arena: &[u8]) {
        if self.coalescer.append(arena, frame) {
            return;
        }
        if !self.coalescer.is_empty() && !self.coalescer.is_of(arena) {
            // A frame made here (an ICMP error): it goes alone, and the merge goes on.
            return self.write_port(&[IoSlice::new(&PLAIN_HDR), IoSlice::new(frame)]);
        }
        self.flush_injected(arena);
        if !self.coalescer.start(arena, frame) {
            self.write_port(&[IoSlice::new(&PLAIN_HDR), IoSlice::new(frame)]);
        }
    }

    /// Writes the super-frame being built from `arena`, if any.
    fn flush_injected(&mut self, arena: &[u8]) {
        if self.coalescer.is_empty() || !self.coalescer.is_of(arena) {
            return;
        }
        let Some(Merged { gso: g, head, payloads }) = self.coalescer.finish(arena) else { return };
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
        let mut iov = [IoSlice::new(&[]); MAX_SEGMENTS + 2];
        iov[0] = IoSlice::new(&h);
        iov[1] = IoSlice::new(head);
        for (slot, p) in iov[2..].iter_mut().zip(payloads) {
            *slot = IoSlice::new(&arena[p.clone()]);
        }
        if let Err(e) = self.sh.port.write(&iov[..2 + payloads.len()]) {
            self.log(|| format!("injecting a frame into the bridge: {e}"));
        }
    }

    fn write_port(&mut self, bufs: &[IoSlice<'_>]) {
        if let Err(e) = self.sh.port.write(bufs) {
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
                    self.forwarded(dst, src, &icmp, &[]);
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
            if o.used + need > o.limit || o.frames >= MAX_FRAMES_PER_PACKET {
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
                // Zero-filled once, when first made; every byte sent is written first.
                let mut buf = self.pool[class].pop().unwrap_or_else(|| vec![0u8; size]);
                buf[..6].copy_from_slice(&self.sh.us.bytes());
                let mut used = 6;
                if fwd.encrypted() {
                    buf[6..30].fill(0);
                    used = 30;
                }
                self.open.push(Open { fwd: fwd.clone(), df, buf, used, frames: 0, limit: limit.min(size) });
                self.open.len() - 1
            }
        };
        if self.open[i].used + need > self.open[i].limit {
            fwd.counters.drops.fetch_add(1, Ordering::Relaxed);
            let limit = self.open[i].limit;
            self.log(|| format!("Dropping too big frame during forwarding: frame len {len}, limit {limit}"));
            return None;
        }
        let o = &mut self.open[i];
        let at = o.used;
        o.buf[at..at + 6].copy_from_slice(&src.bytes());
        o.buf[at + 6..at + 12].copy_from_slice(&dst.bytes());
        o.buf[at + 12..at + 14].copy_from_slice(&(len as u16).to_be_bytes());
        o.used = at + need;
        o.frames += 1;
        Some(&mut o.buf[at + 14..at + need])
    }

    /// Returns a packet buffer to its pool.
    fn recycle(&mut self, buf: Vec<u8>) {
        let class = (buf.len() > SMALL_BUF) as usize;
        if self.pool[class].len() < POOL_KEEP[class] {
            self.pool[class].push(buf);
        }
    }

    /// Closes a packet: encrypts it and queues it for the next flush.
    fn seal(&mut self, mut o: Open, df: bool) {
        let Some(dst) = o.fwd.addr() else { return self.recycle(o.buf) };
        if let Some(c) = &o.fwd.crypto {
            let enc = if df { &c.enc_df } else { &c.enc };
            let sealed = enc.lock().unwrap_or_else(|e| e.into_inner()).seal_in_place(&mut o.buf[6..o.used]);
            if sealed.is_err() {
                return self.recycle(o.buf);
            }
        }
        self.ready[df as usize].push(Ready { fwd: o.fwd, dst, buf: o.buf, used: o.used });
    }

    /// Sends everything pending, and writes what was merged for the local port from `arena`
    /// (the receive buffer of this burst; empty on the capture side).
    pub fn flush(&mut self, arena: &[u8]) {
        self.rx_memo = None;
        self.tx_memo = None;
        self.flush_injected(arena);
        while let Some(o) = self.open.pop() {
            let df = o.df;
            self.seal(o, df);
        }
        for df in [false, true] {
            let mut ready = std::mem::take(&mut self.ready[df as usize]);
            if ready.is_empty() {
                continue;
            }
            let msgs: Vec<(SocketAddrV4, &[u8])> = ready.iter().map(|r| (r.dst, &r.buf[..r.used])).collect();
            let mut failed: Vec<(usize, Option<String>)> = Vec::new();
            self.sh.underlay.send(df, &msgs, &mut |i, e| {
                failed.push((
                    i,
                    match e {
                        SendError::TooBig => None,
                        SendError::Other(e) => Some(e.to_string()),
                    },
                ))
            });
            drop(msgs);
            for (i, e) in failed {
                let fwd = &ready[i].fwd;
                fwd.counters.drops.fetch_add(1, Ordering::Relaxed);
                match e {
                    None => fwd.notify(DataEvent::TooBig),
                    Some(e) => self.log(|| format!("sleeve ->[{}]: send: {e}", ready[i].dst)),
                }
            }
            for r in ready.drain(..) {
                r.fwd.counters.tx_packets.fetch_add(1, Ordering::Relaxed);
                r.fwd.counters.tx_bytes.fetch_add(r.used as u64, Ordering::Relaxed);
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
