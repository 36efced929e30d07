//! The sleeve UDP datapath against the golden vectors: every unencrypted payload parsed,
//! classified and rebuilt byte for byte; every known-key encrypted payload decrypted (nonce and
//! plaintext checked), passed through the replay window, and re-encrypted to the captured bytes
//! with per-path counters; the unknown-key capture checked for framing and sequence numbers.

mod common;

use std::collections::BTreeMap;

use common::{json_value, key32, load, read, token, Record};
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use weave_wire::crypto::{CryptoError, SessionKey, SleeveDecryptor, SleeveEncryptor, DF_BIT};
use weave_wire::sleeve::special::{FRAG_TEST_SIZE, PMTU_DISCOVERY_SIZE};
use weave_wire::sleeve::{
    frames, split_sender, FrameRecord, PacketBuilder, SpecialFrame, ENCRYPTED_PREFIX_LEN,
    MAX_UDP_PACKET_SIZE, NAME_SIZE,
};
use weave_wire::PeerName;

const RUN1_CONN_UID: u64 = 0x6e17d5939327ee71;
const RUN3_CONN_UID: u64 = 0xbc0381b69a792519;
const WINDOW: u64 = 1 << 20;

fn ip4(b: &[u8]) -> String {
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

/// What kinds of frames a file held.
#[derive(Debug, Default, PartialEq)]
struct Kinds {
    heartbeat: usize,
    frag_test: usize,
    mtu_test: usize,
    arp_request: usize,
    arp_reply: usize,
    icmp_request: usize,
    icmp_reply: usize,
    ipv6: usize,
}

/// `{src-peer X dst-peer Y len N: DESC}` segments of a comment.
fn listed_records(comment: &str) -> Vec<(String, String, usize, String)> {
    let list = &comment[comment.find("records: {").expect("records in comment") + 10..];
    let list = list.strip_suffix('}').unwrap();
    list.split("} {")
        .map(|seg| {
            let (head, desc) = seg.split_once(": ").unwrap();
            let parts: Vec<&str> = head.split(' ').collect();
            assert_eq!((parts[0], parts[2], parts[4]), ("src-peer", "dst-peer", "len"));
            (parts[1].to_string(), parts[3].to_string(), parts[5].parse().unwrap(), desc.to_string())
        })
        .collect()
}

/// Classifies one frame and checks it against the comment's description of it.
fn classify(frame: &[u8], desc: &str, conn_uid: u64, kinds: &mut Kinds) -> &'static str {
    if let Some(special) = SpecialFrame::classify(frame) {
        let zeros_to = match special {
            SpecialFrame::Heartbeat { conn_uid: uid } => {
                assert_eq!(uid, conn_uid);
                assert_eq!(
                    desc,
                    format!("special frame: sleeve HEARTBEAT, connection UID=0x{uid:016x} ({uid})")
                );
                kinds.heartbeat += 1;
                14
            }
            SpecialFrame::FragTest => {
                assert_eq!(desc, "special frame: FRAG TEST (60001 zero bytes)");
                kinds.frag_test += 1;
                frame.len()
            }
            SpecialFrame::MtuTest { mtu } => {
                assert_eq!(
                    desc,
                    format!("special frame: PMTU/MTU TEST, {} zero bytes (candidate MTU {mtu})", frame.len())
                );
                kinds.mtu_test += 1;
                frame.len()
            }
            SpecialFrame::PmtuProbe => panic!("the PMTU probe never reaches the wire"),
        };
        assert!(frame[..zeros_to].iter().all(|&b| b == 0));
        assert_eq!(SpecialFrame::classify(&special.to_frame()), Some(special));
        assert_eq!(special.to_frame(), frame);
        return "special";
    }
    let eth = format!("eth {} -> {} ", common::mac(&frame[6..12]), common::mac(&frame[0..6]));
    assert!(desc.starts_with(&eth), "{desc}");
    let rest = &desc[eth.len()..];
    match u16::from_be_bytes([frame[12], frame[13]]) {
        0x0806 => {
            let (spa, tpa) = (ip4(&frame[28..32]), ip4(&frame[38..42]));
            match u16::from_be_bytes([frame[20], frame[21]]) {
                1 => {
                    assert!(rest.starts_with(&format!("ARP request who-has {tpa} tell {spa}")));
                    kinds.arp_request += 1;
                }
                2 => {
                    let sha = common::mac(&frame[22..28]);
                    assert_eq!(rest, format!("ARP reply {spa} is-at {sha}"));
                    kinds.arp_reply += 1;
                }
                op => panic!("ARP op {op}"),
            }
            "arp"
        }
        0x0800 => {
            let ip = &frame[14..];
            let df = (ip[6] & 0x40 != 0) as u8;
            let head = format!(
                "IPv4 {} -> {} proto={} len={} DF={df}",
                ip4(&ip[12..16]),
                ip4(&ip[16..20]),
                ip[9],
                u16::from_be_bytes([ip[2], ip[3]])
            );
            assert!(rest.starts_with(&head), "{rest} vs {head}");
            assert_eq!(ip[9], 1, "only ICMP in the captures");
            let icmp = &ip[usize::from(ip[0] & 0x0f) * 4..];
            match icmp[0] {
                8 => {
                    assert!(rest.contains("ICMP echo request") && df == 1);
                    kinds.icmp_request += 1;
                }
                0 => {
                    assert!(rest.contains("ICMP echo reply") && df == 0);
                    kinds.icmp_reply += 1;
                }
                t => panic!("ICMP type {t}"),
            }
            if df == 1 {
                "ipv4-df"
            } else {
                "ipv4"
            }
        }
        0x86dd => {
            assert!(rest.starts_with("IPv6 "), "{rest}");
            kinds.ipv6 += 1;
            "ipv6"
        }
        t => panic!("ethertype {t:#06x}"),
    }
}

