//! Local bookkeeping of the addresses this peer owns (Weave's `ipam/space`): which are handed out
//! (`ours`) and which are free. Both are sorted boundary lists: even elements start a range,
//! odd elements end it (exclusive), neighbours coalesced.

use std::fmt;

use crate::address::{Address, Range};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Space {
    ours: Vec<Address>,
    free: Vec<Address>,
}

/// Errors with Weave's texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpaceError {
    #[error("Address {0} is not free to claim")]
    NotFree(Address),
    #[error("Address {0} is not ours")]
    NotOurs(Address),
    #[error("Address {0} is already free")]
    AlreadyFree(Address),
}

impl Space {
    pub fn new() -> Space {
        Space::default()
    }

    /// Adds `[start, start + size)` as free space.
    pub fn add(&mut self, start: Address, size: u32) {
        self.free = add(&self.free, start, start.offset(size));
    }

    /// Forgets everything (on shutdown).
    pub fn clear(&mut self) {
        self.ours.clear();
        self.free.clear();
    }

    /// Calls `f` on each free chunk clipped to `r`, in order, until it returns true.
    fn walk_free(&self, r: Range, mut f: impl FnMut(Range) -> bool) -> bool {
        if r.start >= r.end {
            return false;
        }
        for pair in self.free.chunks_exact(2) {
            let mut chunk = Range { start: pair[0], end: pair[1] };
            if chunk.end <= r.start {
                continue;
            }
            if chunk.start >= r.end {
                break;
            }
            chunk.start = chunk.start.max(r.start);
            chunk.end = chunk.end.min(r.end);
            if f(chunk) {
                return true;
            }
        }
        false
    }

    /// Takes the lowest free address in `r`.
    pub fn allocate(&mut self, r: Range) -> Option<Address> {
        let mut found = None;
        self.walk_free(r, |chunk| {
            found = Some(chunk.start);
            true
        });
        let addr = found?;
        self.take(addr);
        Some(addr)
    }

    fn take(&mut self, addr: Address) {
        self.ours = add(&self.ours, addr, addr.offset(1));
        self.free = subtract(&self.free, addr, addr.offset(1));
    }

    /// Takes a specific free address.
    pub fn claim(&mut self, addr: Address) -> Result<(), SpaceError> {
        if !contains(&self.free, addr) {
            return Err(SpaceError::NotFree(addr));
        }
        self.take(addr);
        Ok(())
    }

    /// Returns a handed-out address to the free pool.
    pub fn free(&mut self, addr: Address) -> Result<(), SpaceError> {
        if !contains(&self.ours, addr) {
            return Err(SpaceError::NotOurs(addr));
        }
        if contains(&self.free, addr) {
            return Err(SpaceError::AlreadyFree(addr));
        }
        self.ours = subtract(&self.ours, addr, addr.offset(1));
        self.free = add(&self.free, addr, addr.offset(1));
        Ok(())
    }

    /// Addresses handed out.
    pub fn num_owned_addresses(&self) -> u32 {
        total(&self.ours)
    }

    pub fn num_free_addresses(&self) -> u32 {
        total(&self.free)
    }

    pub fn num_free_addresses_in_range(&self, r: Range) -> u32 {
        let mut n = 0u32;
        self.walk_free(r, |chunk| {
            n = n.wrapping_add(chunk.size());
            false
        });
        n
    }

    /// The largest CIDR-aligned block of free space in `r` (the later one on ties).
    pub fn biggest_free_range(&self, r: Range) -> Range {
        let mut biggest = Range::default();
        self.walk_free(r, |chunk| {
            if chunk.size() >= biggest.size() {
                let block = chunk.biggest_cidr_range();
                if block.size() >= biggest.size() {
                    biggest = block;
                }
            }
            false
        });
        biggest
    }

