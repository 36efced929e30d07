//! Live traffic rates per connection, computed from the cumulative counters (sleeve's and the
//! fastdp device's together) of two successive samples, with a bounded history for the
//! sparklines. Samples come from the events stream's `traffic` events, stamped by the daemon, or
//! from the polls when the stream sends none.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;
use weave_api::{Connection, ConnectionTraffic, Traffic};

/// Samples kept per connection: two minutes at one a second.
pub const HISTORY: usize = 120;

/// Where the samples come from. Each has its own clock, so a change of source starts the rate
/// computation over (the history stays).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Source {
    #[default]
    Polls,
    Stream,
}

/// Rates of one connection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The last sample: seconds on its source's clock, and the counters.
    last: Option<(f64, Traffic)>,
    /// Bytes per second received, oldest first.
    pub rx: VecDeque<f64>,
    /// Bytes per second sent, oldest first.
    pub tx: VecDeque<f64>,
    /// Packets dropped per second, latest sample.
    pub drops: f64,
    /// Counters as last seen.
    pub totals: Traffic,
}

impl Series {
    pub fn rx_now(&self) -> Option<f64> {
        self.rx.back().copied()
    }

    pub fn tx_now(&self) -> Option<f64> {
        self.tx.back().copied()
    }

    fn observe(&mut self, at: f64, t: &Traffic) {
        if let Some((then, prev)) = &self.last {
            let dt = at - then;
            // A counter going backwards means the daemon (or the connection) restarted: start over
            // rather than show a huge negative rate.
            let monotonic =
                t.rx_bytes >= prev.rx_bytes && t.tx_bytes >= prev.tx_bytes && t.drops >= prev.drops;
            if dt > 0.0 && monotonic {
                push(&mut self.rx, (t.rx_bytes - prev.rx_bytes) as f64 / dt);
                push(&mut self.tx, (t.tx_bytes - prev.tx_bytes) as f64 / dt);
                self.drops = (t.drops - prev.drops) as f64 / dt;
            } else if !monotonic {
                self.rx.clear();
                self.tx.clear();
                self.drops = 0.0;
            }
        }
        if self.last.as_ref().is_none_or(|(then, _)| at > *then) {
            self.last = Some((at, t.clone()));
        }
        self.totals = t.clone();
    }
}

fn push(q: &mut VecDeque<f64>, v: f64) {
    if q.len() == HISTORY {
        q.pop_front();
    }
    q.push_back(v);
}

/// The key a connection's series is kept under: the remote peer once known, else its address.
pub fn key(c: &Connection) -> String {
    c.peer.clone().unwrap_or_else(|| c.address.clone())
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates {
    series: HashMap<String, Series>,
    source: Source,
    /// Zero of the polls' clock.
    base: Option<Instant>,
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
        if source != self.source {
            self.series.values_mut().for_each(|s| s.last = None);
            self.source = source;
        }
        self.series.retain(|k, _| keep.contains(k));
        for (k, t) in samples {
            self.series.entry(k).or_default().observe(at, &t);
        }
    }

    pub fn source(&self) -> Source {
        self.source
    }

    pub fn get(&self, key: &str) -> Option<&Series> {
        self.series.get(key)
    }

    /// Sum of the latest rates over all connections: (rx, tx) bytes per second.
    pub fn total(&self) -> (f64, f64) {
        self.series
            .values()
            .fold((0.0, 0.0), |(rx, tx), s| (rx + s.rx_now().unwrap_or(0.0), tx + s.tx_now().unwrap_or(0.0)))
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
    fn rates_are_differences_over_elapsed_time() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        r.observe(t0, &[conn("p", 1000, 0)]);
        assert_eq!(r.get("p").unwrap().rx_now(), None, "one sample gives no rate");
        r.observe(t0 + Duration::from_secs(2), &[conn("p", 5000, 400)]);
        let s = r.get("p").unwrap();
        assert_eq!((s.rx_now(), s.tx_now()), (Some(2000.0), Some(200.0)));
        assert_eq!(r.total(), (2000.0, 200.0));
    }

    #[test]
    fn stream_samples_use_the_daemons_clock_and_a_change_of_source_starts_over() {
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
        // The first stream sample only sets where the stream's clock starts.
        r.observe_stream(50_000, &[sample(3000)]);
        assert_eq!((r.source(), r.get("p").unwrap().rx.len()), (Source::Stream, 1));
        r.observe_stream(50_500, &[sample(4000)]);
        let s = r.get("p").unwrap();
        assert_eq!((s.rx_now(), s.rx.len(), s.totals.rx_bytes), (Some(2000.0), 2, 4100));
    }

    #[test]
    fn a_counter_reset_starts_the_series_over() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        r.observe(t0, &[conn("p", 1000, 0)]);
        r.observe(t0 + Duration::from_secs(1), &[conn("p", 2000, 0)]);
        r.observe(t0 + Duration::from_secs(2), &[conn("p", 10, 0)]);
        assert!(r.get("p").unwrap().rx.is_empty());
        r.observe(t0 + Duration::from_secs(3), &[conn("p", 110, 0)]);
        assert_eq!(r.get("p").unwrap().rx_now(), Some(100.0));
    }

    #[test]
    fn history_is_bounded_and_gone_connections_are_forgotten() {
        let t0 = Instant::now();
        let mut r = Rates::default();
        for i in 0..(HISTORY as u64 + 10) {
            r.observe(t0 + Duration::from_secs(i), &[conn("p", i * 10, 0)]);
        }
        assert_eq!(r.get("p").unwrap().rx.len(), HISTORY);
        r.observe(t0 + Duration::from_secs(1000), &[]);
        assert!(r.get("p").is_none());
    }
}