/// Parses the records of one packet body, checks them against the comment, and returns them
/// with whether the packet belongs on the DF path by its content.
fn check_records<'a>(
    body: &'a [u8],
    sender: PeerName,
    comment: &str,
    conn_uid: u64,
    kinds: &mut Kinds,
) -> (Vec<FrameRecord<'a>>, bool) {
    let recs: Vec<FrameRecord<'a>> = frames(body).collect::<Result<_, _>>().unwrap();
    let listed = listed_records(comment);
    assert_eq!(recs.len(), listed.len(), "{comment}");
    let mut df = false;
    for (r, (src, dst, len, desc)) in recs.iter().zip(&listed) {
        assert_eq!((r.src.to_string(), r.dst.to_string()), (src.clone(), dst.clone()));
        assert_eq!(r.src, sender);
        assert_ne!(r.dst, sender);
        assert_eq!(r.frame.len(), *len);
        let kind = classify(r.frame, desc, conn_uid, kinds);
        // Heartbeats and MTU tests go DF, as do IPv4 frames with DF set.
        df |= kind == "ipv4-df"
            || matches!(
                SpecialFrame::classify(r.frame),
                Some(SpecialFrame::Heartbeat { .. } | SpecialFrame::MtuTest { .. })
            );
    }
    (recs, df)
}

