//! Property tests: random types and values survive encode -> decode, re-encoding is stable, and
//! the decoder never panics on mutated or truncated streams.

use super::random::{gen_type, gen_value, mutate, wire_normal, Rng};
use crate::gob::{decode_all, fuzz_decode, Encoder, Type, Value};

fn random_stream(seed: u64) -> (Vec<(Type, Value)>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let first_id = 64 + rng.below(200) as i64;
    let mut enc = Encoder::with_first_type_id(first_id).unwrap();
    let shared = gen_type(&mut rng, 4);
    let mut items = Vec::new();
    for _ in 0..1 + rng.below(3) {
        // Mostly repeat one type, so definitions must be sent once and reused.
        let ty = if rng.below(3) == 0 { gen_type(&mut rng, 4) } else { shared.clone() };
        let value = gen_value(&mut rng, &ty);
        enc.encode(&ty, &value).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        items.push((ty, value));
    }
    (items, enc.finish())
}

#[test]
fn random_values_round_trip() {
    for seed in 0..3000 {
        let (items, bytes) = random_stream(seed);
        let decoded = decode_all(&bytes).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let expected: Vec<_> = items.iter().map(|(t, v)| (t.clone(), wire_normal(v))).collect();
        assert_eq!(decoded, expected, "seed {seed}");
    }
}

#[test]
fn reencoding_a_decoded_stream_is_byte_identical() {
    for seed in 0..1000 {
        let (_, bytes) = random_stream(seed);
        let mut dec = crate::gob::Decoder::new(&bytes);
        let mut items = Vec::new();
        while let Some(item) = dec.next().unwrap() {
            items.push(item);
        }
        let first = dec.wire_types().iter().map(|(id, _)| *id).min();
        let mut enc = match first {
            Some(id) => Encoder::with_first_type_id(id).unwrap(),
            None => Encoder::new(),
        };
        for (ty, value) in &items {
            enc.encode(ty, value).unwrap();
        }
        assert_eq!(enc.finish(), bytes, "seed {seed}");
    }
}

#[test]
fn decoder_survives_mutated_streams() {
    let mut rng = Rng::new(7);
    for seed in 0..500 {
        let (_, bytes) = random_stream(seed);
        for _ in 0..20 {
            fuzz_decode(&mutate(&mut rng, &bytes));
        }
        for cut in 0..bytes.len() {
            // Every proper prefix either fails or yields fewer complete values.
            let _ = decode_all(&bytes[..cut]);
        }
    }
}

#[test]
fn decoder_survives_random_bytes() {
    let mut rng = Rng::new(99);
    for _ in 0..20_000 {
        let len = rng.below(40) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        fuzz_decode(&bytes);
    }
}
