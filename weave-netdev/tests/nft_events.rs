//! Ruleset change events: a change made in a namespace wakes a subscriber there.

mod common;

use common::{run, TestNs};
use std::sync::mpsc;
use std::time::Duration;
use weave_netdev::nft_events::RulesetEvents;

#[test]
fn a_table_added_behind_our_back_is_announced() {
    let t = TestNs::new();
    // The socket belongs to the namespace it was opened in, whichever thread reads it.
    let mut ev = t.ns.run(RulesetEvents::subscribe).unwrap().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while ev.wait().is_ok() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "nothing changed yet");
    run("ip", &["netns", "exec", &t.name, "nft", "add", "table", "inet", "weave_events_test"]);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(()), "the new table is announced");
    while rx.try_recv().is_ok() {}
    // Another namespace's changes are not ours.
    let other = TestNs::new();
    run("ip", &["netns", "exec", &other.name, "nft", "add", "table", "inet", "weave_events_test"]);
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "a change elsewhere is not announced here");
}
