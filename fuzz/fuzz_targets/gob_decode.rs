//! Any bytes as a gob stream: decoding must return values or errors, never panic or hang.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| weave_wire::gob::fuzz_decode(data));
