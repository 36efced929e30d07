//! Shared by the integration tests: reading the golden vector files and small builders.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;

use weave_wire::PeerName;

pub const HOST_A: PeerName = PeerName(0x02_00_00_00_00_0a);
pub const HOST_B: PeerName = PeerName(0x02_00_00_00_00_0b);

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

/// One data line of a `.hex` file with the comment line above it.
pub struct Record {
    pub comment: String,
    /// The wire field, or the plaintext (third field) of encrypted records.
    pub body: Vec<u8>,
    pub encrypted: bool,
}

pub fn load(rel: &str) -> Vec<Record> {
    let text = String::from_utf8(read(rel)).unwrap();
    let mut comment = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            comment = c.to_string();
        } else if !line.trim().is_empty() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (body, encrypted) = match fields.len() {
                1 => (unhex(fields[0]), false),
                3 => (unhex(fields[2]), true),
                n => panic!("{rel}: data line with {n} fields"),
            };
            out.push(Record { comment: comment.clone(), body, encrypted });
        }
    }
    out
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
