//! Any bytes as what follows the handshake on TCP 6783: framing, message tags, gossip
//! envelopes, the features map and topology payloads, within the gob decoder's memory budget.
#![no_main]
use weave_wire::protocol::{Features, FrameDecoder, Message};

libfuzzer_sys::fuzz_target!(|data: &[u8]| weave_fuzz::within(weave_fuzz::gob_bound(data.len()), || {
    let _ = Features::decode(data);
    let _ = weave_wire::topology::decode_topology(data);
    let mut dec = FrameDecoder::new();
    // Feed in two pieces so partial frames are exercised too.
    let (a, b) = data.split_at(data.len() / 2);
    for chunk in [a, b] {
        dec.push(chunk);
        while let Ok(Some(body)) = dec.next_frame() {
            if let Ok(Some(Message::Gossip(g))) = Message::decode(&body) {
                let _ = weave_wire::topology::decode_topology(&g.payload);
            }
        }
    }
}));
