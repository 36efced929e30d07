//! Snapshot tests: every view drawn from canned data into ratatui's TestBackend, at the
//! smallest supported size (80x24) and a larger one. Review changes with `cargo insta review`
//! (or `INSTA_UPDATE=always` and `git diff`).

use super::render;
use crate::app::{App, Event, Stream};
use crate::fixtures;
use crate::model::Avail;
use crate::views::Tab;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| render(f, app)).expect("draw");
    t.backend().to_string()
}

fn press(app: &mut App, keys: &[KeyCode]) {
    for k in keys {
        app.update(Event::Key(KeyEvent::from(*k)));
    }
}

/// Snapshots `app` at both sizes as `<name>_<w>x<h>`.
fn snap(name: &str, app: &App) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(app, w, h));
    }
}

fn on_tab(tab: Tab) -> App {
    let mut app = fixtures::app(12);
    app.ui.tab = tab;
    app
}

#[test]
fn overview() {
    snap("overview", &on_tab(Tab::Overview));
}

#[test]
fn peers() {
    snap("peers", &on_tab(Tab::Peers));
}

#[test]
fn routes() {
    snap("routes", &on_tab(Tab::Routes));
}

#[test]
fn ipam() {
    snap("ipam", &on_tab(Tab::Ipam));
}

#[test]
fn dns() {
    snap("dns", &on_tab(Tab::Dns));
}

#[test]
fn events() {
    snap("events", &on_tab(Tab::Events));
}

#[test]
fn services() {
    let mut app = on_tab(Tab::Services);
    snap("services", &app);
    // The broken one, opened: its whole reason.
    press(&mut app, &[KeyCode::Down, KeyCode::Enter]);
    snap("service_details", &app);
}

#[test]
fn policy() {
    let mut app = on_tab(Tab::Policy);
    snap("policy", &app);
    press(&mut app, &[KeyCode::Down, KeyCode::Enter]);
    snap("policy_details", &app);
}

#[test]
fn peer_details() {
    let mut app = on_tab(Tab::Peers);
    press(&mut app, &[KeyCode::Enter]);
    snap("peer_details", &app);
}

#[test]
fn details_of_a_route_an_allocation_a_dns_entry_and_an_event() {
    for (tab, name) in
        [(Tab::Routes, "route"), (Tab::Ipam, "allocation"), (Tab::Dns, "dns_entry"), (Tab::Events, "event")]
    {
        let mut app = on_tab(tab);
        press(&mut app, &[KeyCode::Down, KeyCode::Enter]);
        assert!(app.ui.details, "{name}: Enter opens details");
        insta::assert_snapshot!(format!("{name}_details_80x24"), screen(&app, 80, 24));
    }
}

#[test]
fn help() {
    let mut app = on_tab(Tab::Overview);
    press(&mut app, &[KeyCode::Char('?')]);
    snap("help", &app);
}

#[test]
fn dns_filtered_while_typing() {
    let mut app = on_tab(Tab::Dns);
    press(&mut app, &[KeyCode::Char('/'), KeyCode::Char('w'), KeyCode::Char('e'), KeyCode::Char('b')]);
    snap("dns_filtering", &app);
}

#[test]
fn ipam_and_dns_not_available() {
    let mut app = fixtures::app(2);
    let s = app.live.snapshot.as_mut().expect("polled");
    s.ipam = Avail::Missing;
    s.dns = Avail::Missing;
    s.policy = Avail::Missing;
    app.ui.tab = Tab::Ipam;
    insta::assert_snapshot!("ipam_missing_80x24", screen(&app, 80, 24));
    app.ui.tab = Tab::Dns;
    insta::assert_snapshot!("dns_missing_80x24", screen(&app, 80, 24));
    app.ui.tab = Tab::Policy;
    insta::assert_snapshot!("policy_missing_80x24", screen(&app, 80, 24));
}

