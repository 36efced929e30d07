//! `weave top`: a live full-screen view of the weave network.
//!
//! Shaped as events -> update -> render: producers (a fetcher thread polling the daemon, an input
//! thread reading keys) send [`Event`]s into one channel; [`App::update`] folds them into state;
//! [`render`] draws the state and nothing else. Rendering never waits on the network.

mod app;
mod fetch;
mod render;

pub use app::{App, Event};
pub use render::render;

use std::sync::mpsc;
use std::time::Duration;

/// Runs the dashboard against the daemon at `addr` until the user quits.
pub fn run(addr: &str) -> std::io::Result<()> {
    let (tx, rx) = mpsc::sync_channel::<Event>(64);
    fetch::spawn(addr.to_string(), tx.clone(), Duration::from_secs(1));
    spawn_input(tx);
    // ratatui::init installs a panic hook that restores the terminal.
    let mut terminal = ratatui::init();
    let mut app = App::new(addr);
    let result = (|| -> std::io::Result<()> {
        loop {
            terminal.draw(|f| render(f, &app))?;
            let Ok(ev) = rx.recv() else { return Ok(()) };
            app.update(ev);
            if app.quit {
                return Ok(());
            }
        }
    })();
    ratatui::restore();
    result
}

fn spawn_input(tx: mpsc::SyncSender<Event>) {
    std::thread::Builder::new()
        .name("weave-top-input".into())
        .spawn(move || loop {
            match crossterm::event::read() {
                Ok(crossterm::event::Event::Key(k)) if k.kind == crossterm::event::KeyEventKind::Press => {
                    if tx.send(Event::Key(k.code)).is_err() {
                        return;
                    }
                }
                Ok(crossterm::event::Event::Resize(..)) => {
                    if tx.send(Event::Resize).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        })
        .expect("spawn input thread");
}
