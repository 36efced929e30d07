//! The TCP control connection against the golden vectors captured from real weavers
//! (testdata/weave-2.8): header and intro, framing fed in random chunks, the features
//! maps, every gossip envelope and topology payload (checked against the comment lines and
//! re-encoded byte for byte), and the encrypted session with known keys (decrypt every record,
//! re-encrypt every plaintext to the captured bytes).

mod common;

use std::collections::BTreeMap;

use common::{after_len, json_value, key32, load, read, Record, Rng};
use weave_wire::crypto::aead;
use weave_wire::crypto::{KeyPair, SessionKey, TcpReceiver, TcpSender};
use weave_wire::gob::Decoder;
use weave_wire::protocol::{
    self, connection_uid, encode_frame, features, Features, FrameDecoder, Header, Intro, Message, HEADER_LEN,
};
use weave_wire::sleeve::{OverlayControl, SleeveControl};
use weave_wire::topology::{self, PeerUpdate};
use weave_wire::PeerName;

/// (name, nick, UID, ShortID, ConnID) from the vectors README and keys.json.
type Identity = (u64, &'static str, u64, u16, u64);
const HOST_A_RUN1: Identity = (0x02_00_00_00_00_0a, "hostA", 5533576793797704961, 1584, 398918926724939071);
const HOST_B_RUN1: Identity = (0x02_00_00_00_00_0b, "hostB", 6821318311862484723, 3219, 7754894225182380878);
const HOST_A_RUN3: Identity = (0x02_00_00_00_00_0a, "hostA", 3723678671389676437, 1475, 12927851138740212958);
const PYPEER: Identity = (0x02_00_00_00_00_0c, "pypeer", 1234567890123456789, 42, 1111111111111111111);

/// What one direction contained, and how much of it was reproduced byte for byte.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    messages: usize,
    features: usize,
    heartbeat: usize,
    overlay: usize,
    gossip: usize,
    unicast: usize,
    broadcast: usize,
    topology: usize,
    /// Message bodies re-encoded from the typed values to the captured bytes.
    reencoded: usize,
    /// Topology payloads re-encoded to the captured bytes.
    topology_reencoded: usize,
}

struct Checker {
    peers: [Identity; 2],
    counts: Counts,
}

fn name_of(id: &Identity) -> PeerName {
    PeerName(id.0)
}

impl Checker {
    fn identity(&self, name: PeerName) -> &Identity {
        self.peers.iter().find(|p| p.0 == name.0).unwrap_or_else(|| panic!("unknown peer {name}"))
    }

