//! Reading what tcpdump captured on the underlay.

/// UDP payloads in a classic pcap file: (src ip, dst ip, payload).
pub fn udp_payloads(pcap: &[u8]) -> Vec<([u8; 4], [u8; 4], Vec<u8>)> {
    let mut out = vec![];
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        let pkt = &pcap[off + 16..(off + 16 + incl).min(pcap.len())];
        off += 16 + incl;
        if pkt.len() < 42 || pkt[12..14] != [0x08, 0x00] || pkt[23] != 17 {
            continue;
        }
        let ihl = ((pkt[14] & 0x0f) as usize) * 4;
        let frag = u16::from_be_bytes([pkt[20], pkt[21]]) & 0x3fff;
        if frag != 0 {
            continue; // fragments: not whole datagrams
        }
        let udp = 14 + ihl;
        let src = pkt[26..30].try_into().unwrap();
        let dst = pkt[30..34].try_into().unwrap();
        out.push((src, dst, pkt[udp + 8..].to_vec()));
    }
    out
}
