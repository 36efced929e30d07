//! `struct virtio_net_hdr`: the header in front of every frame read from or written to a TAP
//! opened with IFF_VNET_HDR. It carries checksum and segmentation offload state so that large
//! (GSO) TCP/UDP frames cross the TAP unsegmented and without computed checksums.
//!
//! Layout (include/uapi/linux/virtio_net.h), fields little-endian (what tun uses on
//! little-endian hosts and what virtio 1.0 specifies):
//!   0 flags u8, 1 gso_type u8, 2 hdr_len u16, 4 gso_size u16, 6 csum_start u16,
//!   8 csum_offset u16, and in the 12-byte v1 / mergeable-buffers form 10 num_buffers u16.
//! Which size the TAP uses is set with `Tap::set_vnet_hdr_size` (10 by default).

pub const VIRTIO_NET_HDR_LEN: usize = 10;
pub const VIRTIO_NET_HDR_V1_LEN: usize = 12;

/// The checksum from csum_start to the end is not computed; store it at csum_start + csum_offset.
pub const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
/// The checksum has been validated (received frames only).
pub const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;

pub const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
pub const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
/// UDP fragmentation offload (UFO), deprecated in favour of UDP_L4.
pub const VIRTIO_NET_HDR_GSO_UDP: u8 = 3;
pub const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
/// UDP segmentation (USO), IPv4 or IPv6.
pub const VIRTIO_NET_HDR_GSO_UDP_L4: u8 = 5;
/// Flag on gso_type: the TCP segments carry ECN (CWR must be handled when segmenting).
pub const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VirtioNetHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Length of the headers (Ethernet + IP + L4) before the payload to segment.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
    /// Only in the 12-byte form; 0 otherwise.
    pub num_buffers: u16,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

impl VirtioNetHdr {
    /// Parses the 10-byte header at the start of `buf`; `None` when `buf` is shorter.
    pub fn parse(buf: &[u8]) -> Option<VirtioNetHdr> {
        let b = buf.get(..VIRTIO_NET_HDR_LEN)?;
        Some(VirtioNetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(b, 2),
            gso_size: u16_at(b, 4),
            csum_start: u16_at(b, 6),
            csum_offset: u16_at(b, 8),
            num_buffers: 0,
        })
    }

    /// Parses the 12-byte (v1) header at the start of `buf`.
    pub fn parse_v1(buf: &[u8]) -> Option<VirtioNetHdr> {
        let b = buf.get(..VIRTIO_NET_HDR_V1_LEN)?;
        Some(VirtioNetHdr { num_buffers: u16_at(b, 10), ..VirtioNetHdr::parse(b)? })
    }

    /// Writes the 10-byte header to the start of `out` and returns its length.
    /// Panics when `out` is shorter, like the netlink `emit`s.
    pub fn emit(&self, out: &mut [u8]) -> usize {
        let b = &mut out[..VIRTIO_NET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        VIRTIO_NET_HDR_LEN
    }

    /// Writes the 12-byte (v1) header to the start of `out` and returns its length.
    pub fn emit_v1(&self, out: &mut [u8]) -> usize {
        self.emit(out);
        out[10..12].copy_from_slice(&self.num_buffers.to_le_bytes());
        VIRTIO_NET_HDR_V1_LEN
    }

    pub fn needs_csum(&self) -> bool {
        self.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0
    }

    /// The segmentation kind without the ECN bit (one of the `VIRTIO_NET_HDR_GSO_*` values).
    pub fn gso_kind(&self) -> u8 {
        self.gso_type & !VIRTIO_NET_HDR_GSO_ECN
    }

    pub fn ecn(&self) -> bool {
        self.gso_type & VIRTIO_NET_HDR_GSO_ECN != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A TSO frame as the kernel hands it to a TAP: Ethernet(14)+IPv4(20)+TCP(32) headers,
    // 1448-byte segments, checksum at TCP offset 16.
    const TSO4: [u8; 12] = [0x01, 0x81, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 1, 0];

    #[test]
    fn parses_kernel_layout() {
        let h = VirtioNetHdr::parse(&TSO4).unwrap();
        assert_eq!(
            h,
            VirtioNetHdr {
                flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
                gso_type: VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
                hdr_len: 66,
                gso_size: 1448,
                csum_start: 34,
                csum_offset: 16,
                num_buffers: 0,
            }
        );
        assert!(h.needs_csum());
        assert!(h.ecn());
        assert_eq!(h.gso_kind(), VIRTIO_NET_HDR_GSO_TCPV4);
        assert_eq!(VirtioNetHdr::parse_v1(&TSO4).unwrap().num_buffers, 1);
    }

    #[test]
    fn round_trips() {
        let h = VirtioNetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gso_type: VIRTIO_NET_HDR_GSO_UDP_L4,
            hdr_len: 42,
            gso_size: 1400,
            csum_start: 34,
            csum_offset: 6,
            num_buffers: 3,
        };
        let mut buf = [0xeeu8; 16];
        assert_eq!(h.emit_v1(&mut buf), 12);
        assert_eq!(&buf[12..], &[0xee; 4], "writes nothing past the header");
        assert_eq!(VirtioNetHdr::parse_v1(&buf), Some(h));
        assert_eq!(h.emit(&mut buf), 10);
        assert_eq!(VirtioNetHdr::parse(&buf), Some(VirtioNetHdr { num_buffers: 0, ..h }));
        assert!(!h.ecn());
        assert_eq!(h.gso_kind(), VIRTIO_NET_HDR_GSO_UDP_L4);
    }

    #[test]
    fn plain_frame_header_is_zero() {
        let mut buf = [0xffu8; 10];
        VirtioNetHdr::default().emit(&mut buf);
        assert_eq!(buf, [0; 10]);
        let h = VirtioNetHdr::parse(&buf).unwrap();
        assert_eq!(h.gso_kind(), VIRTIO_NET_HDR_GSO_NONE);
        assert!(!h.needs_csum());
    }

    #[test]
    fn short_buffers_are_refused() {
        assert_eq!(VirtioNetHdr::parse(&TSO4[..9]), None);
        assert_eq!(VirtioNetHdr::parse_v1(&TSO4[..11]), None);
        assert!(VirtioNetHdr::parse(&TSO4[..10]).is_some());
    }

    #[test]
    #[should_panic]
    fn emit_into_short_buffer_panics() {
        VirtioNetHdr::default().emit(&mut [0u8; 9]);
    }

    #[test]
    fn constants_match_the_kernel() {
        assert_eq!([VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_UDP], [0, 1, 3]);
        assert_eq!(
            [VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_GSO_ECN],
            [4, 5, 0x80]
        );
        assert_eq!([VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_DATA_VALID], [1, 2]);
    }
}
