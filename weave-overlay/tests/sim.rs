//! The overlay of one connection between two peers, simulated in virtual time: each end runs
//! the overlay switch with its fastdp and sleeve forwarders (the pure cores), their devices
//! are modelled, and a simulated underlay carries the TCP control messages, the fastdp
//! heartbeats (through VXLAN, so they must fit the underlay's MTU) and the sleeve's special
//! frames. Minutes of heartbeats, failures, recoveries and restarts run in milliseconds.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};
use weave_overlay::fastdp::control::{self as fastdp, HOLD_MAX, HOLD_MIN};
use weave_overlay::fastdp::heartbeat::{MISSED, OUR_INTERVAL};
use weave_overlay::fastdp::spec::DeviceSpec;
use weave_overlay::forwarder::{Ctl, Up};
use weave_overlay::sleeve::control as sleeve;
use weave_overlay::switch::{self, negotiate, ConnSwitch, SwitchRecord};
use weave_wire::PeerName;

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);
const LATENCY: Duration = Duration::from_millis(1);
/// How long a weave peer's fastdp path may go without heartbeats: both ends offer ours.
const TIMEOUT: Duration = Duration::from_millis(OUR_INTERVAL.as_millis() as u64 * MISSED as u64);
/// The overlay MTU (fastdp's heartbeats are this plus an Ethernet header).
const MTU: u32 = 1376;
/// What VXLAN adds to a frame on the underlay (outer IPv4, UDP, VXLAN).
const VXLAN_OVERHEAD: u32 = 20 + 8 + 8;
/// What sleeve adds to a special frame on the underlay (IPv4, UDP, sender, frame header).
const SLEEVE_OVERHEAD: u32 = 20 + 8 + 6 + 14;

#[allow(clippy::disallowed_methods)] // the one clock reading: a base for virtual time
fn t0() -> Instant {
    Instant::now()
}

#[allow(clippy::large_enum_variant)] // a test harness: a few of these, moved rarely
enum Fwd {
    Fastdp(fastdp::Control),
    Sleeve(sleeve::Control),
    Gone,
}

/// What one end's kernel has of its fastdp device.
#[derive(Default, Clone, Copy)]
struct Device {
    exists: bool,
    on_bridge: bool,
}

struct End {
    addr: SocketAddrV4,
    sw: ConnSwitch,
    fwds: Vec<Fwd>,
    dev: Device,
    /// Every time the device joined or left the bridge.
    bridge_log: Vec<(Instant, bool)>,
    failed: Option<String>,
    sleeve_mtu: u32,
}

enum Msg {
    Tcp(Vec<u8>),
    Heartbeat,
    Special(SocketAddrV4, Vec<u8>),
}

struct Underlay {
    vxlan_up: bool,
    udp_up: bool,
    mtu: u32,
}

struct Sim {
    now: Instant,
    ends: [End; 2],
    /// Messages in flight: (arrival, sequence) -> (to, message).
    wire: BTreeMap<(Instant, u64), (usize, Msg)>,
    seq: u64,
    net: Underlay,
    /// The current connection's UID (a restart makes a new connection).
    uid: u64,
}

fn spec(us: usize) -> DeviceSpec {
    DeviceSpec {
        peer: PeerName(0x02_00_00_00_00_01 + (1 - us) as u64),
        peer_short: (1 - us) as u16 + 1,
        our_short: us as u16 + 1,
        remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2 - us as u8), 6784),
        local: Some(Ipv4Addr::new(10, 0, 0, 1 + us as u8)),
        listen_port: 6784,
        mtu: MTU,
    }
}

fn overlays(fastdp: bool) -> Vec<String> {
    let mut o = vec![];
    if fastdp {
        o.push("fastdp".to_string());
    }
    o.push("sleeve".to_string());
    o
}