    /// Gives away free space in `r` for another peer: the biggest free CIDR block, but no more
    /// than half the free space in `r` (then its upper half). `None` when nothing is free.
    pub fn donate(&mut self, r: Range) -> Option<Range> {
        let mut biggest = self.biggest_free_range(r);
        if biggest.size() == 0 {
            return None;
        }
        if biggest.size() > self.num_free_addresses_in_range(r) / 2 {
            // size/2 rounds down, so the donation rounds up and is never empty.
            biggest.start = biggest.start.offset(biggest.size() / 2);
        }
        self.ours = subtract(&self.ours, biggest.start, biggest.end);
        self.free = subtract(&self.free, biggest.start, biggest.end);
        Some(biggest)
    }

    /// Everything we own, handed out or free, as boundaries.
    fn everything(&self) -> Vec<Address> {
        let mut all = self.ours.clone();
        for pair in self.free.chunks_exact(2) {
            all = add(&all, pair[0], pair[1]);
        }
        all
    }

    /// Everything we own, contiguous runs joined.
    pub fn owned_ranges(&self) -> Vec<Range> {
        self.everything().chunks_exact(2).map(|p| Range { start: p[0], end: p[1] }).collect()
    }

    /// Adds each range as free space.
    pub fn add_ranges(&mut self, ranges: &[Range]) {
        for r in ranges {
            self.free = add(&self.free, r.start, r.end);
        }
    }

    /// `ranges` is everything we should own: whatever of it we do not have yet becomes free.
    pub fn update_ranges(&mut self, ranges: &[Range]) {
        let mut new = Vec::new();
        for r in ranges {
            new = add(&new, r.start, r.end);
        }
        for pair in self.everything().chunks_exact(2) {
            new = subtract(&new, pair[0], pair[1]);
        }
        for pair in new.chunks_exact(2) {
            self.free = add(&self.free, pair[0], pair[1]);
        }
    }

    /// Drops free space outside `ranges` (space the ring says is no longer ours). Weave never
    /// does this and asserts instead; handed-out addresses are kept either way.
    pub fn restrict_free_to(&mut self, ranges: &[Range]) {
        let mut keep = Vec::new();
        for r in ranges {
            keep = add(&keep, r.start, r.end);
        }
        let mut free = Vec::new();
        for pair in self.free.chunks_exact(2) {
            for k in keep.chunks_exact(2) {
                let (s, e) = (pair[0].max(k[0]), pair[1].min(k[1]));
                if s < e {
                    free = add(&free, s, e);
                }
            }
        }
        self.free = free;
    }
}

fn total(bounds: &[Address]) -> u32 {
    bounds.chunks_exact(2).fold(0u32, |n, p| n.wrapping_add(p[1].0.saturating_sub(p[0].0)))
}

/// Is `addr` inside one of the ranges?
fn contains(bounds: &[Address], addr: Address) -> bool {
    bounds.partition_point(|&a| a <= addr) & 1 != 0
}

fn add(bounds: &[Address], start: Address, end: Address) -> Vec<Address> {
    add_sub(bounds, start, end, 0)
}

fn subtract(bounds: &[Address], start: Address, end: Address) -> Vec<Address> {
    add_sub(bounds, start, end, 1)
}

