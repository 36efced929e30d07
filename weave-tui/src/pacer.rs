//! When to redraw: only after something changed, and at most once per frame interval, however
//! fast events come (a burst from the events stream over a slow link is folded into one frame).
//! A key after a quiet spell draws at once. Pure: the caller says what time it is.

use std::time::{Duration, Instant};

/// The shortest time between two frames: at most 10 a second.
pub const FRAME: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
pub struct Pacer {
    last: Option<Instant>,
    dirty: bool,
    frames: u64,
}

/// What the loop should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Draw,
    /// Wait for an event, but no later than this to draw what changed.
    WaitUntil(Instant),
    /// Nothing to draw: wait for an event.
    Wait,
}

impl Pacer {
    /// The state changed (an event was folded in).
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    pub fn next(&self, now: Instant) -> Next {
        match self.last {
            _ if !self.dirty => Next::Wait,
            Some(t) if now < t + FRAME => Next::WaitUntil(t + FRAME),
            _ => Next::Draw,
        }
    }

    /// A frame was drawn at `now`.
    pub fn drew(&mut self, now: Instant) {
        self.last = Some(now);
        self.dirty = false;
        self.frames += 1;
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the loop's decisions over `events` (times after start) for `secs`, drawing whenever
    /// told to; returns the frames drawn.
    fn frames_for(events: &[Duration], secs: u64) -> u64 {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        p.changed();
        let end = t0 + Duration::from_secs(secs);
        let mut now = t0;
        let mut pending = events.iter().map(|d| t0 + *d).peekable();
        while now < end {
            match p.next(now) {
                Next::Draw => p.drew(now),
                Next::WaitUntil(t) => {
                    // An event may come first.
                    now = pending.peek().copied().filter(|e| *e < t).unwrap_or(t);
                    if pending.peek() == Some(&now) {
                        pending.next();
                        p.changed();
                    }
                }
                Next::Wait => match pending.next() {
                    Some(e) => {
                        now = e;
                        p.changed();
                    }
                    None => break,
                },
            }
        }
        p.frames()
    }

    #[test]
    fn a_storm_of_events_draws_at_most_ten_frames_a_second() {
        // 10,000 events in 2 s.
        let storm: Vec<Duration> = (0..10_000).map(|i| Duration::from_micros(i * 200)).collect();
        let frames = frames_for(&storm, 3);
        assert!(frames <= 21 + 1, "{frames} frames");
        assert!(frames >= 19, "still drawn while it lasts: {frames}");
    }

    #[test]
    fn nothing_changed_draws_nothing_and_a_lone_change_draws_at_once() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        assert_eq!(p.next(t0), Next::Wait);
        p.changed();
        assert_eq!(p.next(t0), Next::Draw);
        p.drew(t0);
        assert_eq!(p.next(t0 + Duration::from_secs(5)), Next::Wait);
        // A key right after a frame waits for the interval; after a quiet spell it does not.
        p.changed();
        assert_eq!(p.next(t0 + Duration::from_millis(30)), Next::WaitUntil(t0 + FRAME));
        assert_eq!(p.next(t0 + Duration::from_secs(1)), Next::Draw);
    }
}
