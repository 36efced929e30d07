use super::*;

#[allow(clippy::disallowed_methods)] // the tests' one clock reading: a base for virtual time
fn t0() -> Instant {
    Instant::now()
}

const S: Duration = Duration::from_secs(1);
/// Plain sleeve: UDP/IP, sender name, frame header, Ethernet.
const OVERHEAD: u32 = 28 + 6 + 14 + 14;

fn peer() -> SocketAddrV4 {
    "10.0.0.2:6783".parse().unwrap()
}

/// A sleeve core whose peer answers over a path that carries overlay MTUs up to `path_mtu`.
struct Sim {
    c: Control,
    now: Instant,
    path_mtu: u32,
    sent: Vec<Special>,
    ups: Vec<Up>,
    other: Vec<Action>,
}

impl Sim {
    fn new(addr: Option<SocketAddrV4>) -> Sim {
        let now = t0();
        let mut s = Sim {
            c: Control::start(7, addr, OVERHEAD),
            now,
            path_mtu: 1400,
            sent: vec![],
            ups: vec![],
            other: vec![],
        };
        s.run();
        s
    }

    fn run(&mut self) {
        loop {
            let actions = self.c.take_actions();
            if actions.is_empty() {
                return;
            }
            for a in actions {
                match a {
                    Action::Send(sp) => {
                        self.sent.push(sp);
                        match sp {
                            // Our kernel refuses a DF packet above the path MTU it knows.
                            Special::PmtuProbe => self.c.too_big(self.now, Ok(self.path_mtu + OVERHEAD)),
                            // The peer answers the MTU tests that arrive.
                            Special::MtuTest(m) if m <= self.path_mtu => {
                                self.c.control(self.now, PMTU_VERIFIED, &(m as u16).to_be_bytes())
                            }
                            _ => {}
                        }
                    }
                    Action::Up(u) => self.ups.push(u),
                    a => self.other.push(a),
                }
            }
        }
    }

    fn until(&mut self, to: Instant) {
        while let Some(d) = self.c.next_deadline().filter(|d| *d <= to) {
            self.now = self.now.max(d);
            self.c.tick(self.now);
            self.run();
        }
        self.now = to;
    }

    fn heartbeats_sent(&self) -> usize {
        self.sent.iter().filter(|s| **s == Special::Heartbeat).count()
    }

    fn heartbeat_from(&mut self, from: SocketAddrV4, uid: u64) {
        let frame = SpecialFrame::Heartbeat { conn_uid: uid }.to_frame();
        self.c.special(self.now, from, &frame);
        self.run();
    }

    fn control(&mut self, tag: u8) {
        self.c.control(self.now, tag, &[]);
        self.run();
    }
}

#[test]
fn heartbeats_go_fast_until_acknowledged_then_slow() {
    let mut s = Sim::new(Some(peer()));
    s.c.confirm(s.now);
    s.run();
    assert_eq!(s.other, vec![Action::Register]);
    assert_eq!(s.heartbeats_sent(), 1);
    s.until(s.now + 2 * S);
    assert_eq!(s.heartbeats_sent(), 5, "every 500 ms");
    s.control(CONNECTION_ESTABLISHED);
    assert!(s.ups.contains(&Up::Established));
    s.until(s.now + 30 * S);
    assert_eq!(s.heartbeats_sent(), 8, "then every 10 s");
}

#[test]
fn an_inbound_connection_learns_the_peers_address_from_its_heartbeat() {
    let mut s = Sim::new(None);
    s.c.confirm(s.now);
    s.run();
    s.until(s.now + 5 * S);
    assert_eq!(s.heartbeats_sent(), 0, "nowhere to send yet");
    s.heartbeat_from(peer(), 99);
    assert_eq!(s.c.addr(), None, "another connection's heartbeat");
    s.heartbeat_from(peer(), 7);
    assert_eq!(s.c.addr(), Some(peer()));
    assert!(s.other.contains(&Action::SetAddr(peer())));
    assert_eq!(s.heartbeats_sent(), 1, "answered at once");
    let acks = |s: &Sim| {
        s.ups
            .iter()
            .filter(|u| **u == Up::SendControl { tag: CONNECTION_ESTABLISHED, payload: vec![] })
            .count()
    };
    assert_eq!(acks(&s), 1);
    // The peer moves (NAT rebinding): we follow it; the connection was acknowledged once.
    let moved: SocketAddrV4 = "10.0.0.9:40000".parse().unwrap();
    s.heartbeat_from(moved, 7);
    assert_eq!(s.c.addr(), Some(moved));
    assert_eq!(acks(&s), 1);
}

