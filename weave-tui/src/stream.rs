//! Follows the daemon's events stream (`Client::events`) on a thread of its own: every change
//! becomes an [`Event`] for the log and wakes the poller, so the views catch up at once instead
//! of at the next tick; the `traffic` counters become samples for the rates. Reconnects for as
//! long as the dashboard runs.

use crate::app::{Event, Stream};
use crate::eventlog::clock_now;
use std::sync::mpsc::SyncSender;
use std::time::Duration;
use weave_api::{Client, StreamEvent, StreamItem};

const RETRY: Duration = Duration::from_secs(1);

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
        let client = Client::new(&addr);
        let mut last_error = String::new();
        loop {
            match rt.block_on(follow(&client, &tx, &poke)) {
                End::Closed => return,
                End::Lost(e) => {
                    // Log transitions only: a daemon that stays down would flood the file.
                    if e != last_error {
                        tracing::info!(addr, "events stream: {e}");
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

async fn follow(client: &Client, tx: &SyncSender<Event>, poke: &SyncSender<()>) -> End {
    let mut events = match client.events().await {
        Ok(e) => e,
        Err(weave_api::ClientError::Unreachable { .. }) => return End::Lost("no daemon answers".into()),
        Err(e) => return End::Lost(e.to_string()),
    };
    if tx.send(Event::Stream(Stream::Connected, clock_now())).is_err() {
        return End::Closed;
    }
    tracing::info!(addr = client.addr(), "events stream connected");
    loop {
        let item = match events.next().await {
            Ok(Some(item)) => item,
            Ok(None) => return End::Lost("the daemon ended the stream".into()),
            Err(e) => return End::Lost(e.to_string()),
        };
        // The once-a-second counters are no change to poll for.
        let change = !matches!(item, StreamItem::Event(StreamEvent::Traffic(_)));
        if tx.send(Event::Stream(Stream::Item(item), clock_now())).is_err() {
            return End::Closed;
        }
        // Full means a poll is already due.
        if change {
            let _ = poke.try_send(());
        }
    }
}
