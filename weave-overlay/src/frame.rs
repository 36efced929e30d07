//! Ethernet/IPv4 frame inspection and the two rewrites the overlay performs: IPv4
//! fragmentation to the overlay MTU, and the ICMP "fragmentation needed" reply for DF frames
//! that do not fit (as Weave's `ethernet_decoder.go` / `sleeve.go`). Pure functions on byte
//! slices; fragments are written into caller-provided buffers.

pub const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const IP_DF: u16 = 0x4000;
const IP_MF: u16 = 0x2000;

/// The parts of a frame the forwarding decision needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameInfo {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// Offset and header length of an IPv4 packet, if the frame carries one.
    pub ipv4: Option<(usize, usize)>,
    pub df: bool,
}

impl FrameInfo {
    /// `None` for frames too short to be Ethernet.
    pub fn parse(frame: &[u8]) -> Option<FrameInfo> {
        if frame.len() < ETH_HLEN {
            return None;
        }
        let mut dst_mac = [0u8; 6];
        let mut src_mac = [0u8; 6];
        dst_mac.copy_from_slice(&frame[0..6]);
        src_mac.copy_from_slice(&frame[6..12]);
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let mut info = FrameInfo { dst_mac, src_mac, ipv4: None, df: false };
        if ethertype == ETHERTYPE_IPV4 && frame.len() >= ETH_HLEN + 20 {
            let ip = &frame[ETH_HLEN..];
            let ihl = ((ip[0] & 0x0f) as usize) * 4;
            if ip[0] >> 4 == 4 && ihl >= 20 && ip.len() >= ihl {
                let flags = u16::from_be_bytes([ip[6], ip[7]]);
                info.ipv4 = Some((ETH_HLEN, ihl));
                info.df = flags & IP_DF != 0;
            }
        }
        Some(info)
    }

    /// Weave's "special" frames (heartbeats, MTU tests) have an all-zero Ethernet header.
    pub fn is_special(frame: &[u8]) -> bool {
        frame.len() >= ETH_HLEN && frame[..ETH_HLEN].iter().all(|&b| b == 0)
    }
}

/// Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

fn sum(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Builds the ICMP "fragmentation needed" (type 3 code 4, next-hop MTU `mtu`) answering the
/// IPv4 frame `frame`, addressed back to its sender, into `out`. Returns its length.
pub fn icmp_frag_needed(frame: &[u8], mtu: u16, out: &mut Vec<u8>) -> Option<usize> {
    let info = FrameInfo::parse(frame)?;
    let (off, ihl) = info.ipv4?;
    let ip = &frame[off..];
    let quoted = &ip[..(ihl + 8).min(ip.len())];
    out.clear();
    // Ethernet: back to the sender.
    out.extend_from_slice(&info.src_mac);
    out.extend_from_slice(&info.dst_mac);
    out.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let total = 20 + 8 + quoted.len();
    let ip_start = out.len();
    out.extend_from_slice(&[0x45, ip[1]]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 64, 1, 0, 0]);
    out.extend_from_slice(&ip[16..20]); // from the original destination
    out.extend_from_slice(&ip[12..16]); // to the original source
    let c = checksum(&out[ip_start..ip_start + 20]);
    out[ip_start + 10..ip_start + 12].copy_from_slice(&c.to_be_bytes());
    let icmp_start = out.len();
    out.extend_from_slice(&[3, 4, 0, 0, 0, 0]);
    out.extend_from_slice(&mtu.to_be_bytes());
    out.extend_from_slice(quoted);
    let c = checksum(&out[icmp_start..]);
    out[icmp_start + 2..icmp_start + 4].copy_from_slice(&c.to_be_bytes());
    Some(out.len())
}

