//! Userspace segmentation and coalescing, so the sleeve moves 64 KiB bursts through the kernel
//! instead of single frames: TCP/IPv4 super-frames the TAP port hands us (TSO) are cut into
//! MSS-sized frames for the wire (here), and consecutive segments received for one flow are
//! merged back into a super-frame for the TAP port (GRO, [`Coalescer`]). Also completes and
//! checks checksums. Pure functions over byte buffers; no allocation beyond the caller's.

mod coalesce;

pub use coalesce::{Coalescer, Gso, Merged, MAX_SEGMENTS};

use super::frame::ETH_HLEN;

const PROTO_TCP: u8 = 6;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_CWR: u8 = 0x80;

/// Adds the one's-complement sum of `data`'s big-endian 16-bit words to `acc`.
///
/// Summed in native byte order with four accumulators and swapped at the end (the
/// one's-complement sum commutes with byte swapping), which is several times faster than
/// converting every word. `data` must start at an even offset of the checksummed range.
fn sum16(data: &[u8], acc: u64) -> u64 {
    let (mut a0, mut a1, mut a2, mut a3) = (0u64, 0u64, 0u64, 0u64);
    let mut chunks = data.chunks_exact(32);
    for c in &mut chunks {
        let w = |i: usize| u64::from_ne_bytes(c[i..i + 8].try_into().expect("8 bytes"));
        let (v0, v1, v2, v3) = (w(0), w(8), w(16), w(24));
        a0 += (v0 >> 32) + (v0 & 0xffff_ffff);
        a1 += (v1 >> 32) + (v1 & 0xffff_ffff);
        a2 += (v2 >> 32) + (v2 & 0xffff_ffff);
        a3 += (v3 >> 32) + (v3 & 0xffff_ffff);
    }
    acc + native_tail(chunks.remainder(), a0 + a1 + a2 + a3)
}

/// Finishes a native-order sum with the bytes left over and converts it to big-endian.
fn native_tail(rest: &[u8], mut sum: u64) -> u64 {
    let mut words = rest.chunks_exact(2);
    for w in &mut words {
        sum += u16::from_ne_bytes([w[0], w[1]]) as u64;
    }
    if let [b] = words.remainder() {
        // The odd byte is the high half of a big-endian word: in native (little-endian)
        // order that is the low byte.
        sum += u16::from_ne_bytes(if cfg!(target_endian = "little") { [*b, 0] } else { [0, *b] }) as u64;
    }
    fold(sum).swap_bytes() as u64
}

/// Copies `src` into `dst` and returns its big-endian word sum, in one pass over the data.
fn copy_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    let (mut a0, mut a1, mut a2, mut a3) = (0u64, 0u64, 0u64, 0u64);
    let n = src.len() / 32 * 32;
    for (d, s) in dst[..n].chunks_exact_mut(32).zip(src[..n].chunks_exact(32)) {
        let w = |i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().expect("8 bytes"));
        let (v0, v1, v2, v3) = (w(0), w(8), w(16), w(24));
        d[0..8].copy_from_slice(&v0.to_ne_bytes());
        d[8..16].copy_from_slice(&v1.to_ne_bytes());
        d[16..24].copy_from_slice(&v2.to_ne_bytes());
        d[24..32].copy_from_slice(&v3.to_ne_bytes());
        a0 += (v0 >> 32) + (v0 & 0xffff_ffff);
        a1 += (v1 >> 32) + (v1 & 0xffff_ffff);
        a2 += (v2 >> 32) + (v2 & 0xffff_ffff);
        a3 += (v3 >> 32) + (v3 & 0xffff_ffff);
    }
    dst[n..src.len()].copy_from_slice(&src[n..]);
    native_tail(&src[n..], a0 + a1 + a2 + a3)
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The Internet checksum of `data` (complemented, ready to store).
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum16(data, 0))
}

/// Sum of the IPv4 pseudo-header for `len` bytes of `proto` (not complemented).
fn pseudo_header(ip: &[u8], proto: u8, len: usize) -> u64 {
    sum16(&ip[12..20], 0) + proto as u64 + len as u64
}

/// Completes a checksum the kernel left partial (`NEEDS_CSUM`): the field at
/// `start + offset` holds the pseudo-header sum; the checksum covers `start..`.
pub fn complete_checksum(frame: &mut [u8], start: usize, offset: usize) -> bool {
    let at = start + offset;
    if at + 2 > frame.len() || start > frame.len() {
        return false;
    }
    let c = checksum(&frame[start..]);
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Where the headers of a TCP/IPv4 frame end: (IP header length, TCP header length).
fn tcp4_headers(frame: &[u8]) -> Option<(usize, usize)> {
    if frame.len() < ETH_HLEN + 40 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[ETH_HLEN..];
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    if ip[0] >> 4 != 4 || ihl < 20 || ip[9] != PROTO_TCP || ip.len() < ihl + 20 {
        return None;
    }
    let thl = ((ip[ihl + 12] >> 4) as usize) * 4;
    if thl < 20 || ip.len() < ihl + thl {
        return None;
    }
    Some((ihl, thl))
}

/// Whether a TCP/IPv4 frame's IP header checksum and TCP checksum are right. The frame must
/// end where its IP packet does (`ihl`: the IP header's length).
fn tcp4_checksums_valid(frame: &[u8], ihl: usize) -> bool {
    let ip = &frame[ETH_HLEN..];
    let pseudo = pseudo_header(ip, PROTO_TCP, ip.len() - ihl);
    fold(sum16(&ip[..ihl], 0)) == 0xffff && fold(sum16(&ip[ihl..], pseudo)) == 0xffff
}

/// Cuts a TCP/IPv4 super-frame into segments written straight into the caller's buffers (the
/// sleeve packet being built), with complete checksums.
pub struct Segmenter<'a> {
    frame: &'a [u8],
    mss: usize,
    ihl: usize,
    hdr: usize,
    payload_len: usize,
    id0: u16,
    seq0: u32,
    flags0: u8,
}

