//! Any bytes as a DNS request to weaveDNS.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weave_fuzz::within(weave_fuzz::default_bound(data.len()), || weave_dns::fuzz_answer(data))
});
