//! The events log, newest first.

use super::widgets::{HEADER, SELECTED, WARN};
use crate::app::App;
use crate::views::event_rows;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Row, Table, TableState};
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
    let title = match app.ui.filter() {
        "" => format!(" events ({}) ", rows.len()),
        f => format!(" events ({}) · filter: {f} ", rows.len()),
    };
    let widths = [Constraint::Length(8), Constraint::Length(22), Constraint::Min(20)];
    let t = Table::new(table_rows, widths)
        .header(Row::new(vec!["TIME", "EVENT", "WHAT"]).style(HEADER))
        .row_highlight_style(SELECTED)
        .block(Block::bordered().title(title));
    let mut state = TableState::default()
        .with_selected((!rows.is_empty()).then(|| app.ui.selected().min(rows.len() - 1)));
    f.render_stateful_widget(t, area, &mut state);
}
