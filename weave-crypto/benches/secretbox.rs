//! Throughput of the secretbox (the sleeve's per-packet crypto), against the RustCrypto one,
//! and of its Poly1305 alone. Run with `cargo bench -p weave-crypto --bench secretbox`.

use std::time::Instant;

/// GB/s of `f` run over `size`-byte messages, 256 MiB in all.
fn rate(size: usize, mut f: impl FnMut()) -> f64 {
    let iters = (256 << 20) / size;
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    (iters * size) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    use crypto_secretbox::aead::{AeadInPlace, KeyInit};
    let key = [7u8; 32];
    let nonce = [9u8; 24];
    for size in [1438usize, 9000, 65000] {
        let mut buf = vec![0u8; size];
        // As the sleeve does: the nonce prefix is fixed per connection and path.
        let sb = weave_crypto::secretbox::SecretBox::new(&key).with_nonce_prefix(&[9; 16]);
        let ours = rate(size, || {
            std::hint::black_box(sb.seal_detached(&[9; 8], &mut buf));
        });
        let rc = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
        let theirs = rate(size, || {
            std::hint::black_box(rc.encrypt_in_place_detached((&nonce).into(), b"", &mut buf).unwrap());
        });
        println!(
            "secretbox {size:>6} bytes: ours {ours:.2} GB/s, RustCrypto {theirs:.2} GB/s ({:.1}x)",
            ours / theirs
        );
    }
    for size in [1438usize, 65000] {
        let buf = vec![0u8; size];
        let ours = rate(size, || {
            std::hint::black_box(weave_crypto::poly1305::tag(&[3; 32], &buf));
        });
        let theirs = rate(size, || {
            let p = poly1305::Poly1305::new(&[3u8; 32].into());
            std::hint::black_box(p.compute_unpadded(&buf));
        });
        println!(
            "poly1305  {size:>6} bytes: ours {ours:.2} GB/s, poly1305 crate {theirs:.2} GB/s ({:.1}x)",
            ours / theirs
        );
    }
}