impl End {
    /// A new connection's end: `us` 0 dialled, `offers`: which overlays each end offers.
    fn connect(now: Instant, us: usize, offers: [bool; 2], uid: u64, dev: Device) -> End {
        let addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1 + us as u8), 6783);
        let peer_addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2 - us as u8), 6783);
        let n = negotiate(&overlays(offers[us]), Some(&overlays(offers[1 - us])), us == 0).unwrap();
        let fwds: Vec<Fwd> = n
            .overlays
            .iter()
            .map(|o| match o.as_str() {
                "fastdp" => Fwd::Fastdp(fastdp::Control::start(
                    now,
                    fastdp::Params {
                        remote: PeerName(0x02_00_00_00_00_01 + (1 - us) as u64),
                        peer_interval: Some(OUR_INTERVAL),
                        mtu: MTU,
                        encrypted: None,
                        encrypted_unavailable: String::new(),
                    },
                )),
                _ => Fwd::Sleeve(sleeve::Control::start(
                    uid,
                    (us == 0).then_some(peer_addr),
                    SLEEVE_OVERHEAD + 14,
                )),
            })
            .collect();
        let names = n.overlays.iter().map(|o| (o.clone(), Ok(()))).collect();
        let mut sw = ConnSwitch::new(PeerName(0x02_00_00_00_00_01 + (1 - us) as u64), n.compat, names);
        sw.start(now);
        End { addr, sw, fwds, dev, bridge_log: vec![], failed: None, sleeve_mtu: 65535 }
    }

    fn switches(&self) -> Vec<SwitchRecord> {
        self.sw.status().switches
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.fwds
            .iter()
            .filter_map(|f| match f {
                Fwd::Fastdp(c) => c.next_deadline(),
                Fwd::Sleeve(c) => c.next_deadline(),
                Fwd::Gone => None,
            })
            .min()
    }

    fn index(&self, fastdp: bool) -> Option<usize> {
        self.fwds.iter().position(|f| matches!((f, fastdp), (Fwd::Fastdp(_), true) | (Fwd::Sleeve(_), false)))
    }
}

impl Sim {
    fn new(offers: [bool; 2]) -> Sim {
        let now = t0();
        let dev = Device::default();
        let ends = [End::connect(now, 0, offers, 1, dev), End::connect(now, 1, offers, 1, dev)];
        let mut sim = Sim {
            now,
            ends,
            wire: BTreeMap::new(),
            seq: 0,
            net: Underlay { vxlan_up: true, udp_up: true, mtu: 1500 },
            uid: 1,
        };
        sim.pump(0);
        sim.pump(1);
        // The mesh confirms the connection at both ends.
        for e in 0..2 {
            sim.ends[e].sw.confirm();
            sim.pump(e);
        }
        sim
    }

    fn send(&mut self, to: usize, m: Msg) {
        self.seq += 1;
        self.wire.insert((self.now + LATENCY, self.seq), (to, m));
    }

    /// Performs every action of end `e`'s cores until none is left.
    fn pump(&mut self, e: usize) {
        let now = self.now;
        loop {
            let mut ups: Vec<(usize, Up)> = vec![];
            let mut out: Vec<Msg> = vec![];
            let mut busy = false;
            let end = &mut self.ends[e];
            for a in end.sw.take_actions() {
                busy = true;
                match a {
                    switch::Action::Forward(i, ctl) => match (&mut end.fwds[i], ctl) {
                        (Fwd::Fastdp(c), Ctl::Confirm) => c.confirm(Ok(spec(e))),
                        (Fwd::Fastdp(c), Ctl::Control { tag, payload }) => c.control(now, tag, &payload),
                        (Fwd::Sleeve(c), Ctl::Confirm) => c.confirm(now),
                        (Fwd::Sleeve(c), Ctl::Control { tag, payload }) => c.control(now, tag, &payload),
                        (Fwd::Gone, _) => {}
                    },
                    switch::Action::Stop(i) => end.fwds[i] = Fwd::Gone,
                    switch::Action::Failed(why) => end.failed = Some(why),
                    switch::Action::Send(body) => out.push(Msg::Tcp(body)),
                    _ => {}
                }
            }
            for (i, f) in end.fwds.iter_mut().enumerate() {
                match f {
                    Fwd::Fastdp(c) => {
                        for a in c.take_actions() {
                            busy = true;
                            match a {
                                fastdp::Action::Up(u) => ups.push((i, u)),
                                fastdp::Action::Open(_) => {
                                    end.dev.exists = true;
                                    c.opened(now, Ok(end.dev.on_bridge));
                                }
                                fastdp::Action::SetAttached(on) => {
                                    if end.dev.on_bridge != on {
                                        end.bridge_log.push((now, on));
                                    }
                                    end.dev.on_bridge = on;
                                    c.attached(on, Ok(()));
                                }
                                fastdp::Action::SendHeartbeat => {
                                    let fits = MTU + 14 + VXLAN_OVERHEAD <= self.net.mtu;
                                    if self.net.vxlan_up && fits {
                                        out.push(Msg::Heartbeat);
                                    }
                                }
                                fastdp::Action::CheckAttachment => {
                                    c.attachment(end.dev.exists.then_some(end.dev.on_bridge))
                                }
                                fastdp::Action::Fail(why) => ups.push((i, Up::Failed(why))),
                            }
                        }
                    }
                    Fwd::Sleeve(c) => {
                        for a in c.take_actions() {
                            busy = true;
                            match a {
                                sleeve::Action::Up(u) => ups.push((i, u)),
                                sleeve::Action::Send(sp) => {
                                    let frame = sp.frame(self.uid);
                                    let size = frame.len() as u32 + SLEEVE_OVERHEAD;
                                    if sp.df() && size > self.net.mtu {
                                        // The kernel knows the path MTU and refuses.
                                        c.too_big(now, Ok(self.net.mtu));
                                    } else if self.net.udp_up {
                                        out.push(Msg::Special(end.addr, frame));
                                    }
                                }
                                sleeve::Action::SetMtu(m) => end.sleeve_mtu = m,
                                sleeve::Action::Fail(why) => ups.push((i, Up::Failed(why))),
                                _ => {}
                            }
                        }
                    }
                    Fwd::Gone => {}
                }
            }
            for (i, u) in ups {
                end.sw.up(now, i, u);
            }
            for m in out {
                self.send(1 - e, m);
            }
            if !busy {
                return;
            }
        }
    }

