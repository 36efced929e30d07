use std::collections::HashSet;

use super::*;
use crate::replay::WINDOW_BITS;

const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];

fn key() -> SessionKey {
    SessionKey::from_bytes([7; 32])
}

fn binding() -> Binding {
    Binding::new((A, "aes-256-gcm chacha20-poly1305"), (B, "chacha20-poly1305 aes-256-gcm"))
}

fn seal(enc: &mut AeadEncryptor, plaintext: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; SEALED_PREFIX_LEN + plaintext.len()];
    buf[SEALED_PREFIX_LEN..].copy_from_slice(plaintext);
    enc.seal_in_place(&mut buf).unwrap();
    buf
}

fn open(dec: &mut AeadDecryptor, packet: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
    let mut buf = packet.to_vec();
    Ok(dec.open_in_place(&mut buf)?.map(|r| buf[r].to_vec()))
}

impl AeadEncryptor {
    /// Jumps the counter, as if that many packets had been sent.
    fn skip_to(&mut self, seq: u64) {
        self.seq = seq;
    }
}

#[test]
fn both_suites_seal_and_open_with_header_tag_and_ciphertext_in_place() {
    for suite in Suite::ALL {
        let mut enc = AeadEncryptor::new(&key(), &binding(), suite, A, B, false);
        let mut enc_df = AeadEncryptor::new(&key(), &binding(), suite, A, B, true);
        let mut dec = AeadDecryptor::new(&key(), &binding(), suite, B, A);
        let a = seal(&mut enc, b"frames");
        let b = seal(&mut enc_df, b"df frames");
        assert_eq!(&a[..8], &0u64.to_be_bytes(), "{suite:?}");
        assert_eq!(&b[..8], &DF_BIT.to_be_bytes(), "{suite:?}");
        assert_eq!(a.len(), SEALED_PREFIX_LEN + 6);
        assert_ne!(&a[SEALED_PREFIX_LEN..], b"frames", "{suite:?}: the payload is encrypted");
        assert_eq!(open(&mut dec, &b).unwrap().unwrap(), b"df frames");
        assert_eq!(open(&mut dec, &a).unwrap().unwrap(), b"frames");
        assert_eq!(seal(&mut enc, b"x")[..8], 1u64.to_be_bytes());
    }
}

#[test]
fn tampering_anywhere_is_rejected_and_leaves_the_window_untouched() {
    for suite in Suite::ALL {
        let mut enc = AeadEncryptor::new(&key(), &binding(), suite, A, B, false);
        let mut dec = AeadDecryptor::new(&key(), &binding(), suite, B, A);
        let good = seal(&mut enc, &[0x55; 100]);
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            assert_eq!(open(&mut dec, &bad), Err(CryptoError::UdpDecrypt), "{suite:?} byte {at}");
        }
        // Claiming the DF path changes the nonce.
        let mut bad = good.clone();
        bad[0] ^= 0x80;
        assert_eq!(open(&mut dec, &bad), Err(CryptoError::UdpDecrypt));
        assert_eq!(open(&mut dec, &good[..7]), Err(CryptoError::UdpTooShort(7)));
        assert_eq!(open(&mut dec, &good[..20]), Err(CryptoError::UdpDecrypt));
        assert_eq!(open(&mut dec, &good[..good.len() - 1]), Err(CryptoError::UdpDecrypt));
        // None of that consumed the genuine packet's number.
        assert_eq!(open(&mut dec, &good).unwrap().unwrap(), vec![0x55; 100]);
    }
}

#[test]
fn replays_and_reordering_beyond_the_window_are_dropped() {
    for suite in Suite::ALL {
        let mut enc = AeadEncryptor::new(&key(), &binding(), suite, A, B, false);
        let mut dec = AeadDecryptor::new(&key(), &binding(), suite, B, A);
        let p0 = seal(&mut enc, b"zero");
        let p1 = seal(&mut enc, b"one");
        assert_eq!(open(&mut dec, &p1).unwrap().unwrap(), b"one");
        assert_eq!(open(&mut dec, &p1), Ok(None), "{suite:?}: replay");
        // Reordered within the window: accepted once.
        assert_eq!(open(&mut dec, &p0).unwrap().unwrap(), b"zero");
        assert_eq!(open(&mut dec, &p0), Ok(None));
        let late = seal(&mut enc, b"late");
        // Two replay windows further on, the held-back packet is too old.
        enc.skip_to(3 << WINDOW_BITS);
        let ahead = seal(&mut enc, b"ahead");
        assert_eq!(open(&mut dec, &ahead).unwrap().unwrap(), b"ahead");
        assert_eq!(open(&mut dec, &late), Ok(None), "{suite:?}: beyond the window");
    }
}

