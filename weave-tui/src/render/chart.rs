//! Traffic over time as line charts over the window the user picked (`w`): bytes per second in
//! and out, and packets dropped per second. The title says the latest figures, so the chart is
//! readable without colour.

use super::widgets::{self, BAD, DIM, OK, WARN};
use crate::rates::{History, Window};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType};
use ratatui::Frame;

/// The x axis: the window, from its start to now.
fn x_axis(window: Window) -> Axis<'static> {
    let secs = window.secs();
    Axis::default()
        .bounds([-secs, 0.0])
        .labels([Span::styled(format!("-{}", window.label()), DIM), Span::styled("now", DIM)])
}

/// A y axis from 0 to a little above `max` (at least `floor`), labelled by `fmt`.
fn y_axis(max: f64, floor: f64, fmt: impl Fn(f64) -> String) -> Axis<'static> {
    let top = (max * 1.1).max(floor);
    Axis::default().bounds([0.0, top]).labels([Span::styled("0", DIM), Span::styled(fmt(top), DIM)])
}

fn peak(points: &[(f64, f64)]) -> f64 {
    points.iter().map(|p| p.1).fold(0.0, f64::max)
}

/// Bytes per second in and out of `h` over `window`, ending at `now`; `what` (if any) starts
/// the title.
pub fn throughput(f: &mut Frame, area: Rect, h: &History, now: f64, window: Window, what: &str) {
    let rx = h.window(now, window.secs(), |p| p.rx);
    let tx = h.window(now, window.secs(), |p| p.tx);
    let last = h.last().filter(|p| p.t >= now - window.secs());
    let what = if what.is_empty() { " ".to_string() } else { format!(" {what} · ") };
    let title = Line::from(vec![
        Span::raw(what),
        Span::styled(format!("in {}", last.map(|p| widgets::rate(p.rx)).unwrap_or("-".into())), OK),
        Span::raw(" · "),
        Span::styled(format!("out {}", last.map(|p| widgets::rate(p.tx)).unwrap_or("-".into())), WARN),
        Span::styled(format!(" · {} (w) ", window.label()), DIM),
    ]);
    let max = peak(&rx).max(peak(&tx));
    let chart = Chart::new(vec![
        Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(OK).data(&rx),
        Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(WARN).data(&tx),
    ])
    .block(Block::bordered().title(title))
    .x_axis(x_axis(window))
    .y_axis(y_axis(max, 1024.0, widgets::rate));
    f.render_widget(chart, area);
}

/// Packets dropped per second in `h` over `window`, ending at `now`.
pub fn drops(f: &mut Frame, area: Rect, h: &History, now: f64, window: Window, what: &str) {
    let d = h.window(now, window.secs(), |p| p.drops);
    let total: f64 = {
        // Rates times the interval each covers: the packets dropped in the window.
        let pts: Vec<_> = h.iter().filter(|p| p.t >= now - window.secs()).collect();
        pts.windows(2).map(|w| w[1].drops * (w[1].t - w[0].t)).sum()
    };
    let style = if total > 0.0 { BAD } else { Style::new() };
    let title = Line::from(vec![
        Span::raw(format!(" {what} · ")),
        Span::styled(format!("{total:.0} in {}", window.label()), style),
        Span::styled(format!(" · now {:.0}/s ", h.last().map(|p| p.drops).unwrap_or(0.0)), DIM),
    ]);
    let chart = Chart::new(vec![Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(BAD)
        .data(&d)])
    .block(Block::bordered().title(title))
    .x_axis(x_axis(window))
    .y_axis(y_axis(peak(&d), 1.0, |v| format!("{v:.0}/s")));
    f.render_widget(chart, area);
}
