//! The events log, newest first.

use super::widgets::{self, WARN};
use crate::app::App;
use crate::views::event_rows;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::Row;
use ratatui::Frame;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let rows = event_rows(app.shown(), app.ui.filter());
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|e| {
            let row = Row::new(vec![e.time.clone(), e.kind.clone(), e.text.clone()]);
            if e.warn {
                row.style(WARN)
            } else {
                row
            }
        })
        .collect();
    let widths = [Constraint::Length(8), Constraint::Length(22), Constraint::Min(20)];
    widgets::list(f, area, app, "events", table_rows, vec!["TIME", "EVENT", "WHAT"], widths);
}
