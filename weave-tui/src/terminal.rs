//! Taking over the terminal and giving it back: raw mode and the alternate screen on entry,
//! both undone on exit and on a panic in any thread (which also ends the program: a dashboard
//! with a dead fetcher would silently show stale data).

use ratatui::DefaultTerminal;

pub fn enter() -> std::io::Result<DefaultTerminal> {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // ratatui's restore leaves the cursor hidden (a terminal's drop shows it, and exit
        // skips drops).
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
        tracing::error!("panic: {info}");
        default(info);
        std::process::exit(101);
    }));
    // ratatui's hook wraps ours: it restores the terminal first, then runs the hook above.
    ratatui::try_init().inspect_err(|_| ratatui::restore())
}

pub fn leave() {
    ratatui::restore();
}
