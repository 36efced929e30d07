//! Drawing: a pure function of the [`App`] state.

use crate::app::App;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::Frame;

pub fn render(f: &mut Frame, app: &App) {
    let [header, body, footer] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(3), Constraint::Length(1)]).areas(f.area());
    let title = match &app.report {
        Some(r) => format!(" weave top · {}({}) · {} ", r.router.name, r.router.nick_name, r.version),
        None => " weave top ".to_string(),
    };
    let state = match (&app.error, &app.report) {
        (Some(e), _) => Line::styled(format!("daemon unreachable: {e}"), Style::new().fg(Color::Red)),
        (None, Some(r)) => Line::from(format!(
            "peers {}  connections {}  targets {}",
            r.router.peers.len(),
            r.router.connections.len(),
            r.router.targets.len()
        )),
        (None, None) => Line::from(format!("connecting to {} ...", app.addr)),
    };
    f.render_widget(Paragraph::new(state).block(Block::bordered().title(title)), header);

    let rows: Vec<Row> = app
        .report
        .iter()
        .flat_map(|r| &r.router.peers)
        .map(|p| {
            Row::new(vec![
                p.name.clone(),
                p.nick_name.clone(),
                p.connections.len().to_string(),
                p.connections.iter().filter(|c| c.established).count().to_string(),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [Constraint::Length(19), Constraint::Min(10), Constraint::Length(12), Constraint::Length(12)],
    )
    .header(
        Row::new(vec!["PEER", "NICKNAME", "CONNECTIONS", "ESTABLISHED"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::bordered().title(" peers "));
    f.render_widget(table, body);
    f.render_widget(Paragraph::new(" q quit"), footer);
}
