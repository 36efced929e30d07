//! Gob's primitive encodings and a bounds-checked reader.
//!
//! * uint: values < 128 are one byte; otherwise a byte holding the negated byte count (0xff = 1
//!   byte follows, 0xf8 = 8) and then the big-endian bytes without leading zeros.
//! * int: zig-zag into a uint: bit 0 is the sign, `i << 1` for i >= 0 and `(!i << 1) | 1` else.
//! * float: the IEEE-754 bits byte-reversed (exponent first, so small integers are short), as uint.
//! * string / []byte: uint length, then the raw bytes.

use super::error::{Error, Result};

pub(crate) fn put_uint(out: &mut Vec<u8>, x: u64) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let skip = (x.leading_zeros() / 8) as usize;
    let n = (8 - skip) as u8;
    out.push(n.wrapping_neg());
    out.extend(x.to_be_bytes().iter().skip(skip));
}

pub(crate) fn put_int(out: &mut Vec<u8>, i: i64) {
    let u = if i < 0 { (!(i as u64) << 1) | 1 } else { (i as u64) << 1 };
    put_uint(out, u);
}

pub(crate) fn put_float(out: &mut Vec<u8>, x: f64) {
    put_uint(out, x.to_bits().swap_bytes());
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) fn int_from_uint(u: u64) -> i64 {
    if u & 1 == 1 {
        !((u >> 1) as i64)
    } else {
        (u >> 1) as i64
    }
}

pub(crate) fn float_from_uint(u: u64) -> f64 {
    f64::from_bits(u.swap_bytes())
}

/// Reads `data[pos..end]`. Offsets in errors are absolute positions in `data` (the whole stream).
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], pos: usize, end: usize) -> Self {
        let end = end.min(data.len());
        Reader { data, pos: pos.min(end), end }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    pub(crate) fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        let have = self.remaining();
        let slice = usize::try_from(n)
            .ok()
            .filter(|&n| n <= have)
            .and_then(|n| self.data.get(self.pos..self.pos + n))
            .ok_or_else(|| Error::truncated(self.pos, n, have, what))?;
        self.pos += slice.len();
        Ok(slice)
    }

    pub(crate) fn uint(&mut self, what: &'static str) -> Result<u64> {
        let at = self.pos;
        let first = match self.take(1, what)?.first() {
            Some(&b) => b,
            None => return Err(Error::truncated(at, 1, 0, what)),
        };
        if first < 0x80 {
            return Ok(u64::from(first));
        }
        let n = first.wrapping_neg();
        if n > 8 {
            return Err(Error::invalid(at, format!("{what}: byte count {n} (0x{first:02x}) exceeds 8")));
        }
        // Go accepts non-minimal encodings (leading zero bytes), so we do too.
        let bytes = self.take(u64::from(n), what)?;
        Ok(bytes.iter().fold(0u64, |x, &b| (x << 8) | u64::from(b)))
    }

    pub(crate) fn int(&mut self, what: &'static str) -> Result<i64> {
        self.uint(what).map(int_from_uint)
    }

    pub(crate) fn float(&mut self, what: &'static str) -> Result<f64> {
        self.uint(what).map(float_from_uint)
    }

    /// A counted byte string (string or []byte contents).
    pub(crate) fn counted(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let n = self.uint(what)?;
        self.take(n, what)
    }

    /// A count of items that each take at least `min_bytes` bytes; rejected up front if the rest
    /// of the message cannot hold them, so no allocation is ever sized from a forged count.
    pub(crate) fn count(&mut self, what: &'static str, min_bytes: u64) -> Result<usize> {
        let at = self.pos;
        let n = self.uint(what)?;
        let have = self.remaining();
        match n.checked_mul(min_bytes) {
            Some(need) if need <= have as u64 => Ok(n as usize),
            _ => Err(Error::invalid(at, format!("{what} {n} exceeds the {have} bytes left in the message"))),
        }
    }
}
