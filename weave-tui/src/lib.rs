//! `weave top`: a live full-screen view of the weave network.
//!
//! Shaped as events -> update -> render: producers (a poller of the REST API, a reader of the
//! events stream, a reader of the keyboard) send [`Event`]s into one bounded channel;
//! [`App::update`] folds them into state; [`render`] draws the state and nothing else. Neither
//! waits on the network, so the screen stays responsive while the daemon is slow or gone, and
//! frames are paced (only after a change, at most ten a second), so a burst of events over a
//! slow link costs one frame. Everything it knows comes through the API client (`weave-api`),
//! events stream included.
#![forbid(unsafe_code)]

mod app;
mod eventlog;
mod fetch;
#[cfg(test)]
mod fixtures;
mod health;
mod input;
mod layout;
mod logging;
pub mod model;
mod overlay;
mod pacer;
mod rates;
mod render;
mod stream;
mod terminal;
mod topology;
mod views;

pub use app::{App, Clock, Event, Stream};
pub use render::render;
pub use views::Tab;

use std::sync::mpsc;
use std::time::Duration;

/// How often the REST API is polled.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Set, `!` panics: how the end-to-end test checks that a panic gives the terminal back.
const TEST_PANIC_ENV: &str = "WEAVE_TOP_TEST_PANIC";

/// Runs the dashboard against the daemon at `addr` until the user quits.
pub fn run(addr: &str) -> std::io::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(std::io::Error::other(
            "needs an interactive terminal (stdin and stdout are not both one)",
        ));
    }
    let log = logging::init(&logging::path());
    tracing::info!(addr, "weave top starting");
    let (tx, rx) = mpsc::sync_channel::<Event>(256);
    let poke = fetch::spawn(addr.to_string(), tx.clone(), POLL_EVERY)?;
    stream::spawn(addr.to_string(), tx.clone(), poke)?;
    let mut terminal = terminal::enter()?;
    let mut app = App::new(addr, &log);
    let test_panic = std::env::var_os(TEST_PANIC_ENV).is_some();
    let started = std::time::Instant::now();
    let mut pacer = pacer::Pacer::default();
    let result =
        input::spawn(tx).and_then(|()| event_loop(&mut terminal, &mut app, &rx, &mut pacer, test_panic));
    terminal::leave();
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(frames = pacer.frames(), secs = format!("{secs:.1}"), "weave top done");
    result
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    rx: &mpsc::Receiver<Event>,
    pacer: &mut pacer::Pacer,
    test_panic: bool,
) -> std::io::Result<()> {
    use pacer::Next;
    use std::time::Instant;
    pacer.changed();
    loop {
        let ev = match pacer.next(Instant::now()) {
            Next::Draw => {
                terminal.draw(|f| render(f, app))?;
                pacer.drew(Instant::now());
                continue;
            }
            Next::Wait => match rx.recv() {
                Ok(ev) => ev,
                Err(_) => return Ok(()),
            },
            Next::WaitUntil(t) => match rx.recv_timeout(t.saturating_duration_since(Instant::now())) {
                Ok(ev) => ev,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            },
        };
        if test_panic && matches!(&ev, Event::Key(k) if k.code == crossterm::event::KeyCode::Char('!')) {
            panic!("{TEST_PANIC_ENV} is set and ! was pressed");
        }
        app.update(ev);
        pacer.changed();
        // Fold in whatever else queued up meanwhile.
        while !app.quit {
            match rx.try_recv() {
                Ok(ev) => app.update(ev),
                Err(_) => break,
            }
        }
        if app.quit {
            return Ok(());
        }
    }
}
