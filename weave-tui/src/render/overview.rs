//! The overview: this peer, the health of each subsystem, and what needs attention.

use super::widgets::{self, field, BAD, DIM, OK, WARN};
use crate::app::App;
use crate::health::{self, Level};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

fn style(l: Level) -> Style {
    match l {
        Level::Off => DIM,
        Level::Ok => OK,
        Level::Warn => WARN,
        Level::Bad => BAD,
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [top, bottom] = Layout::vertical([Constraint::Length(10), Constraint::Min(3)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(top);
    draw_peer(f, left, app);
    draw_health(f, right, app);
    draw_warnings(f, bottom, app);
}

fn draw_peer(f: &mut Frame, area: Rect, app: &App) {
    let d = app.shown();
    let Some(s) = &d.snapshot else { return };
    let st = &s.status;
    let r = &st.router;
    let onoff = |b: bool| if b { "on" } else { "off" };
    let targets = if r.targets.is_empty() { "none".to_string() } else { r.targets.join(", ") };
    let (rx, tx) = d.rates.total();
    let lines = vec![
        field("Name", 10, st.name.clone()),
        field("Nickname", 10, st.nickname.clone()),
        field(
            "Version",
            10,
            format!("{} ({} {}..{})", st.version, r.protocol, r.protocol_min_version, r.protocol_max_version),
        ),
        field("Port", 10, r.port.to_string()),
        field("Crypto", 10, format!("{} · discovery {}", onoff(r.encryption), onoff(r.peer_discovery))),
        field("Targets", 10, targets),
        field("Data dir", 10, st.data_dir.clone()),
        field("Traffic", 10, format!("in {} out {}", widgets::rate(rx), widgets::rate(tx))),
    ];
    let p = Paragraph::new(lines).block(Block::bordered().title(" this peer "));
    f.render_widget(p, area);
}

fn draw_health(f: &mut Frame, area: Rect, app: &App) {
    let lines: Vec<Line> = health::subsystems(app)
        .into_iter()
        .map(|c| {
            let mark = match c.level {
                Level::Off => "-",
                Level::Ok => "✓",
                Level::Warn => "!",
                Level::Bad => "✗",
            };
            Line::from(vec![
                Span::styled(format!("{mark} "), style(c.level)),
                Span::styled(format!("{:<9}", c.name), widgets::LABEL),
                Span::styled(c.text, style(c.level)),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title(" health ")), area);
}

fn draw_warnings(f: &mut Frame, area: Rect, app: &App) {
    let w = health::warnings(app);
    let title = format!(" warnings ({}) ", w.len());
    let lines: Vec<Line> = if w.is_empty() {
        vec![Line::styled("nothing needs attention", OK)]
    } else {
        w.into_iter().map(|(l, text)| Line::styled(format!("• {text}"), style(l))).collect()
    };
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered().title(title));
    f.render_widget(p, area);
}