/// Union (`sense` 0) or difference (`sense` 1) of `[start, end)` with the ranges.
fn add_sub(bounds: &[Address], start: Address, end: Address, sense: usize) -> Vec<Address> {
    let start_pos = bounds.partition_point(|&a| a < start);
    let end_pos = start_pos + bounds[start_pos..].partition_point(|&a| a <= end);
    let mut out = Vec::with_capacity(bounds.len() + 2);
    out.extend_from_slice(&bounds[..start_pos]);
    // start and end become boundaries where they fall outside (add) or inside (subtract).
    if start_pos & 1 == sense {
        out.push(start);
    }
    if end_pos & 1 == sense {
        out.push(end);
    }
    out.extend_from_slice(&bounds[end_pos..]);
    out
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ours.is_empty() && self.free.is_empty() {
            return f.write_str("No address ranges owned");
        }
        if !self.ours.is_empty() {
            f.write_str("owned:")?;
            for p in self.ours.chunks_exact(2) {
                write!(f, " {}+{} ", p[0], p[1].0.wrapping_sub(p[0].0))?;
            }
        }
        if !self.free.is_empty() {
            f.write_str("free:")?;
            for p in self.free.chunks_exact(2) {
                write!(f, " {}+{} ", p[0], p[1].0.wrapping_sub(p[0].0))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Address {
        s.parse().unwrap()
    }

    fn a(v: &[u32]) -> Vec<Address> {
        v.iter().map(|&x| Address(x)).collect()
    }

    fn space(start: Address, size: u32) -> Space {
        let mut s = Space::new();
        s.add(start, size);
        s
    }

    #[test]
    fn low_level_boundaries() {
        let mut v = add(&[], Address(100), Address(200));
        assert_eq!(v, a(&[100, 200]));
        assert!(!contains(&v, Address(99)) && contains(&v, Address(100)));
        assert!(contains(&v, Address(199)) && !contains(&v, Address(200)));
        let steps: [(u32, u32, bool, &[u32]); 12] = [
            (700, 800, true, &[100, 200, 700, 800]),
            (300, 400, true, &[100, 200, 300, 400, 700, 800]),
            (400, 500, true, &[100, 200, 300, 500, 700, 800]),
            (600, 700, true, &[100, 200, 300, 500, 600, 800]),
            (500, 600, true, &[100, 200, 300, 800]),
            (500, 600, false, &[100, 200, 300, 500, 600, 800]),
            (600, 700, false, &[100, 200, 300, 500, 700, 800]),
            (400, 500, false, &[100, 200, 300, 400, 700, 800]),
            (300, 400, false, &[100, 200, 700, 800]),
            (700, 800, false, &[100, 200]),
            (100, 200, false, &[]),
            (5, 10, false, &[]),
        ];
        for (s, e, is_add, want) in steps {
            v = if is_add { add(&v, Address(s), Address(e)) } else { subtract(&v, Address(s), Address(e)) };
            assert_eq!(v, a(want), "{s}-{e} add={is_add}");
        }
    }

    #[test]
    fn allocate_claim_free_donate() {
        let mut s = Space::new();
        assert_eq!(s.num_free_addresses(), 0);
        assert_eq!(s.allocate(Range::new(Address(0), 1000)), None);
        s.add(Address(100), 100);
        assert_eq!(s.num_free_addresses(), 100);
        assert_eq!(s.allocate(Range::new(Address(0), 1000)), Some(Address(100)));
        assert_eq!(s.num_free_addresses(), 99);
        s.claim(Address(150)).unwrap();
        assert_eq!(s.num_free_addresses(), 98);
        assert_eq!(s.claim(Address(150)), Err(SpaceError::NotFree(Address(150))));
        s.free(Address(100)).unwrap();
        assert_eq!(s.num_free_addresses(), 99);
        assert_eq!(s.free(Address(0)), Err(SpaceError::NotOurs(Address(0))));
        assert!(s.free(Address(100)).is_err(), "double free");
        assert_eq!(s.donate(Range::new(Address(0), 1000)), Some(Range::new(Address(0xa0), 0x20)));

        // Scarce addresses.
        let mut s = Space::new();
        assert_eq!(s.donate(Range::new(Address(0), 1000)), None);
        s.add(Address(0), 3);
        s.claim(Address(0)).unwrap();
        s.claim(Address(2)).unwrap();
        assert_eq!(s.donate(Range::new(Address(0), 1000)), Some(Range::new(Address(1), 1)));
        assert_eq!(s.donate(Range::new(Address(0), 1000)), None);
    }

    #[test]
    fn allocate_takes_lowest() {
        let start = ip("10.0.3.4");
        let mut s = space(start, 20);
        assert_eq!((s.num_free_addresses(), s.num_owned_addresses()), (20, 0));
        assert_eq!(s.allocate(Range::new(start, 20)), Some(ip("10.0.3.4")));
        let second = s.allocate(Range::new(start, 20)).unwrap();
        assert_eq!(second, ip("10.0.3.5"));
        assert_eq!((s.num_free_addresses(), s.num_owned_addresses()), (18, 2));
        assert_eq!(s.num_free_addresses_in_range(Range { start, end: ip("10.0.3.19") }), 13);
        assert_eq!(s.num_free_addresses_in_range(Range { start, end: ip("10.0.9.19") }), 18);
        s.free(second).unwrap();
        assert!(s.free(second).is_err());
        assert!(s.free(ip("10.0.3.19")).is_err());
        assert!(s.free(ip("10.0.9.19")).is_err());
        // Allocation inside a sub-range.
        assert_eq!(s.allocate(Range { start: ip("10.0.3.10"), end: ip("10.0.3.12") }), Some(ip("10.0.3.10")));
        assert_eq!(s.allocate(Range { start: ip("10.0.3.30"), end: ip("10.0.3.40") }), None);
    }

    #[test]
    fn biggest_free_range_after_frees() {
        let start = ip("10.0.3.16");
        let all = Range::new(start, 16);
        let mut s = space(start, 16);
        assert_eq!(s.biggest_free_range(all), all);
        for _ in 0..16 {
            assert!(s.allocate(all).is_some());
        }
        assert_eq!(s.allocate(all), None);
        assert_eq!(s.donate(all), None);
        s.free(ip("10.0.3.23")).unwrap();
        assert_eq!(s.biggest_free_range(all), Range::new(ip("10.0.3.23"), 1));
        s.free(ip("10.0.3.31")).unwrap();
        assert_eq!(s.biggest_free_range(all), Range::new(ip("10.0.3.31"), 1));
        s.free(ip("10.0.3.30")).unwrap();
        s.free(ip("10.0.3.29")).unwrap();
        assert_eq!(s.num_free_addresses(), 4);
        assert_eq!(s.biggest_free_range(all), Range::new(ip("10.0.3.30"), 2));
        for x in ["10.0.3.24", "10.0.3.22", "10.0.3.21"] {
            s.free(ip(x)).unwrap();
        }
        assert_eq!(s.num_free_addresses(), 7);
        assert_eq!(s.biggest_free_range(all), Range::new(ip("10.0.3.30"), 2));
        assert_eq!(s.owned_ranges(), [all]);
    }

    #[test]
    fn donate_halves_then_gives_everything() {
        let start = ip("10.0.1.0");
        let mut s = space(start, 64);
        let r = s.donate(Range::new(start, 64)).unwrap();
        assert_eq!(r, Range::new(ip("10.0.1.32"), 32), "upper half");
        assert_eq!(s.num_free_addresses(), 32);
        let mut given = r.size();
        for _ in 0..1000 {
            match s.donate(Range::new(start, 64)) {
                Some(r) => given += r.size(),
                None => break,
            }
        }
        assert_eq!((s.num_free_addresses(), given), (0, 64));
    }

    #[test]
    fn donate_hard() {
        let start = ip("10.0.1.0");
        let mut s = space(start, 48);
        for _ in 0..48 {
            assert!(s.allocate(Range::new(start, 48)).is_some());
        }
        for i in 0..47 {
            s.free(start.offset(i)).unwrap();
        }
        assert_eq!(s.donate(Range::new(start, 48)), Some(Range::new(ip("10.0.1.16"), 16)));
        assert_eq!(s.num_free_addresses(), 31);
        let want = Space {
            ours: add(&[], ip("10.0.1.47"), ip("10.0.1.48")),
            free: add(&add(&[], ip("10.0.1.0"), ip("10.0.1.16")), ip("10.0.1.32"), ip("10.0.1.47")),
        };
        assert_eq!(s, want);
    }

    #[test]
    fn update_and_restrict_ranges() {
        let mut s = space(Address(100), 100);
        s.claim(Address(150)).unwrap();
        s.update_ranges(&[Range { start: Address(100), end: Address(300) }]);
        assert_eq!(s.owned_ranges(), [Range { start: Address(100), end: Address(300) }]);
        assert_eq!(s.num_free_addresses(), 199);
        s.restrict_free_to(&[Range { start: Address(120), end: Address(160) }]);
        assert_eq!(s.num_free_addresses(), 39);
        assert_eq!(s.num_owned_addresses(), 1);
        assert_eq!(s.to_string(), "owned: 0.0.0.150+1 free: 0.0.0.120+30  0.0.0.151+9 ");
        s.clear();
        assert_eq!(s.to_string(), "No address ranges owned");
    }
}
