//! Any bytes as a CNI plugin's stdin: the network configuration with its typed keys, the
//! declared version, the `prevResult` of that version, and the result written back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = weave_cli::cni::decode_all(data);
});
