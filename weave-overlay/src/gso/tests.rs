use super::*;

const TCP_SYN: u8 = 0x02;

/// A TCP/IPv4 frame with `payload` bytes, valid checksums, timestamps option.
fn tcp_frame(seq: u32, payload: &[u8], flags: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let thl = 32;
    let total = 20 + thl + payload.len();
    let mut ip = vec![0x45, 0, 0, 0, 0x10, 0x00, 0x40, 0, 64, 6, 0, 0, 10, 32, 0, 1, 10, 32, 0, 2];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    let mut tcp = vec![0x30, 0x39, 0x14, 0x51];
    tcp.extend(seq.to_be_bytes());
    tcp.extend(7u32.to_be_bytes());
    tcp.extend([((thl / 4) << 4) as u8, flags, 0x01, 0x00, 0, 0, 0, 0]);
    tcp.extend([1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 9]); // NOP NOP TS
    tcp.extend(payload);
    f.extend(tcp);
    let sum = pseudo_header(&f[14..], 6, thl + payload.len());
    let c = !fold(sum16(&f[34..], sum));
    f[34 + 16..34 + 18].copy_from_slice(&c.to_be_bytes());
    f
}

/// The frames back to back in one buffer (as a receive batch's arena), and where each is.
fn arena_of(frames: &[Vec<u8>]) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let mut arena = Vec::new();
    let mut at = Vec::new();
    for f in frames {
        at.push(arena.len()..arena.len() + f.len());
        arena.extend_from_slice(f);
    }
    (arena, at)
}

fn valid_tcp(frame: &[u8]) -> bool {
    let (ihl, _) = tcp4_headers(frame).unwrap();
    let ip = &frame[14..];
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    checksum(&ip[..ihl]) == 0 && fold(sum16(&ip[ihl..total], pseudo_header(ip, 6, total - ihl))) == 0xffff
}

#[test]
fn segments_have_valid_checksums_and_consecutive_sequence_numbers() {
    let payload: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let big = tcp_frame(1000, &payload, TCP_ACK | TCP_PSH | TCP_FIN);
    let mut out = Vec::new();
    let mut segs: Vec<Vec<u8>> = Vec::new();
    assert!(segment_tcp4(&big, 1448, &mut out, |s| segs.push(s.to_vec())));
    assert_eq!(segs.len(), 4);
    let mut data = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        assert!(valid_tcp(s), "segment {i} checksums");
        let seq = u32::from_be_bytes(s[34 + 4..34 + 8].try_into().unwrap());
        assert_eq!(seq, 1000 + data.len() as u32);
        let flags = s[34 + 13];
        assert_eq!(flags & (TCP_PSH | TCP_FIN) != 0, i == 3, "PSH/FIN only on the last");
        data.extend_from_slice(&s[14 + 20 + 32..]);
    }
    assert_eq!(data, payload);
}

#[test]
fn headers_for_payloads_left_in_place_match_whole_segments() {
    // Odd lengths too: the last segment's payload ends on an odd byte.
    for len in [5000usize, 4999, 1448, 1] {
        let payload: Vec<u8> = (0..len as u32).map(|i| (i * 13) as u8).collect();
        let big = tcp_frame(7, &payload, TCP_ACK | TCP_PSH);
        let seg = Segmenter::new(&big, 1448).expect("TCP/IPv4");
        for i in 0..seg.count() {
            let mut whole = vec![0u8; seg.len(i)];
            seg.write(i, &mut whole);
            let mut gathered = vec![0u8; seg.header_len()];
            seg.write_headers_for(i, &mut gathered);
            gathered.extend_from_slice(seg.payload(i));
            assert_eq!(gathered, whole, "length {len}, segment {i}");
            assert!(valid_tcp(&gathered), "length {len}, segment {i}");
        }
    }
}

#[test]
fn coalesced_segments_rebuild_the_stream() {
    let payload: Vec<u8> = (0..6000u32).map(|i| (i * 7) as u8).collect();
    let big = tcp_frame(5, &payload, TCP_ACK | TCP_PSH);
    let mut out = Vec::new();
    let mut segs: Vec<Vec<u8>> = Vec::new();
    segment_tcp4(&big, 1000, &mut out, |s| segs.push(s.to_vec()));
    let (arena, at) = arena_of(&segs);
    let mut c = Coalescer::default();
    assert!(c.start(&arena, &arena[at[0].clone()]));
    for r in &at[1..] {
        assert!(c.append(&arena, &arena[r.clone()]), "in-order segments merge");
    }
    let Merged { gso: g, head, payloads } = c.finish(&arena).expect("a frame");
    assert_eq!(g, Gso { gso_size: 1000, hdr_len: 66, csum_start: 34, csum_offset: 16 });
    let mut f = head.to_vec();
    for p in payloads {
        f.extend_from_slice(&arena[p.clone()]);
    }
    assert_eq!(&f[66..], payload.as_slice());
    // Completing the partial checksum gives a valid frame.
    assert!(complete_checksum(&mut f, 34, 16));
    assert!(valid_tcp(&f));
    assert!(c.is_empty());
    assert!(c.finish(&arena).is_none());
}

