//! IPAM: the ring's ownership per peer, the addresses this peer handed out, and problems.

use super::widgets::{self, DIM, HEADER, LABEL, WARN};
use crate::app::App;
use crate::model::{Avail, IpamData};
use crate::views::allocation_rows;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(s) = &app.shown().snapshot else { return };
    let i = match &s.ipam {
        Avail::Ready(i) => i,
        Avail::Disabled => {
            let why = "IPAM is disabled in this daemon (--ipalloc-range '').";
            return widgets::notice(f, area, "IPAM", vec![Line::from(why)]);
        }
        Avail::Missing => {
            let why = "IPAM not available: this daemon serves no IPAM API.";
            return widgets::notice(f, area, "IPAM", vec![Line::from(why)]);
        }
        Avail::Failed(e) => {
            return widgets::notice(
                f,
                area,
                "IPAM",
                vec![Line::styled(format!("IPAM not available: {e}"), WARN)],
            )
        }
    };
    let owners_h = (i.owners.len() as u16 + 3).min((area.height / 3).max(4));
    // Problems wrap: count the lines they take at this width.
    let inner = area.width.saturating_sub(2).max(1) as usize;
    let lines: usize = i.problems.iter().map(|p| (p.chars().count() + 2).div_ceil(inner)).sum();
    let problems_h = if lines == 0 { 0 } else { (lines as u16 + 2).min(area.height / 4 + 2) };
    let [summary, owners, allocs, problems] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(owners_h),
        Constraint::Min(3),
        Constraint::Length(problems_h),
    ])
    .areas(area);
    draw_summary(f, summary, i);
    draw_owners(f, owners, i);
    draw_allocations(f, allocs, app);
    if !i.problems.is_empty() {
        let lines: Vec<Line> = i.problems.iter().map(|p| Line::styled(format!("• {p}"), WARN)).collect();
        let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered().title(" problems "));
        f.render_widget(p, problems);
    }
}

fn draw_summary(f: &mut Frame, area: Rect, i: &IpamData) {
    let state_style = if matches!(i.state.as_str(), "ready" | "idle") { widgets::OK } else { WARN };
    let range = format!(
        "{} ({} IPs) · default subnet {} · {} in use here",
        i.range, i.range_size, i.default_subnet, i.active
    );
    let lines = vec![
        Line::from(vec![Span::styled(" State  ", LABEL), Span::styled(i.state.clone(), state_style)]),
        Line::from(vec![Span::styled(" Range  ", LABEL), Span::raw(range)]),
    ];
    f.render_widget(Paragraph::new(lines), area);
}

fn draw_owners(f: &mut Frame, area: Rect, i: &IpamData) {
    let total: u64 = i.owners.iter().map(|o| o.ips).sum::<u64>().max(1);
    let rows: Vec<Row> = i
        .owners
        .iter()
        .map(|o| {
            let share = o.ips as f64 / total as f64;
            let nick = if o.known { o.nickname.clone() } else { format!("{} (unknown)", o.nickname) };
            let row = Row::new(vec![
                Cell::from(widgets::clip(&nick, 16)),
                Cell::from(o.peer.clone()),
                Cell::from(o.ranges.to_string()),
                Cell::from(o.ips.to_string()),
                Cell::from(format!("{} {:>3.0}%", widgets::bar(share, 10), share * 100.0)),
            ]);
            if o.known {
                row
            } else {
                row.style(WARN)
            }
        })
        .collect();
    let widths = [
        Constraint::Length(16),
        Constraint::Length(17),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Min(15),
    ];
    let empty = i.owners.is_empty();
    let title = if empty {
        " ring: no owners yet ".to_string()
    } else {
        format!(" ring ownership ({} peers) ", i.owners.len())
    };
    let t = Table::new(rows, widths)
        .header(Row::new(vec!["OWNER", "NAME", "RANGES", "IPS", "SHARE"]).style(HEADER))
        .block(Block::bordered().title(title));
    f.render_widget(t, area);
}

fn draw_allocations(f: &mut Frame, area: Rect, app: &App) {
    let rows = allocation_rows(app.shown(), app.ui.filter());
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|a| {
            Row::new(vec![
                Cell::from(a.ident.clone()),
                Cell::from(a.addrs.join(" ")),
                Cell::from(if a.is_container { "container" } else { "other" }).style(DIM),
            ])
        })
        .collect();
    let widths = [Constraint::Percentage(45), Constraint::Min(18), Constraint::Length(9)];
    let header = vec!["TARGET", "ADDRESSES", "KIND"];
    widgets::list(f, area, app, "allocations by target", table_rows, header, widths);
}
