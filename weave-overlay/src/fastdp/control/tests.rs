use super::*;
use std::net::Ipv4Addr;

#[allow(clippy::disallowed_methods)] // the tests' one clock reading: a base for virtual time
fn t0() -> Instant {
    Instant::now()
}

const MS: Duration = Duration::from_millis(1);
/// The heartbeat interval between two weave peers (both offer ours).
const I: Duration = OUR_INTERVAL;

/// How long a weave peer's path may go without a heartbeat or an acknowledgement.
fn timeout() -> Duration {
    I * MISSED
}

fn spec(our_short: u16) -> DeviceSpec {
    DeviceSpec {
        peer: PeerName(0x02_00_00_00_00_02),
        peer_short: 2,
        our_short,
        remote: "10.0.0.2:6784".parse().unwrap(),
        local: Some(Ipv4Addr::new(10, 0, 0, 1)),
        listen_port: 6784,
        mtu: 1376,
    }
}

fn params(weave_peer: bool) -> Params {
    Params {
        remote: PeerName(0x02_00_00_00_00_02),
        peer_interval: weave_peer.then_some(OUR_INTERVAL),
        mtu: 1376,
        encrypted: None,
        encrypted_unavailable: "no ESP here".into(),
    }
}

/// A fastdp core with its device simulated: every request is answered at once, as the
/// daemon's task does.
struct Dev {
    c: Control,
    now: Instant,
    /// The device is on the bridge.
    on_bridge: bool,
    /// The device exists.
    exists: bool,
    ups: Vec<Up>,
    sent: usize,
    opened: Vec<DeviceSpec>,
    attaches: Vec<bool>,
    failed: Option<String>,
}

impl Dev {
    fn new(weave_peer: bool) -> Dev {
        Dev::with(params(weave_peer), false)
    }

    fn with(p: Params, on_bridge: bool) -> Dev {
        let now = t0();
        let mut d = Dev {
            c: Control::start(now, p),
            now,
            on_bridge,
            exists: on_bridge,
            ups: vec![],
            sent: 0,
            opened: vec![],
            attaches: vec![],
            failed: None,
        };
        d.run();
        d
    }

    fn run(&mut self) {
        loop {
            let actions = self.c.take_actions();
            if actions.is_empty() {
                return;
            }
            for a in actions {
                match a {
                    Action::Up(u) => self.ups.push(u),
                    Action::Open(s) => {
                        self.opened.push(s);
                        self.exists = true;
                        let on = self.on_bridge;
                        self.c.opened(self.now, Ok(on));
                    }
                    Action::SetAttached(on) => {
                        self.attaches.push(on);
                        self.on_bridge = on;
                        self.c.attached(on, Ok(()));
                    }
                    Action::SendHeartbeat => self.sent += 1,
                    Action::CheckAttachment => {
                        let actual = self.exists.then_some(self.on_bridge);
                        self.c.attachment(actual);
                    }
                    Action::Fail(e) => self.failed = Some(e),
                }
            }
        }
    }

    fn confirm(&mut self) {
        self.c.confirm(Ok(spec(1)));
        self.run();
    }

    /// Advances virtual time to `to`, firing every deadline on the way.
    fn until(&mut self, to: Instant) {
        while let Some(d) = self.c.next_deadline().filter(|d| *d <= to) {
            self.now = self.now.max(d);
            self.c.tick(self.now, || Ok(spec(1)));
            self.run();
        }
        self.now = to;
    }

    fn advance(&mut self, by: Duration) {
        self.until(self.now + by);
    }

    fn heartbeat(&mut self) {
        self.c.heartbeat(self.now);
        self.run();
    }

    fn ack(&mut self) {
        self.c.control(self.now, HEARTBEAT_ACK, &[]);
        self.run();
    }

