//! IPv4 addresses, ranges and CIDRs as Weave's `net/address` models them: addresses are plain
//! `u32`s, ranges are half-open `[start, end)`, and arithmetic wraps like Go's `uint32` (so hostile
//! input can never make it panic).

use std::fmt;
use std::str::FromStr;

/// An IPv4 address as a number (`10.32.0.0` = `0x0a20_0000`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub u32);

/// A half-open range `[start, end)`. `start > end` never arises from Weave's own arithmetic; such a
/// range is treated as empty.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Range {
    pub start: Address,
    pub end: Address,
}

/// An address with a prefix length. As in Weave, `addr` keeps the host bits it was written with
/// (`10.0.3.5/24` is address 10.0.3.5 in a /24), so a CIDR is both "an address in a subnet" and,
/// when [`Cidr::is_subnet`], the subnet itself.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Cidr {
    pub addr: Address,
    /// 0..=32.
    pub prefix_len: u8,
}

/// Text that is not an IPv4 address or CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid IP address: {0}")]
    Address(String),
    #[error("invalid CIDR address: {0}")]
    Cidr(String),
}

impl Address {
    /// `self + n`, wrapping as Go's `uint32` does.
    pub fn offset(self, n: u32) -> Address {
        Address(self.0.wrapping_add(n))
    }

    pub fn octets(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    pub fn from_octets(o: [u8; 4]) -> Address {
        Address(u32::from_be_bytes(o))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.octets();
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Address {
    type Err = ParseError;

    /// Dotted quad, decimal octets without leading zeros (as Go's `net.ParseIP`).
    fn from_str(s: &str) -> Result<Address, ParseError> {
        let err = || ParseError::Address(s.to_string());
        let mut octets = [0u8; 4];
        let mut parts = s.split('.');
        for o in &mut octets {
            let p = parts.next().ok_or_else(err)?;
            let valid = !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit());
            if !valid || (p.len() > 1 && p.starts_with('0')) {
                return Err(err());
            }
            *o = p.parse().map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Address::from_octets(octets))
    }
}

impl Range {
    pub fn new(start: Address, size: u32) -> Range {
        Range { start, end: start.offset(size) }
    }

    /// Number of addresses; 0 for a degenerate range.
    pub fn size(&self) -> u32 {
        self.end.0.saturating_sub(self.start.0)
    }

    pub fn contains(&self, addr: Address) -> bool {
        addr >= self.start && addr < self.end
    }

    pub fn overlaps(&self, other: &Range) -> bool {
        !(self.start >= other.end || self.end <= other.start)
    }

    /// `a.b.c.d/n` when the range is a power of two in size (Weave does not check alignment
    /// here), else `first-last`.
    pub fn as_cidr_string(&self) -> String {
        let mut prefix_len = 32u8;
        let mut size = self.size();
        while size > 1 {
            if !size.is_multiple_of(2) {
                return self.to_string();
            }
            prefix_len -= 1;
            size /= 2;
        }
        Cidr { addr: self.start, prefix_len }.to_string()
    }

    /// The largest CIDR-aligned block inside this range (Weave's `BiggestCIDRRange`).
    pub fn biggest_cidr_range(&self) -> Range {
        let size_msb = msb(self.size());
        let low = size_msb.wrapping_sub(1);
        let masked_size = self.size() & low;
        let masked_start = self.start.0 & low;
        if masked_start == 0 {
            return Range::new(self.start, size_msb);
        }
        if size_msb.wrapping_sub(masked_start) <= masked_size {
            return Range::new(self.start.offset(size_msb.wrapping_sub(masked_start)), size_msb);
        }
        let size = size_msb / 2;
        if size >= masked_start {
            return Range::new(self.start.offset(size.wrapping_sub(masked_start)), size);
        }
        Range::new(self.start.offset(size_msb.wrapping_sub(masked_start)), size)
    }

    /// CIDR blocks that exactly cover the range, in order.
    pub fn cidrs(&self) -> Vec<Cidr> {
        let mut out = Vec::new();
        if self.start >= self.end {
            return out;
        }
        let (mut start, end) = (self.start.0, self.end.0 - 1);
        loop {
            let (mut mask, mut prefix_len) = (u32::MAX, 32u8);
            // Widen the block while it stays aligned at `start` and ends at or before `end`.
            while mask > 0 {
                let wider = mask << 1;
                if start & wider != start || (start | !wider) > end {
                    break;
                }
                mask = wider;
                prefix_len -= 1;
            }
            out.push(Cidr { addr: Address(start), prefix_len });
            start |= !mask;
            if start >= end {
                break;
            }
            start += 1;
        }
        out
    }
}

/// Highest power of two <= v (0 for 0).
fn msb(mut v: u32) -> u32 {
    v |= v >> 1;
    v |= v >> 2;
    v |= v >> 4;
    v |= v >> 8;
    v |= v >> 16;
    (u64::from(v) + 1).div_euclid(2) as u32
}

impl fmt::Display for Range {
    /// `first-last`, as Weave prints ranges.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, Address(self.end.0.wrapping_sub(1)))
    }
}

impl Cidr {
    pub fn new(addr: Address, prefix_len: u8) -> Cidr {
        Cidr { addr, prefix_len: prefix_len.min(32) }
    }

