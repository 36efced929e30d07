//! Any bytes as a `nameserver` gossip payload.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weave_fuzz::within(weave_fuzz::gob_bound(data.len()), || weave_dns::fuzz_gossip(data))
});
