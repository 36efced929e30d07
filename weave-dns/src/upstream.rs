//! Forwarding a request upstream, without the I/O: Weave tries each upstream server in turn
//! (over the transport the client used, [`UPSTREAM_TIMEOUT`] each) with a fresh random id, takes
//! the first reply that arrives and parses, gives it the client's id and returns it; if none
//! does, the client gets SERVFAIL.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use rand::Rng;

use crate::message::{encode, error_reply, parse, raw_id, reply_limit, reply_to, Transport, HEADER_LEN};

/// Weave's `--dns-fallback-timeout` default.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// A request to forward, with what is needed to turn upstream replies into the client's reply.
#[derive(Debug, Clone)]
pub struct Forward {
    request: Message,
    /// The request as the client sent it (re-encoded if it came parsed).
    raw: Vec<u8>,
    transport: Transport,
    /// The client's reply size limit.
    limit: usize,
}

/// One attempt: send `bytes` to one upstream server and accept only a reply with `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamQuery {
    pub id: u16,
    pub bytes: Vec<u8>,
}

impl Forward {
    /// `None` if a parsed-only request cannot be re-encoded.
    pub(crate) fn new(request: &Message, raw: Option<&[u8]>, transport: Transport) -> Option<Forward> {
        let raw = match raw {
            Some(r) => r.to_vec(),
            None => request.to_vec().ok()?,
        };
        if raw.len() < HEADER_LEN {
            return None;
        }
        let limit = reply_limit(request, transport);
        Some(Forward { request: request.clone(), raw, transport, limit })
    }

    pub fn request(&self) -> &Message {
        &self.request
    }

    /// Use the same transport towards the upstream server.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The request with a new random id, for one upstream server (call again for the next one).
    pub fn query<R: Rng + ?Sized>(&self, rng: &mut R) -> UpstreamQuery {
        let id = rng.next_u32() as u16;
        let mut bytes = self.raw.clone();
        bytes[..2].copy_from_slice(&id.to_be_bytes());
        UpstreamQuery { id, bytes }
    }

    /// The client's reply made from an upstream `reply` to `query`, or `None` to try the next
    /// server: too short, wrong id, or unparsable (unless marked truncated, which Weave's client
    /// also accepts). The id becomes the client's. A UDP reply larger than the client allows is
    /// re-encoded with name compression (as Weave does) and, unlike Weave, also trimmed to fit.
    pub fn accept(&self, query: &UpstreamQuery, reply: &[u8]) -> Option<Vec<u8>> {
        if reply.len() < HEADER_LEN || raw_id(reply) != query.id {
            return None;
        }
        let parsed = parse(reply);
        let truncated = reply[2] & 0x02 != 0;
        if parsed.is_none() && !truncated {
            return None;
        }
        let client_id = self.request.metadata.id;
        if reply.len() <= self.limit {
            let mut out = reply.to_vec();
            out[..2].copy_from_slice(&client_id.to_be_bytes());
            return Some(out);
        }
        let mut m = match parsed {
            Some(m) => m,
            None => {
                let mut m = reply_to(&self.request);
                m.metadata.recursion_available = true;
                m.metadata.truncation = true;
                m
            }
        };
        m.metadata.id = client_id;
        Some(encode(&m, self.limit))
    }

    /// The reply when no upstream server answered (Weave's `makeErrorResponse(SERVFAIL)`).
    pub fn servfail(&self) -> Vec<u8> {
        encode(&error_reply(&self.request, ResponseCode::ServFail), self.limit)
    }
}