    /// Both directions carry heartbeats for `d` (a weave peer: one each way per interval).
    fn healthy_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now + I <= end {
            self.advance(I);
            self.heartbeat();
            self.ack();
        }
        self.until(end);
    }

    fn health(&self) -> Vec<(bool, String)> {
        self.ups
            .iter()
            .filter_map(|u| match u {
                Up::Health { healthy, reason } => Some((*healthy, reason.clone())),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn heartbeats_establish_fastdp_and_put_the_device_on_the_bridge() {
    let mut d = Dev::new(true);
    assert_eq!(d.ups, vec![Up::Attrs(attrs(1376))]);
    d.confirm();
    assert_eq!(d.opened, vec![spec(1)]);
    assert_eq!(d.sent, 1, "the first heartbeat goes at once");
    assert!(!d.on_bridge, "not before the peer acknowledged one");
    d.heartbeat();
    assert!(d.ups.contains(&Up::SendControl { tag: HEARTBEAT_ACK, payload: vec![] }));
    d.ack();
    assert!(d.ups.contains(&Up::Established));
    assert!(d.on_bridge);
    // Fast heartbeats until acknowledged, then one an interval.
    let before = d.sent;
    d.healthy_for(10 * I);
    assert!((9..=11).contains(&(d.sent - before)), "{} heartbeats in 10 intervals", d.sent - before);
    assert!(d.health().is_empty(), "{:?}", d.health());
}

#[test]
fn a_dead_path_is_dropped_within_the_heartbeat_timeout_and_no_sooner() {
    let mut d = Dev::new(true);
    d.confirm();
    d.healthy_for(3 * I);
    let died = d.now;
    d.until(died + timeout() - 10 * MS);
    assert!(d.health().is_empty(), "still within {MISSED} heartbeats");
    assert!(d.on_bridge);
    d.until(died + timeout());
    let h = d.health();
    assert_eq!(h.len(), 1, "{h:?}");
    let why = format!("no fastdp heartbeat from the peer for {}s", timeout().as_secs());
    assert!(!h[0].0 && h[0].1.contains(&why), "{h:?}");
    assert!(!d.on_bridge, "the device leaves the bridge with it");
}

#[test]
fn a_path_dead_one_way_is_noticed_by_the_missing_acknowledgements() {
    let mut d = Dev::new(true);
    d.confirm();
    d.healthy_for(3 * I);
    let died = d.now;
    // Their heartbeats still reach us; ours no longer reach them.
    for _ in 0..MISSED - 1 {
        d.advance(I);
        d.heartbeat();
    }
    assert!(d.health().is_empty(), "still within {MISSED} intervals");
    d.until(died + timeout());
    let h = d.health();
    assert_eq!(h.len(), 1, "{h:?}");
    assert!(h[0].1.contains("has not acknowledged our fastdp heartbeats"), "{h:?}");
    assert!(!d.on_bridge);
}

#[test]
fn a_path_that_comes_back_returns_after_the_hold() {
    let mut d = Dev::new(true);
    d.confirm();
    d.healthy_for(3 * I);
    d.advance(timeout() + I);
    assert!(!d.on_bridge);
    // Heartbeats flow again: the device returns once they have kept up for HOLD_MIN.
    d.advance(I);
    d.heartbeat();
    d.ack();
    let back = d.now;
    assert!(!d.on_bridge, "held back at first");
    d.healthy_for(HOLD_MIN - MS);
    assert!(!d.on_bridge, "held back for HOLD_MIN");
    d.until(back + HOLD_MIN);
    let h = d.health();
    assert_eq!(h.len(), 2, "{h:?}");
    assert!(h[1].0 && h[1].1.contains("resumed"), "{h:?}");
    assert!(d.on_bridge);
    assert_eq!(d.attaches, vec![true, false, true]);
}

#[test]
fn a_flapping_path_doubles_the_hold_and_a_stable_one_resets_it() {
    let mut d = Dev::new(true);
    d.confirm();
    d.healthy_for(3 * I);
    let mut holds = vec![];
    for _ in 0..6 {
        // Down long enough to be noticed, then up long enough to return.
        d.advance(timeout() + I);
        assert!(!d.on_bridge);
        holds.push(d.c.hold());
        d.healthy_for(HOLD_MAX + 2 * I);
        assert!(d.on_bridge, "returned after the hold");
    }
    assert_eq!(holds, [1, 2, 4, 8, 16, 32].map(|k| (HOLD_MIN * k).min(HOLD_MAX)));
    // Up for longer than STABLE: the next failure starts from HOLD_MIN again.
    d.healthy_for(STABLE);
    d.advance(timeout() + I);
    assert_eq!(d.c.hold(), HOLD_MIN);
}

#[test]
fn a_path_that_fails_again_during_the_hold_does_not_return_at_its_end() {
    let mut d = Dev::new(true);
    d.confirm();
    d.healthy_for(3 * I);
    // Flap until the hold is at its longest.
    while d.c.hold() < HOLD_MAX {
        d.advance(timeout() + I);
        d.healthy_for(d.c.hold() + 2 * I);
    }
    d.advance(timeout() + I);
    assert!(!d.on_bridge);
    assert_eq!(d.c.hold(), HOLD_MAX);
    // Heartbeats resume, then stop again before the hold is over (the timeout alone would
    // notice only after it).
    d.advance(I);
    d.heartbeat();
    d.ack();
    let resumed = d.now;
    d.healthy_for(HOLD_MAX - (RECOVER_MISSED + 1) * I);
    d.until(resumed + HOLD_MAX + I);
    assert!(!d.on_bridge, "not back after a hold it was not up for");
    assert_eq!(d.health().last().map(|h| h.0), Some(false));
    // Back for good: it returns once it has been up for the whole hold.
    d.advance(I);
    d.heartbeat();
    d.ack();
    let back = d.now;
    d.healthy_for(HOLD_MAX - MS);
    assert!(!d.on_bridge, "held back for the whole hold");
    d.until(back + HOLD_MAX);
    assert!(d.on_bridge);
}

#[test]
fn with_a_weave_net_peer_weaves_60_second_rule_applies() {
    let mut d = Dev::new(false);
    d.confirm();
    // Weave's fast heartbeats until acknowledged...
    d.advance(4 * WEAVE_FAST);
    assert_eq!(d.sent, 5);
    d.heartbeat();
    d.ack();
    assert!(d.on_bridge);
    // Weave acknowledges only the first heartbeat; it needs none of ours acknowledged.
    d.heartbeat();
    let acks = d.ups.iter().filter(|u| matches!(u, Up::SendControl { .. })).count();
    assert_eq!(acks, 1);
    // ...then Weave's slow ones, and Weave's timeout, whatever our own interval is.
    let (last, sent) = (d.now, d.sent);
    d.until(last + WEAVE_TIMEOUT - MS);
    assert!(d.on_bridge);
    let slow = (WEAVE_TIMEOUT.as_millis() / WEAVE_SLOW.as_millis()) as usize;
    assert!(
        (slow..=slow + 1).contains(&(d.sent - sent)),
        "{} heartbeats in {WEAVE_TIMEOUT:?}",
        d.sent - sent
    );
    d.until(last + WEAVE_TIMEOUT);
    assert!(!d.on_bridge);
    assert!(d.health()[0].1.contains(&format!("for {}s", WEAVE_TIMEOUT.as_secs())));
}

#[test]
fn an_encrypted_connection_or_a_peer_asking_for_esp_fails_fastdp_with_the_reason() {
    let mut d = Dev::with(Params { encrypted: Some("needs IPsec ESP".into()), ..params(true) }, false);
    d.confirm();
    assert_eq!(d.failed.as_deref(), Some("needs IPsec ESP"));
    assert!(d.opened.is_empty(), "no device is made");
    let mut d = Dev::new(true);
    d.confirm();
    d.c.control(d.now, CRYPTO_INIT_SA_REMOTE, &[]);
    d.run();
    assert_eq!(d.failed.as_deref(), Some("the peer wants encrypted fastdp: no ESP here"));
    assert_eq!(d.c.next_deadline(), None);
}

#[test]
fn a_restarted_daemon_keeps_an_adopted_device_on_the_bridge_while_heartbeats_flow() {
    // The previous daemon left the device on the bridge: the kernel kept forwarding.
    let mut d = Dev::with(params(true), true);
    d.confirm();
    assert!(d.on_bridge);
    d.heartbeat();
    d.ack();
    d.healthy_for(15 * I);
    assert!(d.attaches.is_empty(), "never taken off: {:?}", d.attaches);
    // An adopted device whose peer never answers goes once the timeout says so.
    let mut d = Dev::with(params(true), true);
    d.confirm();
    d.advance(timeout() - MS);
    assert!(d.attaches.is_empty(), "not before the timeout: {:?}", d.attaches);
    d.advance(MS);
    assert_eq!(d.attaches, vec![false]);
}

#[test]
fn new_short_ids_remake_the_device_and_heartbeats_go_on() {
    let mut d = Dev::new(true);
    d.confirm();
    d.healthy_for(3 * I);
    let sent = d.sent;
    d.now += I;
    d.c.tick(d.now, || Ok(spec(7)));
    d.run();
    assert_eq!(d.opened, vec![spec(1), spec(7)]);
    assert_eq!(d.sent, sent + 1, "a heartbeat through the new device");
    assert!(d.on_bridge, "established and healthy: the new device joins the bridge");
    assert_eq!(d.attaches[d.attaches.len() - 2..], [false, true], "off the bridge while remade");
    // Losing our short id fails fastdp.
    d.now += I;
    d.c.tick(d.now, || Err("we have no short id yet".into()));
    d.run();
    assert_eq!(d.failed.as_deref(), Some("we have no short id yet"));
}

#[test]
fn the_recheck_puts_back_a_device_moved_or_removed_behind_our_back() {
    let mut d = Dev::new(true);
    d.confirm();
    d.healthy_for(3 * I);
    assert!(d.on_bridge);
    d.on_bridge = false; // someone took it off the bridge
    d.healthy_for(RECHECK);
    assert!(d.on_bridge);
    d.exists = false; // and deleted it
    d.on_bridge = false;
    d.healthy_for(RECHECK);
    assert_eq!(d.opened.len(), 2, "remade");
    assert!(d.exists && d.on_bridge);
}

/// The acknowledgements sent while the peer's heartbeats arrive `every` apart for `n` of them,
/// missing those whose index `lost` says; their number and the largest gap between them.
fn acks_of(every: Duration, n: u32, lost: impl Fn(u32) -> bool) -> (usize, Duration, Dev) {
    let mut d = Dev::new(true);
    d.confirm();
    let acks =
        |d: &Dev| d.ups.iter().filter(|u| matches!(u, Up::SendControl { tag: HEARTBEAT_ACK, .. })).count();
    let (mut last, mut seen, mut max_gap) = (None::<Instant>, 0, Duration::ZERO);
    for i in 0..n {
        d.advance(every);
        if lost(i) {
            continue;
        }
        d.heartbeat();
        d.ack();
        if acks(&d) > seen {
            seen = acks(&d);
            if let Some(l) = last {
                max_gap = max_gap.max(d.now - l);
            }
            last = Some(d.now);
        }
    }
    (seen, max_gap, d)
}

#[test]
fn a_weave_peers_heartbeats_are_acknowledged_often_enough_but_not_each_one() {
    let n = 30;
    let (seen, max_gap, d) = acks_of(I, n, |_| false);
    let (fewest, most) = ((n / (ACK_EVERY + 1)) as usize, (n / ACK_EVERY + 1) as usize);
    assert!((fewest..=most).contains(&seen), "{seen} acknowledgements of {n} heartbeats");
    assert!(
        max_gap >= I * ACK_EVERY && max_gap + 2 * I <= timeout(),
        "largest gap {max_gap:?}, the peer's timeout {:?}",
        timeout()
    );
    assert!(d.health().is_empty(), "{:?}", d.health());
}

#[test]
fn acknowledgements_stay_inside_the_peers_timeout_with_early_or_lost_heartbeats() {
    // Heartbeats a little early: the one due at ACK_EVERY intervals comes just too soon, so the
    // next one is acknowledged: ACK_EVERY + 1 intervals apart, less the earliness.
    let (_, max_gap, d) = acks_of(I - 10 * MS, 40, |_| false);
    assert!(max_gap > I * ACK_EVERY && max_gap < I * (ACK_EVERY + 1), "{max_gap:?}");
    assert!(max_gap + I < timeout(), "room for a lost heartbeat: {max_gap:?}");
    assert!(d.health().is_empty(), "{:?}", d.health());
    // Every fourth heartbeat lost on top: still acknowledged within the peer's timeout.
    let (_, max_gap, d) = acks_of(I - 10 * MS, 40, |i| i % 4 == 3);
    assert!(max_gap < timeout(), "largest gap {max_gap:?}, the peer's timeout {:?}", timeout());
    assert!(d.health().is_empty(), "{:?}", d.health());
}

#[test]
fn weave_peers_use_the_longer_of_their_intervals() {
    // A peer offering a shorter interval (an older weave) gets ours, and the timeout with it.
    let mut d = Dev::with(Params { peer_interval: Some(I / 2), ..params(true) }, false);
    d.confirm();
    d.heartbeat();
    d.ack();
    let last = d.now;
    d.until(last + timeout() - MS);
    assert!(d.on_bridge);
    d.until(last + timeout());
    assert!(!d.on_bridge);
    // One offering a longer interval gets its own.
    let mut d = Dev::with(Params { peer_interval: Some(2 * I), ..params(true) }, false);
    d.confirm();
    d.heartbeat();
    d.ack();
    let last = d.now;
    d.until(last + 2 * timeout() - MS);
    assert!(d.on_bridge);
    d.until(last + 2 * timeout());
    assert!(!d.on_bridge);
}