    fn deliver(&mut self, to: usize, m: Msg) {
        let now = self.now;
        let end = &mut self.ends[to];
        match m {
            Msg::Tcp(body) => match body.as_slice() {
                [switch::OVERLAY_CONTROL_TAG, index, tag, payload @ ..] => {
                    end.sw.control(*index, *tag, payload.to_vec())
                }
                _ => panic!("not an overlay control message: {body:?}"),
            },
            Msg::Heartbeat => {
                if let Some(Fwd::Fastdp(c)) = end.index(true).map(|i| &mut end.fwds[i]) {
                    c.heartbeat(now);
                }
            }
            Msg::Special(from, frame) => {
                if let Some(Fwd::Sleeve(c)) = end.index(false).map(|i| &mut end.fwds[i]) {
                    c.special(now, from, &frame);
                }
            }
        }
        self.pump(to);
    }

    /// Runs until `to`, delivering messages and firing deadlines in time order.
    fn run_until(&mut self, to: Instant) {
        loop {
            let wire = self.wire.keys().next().map(|k| k.0);
            let deadlines = [self.ends[0].next_deadline(), self.ends[1].next_deadline()];
            let next = [wire, deadlines[0], deadlines[1]].into_iter().flatten().min();
            let Some(next) = next.filter(|t| *t <= to) else { break };
            self.now = self.now.max(next);
            if wire == Some(next) {
                let key = *self.wire.keys().next().expect("a message");
                let (e, m) = self.wire.remove(&key).expect("a message");
                self.deliver(e, m);
                continue;
            }
            for (e, d) in deadlines.into_iter().enumerate() {
                if d == Some(next) {
                    for f in &mut self.ends[e].fwds {
                        match f {
                            Fwd::Fastdp(c) => c.tick(next, || Ok(spec(e))),
                            Fwd::Sleeve(c) => c.tick(next),
                            Fwd::Gone => {}
                        }
                    }
                    self.pump(e);
                }
            }
        }
        self.now = to;
    }