    /// Number of addresses in the block (2^32 for /0, which no u32 range can express).
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix_len.min(32)))
    }

    /// True when the bits after the prefix are zero.
    pub fn is_subnet(&self) -> bool {
        u64::from(self.addr.0) & (self.size() - 1) == 0
    }

    pub fn start(&self) -> Address {
        self.addr
    }

    /// `[addr, addr + size)`; wraps like Weave's `uint32` arithmetic (a block ending at 2^32 gives
    /// an empty range).
    pub fn range(&self) -> Range {
        Range::new(self.addr, self.size() as u32)
    }

    /// The range without its first and last address (RFC 1122), where allocations happen.
    pub fn host_range(&self) -> Range {
        Range::new(self.addr.offset(1), (self.size() as u32).wrapping_sub(2))
    }

    /// The CIDR for `addr` with this CIDR's prefix length (Weave's `MakeCIDR`).
    pub fn with_addr(&self, addr: Address) -> Cidr {
        Cidr { addr, prefix_len: self.prefix_len }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = ParseError;

    /// `a.b.c.d/n`; the host bits are kept (see [`Cidr`]).
    fn from_str(s: &str) -> Result<Cidr, ParseError> {
        let err = || ParseError::Cidr(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(err)?;
        let addr: Address = addr.parse().map_err(|_| err())?;
        let valid = !len.is_empty() && len.len() <= 2 && len.bytes().all(|c| c.is_ascii_digit());
        let prefix_len: u8 = if valid { len.parse().map_err(|_| err())? } else { return Err(err()) };
        if prefix_len > 32 {
            return Err(err());
        }
        Ok(Cidr { addr, prefix_len })
    }
}

/// Joins adjacent ranges of a sorted list (Weave's `address.Merge`).
pub fn merge_adjacent(ranges: &[Range]) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(prev) if prev.end == r.start => prev.end = r.end,
            _ => out.push(*r),
        }
    }
    out
}

