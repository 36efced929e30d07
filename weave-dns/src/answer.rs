//! DNS answering as Weave's `dns.go`: route a request to the local, reverse or recursive handler
//! and produce the reply bytes, or say that it must be forwarded upstream (the caller does the
//! I/O, see [`crate::upstream`]).
//!
//! * Local (the weave domain; also single-label names): one question only, single-label names
//!   get the domain appended, case-insensitive lookup; no entries → NXDOMAIN; entries but qtype
//!   ≠ A → NOERROR without answers; else all live addresses as A records in random order, owner
//!   name = the question name, configured TTL, AA and RA set.
//! * Reverse (`in-addr.arpa.`): PTR only (else NXDOMAIN); the first live entry with the address,
//!   else forwarded.
//! * Anything else is forwarded.
//! * UDP replies fit 512 bytes or the EDNS0 buffer size (records dropped, TC set); TCP unlimited.

use std::net::Ipv4Addr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::entries::Entries;
use crate::message::{
    answer_reply, encode, error_reply, format_error, is_response, parse, reply_limit, reply_to, Transport,
    HEADER_LEN,
};
use crate::names::{fqdn, is_single_label, parse_go_ip, presentation, route, Zone, REVERSE_ZONE};
use crate::upstream::Forward;

/// Weave's default answer TTL (seconds).
pub const DEFAULT_TTL: u32 = 1;

/// What to do with a request.
#[derive(Debug)]
pub enum Action {
    /// Send these bytes to the client.
    Reply(Vec<u8>),
    /// Not answerable locally: ask the upstream servers in turn.
    Forward(Forward),
    /// Send nothing (too short to be DNS, or a response).
    Drop,
}

/// The answering configuration: domain and TTL.
#[derive(Debug, Clone)]
pub struct Responder {
    domain: String,
    domain_lower: String,
    ttl: u32,
}