    /// Message 0: the features map of `sender`.
    fn features(&mut self, body: &[u8], sender: &Identity, desc: &str) -> Features {
        let f = Features::decode(body).unwrap();
        let want = Features {
            name: name_of(sender),
            nick_name: sender.1.to_string(),
            short_id: Some(sender.3),
            uid: sender.2,
            conn_id: sender.4,
            trusted: false,
            overlays: Some(vec!["sleeve".to_string()]),
            fastdp_heartbeat_ms: None,
            sleeve_ciphers: None,
        };
        assert_eq!(f, want);
        // The raw map matches what the comment lists and what our builder would send.
        let map = features::decode_map(body).unwrap();
        let ours: BTreeMap<String, String> =
            f.to_pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(map, ours);
        let listed =
            desc.strip_prefix("features map[string]string {").and_then(|d| d.strip_suffix('}')).unwrap();
        let listed: BTreeMap<String, String> = listed
            .split(", ")
            .map(|kv| {
                let (k, v) = kv.split_once(": ").unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        assert_eq!(map, listed);
        // Weave's map has no sleeve cipher offer, so our negotiation gives Weave's NaCl.
        assert!(!map.contains_key(aead::FEATURE_KEY));
        let theirs = f.sleeve_ciphers.as_deref().map(aead::parse_offer);
        assert_eq!(aead::negotiate(Some(&aead::local_offer()), theirs.as_deref()), aead::SleeveCipher::Nacl);
        self.counts.features += 1;
        f
    }

    /// A message after the features: decode, compare with the comment, re-encode.
    fn message(&mut self, body: &[u8], desc: &str) {
        let msg = Message::decode(body).unwrap().expect("no empty messages");
        self.counts.messages += 1;
        let rendered = match &msg {
            Message::Heartbeat => {
                self.counts.heartbeat += 1;
                "tag 0 Heartbeat".to_string()
            }
            Message::OverlayControl(payload) => {
                self.counts.overlay += 1;
                let oc = OverlayControl::decode(payload).unwrap();
                let ctl = oc.sleeve_control().unwrap();
                // Rebuilt from the typed value.
                assert_eq!(ctl.to_message(oc.index), msg);
                let what = match ctl {
                    SleeveControl::ConnectionEstablished => "ConnectionEstablished".to_string(),
                    SleeveControl::FragmentationReceived => "FragmentationReceived".to_string(),
                    SleeveControl::PmtuVerified { mtu } => format!("PMTUVerified mtu={mtu}"),
                    SleeveControl::Unknown { tag, .. } => panic!("unknown sleeve control {tag}"),
                };
                format!(
                    "tag 7 OverlayControlMsg forwarder-index={} (sleeve) subtag={} {what}",
                    oc.index, oc.tag
                )
            }
            Message::Gossip(g) | Message::GossipBroadcast(g) => {
                let (tag, name) = match msg {
                    Message::Gossip(_) => (4, "Gossip"),
                    _ => (6, "GossipBroadcast"),
                };
                if tag == 4 {
                    self.counts.gossip += 1;
                } else {
                    self.counts.broadcast += 1;
                }
                self.identity(g.src);
                format!(
                    "tag {tag} {name} channel={} src={} payload={}B: {}",
                    g.channel,
                    g.src,
                    g.payload.len(),
                    self.payload(&g.channel, &g.payload)
                )
            }
            Message::GossipUnicast(u) => {
                self.counts.unicast += 1;
                self.identity(u.src);
                self.identity(u.dst);
                assert_ne!(u.src, u.dst);
                format!(
                    "tag 5 GossipUnicast channel={} src={} dst={} payload={}B: ",
                    u.channel,
                    u.src,
                    u.dst,
                    u.payload.len()
                )
            }
            other => panic!("unexpected message {other:?}"),
        };
        assert!(desc.starts_with(&rendered), "\n  ours:    {rendered}\n  capture: {desc}");
        assert_eq!(msg.encode(), body, "re-encoding {desc}");
        self.counts.reencoded += 1;
    }

    /// Topology payloads are decoded here (other channels belong to other modules); the
    /// returned text is the comment's rendering of the payload (empty for other channels).
    fn payload(&mut self, channel: &str, payload: &[u8]) -> String {
        match channel {
            "topology" => self.topology(payload),
            "IPallocation" | "nameserver" => String::new(),
            other => panic!("unknown channel {other}"),
        }
    }

    fn topology(&mut self, payload: &[u8]) -> String {
        let peers = topology::decode_topology(payload).unwrap();
        assert!(!peers.is_empty());
        for (p, conns) in &peers {
            let id = self.identity(p.name().unwrap());
            assert_eq!((p.nick_name.as_str(), p.uid, p.short_id), (id.1, id.2, id.3));
            assert!(p.has_short_id);
            for c in conns {
                self.identity(c.name().unwrap());
                assert!(c.remote_tcp_addr.starts_with("10.200.0."), "{c:?}");
            }
        }
        // Byte for byte, given the type id the sender's process started the stream with.
        let mut dec = Decoder::new(payload);
        while dec.next().unwrap().is_some() {}
        let first_id = dec.wire_types().iter().map(|(id, _)| *id).min().unwrap();
        let again = topology::encode_topology_with_first_type_id(&peers, first_id).unwrap();
        assert_eq!(again, payload, "topology re-encoding");
        assert_eq!(topology::decode_topology(&topology::encode_topology(&peers)), Ok(peers.clone()));
        self.counts.topology += 1;
        self.counts.topology_reencoded += 1;
        render_topology(&peers)
    }
}

/// The comment notation of a topology payload.
fn render_topology(peers: &[PeerUpdate]) -> String {
    let peers: Vec<String> = peers
        .iter()
        .map(|(p, conns)| {
            let conns: Vec<String> = conns
                .iter()
                .map(|c| {
                    format!(
                        "{{{} {} outbound={} established={}}}",
                        c.name().unwrap(),
                        c.remote_tcp_addr,
                        c.outbound,
                        c.established
                    )
                })
                .collect();
            format!(
                "peer {} nick={} uid={} ver={} shortid={} hasShortID={} conns=[{}]",
                p.name().unwrap(),
                p.nick_name,
                p.uid,
                p.version,
                p.short_id,
                p.has_short_id,
                conns.join(" ")
            )
        })
        .collect();
    format!("topology: {}", peers.join("; "))
}

/// Feeds `stream` to a FrameDecoder in random chunks of 1..=max bytes.
fn split_frames(stream: &[u8], rng: &mut Rng, max: usize) -> Vec<Vec<u8>> {
    let mut dec = FrameDecoder::new();
    let mut out = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let n = rng.range(1, max).min(stream.len() - at);
        dec.push(&stream[at..at + n]);
        at += n;
        while let Some(body) = dec.next_frame().unwrap() {
            out.push(body);
        }
    }
    assert!(dec.is_idle(), "stream ends inside a message");
    out
}

/// One direction of tcp-plain: `sender` wrote it, `receiver` read it.
fn check_plain(stem: &str, sender: Identity, receiver: Identity, seed: u64) -> Counts {
    let records = load(&format!("tcp-plain/{stem}.hex"));
    let stream = read(&format!("tcp-plain/{stem}.bin"));
    let joined: Vec<u8> = records.iter().flat_map(|r| r.wire.clone()).collect();
    assert_eq!(joined, stream, "hex records and .bin differ");

    let header = Header::decode(&stream).unwrap();
    assert_eq!(header, Header::default());
    assert_eq!(header.encode(), stream[..HEADER_LEN]);
    assert_eq!(protocol::negotiate(1, 2, header.min_version, header.max_version), Ok(2));
    let (intro, used) = Intro::decode(&stream[HEADER_LEN..], false).unwrap().unwrap();
    assert_eq!((intro, used), (Intro::Plain, 1));
    assert_eq!(intro.encode(), [0]);

    let mut rng = Rng(seed);
    let bodies = split_frames(&stream[HEADER_LEN + 1..], &mut rng, 64);
    let msg_records: Vec<&Record> = records.iter().skip(2).collect();
    assert_eq!(bodies.len(), msg_records.len());

    let mut checker = Checker { peers: [sender, receiver], counts: Counts::default() };
    for (i, (body, rec)) in bodies.iter().zip(&msg_records).enumerate() {
        assert_eq!(encode_frame(body).unwrap(), rec.wire);
        let desc = after_len(&rec.comment, "body_len=");
        if i == 0 {
            let f = checker.features(body, &sender, desc);
            assert_eq!(connection_uid(f.conn_id, receiver.4), 0x6e17d5939327ee71, "connection UID of run 1");
        } else {
            checker.message(body, desc);
        }
    }
    checker.counts
}

#[test]
fn tcp_plain_b_to_a() {
    let c = check_plain("b_to_a", HOST_B_RUN1, HOST_A_RUN1, 1);
    assert_eq!(
        c,
        Counts {
            messages: 20,
            features: 1,
            heartbeat: 2,
            overlay: 3,
            gossip: 10,
            unicast: 2,
            broadcast: 3,
            topology: 4,
            reencoded: 20,
            topology_reencoded: 4,
        }
    );
}

#[test]
fn tcp_plain_a_to_b() {
    let c = check_plain("a_to_b", HOST_A_RUN1, HOST_B_RUN1, 2);
    assert_eq!(
        c,
        Counts {
            messages: 22,
            features: 1,
            heartbeat: 2,
            overlay: 3,
            gossip: 10,
            unicast: 2,
            broadcast: 5,
            topology: 4,
            reencoded: 22,
            topology_reencoded: 4,
        }
    );
}

struct Keys {
    password: Vec<u8>,
    peer_private: [u8; 32],
    peer_public: [u8; 32],
    weaver_public: [u8; 32],
    shared: [u8; 32],
    session: SessionKey,
    conn_uid: u64,
}

fn keys() -> Keys {
    let text = String::from_utf8(read("tcp-encrypted/keys.json")).unwrap();
    let j = |k: &str| json_value(&text, k);
    Keys {
        password: j("password").into_bytes(),
        peer_private: key32(&j("curve25519_private_key")),
        peer_public: key32(&j("curve25519_public_key")),
        weaver_public: key32(&j("ephemeral_curve25519_public_key")),
        shared: key32(&j("shared_key_crypto_box_beforenm")),
        session: SessionKey::from_bytes(key32(&j("session_key"))),
        conn_uid: u64::from_str_radix(&j("connection_uid_hex"), 16).unwrap(),
    }
}

#[test]
fn key_agreement_matches_keys_json() {
    let k = keys();
    assert_eq!(k.password, b"vectors-password");
    let pair = KeyPair::from_private(k.peer_private);
    assert_eq!(pair.public(), &k.peer_public);
    assert_eq!(*pair.precompute(&k.weaver_public).unwrap(), k.shared);
    assert_eq!(pair.session_key(&k.weaver_public, &k.password).unwrap(), k.session);
    assert_eq!(connection_uid(PYPEER.4, HOST_A_RUN3.4), k.conn_uid);
}

/// One direction of tcp-encrypted. `sender_outbound`: the sender dialled (the test peer).
fn check_encrypted(
    stem: &str,
    sender: Identity,
    receiver: Identity,
    sender_outbound: bool,
    seed: u64,
) -> (Counts, usize) {
    let k = keys();
    let records = load(&format!("tcp-encrypted/{stem}.hex"));
    let stream: Vec<u8> = records.iter().flat_map(|r| r.wire.clone()).collect();

    // Intro: header, flag 1 and the sender's public key, in clear.
    assert_eq!(records[0].wire, Header::default().encode());
    assert!(records[0].secret.is_none() && records[1].secret.is_none());
    let (intro, used) = Intro::decode(&stream[HEADER_LEN..], true).unwrap().unwrap();
    let sender_key = if sender_outbound { k.peer_public } else { k.weaver_public };
    assert_eq!(intro, Intro::Encrypted { public_key: sender_key });
    assert_eq!(intro.encode(), records[1].wire);
    assert_eq!(used, 33);

    let mut rng = Rng(seed);
    let bodies = split_frames(&stream[HEADER_LEN + used..], &mut rng, 48);
    let enc: Vec<&Record> = records.iter().skip(2).collect();
    assert_eq!(bodies.len(), enc.len());

    // The receiver's polarity is the opposite of the sender's.
    let mut receiver_crypto = TcpReceiver::new(&k.session, !sender_outbound);
    let mut sender_crypto = TcpSender::new(&k.session, sender_outbound);
    let mut checker = Checker { peers: [sender, receiver], counts: Counts::default() };
    let mut decrypted = 0;
    for (seq, (body, rec)) in bodies.iter().zip(&enc).enumerate() {
        let (nonce, plaintext) = rec.secret.as_ref().unwrap();
        let mut want_nonce = [0u8; 24];
        want_nonce[0] = if sender_outbound { 0xc0 } else { 0x40 };
        want_nonce[16..].copy_from_slice(&(seq as u64).to_be_bytes());
        assert_eq!(nonce, &want_nonce);
        assert!(rec.comment.contains(&format!("seq={seq} ")), "{}", rec.comment);

        assert_eq!(receiver_crypto.seq(), seq as u64);
        let opened = receiver_crypto.open(body).unwrap();
        assert_eq!(&opened, plaintext, "seq {seq}");
        decrypted += 1;
        // Deterministic given key and nonce: re-encryption gives the captured bytes.
        let sealed = sender_crypto.seal(plaintext);
        assert_eq!(&sealed, body, "re-encrypting seq {seq}");
        assert_eq!(encode_frame(&sealed).unwrap(), rec.wire);

        let desc = after_len(&rec.comment, "plaintext_len=");
        if seq == 0 {
            let f = checker.features(plaintext, &sender, desc);
            assert_eq!(connection_uid(f.conn_id, receiver.4), k.conn_uid);
            if sender_outbound {
                // The test peer sent its map in makeFeatures order, with type id 65.
                assert_eq!(&f.encode(), plaintext, "features re-encoding");
            }
        } else {
            checker.message(plaintext, desc);
        }
    }
    // A replayed message is refused, and so is the next one after the failure.
    let last = bodies.last().unwrap();
    assert_eq!(receiver_crypto.open(last).unwrap_err().to_string(), "Unable to decrypt TCP msg");
    (checker.counts, decrypted)
}

#[test]
fn tcp_encrypted_weaver_to_peer() {
    let (c, decrypted) = check_encrypted("weaver_to_peer", HOST_A_RUN3, PYPEER, false, 3);
    assert_eq!(decrypted, 15);
    assert_eq!(
        c,
        Counts {
            messages: 14,
            features: 1,
            heartbeat: 1,
            overlay: 3,
            gossip: 7,
            unicast: 0,
            broadcast: 3,
            topology: 3,
            reencoded: 14,
            topology_reencoded: 3,
        }
    );
}

#[test]
fn tcp_encrypted_peer_to_weaver() {
    let (c, decrypted) = check_encrypted("peer_to_weaver", PYPEER, HOST_A_RUN3, true, 4);
    assert_eq!(decrypted, 9);
    assert_eq!(
        c,
        Counts {
            messages: 8,
            features: 1,
            heartbeat: 2,
            overlay: 5,
            gossip: 1,
            unicast: 0,
            broadcast: 0,
            topology: 1,
            reencoded: 8,
            topology_reencoded: 1,
        }
    );
}

#[test]
fn wrong_password_fails_at_the_features_message() {
    let k = keys();
    let records = load("tcp-encrypted/weaver_to_peer.hex");
    let body = &records[2].wire[4..];
    let wrong =
        KeyPair::from_private(k.peer_private).session_key(&k.weaver_public, b"not-the-password").unwrap();
    assert!(TcpReceiver::new(&wrong, true).open(body).is_err());
    assert!(TcpReceiver::new(&k.session, true).open(body).is_ok());
}
