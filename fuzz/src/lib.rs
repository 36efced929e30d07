//! What every fuzz target shares: a counting allocator, and [`within`], which runs one input's
//! decoding with at most a bound proportional to the input's size allocatable. Going over it
//! fails the allocation, which aborts: libFuzzer reports a crash and keeps the input.

use std::alloc::System;

use cap::Cap;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// The most a decoder may allocate for `len` input bytes, unless a target says otherwise: a
/// fixed 1 MiB plus 64 bytes per input byte.
pub const fn default_bound(len: usize) -> usize {
    (1 << 20) + 64 * len
}

/// Runs `f` with at most `bound` more bytes allocatable than are allocated now.
pub fn within(bound: usize, f: impl FnOnce()) {
    let base = ALLOC.allocated();
    ALLOC.set_limit(base.saturating_add(bound)).expect("limit above what is allocated");
    f();
    ALLOC.set_limit(usize::MAX).expect("lifting the limit");
}

/// The gob decoder's own budget (with `Vec` growth rounding it up to twice) plus 1 MiB.
pub fn gob_bound(len: usize) -> usize {
    (1 << 20) + 2 * weave_wire::gob::memory_budget(len) as usize
}
