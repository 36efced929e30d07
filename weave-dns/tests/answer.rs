//! DNS answering against Weave's rules and integration tests (200, 210, 230, 245, 250, 265,
//! 290, 295), plus the upstream forwarding helpers.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use common::{ip, HOST_A, HOST_B};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use rand::rngs::StdRng;
use rand::SeedableRng;
use weave_dns::{Action, Entries, GossipData, Nameserver, Responder, Transport};

const NOW: i64 = 1_795_804_714;

fn query(name: &str, qtype: RecordType) -> Message {
    let mut m = Message::new(0xbeef, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m
}

fn with_edns(mut m: Message, size: u16) -> Message {
    let mut e = Edns::new();
    e.set_max_payload(size);
    m.set_edns(e);
    m
}

/// A cluster state: three addresses for `c1` (two peers), case variants, a reused address, 50
/// addresses for `many`.
fn state() -> Nameserver {
    let mut a = Nameserver::new(HOST_A, "weave.local.");
    a.add_entry("c1.weave.local.", "ca1", ip("10.32.0.1"), NOW);
    a.add_entry("c1.weave.local.", "ca2", ip("10.32.0.2"), NOW);
    let from_b =
        GossipData::new(NOW, vec![weave_dns::Entry::new("c1.weave.local.", "cb1", HOST_B, ip("10.40.0.1"))]);
    a.on_gossip(&from_b.encode(), NOW, |_| true).unwrap();
    a.add_entry("Mixed.weave.local.", "m1", ip("10.32.0.10"), NOW);
    a.add_entry("mixed.weave.local.", "m2", ip("10.32.0.11"), NOW);
    a.add_entry("old.weave.local.", "old", ip("10.32.0.5"), NOW);
    a.delete(None, Some("old"), None, NOW + 1);
    a.add_entry("new.weave.local.", "new", ip("10.32.0.5"), NOW + 2);
    for i in 0..50u8 {
        a.add_entry("many.weave.local.", &format!("m{i}"), Ipv4Addr::new(10, 33, 0, i), NOW);
    }
    a
}

struct Fixture {
    ns: Nameserver,
    responder: Responder,
    rng: StdRng,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { ns: state(), responder: Responder::new("weave.local", 30), rng: StdRng::seed_from_u64(1) }
    }

    fn raw(&mut self, bytes: &[u8], transport: Transport) -> Action {
        self.responder.answer(bytes, transport, self.ns.entries(), &mut self.rng)
    }

    fn reply_bytes(&mut self, m: &Message, transport: Transport) -> Vec<u8> {
        match self.raw(&m.to_vec().unwrap(), transport) {
            Action::Reply(b) => b,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn ask(&mut self, m: &Message, transport: Transport) -> Message {
        let reply = Message::from_vec(&self.reply_bytes(m, transport)).unwrap();
        assert_eq!(reply.metadata.id, m.metadata.id);
        assert_eq!(reply.metadata.message_type, MessageType::Response);
        reply
    }

    fn udp(&mut self, name: &str, qtype: RecordType) -> Message {
        self.ask(&query(name, qtype), Transport::Udp)
    }
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0,
            other => panic!("not an A record: {other:?}"),
        })
        .collect()
}

fn sorted(mut v: Vec<Ipv4Addr>) -> Vec<Ipv4Addr> {
    v.sort();
    v
}

