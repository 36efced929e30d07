//! GRO in userspace: consecutive in-order segments of one TCP/IPv4 flow, received for the local
//! port, merged into one super-frame that the port takes with segmentation offload (as the
//! kernel's GRO would).
//!
//! Only the first segment's headers are copied; the payloads stay where they were received (in
//! the receive batch's arena) and are recorded as ranges of it, to be gathered by the port's
//! vectored write. The merged frame's TCP checksum is left for the kernel to fill in, which then
//! trusts it, so every segment's checksums are verified before it is merged: a corrupt one is
//! passed on alone, unchanged, and the kernel drops it.

use super::{fold, pseudo_header, tcp4_checksums_valid, tcp4_headers, ETH_HLEN, PROTO_TCP, TCP_ACK, TCP_PSH};
use std::ops::Range;

/// Segments merged into one super-frame at most (the iovecs of one write stay few).
pub const MAX_SEGMENTS: usize = 64;

#[derive(Default)]
pub struct Coalescer {
    /// The first segment's headers (Ethernet, IP, TCP), fixed up by `finish`.
    head: Vec<u8>,
    /// Where the segments' payloads are in the arena, in order.
    payloads: Vec<Range<usize>>,
    /// Segments merged so far (0: empty; `payloads` may still hold the last finished frame's).
    segs: usize,
    /// The arena the payloads are in (its address and length), checked by `finish`.
    arena: (usize, usize),
    payload_len: usize,
    mss: usize,
    ihl: usize,
    next_seq: u32,
    closed: bool,
}

/// What the caller must write for a flushed super-frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Gso {
    /// 0 when the frame is a single segment (no GSO needed).
    pub gso_size: u16,
    pub hdr_len: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

/// A finished super-frame: write `head` then the payloads (ranges of the arena) behind a
/// virtio-net header made from `gso`.
#[derive(Debug)]
pub struct Merged<'a> {
    pub gso: Gso,
    pub head: &'a [u8],
    pub payloads: &'a [Range<usize>],
}

/// Where `part` lies in `arena`, if it does.
fn range_in(arena: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let (base, p) = (arena.as_ptr() as usize, part.as_ptr() as usize);
    let start = p.checked_sub(base)?;
    (start + part.len() <= arena.len()).then_some(start..start + part.len())
}

fn arena_id(arena: &[u8]) -> (usize, usize) {
    (arena.as_ptr() as usize, arena.len())
}

impl Coalescer {
    pub fn is_empty(&self) -> bool {
        self.segs == 0
    }

    /// Whether the frame being built is made of `arena`'s bytes.
    pub fn is_of(&self, arena: &[u8]) -> bool {
        self.segs != 0 && arena_id(arena) == self.arena
    }

    /// Takes `frame` (a part of `arena`) into the super-frame if it continues it; false if the
    /// caller must flush first (then `start` it, or pass it on as it is).
    pub fn append(&mut self, arena: &[u8], frame: &[u8]) -> bool {
        if self.segs == 0 || self.closed || arena_id(arena) != self.arena {
            return false;
        }
        let Some((ihl, thl)) = tcp4_headers(frame) else { return false };
        let hdr = ETH_HLEN + ihl + thl;
        if hdr != self.head.len() || ihl != self.ihl {
            return false;
        }
        let total = u16::from_be_bytes([frame[ETH_HLEN + 2], frame[ETH_HLEN + 3]]) as usize;
        if ETH_HLEN + total != frame.len() {
            return false;
        }
        let payload = frame.len() - hdr;
        let t = ETH_HLEN + ihl;
        let f = &self.head;
        let same_flow = frame[..12] == f[..12] // MACs
            && frame[ETH_HLEN + 12..ETH_HLEN + 20] == f[ETH_HLEN + 12..ETH_HLEN + 20] // IPs
            && frame[t..t + 4] == f[t..t + 4] // ports
            && frame[t + 8..t + 12] == f[t + 8..t + 12] // ack
            && frame[t + 14..t + 16] == f[t + 14..t + 16] // window
            && frame[t + 20..hdr] == f[t + 20..hdr]; // options (timestamps included)
        let seq = u32::from_be_bytes(frame[t + 4..t + 8].try_into().expect("4 bytes"));
        let flags = frame[t + 13];
        if !same_flow
            || seq != self.next_seq
            || payload == 0
            || payload > self.mss
            || flags & !(TCP_ACK | TCP_PSH) != 0
            || hdr + self.payload_len + payload > 65535 - 64
            || !tcp4_checksums_valid(frame, ihl)
        {
            return false;
        }
        let Some(at) = range_in(arena, &frame[hdr..]) else { return false };
        self.payload_len += payload;
        self.payloads.push(at);
        self.segs += 1;
        self.next_seq = seq.wrapping_add(payload as u32);
        // A short segment or a push ends the burst.
        if payload < self.mss || flags & TCP_PSH != 0 || self.segs == MAX_SEGMENTS {
            self.head[t + 13] |= flags & TCP_PSH;
            self.closed = true;
        }
        true
    }