    fn run(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    fn both(&self) -> [Option<&str>; 2] {
        [self.ends[0].sw.best(), self.ends[1].sw.best()]
    }

    /// Whether both ends carry traffic over an established `overlay`.
    fn both_on(&self, overlay: &str) -> bool {
        self.ends.iter().all(|e| {
            let st = e.sw.status();
            e.sw.best() == Some(overlay)
                && st.forwarders.iter().any(|f| f.name == overlay && f.state == "established")
        })
    }

    /// How long until both ends carry traffic over an established `overlay`, within `limit`.
    fn wait_both(&mut self, overlay: &str, limit: Duration) -> Option<Duration> {
        let start = self.now;
        while self.now < start + limit {
            if self.both_on(overlay) {
                return Some(self.now - start);
            }
            self.run(Duration::from_millis(100));
        }
        None
    }
}

#[test]
fn fastdp_is_used_falls_back_within_the_heartbeat_timeout_and_returns_2() {
    let mut sim = Sim::new([true, true]);
    let took = sim.wait_both("fastdp", 5 * S).expect("fastdp within seconds");
    assert!(took <= S, "{took:?}");
    assert!(sim.ends.iter().all(|e| e.dev.on_bridge));
    sim.run(60 * S);
    assert_eq!(sim.both(), [Some("fastdp"); 2], "steady");

    // The underlay drops VXLAN: both ends move to sleeve within MISSED heartbeat intervals (the
    // contract promises 15 s), the device leaves the bridge, and the switch says why.
    sim.net.vxlan_up = false;
    let fell = sim.wait_both("sleeve", 15 * S).expect("fallback within 15 s");
    assert!(fell <= TIMEOUT + 200 * MS, "{fell:?}");
    for e in &sim.ends {
        assert!(!e.dev.on_bridge);
        let last = e.switches().last().cloned().unwrap();
        assert_eq!((last.from.as_deref(), last.to.as_deref()), (Some("fastdp"), Some("sleeve")));
        assert!(last.reason.contains("heartbeat"), "{}", last.reason);
    }
    sim.run(60 * S);
    assert_eq!(sim.both(), [Some("sleeve"); 2], "sleeve carries on: it has its own heartbeats");

    // VXLAN is back: fastdp returns once it has stayed up for the hold (the contract: 30 s).
    sim.net.vxlan_up = true;
    let back = sim.wait_both("fastdp", 30 * S).expect("return within 30 s");
    // Heartbeats resume within an interval, then the hold.
    assert!(back <= OUR_INTERVAL + HOLD_MIN + 200 * MS, "{back:?}");
    assert!(sim.ends.iter().all(|e| e.dev.on_bridge));
    let last = sim.ends[0].switches().last().cloned().unwrap();
    assert_eq!((last.from.as_deref(), last.to.as_deref()), (Some("sleeve"), Some("fastdp")));
    assert!(sim.ends.iter().all(|e| e.failed.is_none()));
}

#[test]
fn an_underlay_mtu_below_the_heartbeats_moves_to_sleeve_which_finds_the_new_mtu_2() {
    let mut sim = Sim::new([true, true]);
    sim.wait_both("fastdp", 5 * S).expect("fastdp");
    sim.run(20 * S);
    assert_eq!(sim.ends[0].sleeve_mtu, 1500 - SLEEVE_OVERHEAD - 14, "sleeve's search found the path's");
    // The underlay's MTU drops to 1400: full-size heartbeats (1390 + 36) no longer pass.
    sim.net.mtu = 1400;
    let fell = sim.wait_both("sleeve", 15 * S).expect("fallback");
    assert!(fell <= TIMEOUT + 200 * MS, "{fell:?}");
    // Sleeve learns the smaller MTU when its kernel refuses a full-size DF data packet (the
    // datapath says so) and searches again.
    for e in 0..2 {
        let i = sim.ends[e].index(false).unwrap();
        if let Fwd::Sleeve(c) = &mut sim.ends[e].fwds[i] {
            c.too_big(sim.now, Ok(sim.net.mtu));
        }
        sim.pump(e);
    }
    sim.run(30 * S);
    for e in &sim.ends {
        assert_eq!(e.sleeve_mtu, 1400 - SLEEVE_OVERHEAD - 14);
    }
    assert_eq!(sim.both(), [Some("sleeve"); 2]);
    // The MTU comes back: fastdp returns.
    sim.net.mtu = 1500;
    sim.wait_both("fastdp", 30 * S).expect("return");
}

#[test]
fn no_fastdp_on_either_end_keeps_the_pair_on_sleeve_2() {
    for offers in [[true, false], [false, true], [false, false]] {
        let mut sim = Sim::new(offers);
        sim.wait_both("sleeve", 5 * S).expect("sleeve");
        for e in &sim.ends {
            assert_eq!(e.fwds.len(), 1, "one forwarder: sleeve");
            let st = e.sw.status();
            assert_eq!(st.forwarders.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["sleeve"]);
        }
        // Whatever VXLAN does, nothing switches.
        sim.net.vxlan_up = false;
        sim.run(30 * S);
        sim.net.vxlan_up = true;
        sim.run(30 * S);
        for e in &sim.ends {
            assert_eq!(e.switches().len(), 1, "sleeve from the start: {:?}", e.switches());
            assert!(!e.dev.exists, "no device is made");
        }
    }
}

#[test]
fn a_flapping_path_switches_at_most_once_per_backoff_and_settles_on_sleeve_2() {
    let mut sim = Sim::new([true, true]);
    sim.wait_both("fastdp", 5 * S).expect("fastdp");
    sim.run(10 * S);
    let start = sim.now;
    // VXLAN fails long enough to be noticed and comes back for 12 s (long enough to return after
    // a hold of up to 8 s, not 16 s), again and again, for over ten minutes.
    let (down, up) = (TIMEOUT + 3 * S, 12 * S);
    for _ in 0..30 {
        sim.net.vxlan_up = false;
        sim.run(down);
        sim.net.vxlan_up = true;
        sim.run(up);
    }
    for e in &sim.ends {
        let sw: Vec<SwitchRecord> = e.switches().into_iter().filter(|r| r.at >= start).collect();
        let returns: Vec<&SwitchRecord> = sw.iter().filter(|r| r.to.as_deref() == Some("fastdp")).collect();
        // Without a backoff every cycle would switch twice: 60 switches.
        assert!(sw.len() <= 8, "{} switches: {sw:?}", sw.len());
        assert!(returns.len() <= 3, "{returns:?}");
        // Every return waited out a hold after the switch before it; the holds grew.
        let mut gaps = vec![];
        for pair in sw.windows(2) {
            if pair[1].to.as_deref() == Some("fastdp") {
                let gap = pair[1].at - pair[0].at;
                assert!(gap >= HOLD_MIN, "{pair:?}");
                gaps.push(gap);
            }
        }
        assert!(gaps.windows(2).all(|g| g[1] > g[0]), "the hold doubles: {gaps:?}");
        // It settled on sleeve: the up periods (12 s) are shorter than the hold now.
        assert_eq!(e.sw.best(), Some("sleeve"));
        assert!(sw.last().unwrap().at < start + 5 * 60 * S, "no switch in the last five minutes");
        // The device followed the switch: it joined the bridge only at the returns.
        let joins = e.bridge_log.iter().filter(|(t, on)| *on && *t >= start).count();
        assert_eq!(joins, returns.len());
    }
    // Once the path stays up, fastdp returns within the contract's 30 s.
    let back = sim.wait_both("fastdp", 30 * S).expect("return within 30 s");
    assert!(back <= OUR_INTERVAL + HOLD_MAX + 200 * MS, "{back:?}");
}

#[test]
fn a_restarted_peer_reconnects_without_taking_the_devices_off_the_bridge_2() {
    let mut sim = Sim::new([true, true]);
    sim.wait_both("fastdp", 5 * S).expect("fastdp");
    sim.run(30 * S);
    let restart = sim.now;
    // Peer 1's daemon dies: the TCP connection closes at once; both devices stay (the kernel
    // keeps forwarding). Peer 1 comes back 3 s later: a new connection, whose fastdp
    // forwarders adopt the devices as they are.
    sim.run(3 * S);
    sim.wire.clear();
    sim.uid = 2;
    let devs = [sim.ends[0].dev, sim.ends[1].dev];
    assert!(devs.iter().all(|d| d.on_bridge));
    let now = sim.now;
    sim.ends =
        [End::connect(now, 0, [true, true], 2, devs[0]), End::connect(now, 1, [true, true], 2, devs[1])];
    sim.pump(0);
    sim.pump(1);
    for e in 0..2 {
        sim.ends[e].sw.confirm();
        sim.pump(e);
    }
    sim.wait_both("fastdp", 5 * S).expect("fastdp again");
    sim.run(60 * S);
    for e in &sim.ends {
        assert!(e.dev.on_bridge);
        assert!(e.bridge_log.is_empty(), "never taken off the bridge: {:?}", e.bridge_log);
    }
    assert!(sim.now > restart);
}
