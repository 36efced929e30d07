//! Traffic over time, per connection and for the whole peer: rates computed from the cumulative
//! counters (sleeve's and the fastdp device's together) of successive samples, kept as bounded
//! time series (the last 15 minutes) for the graphs. Samples come from the events stream's
//! `traffic` events, stamped by the daemon, or from the polls when the stream sends none; each
//! source has its own clock, so the series keep one timeline of their own that carries on across
//! a change of source.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;
use weave_api::{Connection, ConnectionTraffic, Traffic};

/// Seconds of history kept: the longest window the graphs show.
pub const HISTORY_SECS: f64 = 15.0 * 60.0;
/// Points kept per series at most, whatever the sampling rate.
const MAX_POINTS: usize = 2 * HISTORY_SECS as usize;
/// Samples closer than this to the last one are skipped: the next rate spans both, so no
/// bytes are lost, and a burst of polls cannot flood the history.
const MIN_DT: f64 = 0.5;

/// How many minutes back the graphs look; `w` cycles through them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Window {
    One,
    #[default]
    Five,
    Fifteen,
}

impl Window {
    pub fn secs(self) -> f64 {
        match self {
            Window::One => 60.0,
            Window::Five => 300.0,
            Window::Fifteen => HISTORY_SECS,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Window::One => "1 min",
            Window::Five => "5 min",
            Window::Fifteen => "15 min",
        }
    }

    pub fn next(self) -> Window {
        match self {
            Window::One => Window::Five,
            Window::Five => Window::Fifteen,
            Window::Fifteen => Window::One,
        }
    }
}

/// Where the samples come from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Source {
    #[default]
    Polls,
    Stream,
}

/// Rates over the interval that ended at `t` (seconds on the series' timeline).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    pub t: f64,
    /// Bytes per second received and sent.
    pub rx: f64,
    pub tx: f64,
    /// Packets dropped per second.
    pub drops: f64,
}

/// A bounded, time-ordered series of points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    points: VecDeque<Point>,
}

impl History {
    fn push(&mut self, p: Point) {
        if self.points.len() == MAX_POINTS {
            self.points.pop_front();
        }
        self.points.push_back(p);
    }

    /// Forgets what is older than the history kept, `now` being the newest time.
    fn trim(&mut self, now: f64) {
        while self.points.front().is_some_and(|p| p.t <= now - HISTORY_SECS) {
            self.points.pop_front();
        }
    }

    pub fn last(&self) -> Option<&Point> {
        self.points.back()
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Point> {
        self.points.iter()
    }

    /// The points of the last `secs` before `now`, with `t` made relative to `now` (so from
    /// `-secs` to 0), each as `(t, value)`.
    pub fn window(&self, now: f64, secs: f64, value: impl Fn(&Point) -> f64) -> Vec<(f64, f64)> {
        self.points.iter().filter(|p| p.t >= now - secs).map(|p| (p.t - now, value(p))).collect()
    }
}

/// One connection's counters and rates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The last sample used: its time on the timeline, and the counters.
    last: Option<(f64, Traffic)>,
    pub history: History,
    /// Counters as last seen.
    pub totals: Traffic,
}

impl Series {
    pub fn rx_now(&self) -> Option<f64> {
        self.history.last().map(|p| p.rx)
    }

    pub fn tx_now(&self) -> Option<f64> {
        self.history.last().map(|p| p.tx)
    }

    pub fn drops_now(&self) -> f64 {
        self.history.last().map(|p| p.drops).unwrap_or(0.0)
    }

    /// Folds in one sample; returns the point it made, if any.
    fn observe(&mut self, t: f64, c: &Traffic) -> Option<Point> {
        self.totals = c.clone();
        let Some((then, prev)) = &self.last else {
            self.last = Some((t, c.clone()));
            return None;
        };
        // A counter going backwards means the daemon (or the connection) restarted: start over
        // rather than show a huge negative rate.
        if c.rx_bytes < prev.rx_bytes || c.tx_bytes < prev.tx_bytes || c.drops < prev.drops {
            self.history = History::default();
            self.last = Some((t, c.clone()));
            return None;
        }
        let dt = t - then;
        if dt < MIN_DT {
            return None;
        }
        let p = Point {
            t,
            rx: (c.rx_bytes - prev.rx_bytes) as f64 / dt,
            tx: (c.tx_bytes - prev.tx_bytes) as f64 / dt,
            drops: (c.drops - prev.drops) as f64 / dt,
        };
        self.history.push(p);
        self.last = Some((t, c.clone()));
        Some(p)
    }
}