#[test]
fn disconnected_keeps_the_last_data_and_says_it_retries() {
    let mut app = on_tab(Tab::Overview);
    app.update(Event::Unreachable("no weave daemon answers at 127.0.0.1:6784".into(), "12:01:00".into()));
    app.update(Event::Unreachable("no weave daemon answers at 127.0.0.1:6784".into(), "12:01:01".into()));
    app.update(Event::Stream(Stream::Down("no daemon answers".into()), "12:01:01".into()));
    snap("disconnected", &app);
}

#[test]
fn connecting_before_the_first_poll() {
    let app = App::new("127.0.0.1:6784", "/tmp/weave-top-0.log");
    insta::assert_snapshot!("connecting_80x24", screen(&app, 80, 24));
}

#[test]
fn paused() {
    let mut app = on_tab(Tab::Peers);
    press(&mut app, &[KeyCode::Char('p')]);
    insta::assert_snapshot!("paused_80x24", screen(&app, 80, 24));
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut app = fixtures::app(3);
    for tab in Tab::ALL {
        app.ui.tab = tab;
        for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10)] {
            screen(&app, w, h);
        }
        app.ui.details = true;
        screen(&app, 30, 8);
        app.ui.details = false;
    }
}

/// The overview of a cluster of `n` peers from host01, with `select` (a nickname) picked on the
/// map; `None` leaves this peer picked.
fn cluster_overview(n: usize, select: Option<&str>) -> App {
    cluster_after(n, 12, select)
}

/// As [`cluster_overview`], after `polls` polls a second apart.
fn cluster_after(n: usize, polls: u64, select: Option<&str>) -> App {
    let mut app = fixtures::cluster_app(n, polls);
    if let Some(nick) = select {
        let g = crate::views::graph(app.shown()).expect("polled");
        app.ui.selected[Tab::Overview.index()] =
            g.nodes.iter().position(|x| x.nickname == nick).expect("that peer");
    }
    app
}

#[test]
fn map_of_3_peers_with_a_sleeve_link_and_a_failing_target() {
    let mut app = on_tab(Tab::Overview);
    press(&mut app, &[KeyCode::Down, KeyCode::Down]); // host3, through host2
    snap("map_3", &app);
}

#[test]
fn map_of_10_peers_with_a_failed_link_routed_around() {
    // host07: our dial fails, so the route goes through host02.
    let app = cluster_overview(10, Some("host07"));
    snap("map_10", &app);
}

#[test]
fn map_of_60_peers_groups_what_does_not_fit_and_says_so() {
    let app = cluster_overview(60, Some("host25"));
    snap("map_60", &app);
    insta::assert_snapshot!("map_60_160x50", screen(&app, 160, 50));
}

#[test]
fn graphs_of_a_connection_over_the_window_picked() {
    // host03 runs on sleeve and drops packets; two minutes of samples.
    let mut app = cluster_after(10, 120, Some("host03"));
    press(&mut app, &[KeyCode::Enter]);
    insta::assert_snapshot!("graphs_connection_5min_120x40", screen(&app, 120, 40));
    press(&mut app, &[KeyCode::Char('w'), KeyCode::Char('w')]);
    insta::assert_snapshot!("graphs_connection_1min_120x40", screen(&app, 120, 40));
}

#[test]
fn graphs_of_the_whole_peer() {
    let mut app = cluster_after(10, 120, None);
    press(&mut app, &[KeyCode::Enter]);
    insta::assert_snapshot!("graphs_this_peer_120x40", screen(&app, 120, 40));
}

#[test]
fn events_filtered_by_kind_and_peer_while_paused() {
    let mut app = on_tab(Tab::Events);
    press(&mut app, &[KeyCode::Char('n'), KeyCode::Char('n'), KeyCode::Char('p')]);
    for i in 0..3 {
        app.update(fixtures::streamed(
            "routes_changed",
            r#"{"type":"routes_changed"}"#.into(),
            &format!("12:01:0{i}"),
        ));
    }
    insta::assert_snapshot!("events_peer_paused_120x40", screen(&app, 120, 40));
}
