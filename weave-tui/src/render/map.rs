//! The topology map: the layout's slots as labelled nodes and its lines as braille strokes on a
//! ratatui canvas. A line's colour and dash say what it is (its pattern alone tells them apart
//! where colour is missing); the route to the selected node is drawn last, bright and thick.

use super::widgets::{BAD, DIM, LABEL, OK, SELECTED, WARN};
use crate::layout::{layout, MapLayout, MapLine, SlotKind};
use crate::topology::{Graph, Link, NodeKind};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Painter, Shape};
use ratatui::widgets::Block;
use ratatui::Frame;

/// How each kind of link is drawn: colour and dash (dots on, dots off).
fn stroke_of(l: &MapLine) -> (Color, (u8, u8)) {
    let colour = match l.link {
        Link::Up => Color::DarkGray,
        Link::Fastdp => Color::Green,
        Link::Sleeve if l.encrypted => Color::Magenta,
        Link::Sleeve => Color::Cyan,
        Link::Connecting => Color::Yellow,
        Link::Failed => Color::Red,
    };
    let dash = match l.link {
        Link::Up | Link::Fastdp => (1, 0),
        Link::Sleeve => (4, 2),
        Link::Connecting => (1, 2),
        Link::Failed => (2, 2),
    };
    (if l.route { Color::White } else { colour }, dash)
}

/// A dashed line between two points of the canvas, one or two dots thick.
struct Stroke {
    from: (f64, f64),
    to: (f64, f64),
    colour: Color,
    dash: (u8, u8),
    thick: bool,
}

