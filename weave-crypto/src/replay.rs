//! Weave's replay protection for sleeve packets (`NaClDecryptorInstance.advanceState`): sequence
//! numbers are tracked in windows of 2^20; two bitsets hold the current window (the one with
//! the highest number seen) and the previous one. Older packets are dropped, as are duplicates;
//! moving one window ahead shifts the sets, jumping further clears both.
//!
//! The bitsets are allocated once (2 × 128 KiB); nothing allocates afterwards.

/// Window size in bits of sequence number (Weave's `WindowSize`).
pub const WINDOW_BITS: u32 = 20;
const WORDS: usize = (1 << WINDOW_BITS) / 64;

pub struct ReplayWindow {
    current_window: u64,
    current: Box<[u64]>,
    previous: Box<[u64]>,
}

impl std::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayWindow").field("current_window", &self.current_window).finish_non_exhaustive()
    }
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    pub fn new() -> ReplayWindow {
        ReplayWindow {
            current_window: 0,
            current: vec![0; WORDS].into_boxed_slice(),
            previous: vec![0; WORDS].into_boxed_slice(),
        }
    }

    /// Records `seq` (63 bits; the DF bit must be masked off) and says whether the packet is
    /// new. Call only after the packet authenticated: a forged high number would otherwise
    /// slide the window past every genuine packet.
    pub fn accept(&mut self, seq: u64) -> bool {
        let offset = (seq & ((1 << WINDOW_BITS) - 1)) as usize;
        let window = seq >> WINDOW_BITS;
        // Both are below 2^43, so the difference fits an i64.
        let delta = window as i64 - self.current_window as i64;
        let set = match delta {
            ..=-2 => return false,
            -1 => &mut self.previous,
            0 => &mut self.current,
            1 => {
                self.current_window = window;
                std::mem::swap(&mut self.current, &mut self.previous);
                self.current.fill(0);
                &mut self.current
            }
            _ => {
                self.current_window = window;
                self.previous.fill(0);
                self.current.fill(0);
                &mut self.current
            }
        };
        let (word, bit) = (offset / 64, 1u64 << (offset % 64));
        // offset < 2^20, so word < WORDS.
        let slot = &mut set[word];
        if *slot & bit != 0 {
            return false;
        }
        *slot |= bit;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = 1 << WINDOW_BITS;

    #[test]
    fn duplicates_and_windows() {
        let mut r = ReplayWindow::new();
        assert!(r.accept(0));
        assert!(!r.accept(0));
        assert!(r.accept(5));
        assert!(r.accept(2));
        assert!(r.accept(W + 1)); // next window: 0..W becomes the previous one
        assert!(!r.accept(5));
        assert!(r.accept(6));
        assert!(r.accept(2 * W)); // slides again: window 0 is now too old
        assert!(!r.accept(7));
        assert!(!r.accept(W + 1));
        assert!(r.accept(W + 2));
        assert!(r.accept(5 * W)); // jump of more than one window: both sets reset
        assert!(r.accept(4 * W + 1)); // previous window is empty after a reset
        assert!(!r.accept(3 * W));
        assert!(!r.accept(5 * W));
        assert!(r.accept((1 << 63) - 1));
        assert!(!r.accept(0));
    }
}
