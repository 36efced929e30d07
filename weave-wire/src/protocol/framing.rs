//! Length-prefixed message framing of protocol v2 (mesh's `lengthPrefixTCPSender/Receiver`):
//! each message is a 4-byte big-endian length and that many body bytes; bodies are at most
//! [`MAX_MSG_SIZE`]. When the connection is encrypted the body is the secretbox output.

/// Weave's `maxTCPMsgSize`: larger messages are refused in both directions.
pub const MAX_MSG_SIZE: usize = 10 * 1024 * 1024;
/// Length of the big-endian length prefix.
pub const LENGTH_PREFIX_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Weave's text; the connection must be closed (the stream cannot be resynchronised).
    #[error("incoming message exceeds maximum size: {len} > {max}")]
    IncomingTooLarge { len: u64, max: usize },
    #[error("outgoing message exceeds maximum size: {len} > {max}")]
    OutgoingTooLarge { len: usize, max: usize },
}

/// Appends `len(body) | body` to `out`.
pub fn encode_frame_into(body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    if body.len() > MAX_MSG_SIZE {
        return Err(FrameError::OutgoingTooLarge { len: body.len(), max: MAX_MSG_SIZE });
    }
    out.reserve(LENGTH_PREFIX_LEN + body.len());
    // Cannot truncate: MAX_MSG_SIZE < 2^32.
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// `len(body) | body` as a new buffer (one write per message, as Weave does).
pub fn encode_frame(body: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    encode_frame_into(body, &mut out)?;
    Ok(out)
}

/// Incremental decoder: [`push`](Self::push) whatever arrived from the socket, then call
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`.
///
/// Memory is bounded by what was pushed and not yet taken out: a message body is allocated only
/// once all of it has arrived, and a length above the maximum is an error as soon as the
/// prefix is known. After an error every later call returns the same error.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    max: usize,
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::with_max_size(MAX_MSG_SIZE)
    }

    /// A decoder with a lower limit (never above [`MAX_MSG_SIZE`]).
    pub fn with_max_size(max: usize) -> Self {
        FrameDecoder { buf: Vec::new(), start: 0, max: max.min(MAX_MSG_SIZE), failed: None }
    }

    /// Adds received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed.is_some() || chunk.is_empty() {
            return;
        }
        // Drop consumed bytes before growing, so the buffer stays about one message large.
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.len() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete message body, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let pending = &self.buf[self.start..];
        let Some(prefix) = pending.get(..LENGTH_PREFIX_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if len as u64 > self.max as u64 {
            let err = FrameError::IncomingTooLarge { len: len.into(), max: self.max };
            self.failed = Some(err.clone());
            self.buf = Vec::new();
            self.start = 0;
            return Err(err);
        }
        let end = LENGTH_PREFIX_LEN + len as usize;
        let Some(body) = pending.get(LENGTH_PREFIX_LEN..end) else {
            return Ok(None);
        };
        let body = body.to_vec();
        self.start += end;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(body))
    }

    /// Bytes received but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// True when no partial message is pending (a clean place for the stream to end).
    pub fn is_idle(&self) -> bool {
        self.buffered() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_joins() {
        let mut wire = encode_frame(b"abc").unwrap();
        encode_frame_into(b"", &mut wire).unwrap();
        encode_frame_into(&[9; 300], &mut wire).unwrap();
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for b in &wire {
            dec.push(std::slice::from_ref(b));
            while let Some(m) = dec.next_frame().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, vec![b"abc".to_vec(), vec![], vec![9; 300]]);
        assert!(dec.is_idle());
    }

    #[test]
    fn refuses_oversized_lengths_before_buffering_the_body() {
        let mut dec = FrameDecoder::new();
        dec.push(&0x00a0_0001u32.to_be_bytes());
        let err = dec.next_frame().unwrap_err();
        assert_eq!(err.to_string(), "incoming message exceeds maximum size: 10485761 > 10485760");
        dec.push(b"more");
        assert_eq!(dec.next_frame(), Err(err));
        assert_eq!(dec.buffered(), 0);

        let mut ok = FrameDecoder::new();
        ok.push(&(MAX_MSG_SIZE as u32).to_be_bytes());
        assert_eq!(ok.next_frame(), Ok(None));
        assert!(matches!(encode_frame(&vec![0; MAX_MSG_SIZE + 1]), Err(FrameError::OutgoingTooLarge { .. })));
    }
}
