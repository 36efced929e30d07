//! A small seeded generator of random gob types, values and byte mutations (no extra crates), for
//! the property tests. Failures print the seed, so a case can be replayed.

use crate::gob::{Type, Value};

/// xorshift64*: tiny, deterministic, good enough for test data.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub(crate) fn gen_type(rng: &mut Rng, depth: u32) -> Type {
    if depth == 0 || rng.below(3) == 0 {
        return rng
            .pick(&[Type::Bool, Type::Int, Type::Uint, Type::Float, Type::Bytes, Type::String])
            .clone();
    }
    match rng.below(4) {
        0 => Type::slice(gen_type(rng, depth - 1)),
        1 => Type::array(rng.below(4) as usize, gen_type(rng, depth - 1)),
        2 => Type::map(gen_type(rng, depth - 1), gen_type(rng, depth - 1)),
        _ => {
            let name = rng.pick(&["", "S", "peerSummary", "entry"]).to_string();
            let n = rng.below(6);
            let fields = (0..n)
                .map(|i| {
                    let base = rng.pick(&["Name", "UID", "Version", "X", "Ünïcode"]);
                    (format!("{base}{i}").into(), gen_type(rng, depth - 1))
                })
                .collect();
            Type::Struct { name: name.into(), fields }
        }
    }
}

fn gen_u64(rng: &mut Rng) -> u64 {
    match rng.below(5) {
        0 => 0,
        1 => rng.below(128),
        2 => *rng.pick(&[127, 128, 255, 256, u64::MAX, 1 << 63]),
        _ => rng.next_u64() >> rng.below(64),
    }
}

pub(crate) fn gen_value(rng: &mut Rng, ty: &Type) -> Value {
    match ty {
        Type::Bool => Value::Bool(rng.below(2) == 1),
        Type::Int => Value::Int(gen_u64(rng) as i64),
        Type::Uint => Value::Uint(gen_u64(rng)),
        Type::Float => {
            let x = match rng.below(4) {
                0 => *rng.pick(&[0.0, -0.0, 1.0, 17.0, f64::INFINITY, f64::MIN]),
                1 => rng.below(1000) as f64 - 500.0,
                _ => f64::from_bits(rng.next_u64()),
            };
            Value::Float(if x.is_nan() { 0.5 } else { x })
        }
        Type::Bytes => Value::Bytes((0..rng.below(6)).map(|_| rng.next_u64() as u8).collect()),
        Type::String => {
            let n = rng.below(6);
            Value::String((0..n).map(|_| *rng.pick(&['a', 'Z', '0', ' ', 'é', '☃'])).collect())
        }
        Type::Slice(e) => Value::Slice((0..rng.below(4)).map(|_| gen_value(rng, e)).collect()),
        Type::Array(n, e) => Value::Array((0..*n).map(|_| gen_value(rng, e)).collect()),
        Type::Map(k, v) => {
            Value::Map((0..rng.below(4)).map(|_| (gen_value(rng, k), gen_value(rng, v))).collect())
        }
        Type::Struct { fields, .. } => {
            let mut present = Vec::new();
            for (name, fty) in fields.iter() {
                if rng.below(3) != 0 {
                    present.push((name.clone(), gen_value(rng, fty)));
                }
            }
            Value::Struct(present)
        }
    }
}

/// What decoding the encoding of `v` gives: struct fields Go omits are gone, at every level.
pub(crate) fn wire_normal(v: &Value) -> Value {
    match v {
        Value::Struct(fields) => Value::Struct(
            fields
                .iter()
                .filter(|(_, fv)| !fv.omitted_as_field())
                .map(|(n, fv)| (n.clone(), wire_normal(fv)))
                .collect(),
        ),
        Value::Slice(items) => Value::Slice(items.iter().map(wire_normal).collect()),
        Value::Array(items) => Value::Array(items.iter().map(wire_normal).collect()),
        Value::Map(entries) => {
            Value::Map(entries.iter().map(|(k, v)| (wire_normal(k), wire_normal(v))).collect())
        }
        other => other.clone(),
    }
}

/// Flips, inserts, deletes or overwrites a few bytes, or truncates.
pub(crate) fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len() as u64;
        let at = rng.below(len + 1) as usize;
        match rng.below(6) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 => out.insert(at, rng.next_u64() as u8),
            2 if at < out.len() => {
                out.remove(at);
            }
            3 if at < out.len() => out[at] = *rng.pick(&[0x00, 0x7f, 0x80, 0xf8, 0xff, 0x01]),
            4 => out.truncate(at),
            _ if at < out.len() => out[at] = rng.next_u64() as u8,
            _ => {}
        }
    }
    out
}
