//! The dashboard's state and how events change it. [`App::update`] is pure: producers stamp
//! events with their time, so the same events always give the same state.

use crate::eventlog::{self, EventLog, LogEntry};
use crate::model::Snapshot;
use crate::rates::{Rates, Window};
use crate::views::{cycle, event_matches, row_count, EventFilters, Tab};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use weave_api::{StreamEvent, StreamItem, TrafficEvent};

pub enum Event {
    Key(KeyEvent),
    Resize,
    /// A poll answered.
    Snapshot(Box<Snapshot>, Clock),
    /// A poll failed: the daemon is down or not answering.
    Unreachable(String, Clock),
    Stream(Stream, Clock),
}

/// Local time of day (`HH:MM:SS`) the producer saw the event at.
pub type Clock = String;

/// What the events-stream reader saw.
pub enum Stream {
    Connected,
    Down(String),
    /// One item of the stream, typed by the API client.
    Item(StreamItem),
}

/// The state of our link to the daemon's REST API.
#[derive(Clone, Debug, PartialEq)]
pub enum Link {
    Connecting,
    Up,
    /// Polls fail; the last data stays on screen.
    Down {
        error: String,
        attempts: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum StreamLink {
    Connecting,
    Up,
    Down(String),
}

/// What the views show: the latest poll, the rates computed across polls, and the events log.
#[derive(Clone, Debug, Default)]
pub struct Data {
    pub snapshot: Option<Snapshot>,
    pub rates: Rates,
    pub log: EventLog,
    /// Nicknames from `peer_added` events, for peers the last poll does not list.
    pub learned: BTreeMap<String, String>,
}

/// Navigation state.
#[derive(Clone, Debug, Default)]
pub struct Ui {
    pub tab: Tab,
    /// Selected row per tab.
    pub selected: [usize; Tab::ALL.len()],
    /// Filter per tab.
    pub filters: [String; Tab::ALL.len()],
    /// Keys go to the current tab's filter.
    pub editing: bool,
    pub help: bool,
    pub details: bool,
    /// The events view's kind and peer filters.
    pub events: EventFilters,
    /// How far back the traffic graphs look.
    pub window: Window,
}

impl Ui {
    pub fn filter(&self) -> &str {
        &self.filters[self.tab.index()]
    }

    pub fn selected(&self) -> usize {
        self.selected[self.tab.index()]
    }
}

pub struct App {
    pub addr: String,
    /// Where the dashboard logs (shown in help).
    pub log_path: String,
    pub live: Data,
    /// What was on screen when the user paused; `None` when live.
    pub frozen: Option<Data>,
    pub link: Link,
    pub stream: StreamLink,
    pub ui: Ui,
    pub quit: bool,
    /// Polls since the last `traffic` event: the polls give the rates only while the stream
    /// does not (two polls, so jitter between the two rhythms does not flip the source).
    polls_without_traffic: u32,
}

/// Polls without a `traffic` event after which the polls give the rates again.
const STREAM_SILENT_POLLS: u32 = 2;

impl App {
    pub fn new(addr: &str, log_path: &str) -> App {
        App {
            addr: addr.to_string(),
            log_path: log_path.to_string(),
            live: Data::default(),
            frozen: None,
            link: Link::Connecting,
            stream: StreamLink::Connecting,
            ui: Ui::default(),
            quit: false,
            polls_without_traffic: STREAM_SILENT_POLLS,
        }
    }

    /// The data the views show: frozen while paused.
    pub fn shown(&self) -> &Data {
        self.frozen.as_ref().unwrap_or(&self.live)
    }

    pub fn paused(&self) -> bool {
        self.frozen.is_some()
    }

    /// Entries logged since the pause (the live log keeps collecting), and how many of them
    /// have already scrolled out of its buffer.
    pub fn logged_while_paused(&self) -> Option<(u64, u64)> {
        let frozen = self.frozen.as_ref()?;
        let new = self.live.log.pushed() - frozen.log.pushed();
        Some((new, new.saturating_sub(eventlog::CAPACITY as u64)))
    }

    pub fn update(&mut self, ev: Event) {
        match ev {
            Event::Key(k) => self.key(k),
            Event::Resize => {}
            Event::Snapshot(s, clock) => self.snapshot(*s, clock),
            Event::Unreachable(error, clock) => self.unreachable(error, clock),
            Event::Stream(s, clock) => self.stream_event(s, clock),
        }
    }

    fn snapshot(&mut self, s: Snapshot, clock: Clock) {
        let restarted = self.live.snapshot.as_ref().is_some_and(|old| old.status.uid != s.status.uid);
        match &self.link {
            Link::Down { .. } => {
                self.log(clock.clone(), format!("reconnected to the daemon at {}", self.addr), false)
            }
            Link::Connecting => {
                self.log(clock.clone(), format!("connected to the daemon at {}", self.addr), false)
            }
            Link::Up => {}
        }
        if restarted {
            self.log(clock, format!("the daemon restarted ({}({}))", s.status.name, s.status.nickname), true);
        }
        self.link = Link::Up;
        self.polls_without_traffic = self.polls_without_traffic.saturating_add(1);
        if self.polls_without_traffic >= STREAM_SILENT_POLLS {
            self.live.rates.observe(s.at, &s.connections);
        }
        self.live.snapshot = Some(s);
    }

    fn unreachable(&mut self, error: String, clock: Clock) {
        let attempts = match &self.link {
            Link::Down { attempts, .. } => attempts + 1,
            _ => {
                self.log(clock, format!("lost the daemon: {error}"), true);
                1
            }
        };
        self.link = Link::Down { error, attempts };
    }

    fn stream_event(&mut self, s: Stream, clock: Clock) {
        match s {
            Stream::Connected => {
                if let StreamLink::Down(_) = self.stream {
                    self.log(clock, "events stream reconnected".into(), false);
                }
                self.stream = StreamLink::Up;
            }
            Stream::Down(e) => {
                if self.stream == StreamLink::Up {
                    self.log(clock, format!("events stream lost: {e}"), true);
                }
                self.stream = StreamLink::Down(e);
            }
            Stream::Item(StreamItem::Event(StreamEvent::Traffic(TrafficEvent::Traffic {
                at_ms,
                connections,
            }))) => {
                // Counters, not a change: they feed the rates, not the log.
                self.polls_without_traffic = 0;
                self.live.rates.observe_stream(at_ms, &connections);
            }
            Stream::Item(item) => {
                if let StreamItem::Event(StreamEvent::Change(weave_api::Event::PeerAdded {
                    name,
                    nickname,
                })) = &item
                {
                    self.live.learned.insert(name.clone(), nickname.clone());
                }
                let peers = self.live.snapshot.as_ref().map(|s| &s.report.router.peers);
                let learned = &self.live.learned;
                let nick = |name: &str| {
                    peers
                        .and_then(|peers| peers.iter().find(|p| p.name == name))
                        .map(|p| p.nick_name.clone())
                        .or_else(|| learned.get(name).cloned())
                        .filter(|n| !n.is_empty())
                };
                let entry = eventlog::from_stream(clock, &item, &nick);
                self.push_log(entry);
            }
        }
    }

    fn log(&mut self, clock: Clock, text: String, warn: bool) {
        self.push_log(eventlog::local(clock, text, warn));
    }

    /// Logs `e`. A reader scrolled down the events view (live) keeps the entry they are on:
    /// the selection moves down with it as new rows arrive above.
    fn push_log(&mut self, e: LogEntry) {
        let i = Tab::Events.index();
        if !self.paused()
            && self.ui.selected[i] > 0
            && event_matches(&e, &self.ui.filters[i], &self.ui.events)
        {
            self.ui.selected[i] += 1;
        }
        self.live.log.push(e);
    }

    fn key(&mut self, k: KeyEvent) {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.ui.editing {
            self.edit_filter(k.code);
            return;
        }
        if self.ui.help {
            // Any key closes help; q still quits.
            self.ui.help = false;
            self.quit = k.code == KeyCode::Char('q');
            return;
        }
        let tab = self.ui.tab;
        match k.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc | KeyCode::Backspace if self.ui.details => self.ui.details = false,
            KeyCode::Enter if self.ui.details => self.ui.details = false,
            KeyCode::Esc => {
                self.ui.filters[tab.index()].clear();
                if tab == Tab::Events {
                    self.ui.events = EventFilters::default();
                }
            }
            KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => self.go(tab.next()),
            KeyCode::BackTab | KeyCode::Left | KeyCode::Char('h') => self.go(tab.prev()),
            KeyCode::Char(c) if c.is_ascii_digit() => {
                if let Some(t) = Tab::by_key(c) {
                    self.go(t)
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_selection(isize::MAX / 2),
            KeyCode::Char('/') if tab.has_rows() => self.ui.editing = true,
            KeyCode::Enter if self.rows() > 0 => self.ui.details = true,
            KeyCode::Char('p') => {
                self.frozen = match self.frozen {
                    Some(_) => None,
                    None => Some(self.live.clone()),
                }
            }
            KeyCode::Char('?') => self.ui.help = true,
            KeyCode::Char('w') => self.ui.window = self.ui.window.next(),
            KeyCode::Char('t') if tab == Tab::Events => {
                let next = cycle(&self.shown().log.kinds(), &self.ui.events.kind);
                self.ui.events.kind = next;
                self.ui.selected[tab.index()] = 0;
            }
            KeyCode::Char('n') if tab == Tab::Events => {
                let next = cycle(&self.shown().log.peers(), &self.ui.events.peer);
                self.ui.events.peer = next;
                self.ui.selected[tab.index()] = 0;
            }
            _ => {}
        }
    }

    fn edit_filter(&mut self, code: KeyCode) {
        let i = self.ui.tab.index();
        match code {
            KeyCode::Enter => self.ui.editing = false,
            KeyCode::Esc => {
                self.ui.filters[i].clear();
                self.ui.editing = false;
            }
            KeyCode::Backspace => {
                self.ui.filters[i].pop();
            }
            KeyCode::Char(c) => self.ui.filters[i].push(c),
            _ => {}
        }
        // The list just changed under the selection: start from its top.
        self.ui.selected[i] = 0;
    }

    fn go(&mut self, tab: Tab) {
        self.ui.tab = tab;
        self.ui.details = false;
    }

    fn rows(&self) -> usize {
        row_count(self.ui.tab, self.shown(), self.ui.filter(), &self.ui.events)
    }

    fn move_selection(&mut self, delta: isize) {
        let n = self.rows();
        let i = self.ui.tab.index();
        if n == 0 {
            self.ui.selected[i] = 0;
            return;
        }
        let cur = self.ui.selected[i].min(n - 1) as isize;
        self.ui.selected[i] = cur.saturating_add(delta).clamp(0, n as isize - 1) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crossterm::event::KeyEvent;
    use std::time::Instant;

    fn press(app: &mut App, codes: &[KeyCode]) {
        for c in codes {
            app.update(Event::Key(KeyEvent::from(*c)));
        }
    }

    #[test]
    fn q_and_ctrl_c_quit() {
        let mut app = fixtures::app(1);
        press(&mut app, &[KeyCode::Char('q')]);
        assert!(app.quit);
        let mut app = fixtures::app(1);
        app.update(Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(app.quit);
    }

    #[test]
    fn tabs_by_number_tab_and_shift_tab() {
        let mut app = fixtures::app(1);
        press(&mut app, &[KeyCode::Char('3')]);
        assert_eq!(app.ui.tab, Tab::Routes);
        press(&mut app, &[KeyCode::Tab, KeyCode::Tab]);
        assert_eq!(app.ui.tab, Tab::Dns);
        press(&mut app, &[KeyCode::BackTab]);
        assert_eq!(app.ui.tab, Tab::Ipam);
        press(&mut app, &[KeyCode::Char('9')]);
        assert_eq!(app.ui.tab, Tab::Ipam, "no tab 9");
    }

    #[test]
    fn the_selection_stays_within_the_rows() {
        let mut app = fixtures::app(2);
        press(&mut app, &[KeyCode::Char('2')]); // 4 rows
        press(&mut app, &[KeyCode::Char('j'), KeyCode::Down, KeyCode::Down, KeyCode::Down, KeyCode::Down]);
        assert_eq!(app.ui.selected(), 3);
        press(&mut app, &[KeyCode::Char('k')]);
        assert_eq!(app.ui.selected(), 2);
        press(&mut app, &[KeyCode::Home]);
        assert_eq!(app.ui.selected(), 0);
        press(&mut app, &[KeyCode::Char('G')]);
        assert_eq!(app.ui.selected(), 3);
    }

    #[test]
    fn filter_typing_editing_and_clearing() {
        let mut app = fixtures::app(2);
        press(&mut app, &[KeyCode::Char('5'), KeyCode::Char('/')]);
        assert!(app.ui.editing);
        // Keys go to the filter, not to navigation: `q` does not quit, `2` does not switch.
        press(&mut app, &[KeyCode::Char('q'), KeyCode::Char('2'), KeyCode::Backspace, KeyCode::Backspace]);
        press(&mut app, &[KeyCode::Char('w'), KeyCode::Char('e'), KeyCode::Char('b'), KeyCode::Enter]);
        assert!(!app.quit);
        assert_eq!((app.ui.tab, app.ui.filter(), app.ui.editing), (Tab::Dns, "web", false));
        assert_eq!(row_count(Tab::Dns, app.shown(), app.ui.filter(), &app.ui.events), 2);
        // Filters are per tab.
        press(&mut app, &[KeyCode::Char('6')]);
        assert_eq!(app.ui.filter(), "");
        press(&mut app, &[KeyCode::Char('5'), KeyCode::Esc]);
        assert_eq!(app.ui.filter(), "");
    }

    #[test]
    fn enter_opens_details_only_where_there_are_rows() {
        let mut app = fixtures::app(2);
        press(&mut app, &[KeyCode::Char('j'), KeyCode::Enter]);
        assert!(app.ui.details, "the overview's map lists its nodes");
        press(&mut app, &[KeyCode::Esc, KeyCode::Char('2'), KeyCode::Enter]);
        assert!(app.ui.details);
        press(&mut app, &[KeyCode::Esc]);
        assert!(!app.ui.details);
        press(&mut app, &[KeyCode::Char('5'), KeyCode::Char('/'), KeyCode::Char('z'), KeyCode::Enter]);
        press(&mut app, &[KeyCode::Enter]);
        assert!(!app.ui.details, "no DNS entry matches z");
    }

    #[test]
    fn the_map_selects_nodes_in_its_order_and_a_filter_finds_one() {
        let mut app = fixtures::cluster_app(60, 2);
        assert_eq!(row_count(Tab::Overview, app.shown(), "", &app.ui.events), 60);
        press(&mut app, &[KeyCode::Char('/')]);
        for c in "host42".chars() {
            press(&mut app, &[KeyCode::Char(c)]);
        }
        press(&mut app, &[KeyCode::Enter]);
        assert_eq!(row_count(Tab::Overview, app.shown(), app.ui.filter(), &app.ui.events), 1);
        assert_eq!(app.ui.selected(), 0);
    }

    #[test]
    fn w_cycles_the_graphs_window() {
        let mut app = fixtures::app(1);
        assert_eq!(app.ui.window, Window::Five);
        press(&mut app, &[KeyCode::Char('w')]);
        assert_eq!(app.ui.window, Window::Fifteen);
    }

    #[test]
    fn the_events_view_filters_by_kind_and_peer_and_esc_clears_both() {
        let mut app = fixtures::app(2);
        press(&mut app, &[KeyCode::Char('6')]);
        let all = row_count(Tab::Events, app.shown(), "", &app.ui.events);
        // Kinds in order: the first is allocation_added.
        press(&mut app, &[KeyCode::Char('t')]);
        assert_eq!(app.ui.events.kind.as_deref(), Some("allocation_added"));
        assert_eq!(row_count(Tab::Events, app.shown(), "", &app.ui.events), 1);
        press(&mut app, &[KeyCode::Esc, KeyCode::Char('n')]);
        assert_eq!(app.ui.events.peer.as_deref(), Some(fixtures::H1));
        let about_h1 = row_count(Tab::Events, app.shown(), "", &app.ui.events);
        assert!(about_h1 >= 1 && about_h1 < all, "{about_h1} of {all}");
        press(&mut app, &[KeyCode::Char('n')]);
        assert_eq!(app.ui.events.peer.as_deref(), Some(fixtures::H2));
        press(&mut app, &[KeyCode::Esc]);
        assert_eq!(
            (app.ui.events.clone(), row_count(Tab::Events, app.shown(), "", &app.ui.events)),
            (EventFilters::default(), all)
        );
    }

    #[test]
    fn a_reader_scrolled_down_the_events_keeps_their_entry_as_new_ones_arrive() {
        let mut app = fixtures::app(2);
        press(&mut app, &[KeyCode::Char('6'), KeyCode::Down, KeyCode::Down]);
        let rows = |app: &App| {
            crate::views::event_rows(app.shown(), "", &app.ui.events)
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        };
        let on = rows(&app)[app.ui.selected()];
        for i in 0..3 {
            app.update(fixtures::streamed(
                "routes_changed",
                r#"{"type":"routes_changed"}"#.into(),
                &format!("12:01:0{i}"),
            ));
        }
        assert_eq!(rows(&app)[app.ui.selected()], on, "still on the same entry");
        // At the top, it follows the newest.
        press(&mut app, &[KeyCode::Home]);
        app.update(fixtures::streamed("routes_changed", r#"{"type":"routes_changed"}"#.into(), "12:01:09"));
        assert_eq!(app.ui.selected(), 0);
    }

    #[test]
    fn a_paused_view_keeps_collecting_and_says_how_many_arrived() {
        let mut app = fixtures::app(2);
        press(&mut app, &[KeyCode::Char('6'), KeyCode::Char('p')]);
        let shown = app.shown().log.len();
        for i in 0..5 {
            app.update(fixtures::streamed(
                "routes_changed",
                r#"{"type":"routes_changed"}"#.into(),
                &format!("12:01:0{i}"),
            ));
        }
        assert_eq!(app.shown().log.len(), shown, "the paused view stands still");
        assert_eq!(app.logged_while_paused(), Some((5, 0)));
        press(&mut app, &[KeyCode::Char('p')]);
        assert_eq!((app.shown().log.len(), app.logged_while_paused()), (shown + 5, None), "nothing lost");
    }

    #[test]
    fn help_closes_on_any_key_and_q_still_quits() {
        let mut app = fixtures::app(1);
        press(&mut app, &[KeyCode::Char('?')]);
        assert!(app.ui.help);
        press(&mut app, &[KeyCode::Char('x')]);
        assert!(!app.ui.help && !app.quit);
        press(&mut app, &[KeyCode::Char('?'), KeyCode::Char('q')]);
        assert!(app.quit);
    }

    #[test]
    fn pause_freezes_what_is_shown_while_data_keeps_arriving() {
        let t0 = Instant::now();
        let mut app = fixtures::app(2);
        press(&mut app, &[KeyCode::Char('p')]);
        let mut s = fixtures::snapshot(t0, 5);
        s.connections.clear();
        app.update(Event::Snapshot(Box::new(s), "t".into()));
        assert_eq!(app.shown().snapshot.as_ref().unwrap().connections.len(), 2);
        assert!(app.live.snapshot.as_ref().unwrap().connections.is_empty());
        press(&mut app, &[KeyCode::Char('p')]);
        assert!(app.shown().snapshot.as_ref().unwrap().connections.is_empty());
    }

    #[test]
    fn events_name_a_peer_by_the_nickname_it_joined_with_before_any_poll_knows_it() {
        let mut app = fixtures::app(1);
        let ev = |name: &str, data: String| fixtures::streamed(name, data, "t");
        let peer = "02:00:00:00:00:09";
        app.update(ev(
            "peer_added",
            format!(r#"{{"type":"peer_added","name":"{peer}","nickname":"host9"}}"#),
        ));
        app.update(ev(
            "connection_established",
            format!(r#"{{"type":"connection_established","peer":"{peer}","address":"10.0.0.9:6783"}}"#),
        ));
        let newest = app.live.log.newest_first().next().expect("logged");
        assert_eq!(newest.text, "connected to host9 (10.0.0.9:6783)");
    }

    #[test]
    fn traffic_events_give_the_rates_while_they_come_and_polls_take_over_when_they_stop() {
        let t0 = Instant::now();
        let mut app = fixtures::app(3);
        let h2 = fixtures::H2;
        let traffic = |at_ms: u64, rx: u64| {
            let data = format!(
                r#"{{"type":"traffic","at_ms":{at_ms},"connections":[{{"peer":"{h2}","address":"10.99.0.2:6783",
                "overlay":"sleeve","sleeve":{{"tx_packets":0,"tx_bytes":0,"rx_packets":0,"rx_bytes":{rx},"drops":0}}}}]}}"#
            );
            fixtures::streamed("traffic", data, "t")
        };
        let log_len = app.live.log.len();
        app.update(traffic(10_000, 1_000_000));
        app.update(traffic(11_000, 1_500_000));
        let rx = |app: &App| app.live.rates.get(h2).and_then(|s| s.rx_now());
        assert_eq!(rx(&app), Some(500_000.0));
        assert_eq!(app.live.log.len(), log_len, "counters are not logged");
        // A poll between two events leaves the rates to the stream.
        app.update(Event::Snapshot(Box::new(fixtures::snapshot(t0, 20)), "t".into()));
        assert_eq!(rx(&app), Some(500_000.0));
        // The stream falls silent: the second poll without it takes over, the third gives a rate.
        app.update(Event::Snapshot(Box::new(fixtures::snapshot(t0, 21)), "t".into()));
        assert_eq!(app.live.rates.source(), crate::rates::Source::Polls);
        app.update(Event::Snapshot(Box::new(fixtures::snapshot(t0, 22)), "t".into()));
        assert_ne!(rx(&app), Some(500_000.0));
    }

    #[test]
    fn losing_and_regaining_the_daemon_is_logged_once_each() {
        let t0 = Instant::now();
        let mut app = fixtures::app(1);
        let before = app.live.log.len();
        app.update(Event::Unreachable("gone".into(), "t1".into()));
        app.update(Event::Unreachable("gone".into(), "t2".into()));
        assert_eq!(app.link, Link::Down { error: "gone".into(), attempts: 2 });
        assert_eq!(app.live.log.len(), before + 1);
        let mut s = fixtures::snapshot(t0, 9);
        s.status.uid += 1;
        app.update(Event::Snapshot(Box::new(s), "t3".into()));
        assert_eq!(app.link, Link::Up);
        let texts: Vec<&str> = app.live.log.newest_first().take(2).map(|e| e.text.as_str()).collect();
        assert!(texts[0].starts_with("the daemon restarted"), "{texts:?}");
        assert!(texts[1].starts_with("reconnected"), "{texts:?}");
    }
}
