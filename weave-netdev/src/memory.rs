//! Handing freed heap memory back to the kernel.
//!
//! glibc's malloc keeps what a burst freed (a big mesh forming decodes many large topology
//! messages at once, on several threads, each with an arena of its own) and the daemon's
//! resident size stays at the burst's peak. `release_free` returns those pages, and
//! `limit_arenas` keeps the number of arenas (each with free memory of its own) small.

/// Returns the allocator's free pages to the kernel; the bytes resident before and after are
/// not measured here (read /proc/self/status). A no-op where the C library is not glibc.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only rearranges the allocator's own free
    // lists under its locks; glibc documents it as safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Caps glibc's malloc arenas at `max`: by default it makes up to 8 per core, one for each
/// thread that finds the others busy, and a daemon whose blocking pool grew during a burst
/// keeps each one's free memory. Call before other threads start. False where it did not
/// apply (not glibc, or glibc refused).
pub fn limit_arenas(max: i32) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointers; it sets a tunable that glibc reads when a thread
    // looks for an arena, under the allocator's own locks.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, max) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = max;
        false
    }
}

#[cfg(test)]
mod tests {
    fn anon_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    #[cfg(target_env = "gnu")]
    fn freed_small_allocations_stop_counting_as_resident() {
        // Many small blocks (below the mmap threshold, so they come from an arena), touched,
        // then freed but for every 64th one, which keeps the arena from shrinking on its own.
        let mut blocks: Vec<Vec<u8>> = (0..64 * 1024).map(|i| vec![i as u8; 1000]).collect();
        let kept: Vec<Vec<u8>> = blocks.iter().step_by(64).cloned().collect();
        blocks.clear();
        blocks.shrink_to_fit();
        let before = anon_kib();
        super::release_free();
        let after = anon_kib();
        assert!(
            after + 16 * 1024 < before,
            "resident anonymous memory {before} KiB before, {after} KiB after"
        );
        drop(kept);
    }
}
