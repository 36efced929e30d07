//! Polls the daemon off the UI thread and turns what it hears into events.

use crate::app::Event;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

pub fn spawn(addr: String, tx: SyncSender<Event>, every: Duration) {
    std::thread::Builder::new()
        .name("weave-top-fetch".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            let client = weave_api::Client::new(&addr);
            loop {
                let ev = match rt.block_on(client.report()) {
                    Ok(r) => Event::Report(Ok(Box::new(r))),
                    Err(e) => Event::Report(Err(e.to_string())),
                };
                if tx.send(ev).is_err() {
                    return;
                }
                std::thread::sleep(every);
            }
        })
        .expect("spawn fetch thread");
}