    /// Starts a super-frame with `frame` (a part of `arena`) if it can begin one; false
    /// otherwise.
    pub fn start(&mut self, arena: &[u8], frame: &[u8]) -> bool {
        let Some((ihl, thl)) = tcp4_headers(frame) else { return false };
        let hdr = ETH_HLEN + ihl + thl;
        let total = u16::from_be_bytes([frame[ETH_HLEN + 2], frame[ETH_HLEN + 3]]) as usize;
        let frag = u16::from_be_bytes([frame[ETH_HLEN + 6], frame[ETH_HLEN + 7]]) & 0x3fff;
        let t = ETH_HLEN + ihl;
        let flags = frame[t + 13];
        let payload = frame.len().saturating_sub(hdr);
        if ETH_HLEN + total != frame.len()
            || frag != 0
            || payload == 0
            || flags & !(TCP_ACK | TCP_PSH) != 0
            || !tcp4_checksums_valid(frame, ihl)
        {
            return false;
        }
        let Some(at) = range_in(arena, &frame[hdr..]) else { return false };
        self.head.clear();
        self.head.extend_from_slice(&frame[..hdr]);
        self.payloads.clear();
        self.payloads.push(at);
        self.segs = 1;
        self.arena = arena_id(arena);
        self.payload_len = payload;
        self.mss = payload;
        self.ihl = ihl;
        self.next_seq =
            u32::from_be_bytes(frame[t + 4..t + 8].try_into().expect("4 bytes")).wrapping_add(payload as u32);
        self.closed = flags & TCP_PSH != 0;
        true
    }

    /// Finishes the super-frame: fixes the IP header and, for several segments, leaves the
    /// TCP checksum partial for the kernel. Returns the GSO parameters, the headers, and where
    /// the payloads to write after them are in `arena` (the one they were taken from; `None`
    /// for another, and the frame is dropped).
    pub fn finish(&mut self, arena: &[u8]) -> Option<Merged<'_>> {
        let segs = std::mem::take(&mut self.segs);
        self.closed = false;
        if segs == 0 {
            return None;
        }
        let same = arena_id(arena) == self.arena;
        debug_assert!(same, "a merged frame finished against another arena");
        if !same {
            return None;
        }
        if segs == 1 {
            let gso = Gso { gso_size: 0, hdr_len: 0, csum_start: 0, csum_offset: 0 };
            return Some(Merged { gso, head: &self.head, payloads: &self.payloads });
        }
        let (ihl, hdr) = (self.ihl, self.head.len());
        let ip_len = hdr - ETH_HLEN + self.payload_len;
        let ip = &mut self.head[ETH_HLEN..];
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[10..12].copy_from_slice(&[0, 0]);
        let c = super::checksum(&ip[..ihl]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let tcp_len = ip_len - ihl;
        let partial = fold(pseudo_header(&self.head[ETH_HLEN..], PROTO_TCP, tcp_len));
        let t = ETH_HLEN + ihl;
        self.head[t + 16..t + 18].copy_from_slice(&partial.to_be_bytes());
        let gso =
            Gso { gso_size: self.mss as u16, hdr_len: hdr as u16, csum_start: t as u16, csum_offset: 16 };
        Some(Merged { gso, head: &self.head, payloads: &self.payloads })
    }
}