/// Splits the IPv4 frame into fragments whose IP packets fit `mtu`, calling `emit` with each
/// fragment frame (built in `scratch`). Returns false if the frame cannot be fragmented.
pub fn fragment(frame: &[u8], mtu: usize, scratch: &mut Vec<u8>, mut emit: impl FnMut(&[u8])) -> bool {
    let Some(FrameInfo { ipv4: Some((off, ihl)), .. }) = FrameInfo::parse(frame) else { return false };
    let ip = &frame[off..];
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    if total > ip.len() || total < ihl || mtu < ihl + 8 {
        return false;
    }
    let payload = &ip[ihl..total];
    let max_seg = (mtu - ihl) & !7;
    let flags_off = u16::from_be_bytes([ip[6], ip[7]]);
    let orig_mf = flags_off & IP_MF;
    let base = ((flags_off & 0x1fff) as usize) << 3;
    let mut pos = 0;
    while pos < payload.len() {
        let seg = (payload.len() - pos).min(max_seg);
        let last = pos + seg == payload.len();
        scratch.clear();
        scratch.extend_from_slice(&frame[..off]);
        let ip_start = scratch.len();
        scratch.extend_from_slice(&ip[..ihl]);
        scratch.extend_from_slice(&payload[pos..pos + seg]);
        let h = &mut scratch[ip_start..];
        h[2..4].copy_from_slice(&((ihl + seg) as u16).to_be_bytes());
        let mf = if last { orig_mf } else { IP_MF };
        let fo = (((base + pos) >> 3) as u16) | mf | (flags_off & IP_DF);
        h[6..8].copy_from_slice(&fo.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(&h[..ihl]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        emit(scratch);
        pos += seg;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_frame(payload_len: usize, df: bool) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00];
        let total = 20 + payload_len;
        let flags: u16 = if df { IP_DF } else { 0 };
        let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, 17, 0, 0, 10, 32, 0, 1, 10, 40, 0, 1];
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[6..8].copy_from_slice(&flags.to_be_bytes());
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend(ip);
        f.extend((0..payload_len).map(|i| i as u8));
        f
    }

    #[test]
    fn parses_df_and_special_frames() {
        let f = ipv4_frame(100, true);
        let i = FrameInfo::parse(&f).unwrap();
        assert!(i.df);
        assert_eq!(i.ipv4, Some((14, 20)));
        assert_eq!(i.src_mac, [2, 0, 0, 0, 0, 0xaa]);
        assert!(!FrameInfo::parse(&ipv4_frame(10, false)).unwrap().df);
        assert!(FrameInfo::is_special(&[0u8; 22]));
        assert!(!FrameInfo::is_special(&f));
        assert!(FrameInfo::parse(&[0u8; 5]).is_none());
    }

    #[test]
    fn fragments_reassemble_to_the_original() {
        let f = ipv4_frame(3000, false);
        let mut scratch = Vec::new();
        let mut frags: Vec<Vec<u8>> = Vec::new();
        assert!(fragment(&f, 1400, &mut scratch, |x| frags.push(x.to_vec())));
        assert_eq!(frags.len(), 3);
        let mut payload = Vec::new();
        for (i, fr) in frags.iter().enumerate() {
            let ip = &fr[14..];
            assert!(ip.len() <= 1400);
            assert_eq!(checksum(&ip[..20]), 0, "header checksum valid");
            let fo = u16::from_be_bytes([ip[6], ip[7]]);
            assert_eq!(fo & IP_MF != 0, i < 2);
            assert_eq!(((fo & 0x1fff) as usize) << 3, payload.len());
            payload.extend_from_slice(&ip[20..]);
        }
        assert_eq!(payload, f[34..]);
    }

    #[test]
    fn frag_needed_goes_back_to_the_sender_with_the_mtu() {
        let f = ipv4_frame(2000, true);
        let mut out = Vec::new();
        let n = icmp_frag_needed(&f, 1438, &mut out).unwrap();
        assert_eq!(n, out.len());
        assert_eq!(&out[0..6], &f[6..12]);
        let ip = &out[14..];
        assert_eq!(checksum(&ip[..20]), 0);
        assert_eq!(&ip[12..16], &[10, 40, 0, 1]);
        assert_eq!(&ip[16..20], &[10, 32, 0, 1]);
        let icmp = &ip[20..];
        assert_eq!((icmp[0], icmp[1]), (3, 4));
        assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1438);
        assert_eq!(checksum(icmp), 0);
        assert_eq!(&icmp[8..], &f[14..14 + 28]);
    }
}
