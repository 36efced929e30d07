//! Any bytes as a gob stream: decoding must return values or errors, never panic or hang, and
//! allocate no more than the decoder's budget for the input's size.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weave_fuzz::within(weave_fuzz::gob_bound(data.len()), || weave_wire::gob::fuzz_decode(data))
});
