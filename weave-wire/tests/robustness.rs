//! Every decoder in protocol, crypto, topology and sleeve fed random, truncated and mutated
//! input (seeded, so failures reproduce): none may panic, and the things that must fail do.

mod common;

use common::{load, Rng};
use weave_wire::crypto::aead::Binding;
use weave_wire::crypto::suite::Ends;
use weave_wire::crypto::{
    PacketOpener, PacketSealer, SessionKey, SleeveCipher, SleeveDecryptor, SleeveEncryptor, Suite,
    TcpReceiver, TcpSender,
};
use weave_wire::protocol::{Features, FrameDecoder, Header, Intro, Message};
use weave_wire::sleeve::{frames, split_sender, OverlayControl, SleeveControl, SpecialFrame};
use weave_wire::topology::decode_topology;

/// Inputs of one kind.
type Inputs = Vec<Vec<u8>>;

/// Features maps, message bodies and topology payloads from the plain captures.
fn corpus() -> (Inputs, Inputs, Inputs) {
    let (mut features, mut messages, mut topologies) = (Vec::new(), Vec::new(), Vec::new());
    for file in ["tcp-plain/a_to_b.hex", "tcp-plain/b_to_a.hex"] {
        for (i, rec) in load(file).into_iter().enumerate().skip(2) {
            let body = rec.wire[4..].to_vec();
            if i == 2 {
                features.push(body);
                continue;
            }
            if let Ok(Some(Message::Gossip(g))) = Message::decode(&body) {
                if g.channel == "topology" {
                    topologies.push(g.payload);
                }
            }
            messages.push(body);
        }
    }
    (features, messages, topologies)
}

/// Runs `f` on every truncation (by `step`) and `mutations` damaged copies of each input.
fn hammer(
    inputs: &[Vec<u8>],
    rng: &mut Rng,
    step: usize,
    mutations: usize,
    mut f: impl FnMut(&[u8]),
) -> usize {
    let mut runs = 0;
    for input in inputs {
        for cut in (0..input.len()).step_by(step) {
            f(&input[..cut]);
            runs += 1;
        }
        for _ in 0..mutations {
            f(&rng.mutate(input));
            runs += 1;
        }
    }
    runs
}

fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.range(0, max);
    (0..n).map(|_| rng.next() as u8).collect()
}

#[test]
fn protocol_decoders_never_panic() {
    let (features, messages, topologies) = corpus();
    let mut rng = Rng(0x5eed);
    let mut runs = 0;
    runs += hammer(&features, &mut rng, 3, 400, |b| {
        let _ = Features::decode(b);
    });
    runs += hammer(&messages, &mut rng, 5, 60, |b| {
        let _ = Message::decode(b);
        if let Ok(oc) = OverlayControl::decode(b) {
            let _ = oc.sleeve_control();
        }
    });
    runs += hammer(&topologies, &mut rng, 2, 300, |b| {
        let _ = decode_topology(b);
    });
    // Truncated topology payloads are always refused or a strict prefix of the update.
    for t in &topologies {
        let whole = decode_topology(t).unwrap();
        for cut in 0..t.len() {
            if let Ok(part) = decode_topology(&t[..cut]) {
                assert!(part.len() < whole.len() && whole.starts_with(&part));
            }
        }
    }
    for _ in 0..3000 {
        let b = random_bytes(&mut rng, 80);
        let _ = Header::decode(&b);
        let _ = Intro::decode(&b, rng.next() & 1 == 0);
        let _ = Message::decode(&b);
        let _ = Features::decode(&b);
        let _ = decode_topology(&b);
        runs += 1;
    }
    assert!(runs > 10_000, "{runs}");
}

#[test]
fn frame_decoder_survives_garbage_and_keeps_its_limit() {
    let mut rng = Rng(77);
    for _ in 0..3000 {
        let mut dec = FrameDecoder::with_max_size(rng.range(0, 4096));
        let data = random_bytes(&mut rng, 300);
        let mut at = 0;
        let mut total = 0;
        while at < data.len() {
            let n = rng.range(1, 20).min(data.len() - at);
            dec.push(&data[at..at + n]);
            at += n;
            loop {
                match dec.next_frame() {
                    Ok(Some(body)) => total += body.len() + 4,
                    Ok(None) => break,
                    Err(_) => {
                        // Sticky: the stream is unusable from here on.
                        assert!(dec.next_frame().is_err());
                        break;
                    }
                }
            }
        }
        assert!(total + dec.buffered() <= data.len());
    }
}

