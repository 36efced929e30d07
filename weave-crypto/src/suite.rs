//! One seal/open for a connection's sleeve whatever cipher it negotiated: Weave's NaCl
//! ([`crate::sleeve`]) or the weave-to-weave AEAD ([`crate::aead`]). Both take the packet after
//! the sender name, in place, with the same 24-byte prefix, so the datapath does not care.

use std::ops::Range;

use crate::aead::{AeadDecryptor, AeadEncryptor, Binding, SleeveCipher};
use crate::sleeve::{SleeveDecryptor, SleeveEncryptor};
use crate::{CryptoError, SessionKey};

/// The two ends of a connection as the keys see them.
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    pub us: [u8; 6],
    pub peer: [u8; 6],
    /// We dialled the TCP connection (NaCl's nonce polarity).
    pub outbound: bool,
}

/// Seals one path's packets.
#[derive(Debug)]
pub enum PacketSealer {
    Nacl(SleeveEncryptor),
    /// Boxed: ring's expanded AES keys and GHASH tables make it large.
    Aead(Box<AeadEncryptor>),
}

impl PacketSealer {
    pub fn new(key: &SessionKey, cipher: SleeveCipher, binding: &Binding, ends: Ends, df: bool) -> Self {
        match cipher {
            SleeveCipher::Nacl => PacketSealer::Nacl(SleeveEncryptor::new(key, ends.outbound, df)),
            SleeveCipher::Aead(s) => {
                PacketSealer::Aead(Box::new(AeadEncryptor::new(key, binding, s, ends.us, ends.peer, df)))
            }
        }
    }

    /// Seals `buf` = `[8][16][plaintext]` in place; returns the clear 8-byte header.
    pub fn seal_in_place(&mut self, buf: &mut [u8]) -> Result<u64, CryptoError> {
        match self {
            PacketSealer::Nacl(e) => e.seal_in_place(buf),
            PacketSealer::Aead(e) => e.seal_in_place(buf),
        }
    }
}

/// Opens both paths' packets from the peer, with replay protection.
#[derive(Debug)]
pub enum PacketOpener {
    Nacl(SleeveDecryptor),
    /// Boxed: up to three keys per path.
    Aead(Box<AeadDecryptor>),
}

impl PacketOpener {
    pub fn new(key: &SessionKey, cipher: SleeveCipher, binding: &Binding, ends: Ends) -> Self {
        match cipher {
            SleeveCipher::Nacl => PacketOpener::Nacl(SleeveDecryptor::new(key, ends.outbound)),
            SleeveCipher::Aead(s) => {
                PacketOpener::Aead(Box::new(AeadDecryptor::new(key, binding, s, ends.us, ends.peer)))
            }
        }
    }

    /// `Ok(Some(range))`: the plaintext is `buf[range]`; `Ok(None)`: a replay or too old.
    pub fn open_in_place(&mut self, buf: &mut [u8]) -> Result<Option<Range<usize>>, CryptoError> {
        match self {
            PacketOpener::Nacl(d) => d.open_in_place(buf),
            PacketOpener::Aead(d) => d.open_in_place(buf),
        }
    }
}