impl Shape for Stroke {
    fn draw(&self, p: &mut Painter) {
        let (Some((x0, y0)), Some((x1, y1))) =
            (p.get_point(self.from.0, self.from.1), p.get_point(self.to.0, self.to.1))
        else {
            return;
        };
        // The grid's last dot each way: a thick line's second dot must not wrap past them.
        let (&[left, right], &[bottom, top]) = p.bounds();
        let (xmax, ymax) = match (p.get_point(right, top), p.get_point(left, bottom)) {
            (Some((xm, _)), Some((_, ym))) => (xm as i64, ym as i64),
            _ => return,
        };
        let (x0, y0, x1, y1) = (x0 as i64, y0 as i64, x1 as i64, y1 as i64);
        // Bresenham over the dots, the dash counted along the way.
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let period = u32::from(self.dash.0 + self.dash.1).max(1);
        let mut step: u32 = 0;
        loop {
            if step % period < u32::from(self.dash.0) {
                p.paint(x as usize, y as usize, self.colour);
                if self.thick {
                    // Beside the line, across its main direction.
                    let (tx, ty) = if dx >= -dy { (x, y + 1) } else { (x + 1, y) };
                    if tx <= xmax && ty <= ymax {
                        p.paint(tx as usize, ty as usize, self.colour);
                    }
                }
            }
            if x == x1 && y == y1 {
                break;
            }
            step += 1;
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
}

/// Counts for the line under the map: what it shows and what it leaves out.
fn note(g: &Graph, m: &MapLayout) -> String {
    let peers = g.nodes.iter().filter(|n| n.kind != NodeKind::Target).count();
    let mut parts = vec![format!("{peers} peers")];
    let targets = g.nodes.len() - peers;
    if targets > 0 {
        parts.push(format!("{targets} unknown target{}", if targets == 1 { "" } else { "s" }));
    }
    let count = |l: Link| g.edges.iter().filter(|e| e.link == l).count();
    let up = g.edges.iter().filter(|e| e.link.established()).count();
    parts.push(format!("{up} links up"));
    for (l, word) in [(Link::Connecting, "connecting"), (Link::Failed, "failed")] {
        let n = count(l);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    if m.grouped > 0 {
        parts.push(format!("{} grouped (/ finds one)", m.grouped));
    }
    if m.undrawn > 0 {
        parts.push(format!("{} links among others not drawn", m.undrawn));
    }
    format!(" {} ", parts.join(" · "))
}

/// The legend, as wide as there is room for.
fn legend(width: u16) -> Line<'static> {
    let items: [(&str, Color); 5] = [
        ("━ fastdp ", Color::Green),
        ("╍ sleeve ", Color::Cyan),
        ("╍ encrypted ", Color::Magenta),
        ("┈ connecting ", Color::Yellow),
        ("✗ failed ", Color::Red),
    ];
    let full: usize = items.iter().map(|(t, _)| t.chars().count()).sum();
    if usize::from(width) < full + 12 {
        return Line::default();
    }
    Line::from(items.iter().map(|(t, c)| Span::styled(*t, Style::new().fg(*c))).collect::<Vec<_>>())
        .right_aligned()
}

/// Draws the map of `g` into `area` (with its border), node `selected` picked.
pub fn draw(f: &mut Frame, area: Rect, g: &Graph, selected: Option<usize>, title: &str) {
    let block = Block::bordered().title(format!(" {title} ")).title_top(legend(area.width));
    let inner = block.inner(area);
    let m = layout(g, inner.width, inner.height, selected);
    let block = block.title_bottom(Line::styled(note(g, &m), DIM));
    f.render_widget(block, area);
    if inner.width < 4 || inner.height < 1 {
        return;
    }
    let (w, h) = (inner.width, inner.height);
    let top = f64::from(h - 1);
    let route: Vec<usize> =
        selected.map(|s| g.route(s).into_iter().map(|(_, to)| to).collect()).unwrap_or_default();
    let canvas = Canvas::default()
        .marker(Marker::Braille)
        .x_bounds([0.0, f64::from(w - 1).max(1.0)])
        .y_bounds([0.0, top.max(1.0)])
        .paint(|ctx| {
            for l in &m.lines {
                let (a, b) = (m.slots[l.from].centre(), m.slots[l.to].centre());
                let (colour, dash) = stroke_of(l);
                ctx.draw(&Stroke {
                    from: (a.0, top - a.1),
                    to: (b.0, top - b.1),
                    colour,
                    dash,
                    thick: l.route,
                });
            }
            // A failed link says so in its middle, where it is not under a label.
            for l in m.lines.iter().filter(|l| l.link == Link::Failed) {
                let (a, b) = (m.slots[l.from].centre(), m.slots[l.to].centre());
                let (x, y) = (((a.0 + b.0) / 2.0).round(), ((a.1 + b.1) / 2.0).round());
                let under_label = m.slots.iter().any(|s| {
                    f64::from(s.row) == y && x >= f64::from(s.col) && x < f64::from(s.col + s.width())
                });
                if !under_label {
                    ctx.print(x, top - y, Span::styled("✗", BAD.add_modifier(Modifier::BOLD)));
                }
            }
            for s in &m.slots {
                let (mark, mark_style, label_style) = match &s.kind {
                    SlotKind::Node(n) => {
                        let node = &g.nodes[*n];
                        let (mark, style) = match node.kind {
                            NodeKind::Us => ("◉", LABEL.add_modifier(Modifier::BOLD)),
                            NodeKind::Peer if node.hops().is_some() => ("●", OK),
                            NodeKind::Peer | NodeKind::Absent => ("○", BAD),
                            NodeKind::Target => ("◌", BAD),
                        };
                        let mut label = Style::new();
                        if node.kind == NodeKind::Us || route.contains(n) {
                            label = label.add_modifier(Modifier::BOLD);
                        }
                        if Some(*n) == selected {
                            label = label.patch(SELECTED);
                        }
                        (mark, style, label)
                    }
                    SlotKind::Group(_, members) => {
                        let picked = selected.is_some_and(|s| members.contains(&s));
                        ("◆", WARN, if picked { SELECTED } else { DIM })
                    }
                };
                let line = Line::from(vec![
                    Span::styled(mark, mark_style),
                    Span::styled(s.label.clone(), label_style),
                ]);
                ctx.print(f64::from(s.col), top - f64::from(s.row), line);
            }
        });
    f.render_widget(canvas, inner);
}
