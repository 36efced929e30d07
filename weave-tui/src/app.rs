//! The dashboard's state and how events change it.

use crossterm::event::KeyCode;
use weave_api::Report;

pub enum Event {
    Key(KeyCode),
    Resize,
    /// A fresh report, or why the daemon could not be reached.
    Report(Result<Box<Report>, String>),
}

pub struct App {
    pub addr: String,
    pub report: Option<Report>,
    pub error: Option<String>,
    pub quit: bool,
}

impl App {
    pub fn new(addr: &str) -> App {
        App { addr: addr.to_string(), report: None, error: None, quit: false }
    }

    pub fn update(&mut self, ev: Event) {
        match ev {
            Event::Key(KeyCode::Char('q')) | Event::Key(KeyCode::Esc) => self.quit = true,
            Event::Key(_) | Event::Resize => {}
            Event::Report(Ok(r)) => {
                self.report = Some(*r);
                self.error = None;
            }
            // Keep showing the last report; say the daemon went away.
            Event::Report(Err(e)) => self.error = Some(e),
        }
    }
}