impl<'a> Segmenter<'a> {
    /// `None` unless `frame` is TCP/IPv4 and `mss` is positive.
    pub fn new(frame: &'a [u8], mss: usize) -> Option<Segmenter<'a>> {
        let (ihl, thl) = tcp4_headers(frame)?;
        if mss == 0 {
            return None;
        }
        let hdr = ETH_HLEN + ihl + thl;
        let ip_total = u16::from_be_bytes([frame[ETH_HLEN + 2], frame[ETH_HLEN + 3]]) as usize;
        let end = (ETH_HLEN + ip_total).min(frame.len()).max(hdr);
        let t = ETH_HLEN + ihl;
        Some(Segmenter {
            frame: &frame[..end],
            mss,
            ihl,
            hdr,
            payload_len: end - hdr,
            id0: u16::from_be_bytes([frame[ETH_HLEN + 4], frame[ETH_HLEN + 5]]),
            seq0: u32::from_be_bytes(frame[t + 4..t + 8].try_into().expect("4 bytes")),
            flags0: frame[t + 13],
        })
    }

    pub fn count(&self) -> usize {
        self.payload_len.div_ceil(self.mss).max(1)
    }

    /// Length of segment `i` as a frame.
    pub fn len(&self, i: usize) -> usize {
        self.hdr + (self.payload_len - (i * self.mss).min(self.payload_len)).min(self.mss)
    }

    /// Bytes of all the segments together, as frames.
    pub fn frame_len(&self) -> usize {
        self.hdr * self.count() + self.payload_len
    }

    /// Bytes of Ethernet, IP and TCP headers in front of every segment's payload.
    pub fn header_len(&self) -> usize {
        self.hdr
    }

    /// The payload of segment `i`, where it lies in the super-frame.
    pub fn payload(&self, i: usize) -> &'a [u8] {
        let start = self.hdr + (i * self.mss).min(self.payload_len);
        &self.frame[start..start + (self.len(i) - self.hdr)]
    }

    /// Writes segment `i` into `out` (exactly `len(i)` bytes).
    pub fn write(&self, i: usize, out: &mut [u8]) {
        let (head, payload) = out.split_at_mut(self.hdr);
        let payload_sum = copy_sum(payload, self.payload(i));
        self.write_headers(i, head, payload_sum);
    }

    /// Writes segment `i`'s headers into `out` (exactly `header_len()` bytes) for a payload
    /// kept where it is, given its sum (`payload_sum`), so only headers are copied.
    pub fn write_headers_for(&self, i: usize, out: &mut [u8]) {
        self.write_headers(i, out, sum16(self.payload(i), 0));
    }

    fn write_headers(&self, i: usize, out: &mut [u8], payload_sum: u64) {
        let (ihl, hdr, t) = (self.ihl, self.hdr, ETH_HLEN + self.ihl);
        let payload_len = self.len(i) - hdr;
        out[..hdr].copy_from_slice(&self.frame[..hdr]);
        let thl = hdr - t;
        let ip = &mut out[ETH_HLEN..];
        ip[2..4].copy_from_slice(&((ihl + thl + payload_len) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&self.id0.wrapping_add(i as u16).to_be_bytes());
        ip[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(&ip[..ihl]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut flags = self.flags0;
        if i + 1 != self.count() {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if i != 0 {
            flags &= !TCP_CWR;
        }
        out[t + 4..t + 8].copy_from_slice(&self.seq0.wrapping_add((i * self.mss) as u32).to_be_bytes());
        out[t + 13] = flags;
        out[t + 16..t + 18].copy_from_slice(&[0, 0]);
        let tcp_len = thl + payload_len;
        let sum = pseudo_header(&out[ETH_HLEN..], PROTO_TCP, tcp_len) + payload_sum;
        let c = !fold(sum16(&out[t..hdr], sum));
        out[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
    }
}

/// Cuts a TCP/IPv4 super-frame into frames carrying at most `mss` payload bytes each, written
/// into `out` and handed to `emit` with complete checksums. False if it is not TCP/IPv4.
pub fn segment_tcp4(frame: &[u8], mss: usize, out: &mut Vec<u8>, mut emit: impl FnMut(&[u8])) -> bool {
    let Some(seg) = Segmenter::new(frame, mss) else { return false };
    for i in 0..seg.count() {
        out.clear();
        out.resize(seg.len(i), 0);
        seg.write(i, out);
        emit(out);
    }
    true
}

#[cfg(test)]
mod tests;
