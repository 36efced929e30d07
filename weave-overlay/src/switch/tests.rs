use super::*;
use std::time::Duration;

#[allow(clippy::disallowed_methods)] // the tests' one clock reading: a base for virtual time
fn t0() -> Instant {
    Instant::now()
}

const PEER: PeerName = PeerName(0x02_00_00_00_00_02);

fn both() -> ConnSwitch {
    ConnSwitch::new(PEER, false, vec![("fastdp".into(), Ok(())), ("sleeve".into(), Ok(()))])
}

fn health(healthy: bool, reason: &str) -> Up {
    Up::Health { healthy, reason: reason.into() }
}

fn last_switch(sw: &ConnSwitch) -> (Option<String>, Option<String>, String) {
    let r = sw.status().switches.last().cloned().expect("a switch");
    (r.from, r.to, r.reason)
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn fastdp_is_preferred_once_established_and_sleeve_carries_until_then() {
    let now = t0();
    let mut sw = both();
    sw.start(now);
    assert_eq!(sw.best(), Some("fastdp"), "the most preferred while none is established");
    sw.take_actions();
    sw.up(now, 1, Up::Established);
    assert_eq!(sw.best(), Some("sleeve"));
    let a = sw.take_actions();
    assert_eq!(a[0], Action::Established, "the connection is established once");
    sw.up(now + Duration::from_secs(1), 0, Up::Established);
    assert_eq!(sw.best(), Some("fastdp"));
    assert!(!sw.take_actions().contains(&Action::Established));
    assert_eq!(last_switch(&sw), (s("sleeve"), s("fastdp"), "fastdp established".into()));
    let st = sw.status();
    let states: Vec<&str> = st.forwarders.iter().map(|f| f.state.as_str()).collect();
    assert_eq!(states, ["established", "established"]);
    assert_eq!(st.switches.len(), 3);
}

#[test]
fn an_unhealthy_fastdp_falls_back_to_sleeve_and_returns_with_the_reasons() {
    let now = t0();
    let mut sw = both();
    sw.start(now);
    sw.up(now, 1, Up::Established);
    sw.up(now, 0, Up::Established);
    let reason = "no fastdp heartbeat from the peer for 5s";
    sw.up(now + Duration::from_secs(10), 0, health(false, reason));
    assert_eq!(sw.best(), Some("sleeve"));
    assert_eq!(last_switch(&sw), (s("fastdp"), s("sleeve"), reason.into()));
    let f = &sw.status().forwarders[0];
    assert_eq!((f.state.as_str(), f.reason.as_deref()), ("unhealthy", Some(reason)));
    sw.up(now + Duration::from_secs(20), 0, health(true, "fastdp heartbeats resumed"));
    assert_eq!(sw.best(), Some("fastdp"));
    let r = sw.status().switches.last().cloned().unwrap();
    assert_eq!(r.at, now + Duration::from_secs(20), "the switch's time is the input's");
    assert_eq!(sw.status().forwarders[0].reason, None);
}

#[test]
fn failed_forwarders_are_stopped_and_the_last_failure_fails_the_connection() {
    let now = t0();
    let mut sw = both();
    sw.start(now);
    sw.up(now, 0, Up::Established);
    sw.take_actions();
    sw.up(now, 0, Up::Failed("the peer wants encrypted fastdp".into()));
    let a = sw.take_actions();
    assert_eq!(a[0], Action::Stop(0));
    assert_eq!(sw.best(), Some("sleeve"));
    assert_eq!(sw.status().forwarders[0].state, "failed");
    assert!(!sw.done());
    sw.confirm();
    assert_eq!(sw.take_actions(), vec![Action::Forward(1, Ctl::Confirm)], "only the live one");
    sw.up(now, 1, Up::Failed("timed out waiting for UDP heartbeat".into()));
    assert!(sw.done());
    let a = sw.take_actions();
    assert_eq!(a.last(), Some(&Action::Failed(format!("no working forwarders to {PEER}"))));
    assert_eq!(sw.best(), None);
}

#[test]
fn an_overlay_that_could_not_make_a_forwarder_is_shown_failed_and_never_used() {
    let now = t0();
    let mut sw = ConnSwitch::new(
        PEER,
        false,
        vec![("fastdp".into(), Err("fastdp needs an IPv4 peer".into())), ("sleeve".into(), Ok(()))],
    );
    sw.start(now);
    assert_eq!(sw.best(), Some("sleeve"));
    let f = &sw.status().forwarders[0];
    assert_eq!((f.state.as_str(), f.reason.as_deref()), ("failed", Some("fastdp needs an IPv4 peer")));
    sw.control(0, 0, vec![]);
    assert!(!sw.take_actions().iter().any(|a| matches!(a, Action::Forward(0, _))));
}

#[test]
fn control_messages_are_framed_by_index_or_raw_in_compat_mode() {
    let now = t0();
    let mut sw = both();
    sw.start(now);
    sw.take_actions();
    sw.up(now, 1, Up::SendControl { tag: 3, payload: vec![5, 6] });
    assert_eq!(sw.take_actions(), vec![Action::Send(vec![OVERLAY_CONTROL_TAG, 1, 3, 5, 6])]);
    sw.control(1, 2, vec![9]);
    assert_eq!(sw.take_actions(), vec![Action::Forward(1, Ctl::Control { tag: 2, payload: vec![9] })]);
    sw.control(7, 2, vec![9]);
    assert_eq!(sw.take_actions(), vec![], "an overlay we do not run");
    let mut compat = ConnSwitch::new(PEER, true, vec![("sleeve".into(), Ok(()))]);
    compat.start(now);
    compat.take_actions();
    compat.up(now, 0, Up::SendControl { tag: 1, payload: vec![] });
    assert_eq!(compat.take_actions(), vec![Action::Send(vec![1])]);
}

#[test]
fn the_attributes_shown_are_those_of_the_overlay_in_use() {
    let now = t0();
    let mut sw = both();
    sw.start(now);
    sw.up(now, 1, Up::Established);
    sw.take_actions();
    let attrs = |name: &str, mtu: u32| {
        BTreeMap::from([("name".to_string(), name.into()), ("mtu".to_string(), mtu.into())])
    };
    sw.up(now, 0, Up::Attrs(attrs("fastdp", 1376)));
    assert!(!sw.take_actions().iter().any(|a| matches!(a, Action::Attrs(_))), "fastdp is not in use");
    sw.up(now, 1, Up::Attrs(attrs("sleeve", 1400)));
    assert_eq!(sw.take_actions(), vec![Action::Attrs(attrs("sleeve", 1400))]);
    sw.up(now, 0, Up::Established);
    assert!(sw.take_actions().contains(&Action::Attrs(attrs("fastdp", 1376))), "switching shows fastdp's");
}

#[test]
fn the_history_keeps_the_last_sixteen_switches() {
    let now = t0();
    let mut sw = both();
    sw.start(now);
    sw.up(now, 1, Up::Established);
    sw.up(now, 0, Up::Established);
    for i in 0..20u64 {
        sw.up(now + Duration::from_secs(i), 0, health(i % 2 == 1, "flap"));
    }
    let st = sw.status();
    assert_eq!(st.switches.len(), HISTORY);
    assert_eq!(st.switches.last().unwrap().at, now + Duration::from_secs(19));
}
