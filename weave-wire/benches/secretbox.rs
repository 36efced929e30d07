//! Throughput of the secretbox (the sleeve's per-packet crypto), against the RustCrypto one.
//! Run with `cargo bench -p weave-wire --bench secretbox`.

use std::time::Instant;

fn main() {
    let key = [7u8; 32];
    let nonce = [9u8; 24];
    for size in [1438usize, 9000, 65000] {
        let mut buf = vec![0u8; size];
        let sb = weave_wire::crypto::secretbox::SecretBox::new(&key);
        let iters = (256 << 20) / size;
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(sb.seal_detached(&nonce, &mut buf));
        }
        let ours = (iters * size) as f64 / t.elapsed().as_secs_f64() / 1e9;
        use crypto_secretbox::aead::{AeadInPlace, KeyInit};
        let rc = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(rc.encrypt_in_place_detached((&nonce).into(), b"", &mut buf).unwrap());
        }
        let theirs = (iters * size) as f64 / t.elapsed().as_secs_f64() / 1e9;
        println!("{size:>6} bytes: ours {ours:.2} GB/s, RustCrypto {theirs:.2} GB/s ({:.1}x)", ours / theirs);
    }
}