impl Responder {
    /// `domain` is qualified (`weave.local` → `weave.local.`).
    pub fn new(domain: &str, ttl: u32) -> Responder {
        let domain = fqdn(domain);
        // Weave's mux compares the lowercased query with the domain as given, so a domain with
        // capitals never matches there; we lowercase both.
        let domain_lower = domain.to_ascii_lowercase();
        Responder { domain, domain_lower, ttl }
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// Answers raw request bytes. Unparsable requests get FORMERR, as from Weave's server.
    pub fn answer<R: Rng + ?Sized>(
        &self,
        request: &[u8],
        transport: Transport,
        entries: &Entries,
        rng: &mut R,
    ) -> Action {
        if request.len() < HEADER_LEN {
            return Action::Drop;
        }
        if let Some(reply) =
            crate::fast::answer(request, transport, &self.domain_lower, self.ttl, entries, rng)
        {
            return Action::Reply(reply);
        }
        self.answer_general(request, transport, entries, rng)
    }

    /// [`Responder::answer`] without the fast path (the fast path must give the same bytes).
    pub fn answer_general<R: Rng + ?Sized>(
        &self,
        request: &[u8],
        transport: Transport,
        entries: &Entries,
        rng: &mut R,
    ) -> Action {
        if request.len() < HEADER_LEN {
            return Action::Drop;
        }
        match parse(request) {
            Some(m) => self.dispatch(&m, Some(request), transport, entries, rng),
            None => Action::Reply(format_error(request)),
        }
    }

    /// Answers an already parsed request.
    pub fn answer_message<R: Rng + ?Sized>(
        &self,
        request: &Message,
        transport: Transport,
        entries: &Entries,
        rng: &mut R,
    ) -> Action {
        self.dispatch(request, None, transport, entries, rng)
    }

    fn dispatch<R: Rng + ?Sized>(
        &self,
        req: &Message,
        raw: Option<&[u8]>,
        transport: Transport,
        entries: &Entries,
        rng: &mut R,
    ) -> Action {
        if is_response(req) {
            return Action::Drop;
        }
        let Some(q) = req.queries.first() else {
            // miekg's "failed handler": SERVFAIL without RA.
            let mut m = reply_to(req);
            m.metadata.response_code = ResponseCode::ServFail;
            return Action::Reply(encode(&m, reply_limit(req, transport)));
        };
        let qname = presentation(&q.name);
        let ctx = Ctx { req, raw, transport, entries, qname };
        match route(&ctx.qname, q.query_type == RecordType::DS, &self.domain_lower) {
            Zone::Local => self.local(&ctx, rng),
            Zone::Reverse => self.reverse(&ctx, rng),
            Zone::Recursive => self.recursive(&ctx, rng),
        }
    }

    fn local<R: Rng + ?Sized>(&self, ctx: &Ctx<'_>, rng: &mut R) -> Action {
        let req = ctx.req;
        if req.queries.len() != 1 {
            return ctx.reply(error_reply(req, ResponseCode::NXDomain));
        }
        let mut hostname = ctx.qname.clone();
        if is_single_label(&hostname) {
            hostname.push_str(&self.domain);
        }
        let mut addrs = ctx.entries.lookup_live(&hostname);
        if addrs.is_empty() {
            return ctx.reply(error_reply(req, ResponseCode::NXDomain));
        }
        let q = &req.queries[0];
        // RFC 4074: the name exists, so another type gets an empty NOERROR.
        if q.query_type != RecordType::A {
            return ctx.reply(answer_reply(req, Vec::new()));
        }
        addrs.shuffle(rng);
        let answers = addrs.into_iter().map(|a| Record::from_rdata(q.name.clone(), self.ttl, RData::A(A(a))));
        ctx.reply(answer_reply(req, answers.collect()))
    }

    fn reverse<R: Rng + ?Sized>(&self, ctx: &Ctx<'_>, rng: &mut R) -> Action {
        let req = ctx.req;
        if req.queries.len() != 1 || req.queries[0].query_type != RecordType::PTR {
            return ctx.reply(error_reply(req, ResponseCode::NXDomain));
        }
        let lower = ctx.qname.to_ascii_lowercase();
        let ip_text = lower.strip_suffix(&format!(".{REVERSE_ZONE}")).unwrap_or(&lower);
        let Some(reversed) = parse_go_ip(ip_text) else {
            return ctx.reply(error_reply(req, ResponseCode::NXDomain));
        };
        let Some(entry) = ctx.entries.reverse_lookup(Ipv4Addr::from(reversed.swap_bytes())) else {
            return self.recursive(ctx, rng);
        };
        // Weave's library would fail to write an unencodable name and send nothing; we SERVFAIL.
        let Ok(target) = Name::from_ascii(&entry.hostname) else {
            return ctx.reply(error_reply(req, ResponseCode::ServFail));
        };
        let answer = Record::from_rdata(req.queries[0].name.clone(), self.ttl, RData::PTR(PTR(target)));
        ctx.reply(answer_reply(req, vec![answer]))
    }

    fn recursive<R: Rng + ?Sized>(&self, ctx: &Ctx<'_>, rng: &mut R) -> Action {
        if ctx.req.queries.len() == 1 && is_single_label(&ctx.qname) {
            return self.local(ctx, rng);
        }
        match Forward::new(ctx.req, ctx.raw, ctx.transport) {
            Some(f) => Action::Forward(f),
            None => ctx.reply(error_reply(ctx.req, ResponseCode::ServFail)),
        }
    }
}

/// One request being answered.
struct Ctx<'a> {
    req: &'a Message,
    raw: Option<&'a [u8]>,
    transport: Transport,
    entries: &'a Entries,
    /// The question name in miekg's presentation form.
    qname: String,
}

impl Ctx<'_> {
    fn reply(&self, m: Message) -> Action {
        Action::Reply(encode(&m, reply_limit(self.req, self.transport)))
    }
}
