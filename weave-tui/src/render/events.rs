//! The events log, newest first, filtered by text, kind (`t`) and peer (`n`). At the top it
//! follows new events; scrolled down it stays on the entry the reader is on; paused, it stands
//! still and counts what keeps arriving.

use super::widgets::{self, DIM, WARN};
use crate::app::App;
use crate::views::{event_rows, nicknames};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Row};
use ratatui::Frame;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let d = app.shown();
    let rows = event_rows(d, app.ui.filter(), &app.ui.events);
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
    let mut title = format!(" events ({})", rows.len());
    if let Some(k) = &app.ui.events.kind {
        title.push_str(&format!(" · kind: {k}"));
    }
    if let Some(p) = &app.ui.events.peer {
        let nick = d.snapshot.as_ref().and_then(|s| nicknames(s).get(p.as_str()).map(|n| n.to_string()));
        let who = nick.or_else(|| d.learned.get(p).cloned()).unwrap_or_else(|| p.clone());
        title.push_str(&format!(" · peer: {who}"));
    }
    if !app.ui.filter().is_empty() {
        title.push_str(&format!(" · filter: {}", app.ui.filter()));
    }
    match app.logged_while_paused() {
        Some((new, 0)) => title.push_str(&format!(" · paused, {new} new since (p resumes) ")),
        Some((new, lost)) => title
            .push_str(&format!(" · paused, {new} new since, {lost} of them past the buffer (p resumes) ")),
        None if app.ui.selected() > 0 && !rows.is_empty() => {
            title.push_str(&format!(" · {} newer above (g: newest) ", app.ui.selected().min(rows.len() - 1)))
        }
        None => title.push_str(" · following "),
    }
    let keys = Line::styled(" t kind · n peer · Esc clears · p pause ", DIM);
    let block = Block::bordered().title(title).title_bottom(keys);
    let widths = [Constraint::Length(8), Constraint::Length(22), Constraint::Min(20)];
    widgets::list_in(f, area, app, block, table_rows, vec!["TIME", "EVENT", "WHAT"], widths);
}
