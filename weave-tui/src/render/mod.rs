//! Drawing: a pure function of the [`App`] state into a ratatui frame. Each tab has its own
//! module; this one lays out the header, the tab bar, the footer and the popups.

mod chart;
mod details;
mod dns;
mod events;
mod help;
mod ipam;
mod map;
mod overview;
mod peers;
mod policy;
mod routes;
mod services;
mod widgets;

use crate::app::{App, Link, StreamLink};
use crate::views::Tab;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use widgets::{BAD, DIM, OK, WARN};

pub fn render(f: &mut Frame, app: &App) {
    let down = matches!(app.link, Link::Down { .. });
    let [header, banner, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(down)),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_header(f, header, app);
    if let Link::Down { error, attempts } = &app.link {
        let text = format!(" disconnected, retrying (attempt {attempts}): {error}");
        f.render_widget(Paragraph::new(text).style(Style::new().fg(Color::White).bg(Color::Red)), banner);
    }
    draw_tabs(f, tabs, app.ui.tab);
    if app.shown().snapshot.is_none() && app.ui.tab != Tab::Events {
        let text = match &app.link {
            Link::Down { .. } => format!("waiting for the weave daemon at {} ...", app.addr),
            _ => format!("connecting to the weave daemon at {} ...", app.addr),
        };
        widgets::notice(f, body, "weave top", vec![Line::from(text)]);
    } else {
        draw_view(f, body, app);
    }
    draw_footer(f, footer, app);
    if app.ui.details {
        details::draw(f, body, app);
    }
    if app.ui.help {
        help::draw(f, f.area(), app);
    }
}

/// The current view: one module each (see `views` for how a view plugs in).
fn draw_view(f: &mut Frame, area: Rect, app: &App) {
    match app.ui.tab {
        Tab::Overview => overview::draw(f, area, app),
        Tab::Peers => peers::draw(f, area, app),
        Tab::Routes => routes::draw(f, area, app),
        Tab::Ipam => ipam::draw(f, area, app),
        Tab::Dns => dns::draw(f, area, app),
        Tab::Events => events::draw(f, area, app),
        Tab::Services => services::draw(f, area, app),
        Tab::Policy => policy::draw(f, area, app),
    }
}

fn draw_header(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![Span::styled(" weave top ", Style::new().add_modifier(Modifier::BOLD))];
    if let Some(s) = &app.shown().snapshot {
        spans.push(Span::raw(format!(" {}({}) ", s.status.name, s.status.nickname)));
        spans.push(Span::styled(format!(" v{} ", s.status.version), DIM));
    }
    let (state, style) = match (&app.link, app.paused()) {
        (_, true) => ("PAUSED", WARN.add_modifier(Modifier::BOLD)),
        (Link::Up, _) => ("live", OK),
        (Link::Connecting, _) => ("connecting", DIM),
        (Link::Down { .. }, _) => ("disconnected", BAD.add_modifier(Modifier::BOLD)),
    };
    let right = Line::from(vec![Span::styled(state, style), Span::raw(" ")]).right_aligned();
    f.render_widget(Paragraph::new(Line::from(spans)), area);
    f.render_widget(Paragraph::new(right), area);
}

fn draw_tabs(f: &mut Frame, area: Rect, current: Tab) {
    let mut spans = vec![];
    for t in Tab::ALL {
        let label = format!(" {} {} ", t.index() + 1, t.title());
        let style = if t == current { widgets::SELECTED.add_modifier(Modifier::BOLD) } else { Style::new() };
        // No gap between labels: all eight fit in the smallest supported width (80).
        spans.push(Span::styled(label, style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn hints() -> String {
    format!(" q quit  ? help  Tab/1-{} views  j/k move  / filter  Enter details  p pause", Tab::ALL.len())
}

fn draw_footer(f: &mut Frame, area: Rect, app: &App) {
    let filter = app.ui.filter();
    let left = if app.ui.editing {
        Line::from(vec![
            Span::styled(" filter: ", widgets::LABEL),
            Span::raw(filter.to_string()),
            Span::styled("█", DIM),
            Span::styled("  Enter keep · Esc clear", DIM),
        ])
    } else {
        let mut spans = vec![Span::styled(hints(), DIM)];
        if !filter.is_empty() {
            spans = vec![
                Span::styled(" filter: ", widgets::LABEL),
                Span::raw(filter.to_string()),
                Span::styled("  (Esc clears) · ? help", DIM),
            ];
        }
        Line::from(spans)
    };
    f.render_widget(Paragraph::new(left), area);
    // The hints take most of 80 columns; say how the stream is where there is room (the
    // overview always says).
    if !app.ui.editing && area.width >= 100 {
        let ev = match app.stream {
            StreamLink::Up => None,
            StreamLink::Connecting => Some(("events: connecting ", DIM)),
            StreamLink::Down(_) => Some(("events: retrying ", WARN)),
        };
        if let Some((text, style)) = ev {
            f.render_widget(Paragraph::new(Line::styled(text, style).right_aligned()), area);
        }
    }
}

#[cfg(test)]
mod tests;