/// Builds a packet from records into `buf`; returns its length.
fn build(buf: &mut [u8], sender: PeerName, recs: &[FrameRecord<'_>], encrypted: bool) -> usize {
    let mut pb = if encrypted {
        PacketBuilder::new_encrypted(buf, sender, MAX_UDP_PACKET_SIZE)
    } else {
        PacketBuilder::new(buf, sender, MAX_UDP_PACKET_SIZE)
    };
    for r in recs {
        pb.push(r.src, r.dst, r.frame).unwrap();
    }
    assert_eq!(pb.frame_count(), recs.len());
    pb.finish()
}

#[test]
fn plain_sleeve_every_record() {
    let records = load("sleeve/plain.hex");
    assert_eq!(records.len(), 49);
    let mut kinds = Kinds::default();
    let mut buf = vec![0u8; MAX_UDP_PACKET_SIZE];
    let mut rebuilt = 0;
    let mut frame_count = 0;
    for rec in &records {
        assert_eq!(token(&rec.comment, "udp_payload_len"), rec.wire.len().to_string());
        let (sender, body) = split_sender(&rec.wire).unwrap();
        assert!(token(&rec.comment, "sender-name").starts_with(&sender.to_string()));
        let (recs, df) = check_records(body, sender, &rec.comment, RUN1_CONN_UID, &mut kinds);
        // The outer IP DF bit tells which socket sent it.
        assert_eq!(token(&rec.comment, "ipDF") == "1", df, "{}", rec.comment);
        frame_count += recs.len();
        let n = build(&mut buf, sender, &recs, false);
        assert_eq!(&buf[..n], &rec.wire[..]);
        rebuilt += 1;
    }
    assert_eq!(rebuilt, 49);
    assert_eq!(frame_count, 51);
    assert_eq!(
        kinds,
        Kinds {
            heartbeat: 15,
            frag_test: 2,
            mtu_test: 2,
            arp_request: 2,
            arp_reply: 2,
            icmp_request: 3,
            icmp_reply: 3,
            ipv6: 22,
        }
    );
}

fn session_key() -> SessionKey {
    let text = String::from_utf8(read("tcp-encrypted/keys.json")).unwrap();
    SessionKey::from_bytes(key32(&json_value(&text, "session_key")))
}

/// Seals a packet body with the secretbox crate directly (an independent check of the nonce
/// layout, and a way to make packets with any sequence number).
fn forge(key: &SessionKey, sender_outbound: bool, seq_and_df: u64, plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    nonce[0] = if sender_outbound { 0x80 } else { 0 };
    nonce[16..].copy_from_slice(&seq_and_df.to_be_bytes());
    let mut ct = plaintext.to_vec();
    let tag = XSalsa20Poly1305::new(&(*key.as_bytes()).into())
        .encrypt_in_place_detached(&nonce.into(), b"", &mut ct)
        .unwrap();
    let mut out = seq_and_df.to_be_bytes().to_vec();
    out.extend_from_slice(&tag);
    out.extend_from_slice(&ct);
    out
}

struct EncryptedRun {
    decryptor: SleeveDecryptor,
    records: Vec<Record>,
    kinds: Kinds,
    /// Sequence numbers (with the DF bit) skipped by the encryptors to line up with the capture.
    skipped: Vec<u64>,
    reencrypted: usize,
}

/// One file of known-key sleeve payloads. `sender_outbound`: the sender dialled (test peer).
fn check_encrypted(file: &str, sender_outbound: bool) -> EncryptedRun {
    let key = session_key();
    let records = load(file);
    let mut decryptor = SleeveDecryptor::new(&key, !sender_outbound);
    let mut enc = SleeveEncryptor::new(&key, sender_outbound, false);
    let mut enc_df = SleeveEncryptor::new(&key, sender_outbound, true);
    let mut kinds = Kinds::default();
    let mut skipped = Vec::new();
    let mut reencrypted = 0;
    let mut buf = vec![0u8; MAX_UDP_PACKET_SIZE];
    for rec in &records {
        let (nonce, plaintext) = rec.secret.as_ref().unwrap();
        let (sender, sealed) = split_sender(&rec.wire).unwrap();
        let seq_and_df = u64::from_be_bytes(sealed[..8].try_into().unwrap());
        let listed = u64::from_str_radix(&token(&rec.comment, "seq_and_DF")[2..], 16).unwrap();
        assert_eq!(seq_and_df, listed);
        let mut want_nonce = [0u8; 24];
        want_nonce[0] = if sender_outbound { 0x80 } else { 0 };
        want_nonce[16..].copy_from_slice(&seq_and_df.to_be_bytes());
        assert_eq!(nonce, &want_nonce);
        assert_eq!(forge(&key, sender_outbound, seq_and_df, plaintext), sealed);

        // Decrypt in place.
        let mut packet = rec.wire.clone();
        let range = decryptor.open_in_place(&mut packet[NAME_SIZE..]).unwrap().expect("fresh packet");
        let opened = &packet[NAME_SIZE..][range];
        assert_eq!(opened, &plaintext[..]);
        let (recs, df) = check_records(opened, sender, &rec.comment, RUN3_CONN_UID, &mut kinds);
        assert_eq!(df, seq_and_df & DF_BIT != 0, "{}", rec.comment);

        // Re-encrypt with the path's counter, in place in a built packet.
        let e = if df { &mut enc_df } else { &mut enc };
        while e.next_seq_and_df() < seq_and_df {
            // A PMTU probe: sealed, then refused by the kernel, its number used up.
            skipped.push(e.next_seq_and_df());
            e.seal(&vec![0u8; 14 + PMTU_DISCOVERY_SIZE]);
        }
        let n = build(&mut buf, sender, &recs, true);
        assert_eq!(e.seal_in_place(&mut buf[NAME_SIZE..n]).unwrap(), seq_and_df);
        assert_eq!(&buf[..n], &rec.wire[..], "re-encrypting {}", rec.comment);
        assert_eq!(n, ENCRYPTED_PREFIX_LEN + plaintext.len());
        reencrypted += 1;
    }
    EncryptedRun { decryptor, records, kinds, skipped, reencrypted }
}

#[test]
fn encrypted_sleeve_weaver_to_peer() {
    let run = check_encrypted("tcp-encrypted/sleeve_weaver_to_peer.hex", false);
    assert_eq!(run.records.len(), 23);
    assert_eq!(run.reencrypted, 23);
    // Only DF seq 1 is missing: the PMTU probe that never left the host.
    assert_eq!(run.skipped, [DF_BIT | 1]);
    assert_eq!(
        run.kinds,
        Kinds {
            heartbeat: 5,
            frag_test: 1,
            mtu_test: 3,
            arp_request: 1,
            arp_reply: 0,
            icmp_request: 2,
            icmp_reply: 0,
            ipv6: 12,
        }
    );
    replay_and_window_jump(run, false);
}

#[test]
fn encrypted_sleeve_peer_to_weaver() {
    let run = check_encrypted("tcp-encrypted/sleeve_peer_to_weaver.hex", true);
    assert_eq!(run.records.len(), 10);
    assert_eq!(run.reencrypted, 10);
    assert!(run.skipped.is_empty());
    assert_eq!(
        run.kinds,
        Kinds {
            heartbeat: 5,
            frag_test: 1,
            mtu_test: 1,
            arp_request: 0,
            arp_reply: 1,
            icmp_request: 0,
            icmp_reply: 2,
            ipv6: 0,
        }
    );
    replay_and_window_jump(run, true);
}

/// Whether a forged empty packet with this `seq_and_DF` is accepted as fresh.
fn fresh(dec: &mut SleeveDecryptor, key: &SessionKey, sender_outbound: bool, seq: u64) -> bool {
    dec.open(&forge(key, sender_outbound, seq, b"")).unwrap().is_some()
}

/// Replays every record (all dropped), then moves the non-DF window in ways Weave handles.
fn replay_and_window_jump(mut run: EncryptedRun, sender_outbound: bool) {
    let key = session_key();
    let dec = &mut run.decryptor;
    for rec in &run.records {
        assert_eq!(dec.open(&rec.wire[NAME_SIZE..]), Ok(None), "replay accepted");
    }
    let seqs: Vec<u64> =
        run.records.iter().map(|r| u64::from_be_bytes(r.wire[6..14].try_into().unwrap())).collect();
    let last_df = seqs.iter().copied().filter(|s| s & DF_BIT != 0).max().unwrap();
    let old_non_df = &run.records[seqs.iter().position(|s| s & DF_BIT == 0).unwrap()].wire;

    // A forged packet that fails authentication moves nothing (checked below: if it had,
    // 2W+7 would be too old).
    let mut bad = forge(&key, sender_outbound, 10 * WINDOW, b"x");
    bad[20] ^= 1;
    assert_eq!(dec.open(&bad), Err(CryptoError::UdpDecrypt));
    let mut fresh = |seq| fresh(dec, &key, sender_outbound, seq);
    assert!(fresh(2 * WINDOW + 7));
    // That was a jump of two windows: both sets were reset. The previous window starts empty;
    // anything older is dropped.
    assert!(!fresh(2 * WINDOW + 7));
    assert!(fresh(WINDOW + 3));
    assert!(!fresh(WINDOW + 3));
    assert!(!fresh(100));
    // One window further: the sets shift.
    assert!(fresh(3 * WINDOW));
    assert!(!fresh(WINDOW + 4));
    assert!(fresh(2 * WINDOW + 8));
    assert!(!fresh(2 * WINDOW + 7));
    // The DF path has its own window, untouched by all this.
    assert!(!fresh(last_df));
    assert!(fresh(last_df + 1));
    // A captured packet of window 0 is now far too old.
    assert_eq!(dec.open(&old_non_df[NAME_SIZE..]), Ok(None));
}

#[test]
fn encrypted_sleeve_unknown_key_framing() {
    let records = load("sleeve/encrypted.hex");
    assert_eq!(records.len(), 37);
    let stranger = SessionKey::from_bytes([0x5a; 32]);
    let mut last: BTreeMap<(PeerName, bool), u64> = BTreeMap::new();
    let mut df_seqs: BTreeMap<PeerName, Vec<u64>> = BTreeMap::new();
    for rec in &records {
        let c = &rec.comment;
        assert_eq!(token(c, "udp_payload_len"), rec.wire.len().to_string());
        let (sender, sealed) = split_sender(&rec.wire).unwrap();
        assert!(token(c, "sender-name").starts_with(&sender.to_string()));
        let seq_and_df = u64::from_be_bytes(sealed[..8].try_into().unwrap());
        assert_eq!(seq_and_df, u64::from_str_radix(&token(c, "seq_and_DF")[2..], 16).unwrap());
        let df = seq_and_df & DF_BIT != 0;
        let seq = seq_and_df & !DF_BIT;
        assert_eq!(token(c, "DF-path"), if df { "1" } else { "0" });
        assert_eq!(token(c, "seq"), seq.to_string());
        assert_eq!(token(c, "ipDF"), if df { "1" } else { "0" });
        assert_eq!(token(c, "secretbox_len"), (sealed.len() - 8).to_string());
        assert!(c.contains(&format!("(16-byte tag + {} bytes of frame records)", sealed.len() - 24)));
        // Per sender and path the numbers only grow.
        if let Some(prev) = last.insert((sender, df), seq) {
            assert!(seq > prev, "{c}");
        }
        if df {
            df_seqs.entry(sender).or_default().push(seq);
        }
        if sealed.len() - 24 == 14 + FRAG_TEST_SIZE {
            assert_eq!(seq_and_df, 0, "the frag test is non-DF seq 0");
        }
        // Without the session key nothing opens, and nothing panics.
        let mut dec = SleeveDecryptor::new(&stranger, false);
        assert_eq!(dec.open(sealed), Err(CryptoError::UdpDecrypt));
    }
    // Each side: heartbeat DF 0, then the MTU test at DF 2 (1 went to the PMTU probe).
    assert_eq!(df_seqs.len(), 2);
    for seqs in df_seqs.values() {
        assert_eq!(&seqs[..2], &[0, 2]);
    }
}