#[test]
fn each_direction_and_binding_has_its_own_keys() {
    let suite = Suite::Aes256Gcm;
    let mut ab = AeadEncryptor::new(&key(), &binding(), suite, A, B, false);
    let mut ba = AeadEncryptor::new(&key(), &binding(), suite, B, A, false);
    let p_ab = seal(&mut ab, b"same");
    let p_ba = seal(&mut ba, b"same");
    // Same counter, same plaintext, other direction: other key.
    assert_ne!(p_ab, p_ba);
    // Our own packets do not open as the peer's.
    let mut at_a = AeadDecryptor::new(&key(), &binding(), suite, A, B);
    assert_eq!(open(&mut at_a, &p_ab), Err(CryptoError::UdpDecrypt));
    assert_eq!(open(&mut at_a, &p_ba).unwrap().unwrap(), b"same");
    // Ends that saw different offers (a stripped or altered offer) derive different keys.
    let other = Binding::new((A, "aes-256-gcm"), (B, "chacha20-poly1305 aes-256-gcm"));
    let mut at_b = AeadDecryptor::new(&key(), &other, suite, B, A);
    assert_eq!(open(&mut at_b, &p_ab), Err(CryptoError::UdpDecrypt));
    // The other suite, or another session key, does not open it either.
    let mut chacha = AeadDecryptor::new(&key(), &binding(), Suite::ChaCha20Poly1305, B, A);
    assert_eq!(open(&mut chacha, &p_ab), Err(CryptoError::UdpDecrypt));
    let mut other_key = AeadDecryptor::new(&SessionKey::from_bytes([8; 32]), &binding(), suite, B, A);
    assert_eq!(open(&mut other_key, &p_ab), Err(CryptoError::UdpDecrypt));
    // The binding does not depend on which end computes it.
    assert!(
        binding() == Binding::new((B, "chacha20-poly1305 aes-256-gcm"), (A, "aes-256-gcm chacha20-poly1305"))
    );
}

/// With 8 packets per key: the sender moves to a new key at every multiple of 8, headers (and
/// so nonces) never repeat, the receiver opens the old and the new epoch during the overlap,
/// and packets more than one epoch old are dropped.
#[test]
fn rekeying_switches_epochs_with_overlap_and_never_repeats_a_nonce() {
    const BITS: u32 = 3;
    for suite in Suite::ALL {
        let mut enc = AeadEncryptor::with_epoch_bits(&key(), &binding(), suite, A, B, false, BITS);
        let mut enc_df = AeadEncryptor::with_epoch_bits(&key(), &binding(), suite, A, B, true, BITS);
        let mut dec = AeadDecryptor::with_epoch_bits(&key(), &binding(), suite, B, A, BITS);
        let mut headers = HashSet::new();
        let mut packets = Vec::new();
        for i in 0..40u64 {
            let p = seal(&mut enc, &i.to_be_bytes());
            assert_eq!(enc.epoch(), i >> BITS, "{suite:?}: sender epoch after packet {i}");
            assert!(headers.insert(u64::from_be_bytes(p[..8].try_into().unwrap())));
            packets.push(p);
            let q = seal(&mut enc_df, &i.to_be_bytes());
            assert!(headers.insert(u64::from_be_bytes(q[..8].try_into().unwrap())), "DF nonces are apart");
        }
        assert_eq!(headers.len(), 80);
        // Epoch 0 in order, except 6 and 7, which arrive after epoch 1 has begun.
        for (i, p) in packets.iter().enumerate().take(6) {
            assert_eq!(open(&mut dec, p).unwrap().unwrap(), (i as u64).to_be_bytes());
        }
        assert_eq!(dec.epoch(false), 0);
        for (i, p) in packets.iter().enumerate().take(11).skip(8) {
            assert_eq!(open(&mut dec, p).unwrap().unwrap(), (i as u64).to_be_bytes());
        }
        assert_eq!(dec.epoch(false), 1, "{suite:?}: the receiver switched");
        assert_eq!(dec.epoch(true), 0, "the DF path keeps its own epoch");
        for i in [7, 6] {
            assert_eq!(open(&mut dec, &packets[i]).unwrap().unwrap(), (i as u64).to_be_bytes(), "overlap");
        }
        assert_eq!(open(&mut dec, &packets[7]), Ok(None), "still a replay across epochs");
        // Epoch 3 straight after epoch 1 (all of epoch 2 lost): opened with a key derived for it.
        assert_eq!(open(&mut dec, &packets[25]).unwrap().unwrap(), 25u64.to_be_bytes());
        assert_eq!(dec.epoch(false), 3);
        // Epoch 1 is now two epochs old: dropped unopened.
        assert_eq!(open(&mut dec, &packets[11]), Ok(None));
        for (i, p) in packets.iter().enumerate().skip(26) {
            assert_eq!(open(&mut dec, p).unwrap().unwrap(), (i as u64).to_be_bytes());
        }
        assert_eq!(dec.epoch(false), 4);
    }
}

