//! Known answers from libsodium's test suite and RFC 8439 (testdata/crypto, see its README):
//! HSalsa20, the XSalsa20 keystream (portable and AVX2, across the block counter's 32-bit
//! carry), secretbox, the box key agreement, and Poly1305.

use sha2::{Digest, Sha256};

use crate::key::{hsalsa20, KeyPair};
use crate::poly1305;
use crate::secretbox::{PrefixedBox, SecretBox};

/// One record of a vector file: its `name = value` fields.
pub struct Record {
    line: usize,
    fields: Vec<(String, String)>,
}

impl Record {
    fn text(&self, name: &str) -> &str {
        let found = self.fields.iter().find(|(n, _)| n == name);
        &found.unwrap_or_else(|| panic!("record at line {} has no {name}", self.line)).1
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        let s = self.text(name);
        assert_eq!(s.len() % 2, 0, "odd hex length in {name} at line {}", self.line);
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    fn array<const N: usize>(&self, name: &str) -> [u8; N] {
        self.bytes(name)
            .try_into()
            .unwrap_or_else(|_| panic!("{name} at line {} is not {N} bytes", self.line))
    }

    fn number(&self, name: &str) -> u64 {
        self.text(name).parse().expect("a decimal number")
    }

    fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }
}

/// The records of `testdata/crypto/<file>`.
pub fn records(file: &str) -> Vec<Record> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/crypto").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut current: Option<Record> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            out.extend(current.take());
        } else if !line.starts_with('#') {
            let (name, value) =
                line.split_once(" = ").unwrap_or_else(|| panic!("{file}:{}: not name = value", i + 1));
            let r = current.get_or_insert_with(|| Record { line: i + 1, fields: Vec::new() });
            r.fields.push((name.to_string(), value.to_string()));
        }
    }
    out.extend(current);
    assert!(!out.is_empty(), "{file} holds no vectors");
    out
}

/// Both keystream versions: AVX2 (where the CPU has it) and portable.
fn versions(key: &[u8; 32], prefix: &[u8; 16]) -> Vec<PrefixedBox> {
    let b = SecretBox::new(key).with_nonce_prefix(prefix);
    let mut v = vec![b.clone().portable()];
    if b.has_simd() {
        v.push(b);
    }
    v
}

fn split_nonce(r: &Record) -> ([u8; 16], [u8; 8]) {
    let nonce: [u8; 24] = r.array("nonce");
    (nonce[..16].try_into().unwrap(), nonce[16..].try_into().unwrap())
}

#[test]
fn hsalsa20_libsodium() {
    let rs = records("hsalsa20.txt");
    assert_eq!(rs.len(), 2);
    for r in rs {
        assert_eq!(*hsalsa20(&r.array("key"), &r.array("input")), r.array::<32>("output"), "line {}", r.line);
    }
}

#[test]
fn xsalsa20_libsodium() {
    let rs = records("xsalsa20.txt");
    assert_eq!(rs.len(), 20);
    for r in rs {
        let (prefix, tail) = split_nonce(&r);
        for b in versions(&r.array("key"), &prefix) {
            let simd = b.has_simd();
            if r.has("sha256") {
                let mut stream = vec![0u8; r.number("length") as usize];
                b.xor_ic(&tail, r.number("counter"), &mut stream);
                let digest: [u8; 32] = Sha256::digest(&stream).into();
                assert_eq!(digest, r.array::<32>("sha256"), "line {}, simd {simd}", r.line);
            } else {
                let want = r.bytes("stream");
                let mut stream = vec![0u8; want.len()];
                b.xor_ic(&tail, r.number("counter"), &mut stream);
                assert_eq!(stream, want, "line {}, simd {simd}", r.line);
            }
        }
    }
}

#[test]
fn secretbox_libsodium() {
    let rs = records("secretbox.txt");
    assert_eq!(rs.len(), 1);
    for r in rs {
        let (key, nonce, message, boxed) =
            (r.array("key"), r.array("nonce"), r.bytes("message"), r.bytes("boxed"));
        let (prefix, tail) = split_nonce(&r);
        for b in versions(&key, &prefix) {
            let mut buf = message.clone();
            let tag = b.seal_detached(&tail, &mut buf);
            assert_eq!([&tag[..], &buf].concat(), boxed, "simd {}", b.has_simd());
            assert!(b.open_detached(&tail, &mut buf, &tag));
            assert_eq!(buf, message);
        }
        let mut buf = boxed[16..].to_vec();
        assert!(SecretBox::new(&key).open_detached(&nonce, &mut buf, &boxed[..16]));
        assert_eq!(buf, message);
    }
}

#[test]
fn box_key_agreement_libsodium() {
    let rs = records("box.txt");
    assert_eq!(rs.len(), 1);
    let r = &rs[0];
    let alice = KeyPair::from_private(r.array("alice_secret"));
    let bob = KeyPair::from_private(r.array("bob_secret"));
    assert_eq!(alice.public(), &r.array::<32>("alice_public"));
    assert_eq!(bob.public(), &r.array::<32>("bob_public"));
    let shared = r.array::<32>("shared");
    assert_eq!(x25519_dalek::x25519(r.array("alice_secret"), *bob.public()), shared);
    let beforenm = r.array::<32>("beforenm");
    assert_eq!(*hsalsa20(&shared, &[0; 16]), beforenm);
    assert_eq!(*alice.precompute(bob.public()).unwrap(), beforenm);
    assert_eq!(*bob.precompute(alice.public()).unwrap(), beforenm);

    let mut buf = r.bytes("message");
    let tag = SecretBox::new(&beforenm).seal_detached(&r.array("nonce"), &mut buf);
    assert_eq!([&tag[..], &buf].concat(), r.bytes("boxed"));
}

#[test]
fn poly1305_rfc8439_appendix_a3() {
    let rs = records("poly1305.txt");
    assert_eq!(rs.len(), 11);
    for r in rs {
        let (key, message) = (r.array("key"), r.bytes("message"));
        assert_eq!(poly1305::tag(&key, &message), r.array::<16>("tag"), "line {}", r.line);
    }
}