#[test]
fn decryptors_refuse_garbage_without_panicking() {
    let key = SessionKey::from_bytes([1; 32]);
    let mut rng = Rng(99);
    let mut tcp_sender = TcpSender::new(&key, true);
    let mut sleeve_enc = SleeveEncryptor::new(&key, false, false);
    for i in 0..2000 {
        let plain = random_bytes(&mut rng, 100);
        // A fresh receiver expects message 0: only the first one opens, in sequence.
        let good = tcp_sender.seal(&plain);
        let mut rx = TcpReceiver::new(&key, false);
        assert_eq!(rx.open(&good).ok(), (i == 0).then(|| plain.clone()));
        // Damaged ciphertexts never open.
        let bad = rng.mutate(&good);
        if bad != good {
            assert!(TcpReceiver::new(&key, false).open(&bad).is_err());
        }
        let _ = rx.open(&random_bytes(&mut rng, 40));

        let sealed = sleeve_enc.seal(&plain);
        let mut dec = SleeveDecryptor::new(&key, true);
        let damaged = rng.mutate(&sealed);
        if damaged != sealed {
            assert!(dec.open(&damaged).is_err());
        }
        assert_eq!(dec.open(&sealed).unwrap().unwrap(), plain);
        let _ = dec.open(&random_bytes(&mut rng, 40));
    }
}

/// The negotiated AEADs' opener on damaged, random and truncated packets: errors or drops,
/// never a panic, and the genuine packet still opens afterwards.
#[test]
fn aead_openers_refuse_garbage_without_panicking() {
    let key = SessionKey::from_bytes([1; 32]);
    let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let binding = Binding::new((a, "x"), (b, "y"));
    let ends = Ends { us: a, peer: b, outbound: true };
    let theirs = Ends { us: b, peer: a, outbound: false };
    let mut rng = Rng(7);
    for suite in Suite::ALL {
        let cipher = SleeveCipher::Aead(suite);
        let mut enc = PacketSealer::new(&key, cipher, &binding, ends, false);
        let mut dec = PacketOpener::new(&key, cipher, &binding, theirs);
        for _ in 0..1000 {
            let plain = random_bytes(&mut rng, 100);
            let mut sealed = vec![0u8; 24];
            sealed.extend_from_slice(&plain);
            enc.seal_in_place(&mut sealed).unwrap();
            let damaged = rng.mutate(&sealed);
            if damaged != sealed {
                assert!(dec.open_in_place(&mut damaged.clone()).is_err(), "{suite:?}");
            }
            let mut junk = random_bytes(&mut rng, 60);
            let _ = dec.open_in_place(&mut junk);
            let cut = (rng.next() as usize) % sealed.len();
            let _ = dec.open_in_place(&mut sealed[..cut].to_vec());
            let mut buf = sealed.clone();
            let r = dec.open_in_place(&mut buf).unwrap().expect("a genuine packet opens");
            assert_eq!(&buf[r], plain.as_slice());
        }
    }
}

#[test]
fn sleeve_parsers_never_panic() {
    let mut inputs: Vec<Vec<u8>> =
        load("sleeve/plain.hex").into_iter().filter(|r| r.wire.len() < 2000).map(|r| r.wire).collect();
    inputs.truncate(40);
    let mut rng = Rng(4242);
    let check = |b: &[u8]| {
        if let Ok((_, body)) = split_sender(b) {
            let mut seen = 0;
            for r in frames(body) {
                match r {
                    Ok(rec) => {
                        seen += 14 + rec.frame.len();
                        let _ = SpecialFrame::classify(rec.frame);
                    }
                    Err(_) => break,
                }
            }
            assert!(seen <= body.len());
        }
    };
    let mut runs = hammer(&inputs, &mut rng, 1, 100, check);
    for _ in 0..3000 {
        let b = random_bytes(&mut rng, 120);
        check(&b);
        let _ = SleeveControl::decode(b.first().copied().unwrap_or(0), &b);
        let _ = OverlayControl::decode(&b);
        runs += 1;
    }
    assert!(runs > 5000, "{runs}");
}