#[test]
fn out_of_order_and_other_flows_do_not_merge() {
    let a = tcp_frame(100, &[1; 100], TCP_ACK);
    let gap = tcp_frame(300, &[2; 100], TCP_ACK);
    let syn = tcp_frame(200, &[3; 100], TCP_ACK | TCP_SYN);
    let next = tcp_frame(200, &[4; 100], TCP_ACK);
    let (arena, at) = arena_of(&[a, gap, syn, next]);
    let f = |i: usize| &arena[at[i].clone()];
    let mut c = Coalescer::default();
    assert!(c.start(&arena, f(0)));
    assert!(!c.append(&arena, f(1)));
    assert!(!c.append(&arena, f(2)));
    assert!(c.append(&arena, f(3)));
    // A single segment needs no GSO.
    let mut d = Coalescer::default();
    assert!(d.start(&arena, f(0)));
    assert_eq!(d.finish(&arena).unwrap().gso.gso_size, 0);
    assert!(!Coalescer::default().start(&arena, f(2)));
}

#[test]
fn only_frames_of_the_arena_are_merged_and_at_most_max_segments() {
    let frames: Vec<Vec<u8>> = (0..70u32).map(|i| tcp_frame(1000 + i * 10, &[7; 10], TCP_ACK)).collect();
    let (arena, at) = arena_of(&frames);
    let mut c = Coalescer::default();
    // A frame from elsewhere (the capture side's scratch) never starts one.
    assert!(!c.start(&arena, &frames[0]));
    assert!(c.start(&arena, &arena[at[0].clone()]));
    assert!(!c.append(&frames[1], &frames[1]), "another arena");
    let merged = 1 + at[1..].iter().take_while(|r| c.append(&arena, &arena[(*r).clone()])).count();
    assert_eq!(merged, MAX_SEGMENTS);
    let payloads = c.finish(&arena).unwrap().payloads;
    assert_eq!(payloads.len(), MAX_SEGMENTS);
}

#[test]
fn partial_checksums_are_completed() {
    let mut f = tcp_frame(1, &[9; 33], TCP_ACK);
    let ok = f.clone();
    // What the kernel hands over with NEEDS_CSUM: the pseudo-header sum in the field.
    let partial = fold(pseudo_header(&f[14..], 6, 32 + 33));
    f[50..52].copy_from_slice(&partial.to_be_bytes());
    assert!(complete_checksum(&mut f, 34, 16));
    assert_eq!(f, ok);
    assert!(!complete_checksum(&mut f, 34, 200));
}

#[test]
fn the_fast_sums_agree_with_a_plain_big_endian_sum() {
    let slow = |d: &[u8]| -> u16 {
        let mut acc = 0u64;
        for w in d.chunks(2) {
            acc += if w.len() == 2 { u16::from_be_bytes([w[0], w[1]]) as u64 } else { (w[0] as u64) << 8 };
        }
        fold(acc)
    };
    for len in 0..300 {
        let d: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        assert_eq!(fold(sum16(&d, 0)), slow(&d), "sum16, length {len}");
        let mut out = vec![0u8; len];
        assert_eq!(fold(copy_sum(&mut out, &d)), slow(&d), "copy_sum, length {len}");
        assert_eq!(out, d);
    }
}

#[test]
fn a_segment_with_a_corrupt_checksum_is_never_merged() {
    // The kernel would trust the checksum of a merged super-frame (it is left partial for it
    // to fill in), so a corrupt segment must reach it alone, checksum intact, to be dropped.
    let payload: Vec<u8> = (0..3000u32).map(|i| (i * 11) as u8).collect();
    let big = tcp_frame(5, &payload, TCP_ACK);
    let mut out = Vec::new();
    let mut segs: Vec<Vec<u8>> = Vec::new();
    segment_tcp4(&big, 1000, &mut out, |s| segs.push(s.to_vec()));
    // Corrupt the payload of the second segment, and the IP header of a copy of the third.
    segs[1][100] ^= 0x40;
    let mut bad_ip = segs[2].clone();
    bad_ip[14 + 10] ^= 1;
    segs.push(bad_ip);
    let (arena, at) = arena_of(&segs);
    let f = |i: usize| &arena[at[i].clone()];
    let mut c = Coalescer::default();
    assert!(c.start(&arena, f(0)));
    assert!(!c.append(&arena, f(1)), "a segment whose TCP checksum is wrong is not merged");
    let mut d = Coalescer::default();
    assert!(!d.start(&arena, f(1)), "nor does it start a super-frame");
    assert!(!d.start(&arena, f(3)), "nor does one whose IP header checksum is wrong");
    assert!(d.start(&arena, f(2)));
}
