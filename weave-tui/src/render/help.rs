//! The `?` help: keys, where the log goes, which daemon this is.

use super::widgets::{self, DIM, LABEL};
use crate::app::App;
use crate::views::Tab;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

const KEYS: [(&str, &str); 13] = [
    ("Tab Shift-Tab", "next / previous view (also ← → h l)"),
    ("", ""),
    ("↑ ↓ j k", "move the selection: a row, or a node of the map (PgUp PgDn g G)"),
    ("/", "filter the list or the map's nodes (Enter keeps, Esc clears)"),
    ("Enter", "details of the selected row or node, with its graphs"),
    ("Esc", "close details, clear the filters"),
    ("w", "graphs' window: 1, 5 or 15 minutes"),
    ("t n", "events: cycle the kind / the peer shown"),
    ("p", "pause / resume the display (events keep being collected)"),
    ("?", "this help (any key closes it)"),
    ("q Ctrl-C", "quit"),
    ("", ""),
    ("", "Rates: the daemon's counters, sampled once a second."),
];

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let views: Vec<&str> = Tab::ALL.iter().map(|t| t.title()).collect();
    let numbers = format!("1 .. {}", Tab::ALL.len());
    let views = views.join(", ");
    let mut lines: Vec<Line> = KEYS
        .iter()
        .enumerate()
        .map(|(i, (k, what))| {
            // The second line names the views, from the registry.
            let (k, what) = if i == 1 { (numbers.as_str(), views.as_str()) } else { (*k, *what) };
            Line::from(vec![Span::styled(format!(" {k:<14}"), LABEL), Span::raw(what.to_string())])
        })
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
    widgets::popup_text(f, widgets::popup(area, 80, h), "weave top · help", lines);
}
