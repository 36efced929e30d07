//! Differential: our XSalsa20-Poly1305 and Poly1305 against RustCrypto's on any key, nonce and
//! message, on both keystreams (AVX2 where the CPU has it, and the portable one); opening
//! refuses any flipped tag and restores the plaintext. Run it with large inputs too
//! (`-max_len=65536`): the keystream works in 512-byte batches and Poly1305 in 32-byte pairs.
#![no_main]
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use weave_crypto::{poly1305 as ours_poly, secretbox::SecretBox};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 56 {
        return;
    }
    let key: [u8; 32] = data[..32].try_into().unwrap();
    let nonce: [u8; 24] = data[32..56].try_into().unwrap();
    let (prefix, tail): ([u8; 16], [u8; 8]) = (nonce[..16].try_into().unwrap(), nonce[16..].try_into().unwrap());
    let msg = &data[56..];

    let want_poly: [u8; 16] = poly1305::Poly1305::new(&key.into()).compute_unpadded(msg).into();
    assert_eq!(ours_poly::tag(&key, msg), want_poly);

    let mut want = msg.to_vec();
    let want_tag = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
        .encrypt_in_place_detached((&nonce).into(), b"", &mut want)
        .unwrap();
    let sb = SecretBox::new(&key);
    let mut got = msg.to_vec();
    let tag = sb.seal_detached(&nonce, &mut got);
    assert_eq!(got, want);
    assert_eq!(tag[..], want_tag[..]);

    let mut bad = tag;
    bad[msg.len() % 16] ^= 1;
    assert!(!sb.open_detached(&nonce, &mut got, &bad));
    assert_eq!(got, want, "a refused box is left as it was");
    assert!(sb.open_detached(&nonce, &mut got, &tag));
    assert_eq!(got, msg);

    // The sleeve's form (one subkey per nonce prefix), on the portable keystream too.
    let fast = sb.with_nonce_prefix(&prefix);
    for b in [fast.clone().portable(), fast] {
        let mut got = msg.to_vec();
        assert_eq!(b.seal_detached(&tail, &mut got)[..], want_tag[..], "simd {}", b.has_simd());
        assert_eq!(got, want, "simd {}", b.has_simd());
        assert!(b.open_detached(&tail, &mut got, &tag));
        assert_eq!(got, msg);
    }
});