#[test]
fn sixty_seconds_without_a_heartbeat_fail_the_connection() {
    let mut s = Sim::new(Some(peer()));
    s.c.confirm(s.now);
    s.run();
    s.until(s.now + 59 * S);
    s.heartbeat_from(peer(), 7);
    let last = s.now;
    s.until(last + HEARTBEAT_TIMEOUT - S);
    assert!(!s.other.iter().any(|a| matches!(a, Action::Fail(_))));
    s.until(last + HEARTBEAT_TIMEOUT);
    assert_eq!(s.other.last(), Some(&Action::Fail("timed out waiting for UDP heartbeat".into())));
    assert_eq!(s.c.next_deadline(), None);
}

#[test]
fn the_fragmentation_test_runs_at_establishment_and_every_five_minutes() {
    let mut s = Sim::new(Some(peer()));
    s.c.confirm(s.now);
    s.run();
    s.control(CONNECTION_ESTABLISHED);
    assert!(s.sent.contains(&Special::FragTest));
    assert!(s.other.contains(&Action::SetStackFrag(false)));
    s.control(FRAGMENTATION_RECEIVED);
    assert_eq!(s.other.last(), Some(&Action::SetStackFrag(true)));
    let frag_tests = |s: &Sim| s.sent.iter().filter(|x| **x == Special::FragTest).count();
    for _ in 0..30 {
        s.until(s.now + 10 * S);
        s.heartbeat_from(peer(), 7);
    }
    assert_eq!(frag_tests(&s), 1 + 1, "one more after five minutes");
    // Their tests: a whole frag test is acknowledged; anything else is an MTU test of its size.
    s.c.special(s.now, peer(), &Special::FragTest.frame(7));
    s.c.special(s.now, peer(), &Special::MtuTest(1300).frame(7));
    s.run();
    let n = s.ups.len();
    assert_eq!(s.ups[n - 2], Up::SendControl { tag: FRAGMENTATION_RECEIVED, payload: vec![] });
    assert_eq!(s.ups[n - 1], Up::SendControl { tag: PMTU_VERIFIED, payload: 1300u16.to_be_bytes().to_vec() });
}

#[test]
fn the_mtu_search_finds_what_the_path_carries() {
    for path in [1400u32, 1376, 1000, 600] {
        let mut s = Sim::new(Some(peer()));
        // The kernel knows a path MTU of 1500, but the path carries only `path`.
        s.path_mtu = path;
        s.c.confirm(s.now);
        s.run();
        s.c.too_big(s.now, Ok(1500));
        s.run();
        assert!(s.other.contains(&Action::SetMaxPayload(1500 - 28)));
        s.until(s.now + 50 * S);
        assert_eq!(s.c.mtu(), path, "path {path}");
        let n = s.other.len();
        assert_eq!(s.other[n - 2..], [Action::SetMaxPayload(path + OVERHEAD - 28), Action::SetMtu(path)]);
        assert_eq!(s.ups.last(), Some(&Up::Attrs(attrs(path))));
        assert_eq!(s.c.next_deadline(), s.c.heartbeat_deadline.min(s.c.next_heartbeat), "the search is over");
    }
}

#[test]
fn a_path_mtu_that_shrinks_restarts_the_search_and_one_that_does_not_is_ignored() {
    let mut s = Sim::new(Some(peer()));
    s.c.confirm(s.now);
    s.run();
    s.control(CONNECTION_ESTABLISHED);
    s.until(s.now + S);
    assert_eq!(s.c.mtu(), 1400, "the probe started the search: the path carries 1400");
    // The underlay's MTU drops: the next refused DF send says so.
    s.path_mtu = 1200;
    s.c.too_big(s.now, Ok(1200 + OVERHEAD));
    s.run();
    assert_eq!(s.c.mtu(), 1200);
    // While a search runs, a refusal that says no less changes nothing.
    s.path_mtu = 1000;
    s.c.too_big(s.now, Ok(1100 + OVERHEAD));
    s.run();
    assert_eq!(s.sent.last(), Some(&Special::MtuTest(1100)), "lost on the way");
    let sent = s.sent.len();
    s.c.too_big(s.now, Ok(1100 + OVERHEAD));
    s.run();
    assert_eq!(s.sent.len(), sent);
    s.until(s.now + 30 * S);
    assert_eq!(s.c.mtu(), 1000);
    // No path MTU to read fails the connection's sleeve.
    s.c.too_big(s.now, Err("read path MTU: no route".into()));
    s.run();
    assert_eq!(s.other.last(), Some(&Action::Fail("read path MTU: no route".into())));
}
