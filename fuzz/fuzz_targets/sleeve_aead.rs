//! The negotiated sleeve AEAD's opener on anything the network can send: any bytes after the
//! sender name, for both suites and both paths. It must never panic, and a packet our sealer
//! made must open to what was sealed after whatever came before it (unless replayed).
#![no_main]
use weave_crypto::aead::{Binding, SleeveCipher, Suite};
use weave_crypto::suite::{Ends, PacketOpener, PacketSealer};
use weave_crypto::SessionKey;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&first, packet)) = data.split_first() else { return };
    let suite = Suite::ALL[(first & 1) as usize];
    let key = SessionKey::from_bytes([3; 32]);
    let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let binding = Binding::new((a, "x"), (b, "y"));
    let cipher = SleeveCipher::Aead(suite);
    let mut dec = PacketOpener::new(&key, cipher, &binding, Ends { us: b, peer: a, outbound: false });
    let _ = dec.open_in_place(&mut packet.to_vec());
    let mut enc = PacketSealer::new(&key, cipher, &binding, Ends { us: a, peer: b, outbound: true }, first & 2 != 0);
    let mut sealed = vec![0u8; 24];
    sealed.extend_from_slice(packet);
    enc.seal_in_place(&mut sealed).unwrap();
    let mut buf = sealed.clone();
    // The forged packet may have claimed (and so used up) number 0 only if it was genuine,
    // which without the key it cannot be.
    let r = dec.open_in_place(&mut buf).unwrap().expect("a genuine packet opens");
    assert_eq!(&buf[r], packet);
});