#[test]
fn a_records_for_all_live_entries_in_random_order() {
    let mut f = Fixture::new();
    let mut orders = BTreeSet::new();
    for _ in 0..20 {
        let r = f.udp("c1.weave.local.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.metadata.authoritative && r.metadata.recursion_available && r.metadata.recursion_desired);
        assert!(!r.metadata.truncation);
        assert_eq!(r.queries, query("c1.weave.local.", RecordType::A).queries);
        for rec in &r.answers {
            assert_eq!(rec.name, Name::from_ascii("c1.weave.local.").unwrap());
            assert_eq!((rec.ttl, rec.dns_class), (30, DNSClass::IN));
        }
        let addrs = a_records(&r);
        assert_eq!(sorted(addrs.clone()), [ip("10.32.0.1"), ip("10.32.0.2"), ip("10.40.0.1")]);
        orders.insert(addrs);
    }
    assert!(orders.len() >= 3, "answers are shuffled: {orders:?}");
}

#[test]
fn lookups_ignore_case_and_keep_the_question_name() {
    let mut f = Fixture::new();
    let r = f.udp("C1.WEAVE.Local.", RecordType::A);
    assert_eq!(a_records(&r).len(), 3);
    assert_eq!(r.answers[0].name.to_ascii(), "C1.WEAVE.Local.");
    // Two containers whose names differ in case are both returned.
    let r = f.udp("MIXED.weave.local.", RecordType::A);
    assert_eq!(sorted(a_records(&r)), [ip("10.32.0.10"), ip("10.32.0.11")]);
}

#[test]
fn single_label_names_are_qualified() {
    let mut f = Fixture::new();
    let r = f.udp("c1.", RecordType::A);
    assert_eq!(a_records(&r).len(), 3);
    assert_eq!(r.answers[0].name.to_ascii(), "c1.");
    let r = f.udp("nothere.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    // A custom domain given without its trailing dot.
    let mut ns = Nameserver::new(HOST_A, "foo.bar");
    ns.add_entry_fqdn("web.foo.bar", "w", ip("10.32.0.7"), NOW).unwrap();
    let responder = Responder::new("foo.bar", 1);
    let bytes = query("WEB.", RecordType::A).to_vec().unwrap();
    let Action::Reply(out) =
        responder.answer(&bytes, Transport::Udp, ns.entries(), &mut StdRng::seed_from_u64(0))
    else {
        panic!()
    };
    assert_eq!(a_records(&Message::from_vec(&out).unwrap()), [ip("10.32.0.7")]);
}

#[test]
fn unknown_names_are_nxdomain_and_other_types_empty() {
    let mut f = Fixture::new();
    let r = f.udp("nothere.weave.local.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.recursion_available && !r.metadata.authoritative);
    assert!(r.answers.is_empty());
    // Tombstoned names do not exist.
    assert_eq!(f.udp("old.weave.local.", RecordType::A).metadata.response_code, ResponseCode::NXDomain);
    // RFC 4074: the name exists, MX gets NOERROR with no answers.
    for qtype in [RecordType::MX, RecordType::AAAA, RecordType::ANY] {
        let r = f.udp("c1.weave.local.", qtype);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{qtype}");
        assert!(r.answers.is_empty() && r.metadata.authoritative);
    }
    // Only one question is answered locally.
    let mut two = query("c1.weave.local.", RecordType::A);
    two.add_query(Query::query(Name::from_ascii("c1.weave.local.").unwrap(), RecordType::A));
    assert_eq!(f.ask(&two, Transport::Udp).metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn reverse_lookups_answer_for_the_live_owner() {
    let mut f = Fixture::new();
    for name in ["5.0.32.10.in-addr.arpa.", "5.0.32.10.IN-ADDR.ARPA."] {
        let r = f.udp(name, RecordType::PTR);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.metadata.authoritative);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].name.to_ascii(), name);
        assert_eq!(r.answers[0].ttl, 30);
        match &r.answers[0].data {
            RData::PTR(p) => assert_eq!(p.0.to_ascii(), "new.weave.local."),
            other => panic!("{other:?}"),
        }
    }
    // Unknown address: forwarded upstream.
    let bytes = query("9.9.9.10.in-addr.arpa.", RecordType::PTR).to_vec().unwrap();
    assert!(matches!(f.raw(&bytes, Transport::Udp), Action::Forward(_)));
    // Other types, or a name that is not an address, in the reverse zone: NXDOMAIN.
    assert_eq!(
        f.udp("5.0.32.10.in-addr.arpa.", RecordType::A).metadata.response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(
        f.udp("x.0.32.10.in-addr.arpa.", RecordType::PTR).metadata.response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(
        f.udp("0.32.10.in-addr.arpa.", RecordType::PTR).metadata.response_code,
        ResponseCode::NXDomain
    );
}

#[test]
fn fifty_records_over_udp_edns_and_tcp() {
    let mut f = Fixture::new();
    let all: Vec<Ipv4Addr> = (0..50u8).map(|i| Ipv4Addr::new(10, 33, 0, i)).collect();

    let bytes = f.reply_bytes(&query("many.weave.local.", RecordType::A), Transport::Udp);
    assert!(bytes.len() <= 512, "{}", bytes.len());
    let r = Message::from_vec(&bytes).unwrap();
    assert!(r.metadata.truncation);
    let n512 = r.answers.len();
    assert!(n512 > 20 && n512 < 50, "{n512}");
    assert!(a_records(&r).iter().all(|a| all.contains(a)));

    let q700 = with_edns(query("many.weave.local.", RecordType::A), 700);
    let bytes = f.reply_bytes(&q700, Transport::Udp);
    assert!(bytes.len() <= 700, "{}", bytes.len());
    let r = Message::from_vec(&bytes).unwrap();
    assert!(r.metadata.truncation);
    assert!(r.answers.len() > n512 && r.answers.len() < 50, "{}", r.answers.len());

    let q4k = with_edns(query("many.weave.local.", RecordType::A), 4096);
    let r = f.ask(&q4k, Transport::Udp);
    assert!(!r.metadata.truncation);
    assert_eq!(sorted(a_records(&r)), all);

    // EDNS sizes under 512 count as 512.
    let r = f.ask(&with_edns(query("many.weave.local.", RecordType::A), 100), Transport::Udp);
    assert_eq!(r.answers.len(), n512);

    let r = f.ask(&query("many.weave.local.", RecordType::A), Transport::Tcp);
    assert!(!r.metadata.truncation);
    assert_eq!(sorted(a_records(&r)), all);
}

#[test]
fn other_names_are_forwarded() {
    let mut f = Fixture::new();
    for (name, qtype) in [
        ("example.com.", RecordType::A),
        ("weave.local.example.com.", RecordType::A),
        ("c1.weave.local.", RecordType::DS), // miekg sends DS queries to the root handler
    ] {
        let q = query(name, qtype);
        let bytes = q.to_vec().unwrap();
        let Action::Forward(fwd) = f.raw(&bytes, Transport::Udp) else { panic!("{name} not forwarded") };
        assert_eq!(fwd.request(), &q);
        assert_eq!(fwd.transport(), Transport::Udp);
    }
    // Parsed requests are forwarded too.
    let q = query("example.com.", RecordType::MX);
    let ns = state();
    let a = f.responder.answer_message(&q, Transport::Tcp, ns.entries(), &mut f.rng);
    assert!(matches!(a, Action::Forward(fwd) if fwd.transport() == Transport::Tcp));
}

#[test]
fn forwarding_rewrites_ids_and_fails_over_to_servfail() {
    let mut f = Fixture::new();
    let q = query("example.com.", RecordType::A);
    let bytes = q.to_vec().unwrap();
    let Action::Forward(fwd) = f.raw(&bytes, Transport::Udp) else { panic!() };

    let mut ids = BTreeSet::new();
    for _ in 0..8 {
        let uq = fwd.query(&mut f.rng);
        assert_eq!(uq.bytes[2..], bytes[2..], "same request, new id");
        assert_eq!(uq.bytes[..2], uq.id.to_be_bytes());
        ids.insert(uq.id);
    }
    assert!(ids.len() > 1);

    let uq = fwd.query(&mut f.rng);
    let mut upstream = Message::new(uq.id, MessageType::Response, OpCode::Query);
    upstream.add_query(q.queries[0].clone());
    upstream.metadata.response_code = ResponseCode::NXDomain;
    let reply = upstream.to_vec().unwrap();
    let out = fwd.accept(&uq, &reply).unwrap();
    assert_eq!(out[..2], 0xbeefu16.to_be_bytes());
    assert_eq!(out[2..], reply[2..], "passed through unchanged (error codes included)");
    // Wrong id, garbage, too short: try the next server.
    let mut wrong = reply.clone();
    wrong[..2].copy_from_slice(&uq.id.wrapping_add(1).to_be_bytes());
    assert!(fwd.accept(&uq, &wrong).is_none());
    assert!(fwd.accept(&uq, &reply[..11]).is_none());
    let mut garbage = uq.id.to_be_bytes().to_vec();
    garbage.extend([0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0]);
    assert!(fwd.accept(&uq, &garbage).is_none());
    // ... unless marked truncated, which Weave's client accepts.
    garbage[2] |= 0x02;
    assert!(fwd.accept(&uq, &garbage).is_some());

    let sf = Message::from_vec(&fwd.servfail()).unwrap();
    assert_eq!(sf.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(sf.metadata.id, 0xbeef);
    assert!(sf.metadata.recursion_available && sf.metadata.recursion_desired);
    assert_eq!(sf.queries, q.queries);
}

#[test]
fn oversized_upstream_replies_are_fitted_to_the_client() {
    let mut f = Fixture::new();
    let q = query("big.example.com.", RecordType::A);
    let Action::Forward(fwd) = f.raw(&q.to_vec().unwrap(), Transport::Udp) else { panic!() };
    let uq = fwd.query(&mut f.rng);
    let mut upstream = Message::new(uq.id, MessageType::Response, OpCode::Query);
    upstream.add_query(q.queries[0].clone());
    for i in 0..100u8 {
        upstream.add_answer(hickory_proto::rr::Record::from_rdata(
            q.queries[0].name.clone(),
            60,
            RData::A(hickory_proto::rr::rdata::A(Ipv4Addr::new(192, 0, 2, i))),
        ));
    }
    let out = fwd.accept(&uq, &upstream.to_vec().unwrap()).unwrap();
    assert!(out.len() <= 512);
    let m = Message::from_vec(&out).unwrap();
    assert!(m.metadata.truncation && !m.answers.is_empty());
    assert_eq!(m.metadata.id, 0xbeef);
}

#[test]
fn odd_requests() {
    let mut f = Fixture::new();
    // Too short to be DNS: nothing.
    assert!(matches!(f.raw(&[1, 2, 3], Transport::Udp), Action::Drop));
    // A response: nothing.
    let mut resp = query("c1.weave.local.", RecordType::A);
    resp.metadata.message_type = MessageType::Response;
    assert!(matches!(f.raw(&resp.to_vec().unwrap(), Transport::Udp), Action::Drop));
    // Malformed: FORMERR with the request's id and nothing else.
    let mut bad = query("c1.weave.local.", RecordType::A).to_vec().unwrap();
    bad.truncate(bad.len() - 3);
    let Action::Reply(out) = f.raw(&bad, Transport::Udp) else { panic!() };
    assert_eq!(out, [0xbe, 0xef, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Counts that cannot fit the packet are refused before parsing.
    let Action::Reply(out) = f.raw(&[0, 7, 1, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0], Transport::Tcp)
    else {
        panic!()
    };
    assert_eq!(out[3] & 0x0f, 1);
    // No question (a bare header, whatever its counts say): SERVFAIL without RA, like miekg.
    for header in [[0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]] {
        let Action::Reply(out) = f.raw(&header, Transport::Udp) else { panic!() };
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
        assert!(!m.metadata.recursion_available && m.metadata.recursion_desired);
    }
    // Other opcodes are answered like queries, without RD copied.
    let mut notify = query("c1.weave.local.", RecordType::A);
    notify.metadata.op_code = OpCode::Notify;
    let r = f.ask(&notify, Transport::Udp);
    assert_eq!((r.metadata.op_code, r.metadata.recursion_desired), (OpCode::Notify, false));
    assert_eq!(r.answers.len(), 3);
}

#[test]
fn parsed_and_raw_requests_agree() {
    let f = Fixture::new();
    let q = query("new.weave.local.", RecordType::A);
    let entries: &Entries = f.ns.entries();
    let from_raw =
        f.responder.answer(&q.to_vec().unwrap(), Transport::Udp, entries, &mut StdRng::seed_from_u64(3));
    let from_msg = f.responder.answer_message(&q, Transport::Udp, entries, &mut StdRng::seed_from_u64(3));
    match (from_raw, from_msg) {
        (Action::Reply(a), Action::Reply(b)) => assert_eq!(a, b),
        other => panic!("{other:?}"),
    }
}

#[test]
fn edns_cannot_raise_udp_replies_past_1232_bytes() {
    let mut f = Fixture::new();
    for i in 0..120u8 {
        f.ns.add_entry("huge.weave.local.", &format!("h{i}"), Ipv4Addr::new(10, 34, 0, i), NOW);
    }
    let q = with_edns(query("huge.weave.local.", RecordType::A), 65_000);
    let bytes = f.reply_bytes(&q, Transport::Udp);
    assert!(bytes.len() <= weave_dns::message::MAX_UDP_SIZE, "{} bytes", bytes.len());
    let r = Message::from_vec(&bytes).unwrap();
    assert!(r.metadata.truncation, "TC tells the client to ask over TCP");
    assert!(r.answers.len() > 50 && r.answers.len() < 120, "{}", r.answers.len());
    // TCP still gets everything.
    assert_eq!(f.ask(&query("huge.weave.local.", RecordType::A), Transport::Tcp).answers.len(), 120);
}

#[test]
fn refused_replies_are_no_larger_than_the_query() {
    let q = query("anything.example.", RecordType::A).to_vec().unwrap();
    let r = weave_dns::message::refused(&q).expect("a reply");
    assert!(r.len() <= q.len());
    let m = Message::from_vec(&r).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert_eq!(m.metadata.id, 0xbeef);
    assert_eq!(m.queries.len(), 1);
    // Responses and garbage get nothing (no loops between two servers).
    assert!(weave_dns::message::refused(&r).is_none());
    assert!(weave_dns::message::refused(&[1, 2, 3]).is_none());
}
