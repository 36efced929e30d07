//! The overview: the health of each subsystem, the map of the network with the selected node's
//! details beside it, the whole peer's traffic over time, and what needs attention. On a short
//! terminal the peer box and the chart give way to the map.

use super::chart;
use super::map;
use super::peers::state_style;
use super::widgets::{self, field, wrapped, BAD, DIM, OK, WARN};
use crate::app::App;
use crate::health::{self, Level};
use crate::topology::{Graph, NodeKind};
use crate::views;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

/// Body height from which the peer box and the traffic chart are shown.
const TALL: u16 = 30;
const W: usize = 10;

fn style(l: Level) -> Style {
    match l {
        Level::Off => DIM,
        Level::Ok => OK,
        Level::Warn => WARN,
        Level::Bad => BAD,
    }
}

/// The node picked on the map: the selected row among the nodes the filter leaves.
pub fn selected_node(app: &App, g: &Graph) -> Option<usize> {
    let rows = views::map_rows(g, app.ui.filter());
    (!rows.is_empty()).then(|| rows[app.ui.selected().min(rows.len() - 1)])
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(g) = views::graph(app.shown()) else { return };
    let sel = selected_node(app, &g);
    let tall = area.height >= TALL;
    let warnings = health::warnings(app);
    let warn_h = (warnings.len().max(1) as u16 + 2).min(if tall { 8 } else { 5 });
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(if tall { 10 } else { 7 }),
        Constraint::Min(3),
        Constraint::Length(warn_h),
    ])
    .areas(area);
    if tall {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(top);
        draw_peer(f, left, app);
        draw_health(f, right, app);
    } else {
        draw_health(f, top, app);
    }
    let side_w = (middle.width * 3 / 10).clamp(30, 40);
    let [map_area, side] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(side_w)]).areas(middle);
    map::draw(f, map_area, &g, sel, "map");
    if tall && side.height >= 18 {
        let [node, traffic] = Layout::vertical([Constraint::Min(6), Constraint::Length(10)]).areas(side);
        draw_node(f, node, app, &g, sel);
        let d = app.shown();
        chart::throughput(f, traffic, &d.rates.total, d.rates.now(), app.ui.window, "");
    } else {
        draw_node(f, side, app, &g, sel);
    }
    draw_warnings(f, bottom, warnings);
}

fn draw_peer(f: &mut Frame, area: Rect, app: &App) {
    let d = app.shown();
    let Some(s) = &d.snapshot else { return };
    let st = &s.status;
    let r = &st.router;
    let onoff = |b: bool| if b { "on" } else { "off" };
    let targets = if r.targets.is_empty() { "none".to_string() } else { r.targets.join(", ") };
    let (rx, tx) = d.rates.total_now();
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
                Span::styled(format!("{:<8}", c.name), widgets::LABEL),
                Span::styled(c.text, style(c.level)),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title(" health ")), area);
}

/// The selected node: who it is, the route to it, our link to it and its own links.
fn draw_node(f: &mut Frame, area: Rect, app: &App, g: &Graph, sel: Option<usize>) {
    let Some(n) = sel else {
        widgets::notice(f, area, "node", vec![Line::styled("no node matches the filter", DIM)]);
        return;
    };
    let node = &g.nodes[n];
    let d = app.shown();
    let inner = area.width.saturating_sub(2) as usize;
    let mut lines = vec![];
    if node.kind != NodeKind::Target {
        lines.extend(wrapped("Name", W, &node.key, Style::new(), inner));
    }
    let label = |k: &str| g.index(k).map(|i| g.nodes[i].label().to_string()).unwrap_or_else(|| k.to_string());
    let links = g.edges.iter().filter(|e| e.touches(n));
    let (up, down) = links.partition::<Vec<_>, _>(|e| e.link.established());
    if node.kind == NodeKind::Us {
        let reachable = g.nodes.iter().filter(|x| x.hops().is_some()).count() - 1;
        lines.push(field("Peers", W, format!("{} · {reachable} reachable", g.nodes.len() - 1)));
        lines.push(field("Links", W, format!("{} up · {} not", up.len(), down.len())));
        let (rx, tx) = d.rates.total_now();
        lines.push(field("Traffic", W, format!("in {} out {}", widgets::rate(rx), widgets::rate(tx))));
    } else {
        let (route, style) = match node.hops() {
            Some(h) => {
                let mut names = vec![g.nodes[0].label().to_string()];
                names.extend(node.path.iter().map(|k| label(k)));
                let hops = if h == 1 { "1 hop".to_string() } else { format!("{h} hops") };
                (format!("{} ({hops})", names.join(" → ")), Style::new())
            }
            None => ("none: unreachable".to_string(), BAD),
        };
        lines.extend(wrapped("Route", W, &route, style, inner));
        let conn = d.snapshot.as_ref().and_then(|s| {
            let mine = s.connections.iter().filter(|c| {
                c.peer.as_deref().or(c.expected_peer.as_deref()) == Some(node.key.as_str())
                    || c.address == node.key
            });
            mine.max_by_key(|c| c.state == "established")
        });
        match conn {
            Some(c) if c.state == "established" => {
                let overlay = c.overlay.clone().unwrap_or_else(|| "no overlay".into());
                let enc = if c.encrypted { " · encrypted" } else { "" };
                let rtt = c.rtt_us.map(|us| format!(" · {:.1}ms", us as f64 / 1000.0)).unwrap_or_default();
                lines.push(field("Link", W, Span::styled(format!("{overlay}{enc}{rtt}"), OK)));
                if let Some(s) = d.rates.get(&crate::rates::key(c)) {
                    let now = |v: Option<f64>| v.map(widgets::rate).unwrap_or("-".into());
                    lines.push(field(
                        "Traffic",
                        W,
                        format!("in {} out {}", now(s.rx_now()), now(s.tx_now())),
                    ));
                }
            }
            Some(c) => {
                lines.push(field("Link", W, Span::styled(c.state.clone(), state_style(&c.state))));
                if !c.info.is_empty() {
                    lines.extend(wrapped("", W, &c.info, DIM, inner));
                }
            }
            None if node.hops().is_some_and(|h| h > 1) => {
                lines.push(field("Link", W, format!("none (via {})", label(&node.path[0]))))
            }
            None => lines.push(field("Link", W, Span::styled("none", DIM))),
        }
        if node.kind == NodeKind::Target {
            lines.push(Line::styled("no handshake has named this peer", DIM));
        } else {
            let names: Vec<String> = up.iter().map(|e| g.nodes[e.other(n)].label().to_string()).collect();
            let text = match names.len() {
                0 => "none up".to_string(),
                k => format!("{k} up: {}", names.join(" ")),
            };
            lines.extend(wrapped("Its links", W, &text, Style::new(), inner));
        }
    }
    lines.push(Line::styled("Enter details · j/k next", DIM));
    let title = format!(" {} ", widgets::clip(node.label(), area.width.saturating_sub(4) as usize));
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered().title(title));
    f.render_widget(p, area);
}

fn draw_warnings(f: &mut Frame, area: Rect, w: Vec<(Level, String)>) {
    let room = area.height.saturating_sub(2) as usize;
    let title = match w.len() {
        n if n > room => format!(" warnings ({n}, first {room} shown) "),
        n => format!(" warnings ({n}) "),
    };
    let width = area.width.saturating_sub(4) as usize;
    let lines: Vec<Line> = if w.is_empty() {
        vec![Line::styled("nothing needs attention", OK)]
    } else {
        w.into_iter()
            .map(|(l, text)| Line::styled(format!("• {}", widgets::clip(&text, width)), style(l)))
            .collect()
    };
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
}
