//! Shared by the vector tests: reading the golden vector files, a seeded random generator,
//! and rendering values in the notation of the files' comment lines.
#![allow(dead_code)]

use std::path::PathBuf;

/// One record: the comment line above it and its data fields.
pub struct Record {
    pub comment: String,
    pub wire: Vec<u8>,
    /// `(nonce, plaintext)` in the known-key files.
    pub secret: Option<(Vec<u8>, Vec<u8>)>,
}

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/weave-2.8")
}

pub fn read(rel: &str) -> Vec<u8> {
    let path = vectors_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn unhex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() % 2, 0, "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

/// Every data line of a `.hex` file, with the comment line just above it.
pub fn load(rel: &str) -> Vec<Record> {
    let text = String::from_utf8(read(rel)).unwrap();
    let mut comment = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            comment = c.to_string();
        } else if !line.trim().is_empty() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let secret = match fields.len() {
                1 => None,
                3 => Some((unhex(fields[1]), unhex(fields[2]))),
                n => panic!("{rel}: data line with {n} fields"),
            };
            out.push(Record { comment: comment.clone(), wire: unhex(fields[0]), secret });
        }
    }
    out
}

/// The value of a flat `"key": "value"` (or number) entry of keys.json.
pub fn json_value(text: &str, key: &str) -> String {
    let pat = format!("\"{key}\":");
    let at = text.find(&pat).unwrap_or_else(|| panic!("{key} not in keys.json")) + pat.len();
    let rest = text[at..].trim_start();
    match rest.strip_prefix('"') {
        Some(s) => s[..s.find('"').unwrap()].to_string(),
        None => rest[..rest.find([',', '\n', '}']).unwrap()].trim().to_string(),
    }
}

pub fn key32(hex: &str) -> [u8; 32] {
    unhex(hex).try_into().expect("32-byte key")
}

/// xorshift64: reproducible "random" numbers for chunking and mutation.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    /// Random damage: flips, inserts, deletes and overwrites with edge values.
    pub fn mutate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut m = data.to_vec();
        for _ in 0..self.range(1, 4) {
            let at = self.range(0, m.len());
            match self.next() % 4 {
                0 if at < m.len() => m[at] ^= 1 << (self.next() % 8),
                1 => m.insert(at, self.next() as u8),
                2 if at < m.len() => {
                    m.remove(at);
                }
                _ if at < m.len() => m[at] = [0x00, 0x7f, 0x80, 0xf8, 0xff][self.range(0, 4)],
                _ => {}
            }
        }
        m
    }
}

pub fn mac(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

/// The text after `key=N: ` in a comment (the decoded meaning of the record).
pub fn after_len<'a>(comment: &'a str, key: &str) -> &'a str {
    let rest = &comment[comment.find(key).expect("length key in comment")..];
    &rest[rest.find(": ").expect("description") + 2..]
}

/// A `key=value` token of a comment.
pub fn token<'a>(comment: &'a str, key: &str) -> &'a str {
    let pat = format!("{key}=");
    let at = comment.find(&pat).unwrap_or_else(|| panic!("{key}= not in {comment}")) + pat.len();
    let rest = &comment[at..];
    &rest[..rest.find([' ', ')']).unwrap_or(rest.len())]
}
