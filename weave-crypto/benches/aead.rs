//! Sleeve packet sealing per cipher, through the API the datapath uses: NaCl (Weave's), and
//! the negotiated AES-256-GCM and ChaCha20-Poly1305 (ring). Prints GB/s per core and ratios
//! to NaCl, so the suite choice (AES first only with AES instructions) rests on a measurement.
//! Run with `cargo bench -p weave-crypto --bench aead`.

use std::time::Instant;
use weave_crypto::aead::{hardware_aes, Binding, SleeveCipher, Suite};
use weave_crypto::suite::{Ends, PacketSealer};
use weave_crypto::SessionKey;

/// GB/s of sealing `size`-byte packets, 256 MiB in all.
fn rate(size: usize, sealer: &mut PacketSealer) -> f64 {
    let mut buf = vec![0u8; 24 + size];
    let iters = (256 << 20) / size;
    let t = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(sealer.seal_in_place(&mut buf).unwrap());
    }
    (iters * size) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let key = SessionKey::from_bytes([7; 32]);
    let binding = Binding::new(([2, 0, 0, 0, 0, 1], "x"), ([2, 0, 0, 0, 0, 2], "y"));
    let ends = Ends { us: [2, 0, 0, 0, 0, 1], peer: [2, 0, 0, 0, 0, 2], outbound: true };
    println!("hardware AES: {}", hardware_aes());
    for size in [1400usize, 8972, 65000] {
        let mut row = Vec::new();
        for cipher in [
            SleeveCipher::Nacl,
            SleeveCipher::Aead(Suite::Aes256Gcm),
            SleeveCipher::Aead(Suite::ChaCha20Poly1305),
        ] {
            let mut s = PacketSealer::new(&key, cipher, &binding, ends, true);
            row.push((cipher.name(), rate(size, &mut s)));
        }
        let nacl = row[0].1;
        let line: Vec<String> =
            row.iter().map(|(n, r)| format!("{n} {r:.2} GB/s ({:.1}x)", r / nacl)).collect();
        println!("{size:>6} bytes: {}", line.join(", "));
    }
}
