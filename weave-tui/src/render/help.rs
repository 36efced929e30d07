//! The `?` help: keys, where the log goes, which daemon this is.

use super::widgets::{self, DIM, LABEL};
use crate::app::App;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

const KEYS: [(&str, &str); 11] = [
    ("Tab Shift-Tab", "next / previous view (also ← → h l)"),
    ("1 .. 6", "Overview, Peers, Routes, IPAM, DNS, Events"),
    ("↑ ↓ j k", "move the selection (PgUp PgDn g G)"),
    ("/", "filter the list (Enter keeps, Esc clears)"),
    ("Enter", "details of the selected row"),
    ("Esc", "close details, clear the filter"),
    ("p", "pause / resume the display"),
    ("?", "this help (any key closes it)"),
    ("q Ctrl-C", "quit"),
    ("", ""),
    ("", "Rates: the daemon's counters, sampled once a second."),
];

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(vec![Span::styled(format!(" {k:<14}"), LABEL), Span::raw(*what)]))
        .collect();
    lines.push(Line::from(vec![
        Span::styled(format!(" {:<14}", "Daemon"), LABEL),
        Span::raw(app.addr.clone()),
    ]));
    lines.push(Line::from(vec![
        Span::styled(format!(" {:<14}", "Log file"), LABEL),
        Span::raw(app.log_path.clone()),
    ]));
    lines.push(Line::styled(" (set WEAVE_TOP_LOG to log elsewhere, WEAVE_LOG=debug for more)", DIM));
    let h = lines.len() as u16 + 2;
    widgets::popup_text(f, widgets::popup(area, 76, h), "weave top · help", lines);
}
