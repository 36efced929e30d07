//! Any bytes as a sleeve UDP payload: sender, frames, special frames, control messages.
#![no_main]
use weave_wire::sleeve::{frames, split_sender, OverlayControl, SpecialFrame};

libfuzzer_sys::fuzz_target!(|data: &[u8]| weave_fuzz::within(weave_fuzz::default_bound(data.len()), || {
    if let Ok((_, rest)) = split_sender(data) {
        for f in frames(rest).flatten() {
            let _ = SpecialFrame::classify(f.frame);
        }
    }
    let _ = OverlayControl::decode(data);
}));
