//! Reads keys and resizes from the terminal on a thread of its own.

use crate::app::Event;
use crossterm::event::{self, Event as Term, KeyEventKind};
use std::sync::mpsc::SyncSender;

pub fn spawn(tx: SyncSender<Event>) -> std::io::Result<()> {
    std::thread::Builder::new().name("weave-top-input".into()).spawn(move || loop {
        let ev = match event::read() {
            Ok(Term::Key(k)) if k.kind != KeyEventKind::Release => Event::Key(k),
            Ok(Term::Resize(..)) => Event::Resize,
            Ok(_) => continue,
            Err(e) => {
                tracing::error!("reading the terminal: {e}");
                return;
            }
        };
        if tx.send(ev).is_err() {
            return;
        }
    })?;
    Ok(())
}