#[test]
fn epochs_have_distinct_keys() {
    let d = Deriver::new(&key(), &binding(), Suite::Aes256Gcm, A, B);
    let sealed = |epoch| {
        let mut buf = [0u8; 32];
        let tag = d.key(epoch).seal_in_place_separate_tag(nonce(0), Aad::empty(), &mut buf).unwrap();
        (buf, tag.as_ref().to_vec())
    };
    assert_ne!(sealed(0), sealed(1));
    assert_eq!(sealed(1), sealed(1));
}

#[test]
fn a_forged_packet_claiming_a_far_epoch_changes_nothing() {
    let suite = Suite::Aes256Gcm;
    let mut enc = AeadEncryptor::with_epoch_bits(&key(), &binding(), suite, A, B, false, 3);
    let mut dec = AeadDecryptor::with_epoch_bits(&key(), &binding(), suite, B, A, 3);
    let p0 = seal(&mut enc, b"a");
    let mut forged = p0.clone();
    forged[..8].copy_from_slice(&(9u64 << 3).to_be_bytes());
    assert_eq!(open(&mut dec, &forged), Err(CryptoError::UdpDecrypt));
    forged[..8].copy_from_slice(&(1u64 << 3).to_be_bytes());
    assert_eq!(open(&mut dec, &forged), Err(CryptoError::UdpDecrypt));
    assert_eq!(dec.epoch(false), 0);
    assert_eq!(open(&mut dec, &p0).unwrap().unwrap(), b"a");
}

#[test]
fn the_counter_never_wraps_into_the_df_bit() {
    let mut enc = AeadEncryptor::new(&key(), &binding(), Suite::Aes256Gcm, A, B, false);
    enc.skip_to(DF_BIT - 1);
    let mut buf = [0u8; 40];
    assert_eq!(enc.seal_in_place(&mut buf), Ok(DF_BIT - 1));
    assert_eq!(enc.seal_in_place(&mut buf), Err(CryptoError::Exhausted));
    assert!(enc.seal_in_place(&mut [0u8; 23]).is_err());
}

#[test]
fn negotiation_is_the_same_at_both_ends() {
    use Suite::*;
    let aes_first = [Aes256Gcm, ChaCha20Poly1305];
    let chacha_first = [ChaCha20Poly1305, Aes256Gcm];
    type Offer<'a> = Option<&'a [Suite]>;
    let cases: [(Offer, Offer, SleeveCipher); 7] = [
        (Some(&aes_first), Some(&aes_first), SleeveCipher::Aead(Aes256Gcm)),
        (Some(&chacha_first), Some(&chacha_first), SleeveCipher::Aead(ChaCha20Poly1305)),
        // The CPUs disagree: ChaCha20, fast in software everywhere.
        (Some(&aes_first), Some(&chacha_first), SleeveCipher::Aead(ChaCha20Poly1305)),
        (Some(&aes_first), Some(&[ChaCha20Poly1305]), SleeveCipher::Aead(ChaCha20Poly1305)),
        (Some(&aes_first), Some(&[]), SleeveCipher::Nacl),
        // A Weave Net peer, or --sleeve-cipher nacl, offers nothing.
        (Some(&aes_first), None, SleeveCipher::Nacl),
        (None, None, SleeveCipher::Nacl),
    ];
    for (a, b, want) in cases {
        assert_eq!(negotiate(a, b), want, "{a:?} {b:?}");
        assert_eq!(negotiate(b, a), want, "{b:?} {a:?}");
    }
    assert_eq!(parse_offer("rot13 aes-256-gcm  chacha20-poly1305"), aes_first);
    assert_eq!(parse_offer(&offer_value(&chacha_first)), chacha_first);
    assert_eq!(local_offer().len(), 2);
    assert_eq!(local_offer()[0] == Aes256Gcm, hardware_aes());
}