/// CIDRs covering each range in turn (Weave's `NewCIDRs`).
pub fn cidrs_of(ranges: &[Range]) -> Vec<Cidr> {
    ranges.iter().flat_map(Range::cidrs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Address {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_print() {
        assert_eq!(ip("10.32.0.0"), Address(0x0a20_0000));
        assert_eq!(ip("255.255.255.255").to_string(), "255.255.255.255");
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.0.0.0", "01.2.3.4", "a.b.c.d", "1..2.3"] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
        let c = cidr("10.0.3.5/24");
        assert_eq!((c.addr, c.prefix_len), (ip("10.0.3.5"), 24));
        assert!(!c.is_subnet());
        assert!(cidr("10.32.0.0/12").is_subnet());
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/1a", "x/8"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(cidr("10.32.0.0/12").to_string(), "10.32.0.0/12");
    }

    #[test]
    fn host_range_excludes_first_and_last() {
        let c = cidr("10.0.3.0/26");
        assert_eq!(c.range(), Range { start: ip("10.0.3.0"), end: ip("10.0.3.64") });
        assert_eq!(c.host_range(), Range { start: ip("10.0.3.1"), end: ip("10.0.3.63") });
        assert_eq!(c.host_range().size(), 62);
        assert_eq!(cidr("10.32.0.0/12").size(), 1 << 20);
        assert_eq!(cidr("0.0.0.0/0").size(), 1 << 32);
        // Wraps like Go: a block ending at 2^32 has an empty u32 range.
        assert_eq!(cidr("255.255.255.0/24").range().size(), 0);
    }

    #[test]
    fn range_printing() {
        let r = cidr("10.32.0.0/12").range();
        assert_eq!(r.to_string(), "10.32.0.0-10.47.255.255");
        assert_eq!(r.as_cidr_string(), "10.32.0.0/12");
        assert_eq!(Range::new(ip("10.0.0.0"), 3).as_cidr_string(), "10.0.0.0-10.0.0.2");
    }

    #[test]
    fn biggest_cidr_range() {
        let r = |s: &str, n: u32| Range::new(ip(s), n);
        assert_eq!(r("10.0.0.0", 16).biggest_cidr_range(), r("10.0.0.0", 16));
        assert_eq!(r("10.0.0.1", 16).biggest_cidr_range(), r("10.0.0.8", 8));
        assert_eq!(r("10.0.0.3", 6).biggest_cidr_range(), r("10.0.0.4", 4));
        assert_eq!(r("10.0.0.7", 1).biggest_cidr_range(), r("10.0.0.7", 1));
        // 10.32.0.2 .. 10.40.0.0 (A's free space in the vectors' t=11.6 donation): a /14.
        let free = Range { start: ip("10.32.0.2"), end: ip("10.40.0.0") };
        assert_eq!(free.biggest_cidr_range(), Range { start: ip("10.36.0.0"), end: ip("10.40.0.0") });
    }

    #[test]
    fn cidr_splitting() {
        let r = Range { start: ip("10.0.0.1"), end: ip("10.0.0.9") };
        let got: Vec<String> = r.cidrs().iter().map(ToString::to_string).collect();
        assert_eq!(got, ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/32"]);
        let all = Range { start: ip("255.255.255.254"), end: Address(u32::MAX) };
        assert_eq!(all.cidrs(), [cidr("255.255.255.254/32")]);
        assert!(Range { start: ip("10.0.0.5"), end: ip("10.0.0.1") }.cidrs().is_empty());
        assert_eq!(cidrs_of(&[cidr("10.0.0.0/24").range()]), [cidr("10.0.0.0/24")]);
    }

    #[test]
    fn merge_adjacent_ranges() {
        let r = |a: u32, b: u32| Range { start: Address(a), end: Address(b) };
        assert_eq!(merge_adjacent(&[r(1, 2), r(2, 5), r(6, 7), r(7, 9)]), [r(1, 5), r(6, 9)]);
        assert!(merge_adjacent(&[]).is_empty());
    }

    #[test]
    fn range_queries() {
        let r = Range { start: Address(10), end: Address(20) };
        assert!(r.contains(Address(10)) && r.contains(Address(19)) && !r.contains(Address(20)));
        assert!(r.overlaps(&Range { start: Address(19), end: Address(30) }));
        assert!(!r.overlaps(&Range { start: Address(20), end: Address(30) }));
        assert_eq!(Range { start: Address(5), end: Address(1) }.size(), 0);
    }
}
