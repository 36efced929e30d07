//! Follows the daemon's events stream (`GET /api/v1/events`, Server-Sent Events) on a thread of
//! its own: every change becomes an [`Event`] for the log and wakes the poller, so the views
//! catch up at once instead of at the next tick; the `traffic` counters become samples for the
//! rates. Reconnects for as long as the dashboard runs.

use crate::app::{Event, Stream};
use crate::eventlog::clock_now;
use crate::sse::SseParser;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

/// The daemon sends a keep-alive every 15 s; silence for this long means the link is dead.
const IDLE: Duration = Duration::from_secs(40);
const RETRY: Duration = Duration::from_secs(1);
/// The SSE name of the periodic counters (see `weave_api::TrafficEvent`).
const TRAFFIC: &str = "traffic";

enum End {
    /// The dashboard quit.
    Closed,
    Lost(String),
}

pub fn spawn(addr: String, tx: SyncSender<Event>, poke: SyncSender<()>) -> std::io::Result<()> {
    std::thread::Builder::new().name("weave-top-events".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!("events: tokio runtime: {e}");
                return;
            }
        };
        let http = match reqwest::Client::builder().connect_timeout(Duration::from_secs(3)).no_proxy().build()
        {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("events: http client: {e}");
                return;
            }
        };
        let url = format!("http://{addr}/api/v1/events");
        let mut last_error = String::new();
        loop {
            match rt.block_on(follow(&http, &url, &tx, &poke)) {
                End::Closed => return,
                End::Lost(e) => {
                    // Log transitions only: a daemon that stays down would flood the file.
                    if e != last_error {
                        tracing::info!(url, "events stream: {e}");
                    }
                    if tx.send(Event::Stream(Stream::Down(e.clone()), clock_now())).is_err() {
                        return;
                    }
                    last_error = e;
                }
            }
            std::thread::sleep(RETRY);
        }
    })?;
    Ok(())
}

async fn follow(http: &reqwest::Client, url: &str, tx: &SyncSender<Event>, poke: &SyncSender<()>) -> End {
    // A hung daemon must not hold the reader before the stream even starts.
    let start = tokio::time::timeout(IDLE, http.get(url).header("accept", "text/event-stream").send());
    let resp = match start.await {
        Err(_) => return End::Lost(format!("no answer for {} s", IDLE.as_secs())),
        Ok(Ok(r)) if r.status().is_success() => r,
        Ok(Ok(r)) => return End::Lost(format!("HTTP {}", r.status())),
        Ok(Err(e)) if e.is_connect() => return End::Lost("no daemon answers".into()),
        Ok(Err(e)) => return End::Lost(e.to_string()),
    };
    if tx.send(Event::Stream(Stream::Connected, clock_now())).is_err() {
        return End::Closed;
    }
    tracing::info!(url, "events stream connected");
    let mut resp = resp;
    let mut parser = SseParser::default();
    loop {
        let chunk = match tokio::time::timeout(IDLE, resp.chunk()).await {
            Err(_) => return End::Lost(format!("nothing heard for {} s", IDLE.as_secs())),
            Ok(Err(e)) => return End::Lost(e.to_string()),
            Ok(Ok(None)) => return End::Lost("the daemon ended the stream".into()),
            Ok(Ok(Some(c))) => c,
        };
        for e in parser.feed(&chunk) {
            // The once-a-second counters are no change to poll for.
            let change = e.name != TRAFFIC;
            let ev = Event::Stream(Stream::Event { name: e.name, data: e.data }, clock_now());
            if tx.send(ev).is_err() {
                return End::Closed;
            }
            // Full means a poll is already due.
            if change {
                let _ = poke.try_send(());
            }
        }
    }
}