/// The key a connection's series is kept under: the remote peer once known, else its address.
pub fn key(c: &Connection) -> String {
    c.peer.clone().unwrap_or_else(|| c.address.clone())
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates {
    series: HashMap<String, Series>,
    /// The whole peer: the sum over its connections at each sample.
    pub total: History,
    source: Source,
    /// Zero of the polls' clock.
    base: Option<Instant>,
    /// The timeline is the source's clock plus this.
    offset: f64,
    /// The timeline's time of the newest sample.
    now: Option<f64>,
}

impl Rates {
    /// Folds in one poll's connections; connections that went away are forgotten.
    pub fn observe(&mut self, at: Instant, conns: &[Connection]) {
        let base = *self.base.get_or_insert(at);
        let samples = conns
            .iter()
            .filter(|c| c.state == "established")
            .map(|c| (key(c), crate::overlay::total_traffic(c)))
            .collect();
        let keep: Vec<String> = conns.iter().map(key).collect();
        self.fold(Source::Polls, at.saturating_duration_since(base).as_secs_f64(), samples, &keep);
    }

    /// Folds in one `traffic` event of the stream (established connections only).
    pub fn observe_stream(&mut self, at_ms: u64, conns: &[ConnectionTraffic]) {
        let samples: Vec<(String, Traffic)> = conns.iter().map(|c| (c.peer.clone(), c.total())).collect();
        let keep: Vec<String> = samples.iter().map(|(k, _)| k.clone()).collect();
        self.fold(Source::Stream, at_ms as f64 / 1000.0, samples, &keep);
    }

    fn fold(&mut self, source: Source, at: f64, samples: Vec<(String, Traffic)>, keep: &[String]) {
        match self.now {
            None => self.offset = -at,
            // A new clock: rates start over, the timeline carries on a second later.
            Some(now) if source != self.source => {
                self.series.values_mut().for_each(|s| s.last = None);
                self.offset = now + 1.0 - at;
            }
            Some(_) => {}
        }
        self.source = source;
        let t = at + self.offset;
        self.series.retain(|k, _| keep.contains(k));
        let mut sum: Option<Point> = None;
        for (k, c) in samples {
            if let Some(p) = self.series.entry(k).or_default().observe(t, &c) {
                let s = sum.get_or_insert(Point { t, ..Default::default() });
                s.rx += p.rx;
                s.tx += p.tx;
                s.drops += p.drops;
            }
        }
        if let Some(s) = sum {
            self.total.push(s);
        }
        if self.now.is_none_or(|n| t > n) {
            self.now = Some(t);
        }
        let now = self.now();
        self.total.trim(now);
        self.series.values_mut().for_each(|s| s.history.trim(now));
    }

    pub fn source(&self) -> Source {
        self.source
    }

    /// The timeline's time of the newest sample (0 before any).
    pub fn now(&self) -> f64 {
        self.now.unwrap_or(0.0)
    }

    pub fn get(&self, key: &str) -> Option<&Series> {
        self.series.get(key)
    }

    /// The whole peer's latest rates: (rx, tx) bytes per second.
    pub fn total_now(&self) -> (f64, f64) {
        self.total.last().map(|p| (p.rx, p.tx)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn conn(peer: &str, rx: u64, tx: u64) -> Connection {
        crate::fixtures::conn("10.0.0.2:6783", "established", Some((peer, "nick")), rx, tx)
    }

    #[test]
    fn rates_are_differences_over_elapsed_time_and_the_peer_sums_them() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        r.observe(t0, &[conn("p", 1000, 0), conn("q", 0, 0)]);
        assert_eq!(r.get("p").unwrap().rx_now(), None, "one sample gives no rate");
        r.observe(t0 + Duration::from_secs(2), &[conn("p", 5000, 400), conn("q", 1000, 0)]);
        let s = r.get("p").unwrap();
        assert_eq!((s.rx_now(), s.tx_now()), (Some(2000.0), Some(200.0)));
        assert_eq!(r.total_now(), (2500.0, 200.0));
        assert_eq!(r.total.last().map(|p| p.t), Some(2.0));
    }

    #[test]
    fn drops_are_a_rate_too() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        let mut c = conn("p", 0, 0);
        r.observe(t0, std::slice::from_ref(&c));
        c.traffic.drops = 30;
        r.observe(t0 + Duration::from_secs(3), &[c]);
        assert_eq!(r.get("p").unwrap().drops_now(), 10.0);
        assert_eq!(r.total.last().unwrap().drops, 10.0);
    }

    #[test]
    fn stream_samples_use_the_daemons_clock_and_the_timeline_carries_on_across_sources() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        r.observe(t0, &[conn("p", 1000, 0)]);
        r.observe(t0 + Duration::from_secs(1), &[conn("p", 2000, 0)]);
        assert_eq!(r.get("p").unwrap().rx_now(), Some(1000.0));
        let sample = |rx| ConnectionTraffic {
            peer: "p".into(),
            address: "10.0.0.2:6783".into(),
            overlay: Some("sleeve".into()),
            sleeve: Traffic { rx_bytes: rx, ..Default::default() },
            fastdp: Some(Traffic { rx_bytes: 100, ..Default::default() }),
        };
        // The first stream sample only sets where the stream's clock starts, a second on.
        r.observe_stream(50_000, &[sample(3000)]);
        assert_eq!((r.source(), r.get("p").unwrap().history.len(), r.now()), (Source::Stream, 1, 2.0));
        r.observe_stream(50_500, &[sample(4000)]);
        let s = r.get("p").unwrap();
        assert_eq!((s.rx_now(), s.history.len(), s.totals.rx_bytes), (Some(2000.0), 2, 4100));
        assert_eq!(s.history.last().unwrap().t, 2.5);
    }

    #[test]
    fn samples_closer_than_half_a_second_wait_for_the_next_and_lose_nothing() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        r.observe(t0, &[conn("p", 0, 0)]);
        r.observe(t0 + Duration::from_millis(200), &[conn("p", 500, 0)]);
        assert_eq!(r.get("p").unwrap().history.len(), 0);
        r.observe(t0 + Duration::from_millis(1000), &[conn("p", 1000, 0)]);
        assert_eq!(r.get("p").unwrap().rx_now(), Some(1000.0));
    }

    #[test]
    fn a_counter_reset_starts_the_series_over() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        r.observe(t0, &[conn("p", 1000, 0)]);
        r.observe(t0 + Duration::from_secs(1), &[conn("p", 2000, 0)]);
        r.observe(t0 + Duration::from_secs(2), &[conn("p", 10, 0)]);
        assert!(r.get("p").unwrap().history.is_empty());
        r.observe(t0 + Duration::from_secs(3), &[conn("p", 110, 0)]);
        assert_eq!(r.get("p").unwrap().rx_now(), Some(100.0));
    }

    #[test]
    fn history_keeps_fifteen_minutes_and_gone_connections_are_forgotten() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        let n = HISTORY_SECS as u64 + 100;
        for i in 0..n {
            r.observe(t0 + Duration::from_secs(i), &[conn("p", i * 10, 0)]);
        }
        let h = &r.get("p").unwrap().history;
        assert_eq!(h.len(), HISTORY_SECS as usize);
        assert!(h.iter().all(|p| p.t > r.now() - HISTORY_SECS));
        assert_eq!(r.total.len(), HISTORY_SECS as usize);
        // A window is the tail, relative to now.
        let w = h.window(r.now(), Window::One.secs(), |p| p.rx);
        assert_eq!((w.len(), w.first().map(|p| p.0), w.last().map(|p| p.0)), (61, Some(-60.0), Some(0.0)));
        r.observe(t0 + Duration::from_secs(n + 1), &[]);
        assert!(r.get("p").is_none());
    }

    #[test]
    fn windows_cycle() {
        let w = Window::default();
        assert_eq!(
            (w, w.next(), w.next().next(), w.next().next().next()),
            (Window::Five, Window::Fifteen, Window::One, Window::Five)
        );
    }
}
