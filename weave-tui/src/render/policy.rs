//! Policy: the network policies in force cluster-wide (what each selects and isolates) above
//! this host's latest drops, newest first, with the policies that caused them.

use super::widgets::{self, DIM, WARN};
use crate::app::App;
use crate::model::{Avail, PolicyData};
use crate::views::policy_rows;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row};
use ratatui::Frame;
use weave_api::{PolicyDrop, PolicyInfo};

/// What a policy isolates and with how many rules: `in 1`, `out 2`, `in 0 · out 1` (no rules:
/// nothing may pass that way).
pub fn isolates(p: &PolicyInfo) -> String {
    match (p.ingress_rules, p.egress_rules) {
        (Some(i), Some(e)) => format!("in {i} · out {e}"),
        (Some(i), None) => format!("in {i}"),
        (None, Some(e)) => format!("out {e}"),
        (None, None) => "nothing".into(),
    }
}

/// One drop on a line: `HH:MM:SSZ in tcp 10.32.0.5 -> 10.32.0.9:80 (default/deny)`.
pub fn drop_line(d: &PolicyDrop) -> String {
    let port = d.port.map(|p| format!(":{p}")).unwrap_or_default();
    let dir = if d.direction == "egress" { "out" } else { "in" };
    format!(
        "{} {dir:<3} {:<4} {} -> {}{port} ({})",
        clock(d.time),
        d.protocol,
        d.src,
        d.dst,
        d.isolating.join(", ")
    )
}

/// `HH:MM:SSZ` of a Unix time, in UTC so the render does not depend on the time zone.
fn clock(t: u64) -> String {
    let s = t % 86_400;
    format!("{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(s) = &app.shown().snapshot else { return };
    let data: &PolicyData = match &s.policy {
        Avail::Ready(p) => p,
        Avail::Disabled => {
            let why = "Network policy is disabled in this daemon.";
            return widgets::notice(f, area, "Policy", vec![Line::from(why)]);
        }
        Avail::Missing => {
            let why = "Policy not available: this daemon serves no network policy (Weave Net has none).";
            return widgets::notice(f, area, "Policy", vec![Line::from(why)]);
        }
        Avail::Failed(e) => {
            let line = Line::styled(format!("Policy not available: {e}"), WARN);
            return widgets::notice(f, area, "Policy", vec![line]);
        }
    };
    // The drops get what the policies leave, at least a third of the view.
    let policies_h = (data.policies.len() as u16 + 3).max(4).min(area.height.saturating_mul(2) / 3);
    let [top, bottom] = Layout::vertical([Constraint::Length(policies_h), Constraint::Min(3)]).areas(area);
    let rows: Vec<Row> = policy_rows(app.shown(), app.ui.filter())
        .into_iter()
        .map(|p| {
            let selector =
                if p.selector.is_empty() { "(all in namespace)".into() } else { p.selector.clone() };
            let drops = data.drops_by(&p.name).count();
            Row::new(vec![p.name.clone(), selector, isolates(p), p.selected.to_string(), drops.to_string()])
        })
        .collect();
    let widths = [
        Constraint::Min(18),
        Constraint::Min(14),
        Constraint::Length(16),
        Constraint::Length(8),
        Constraint::Length(5),
    ];
    let header = vec!["POLICY", "SELECTS", "ISOLATES (RULES)", "SELECTED", "DROPS"];
    widgets::list(f, top, app, "Policies", rows, header, widths);

    let room = bottom.height.saturating_sub(2) as usize;
    let width = bottom.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = if data.drops.is_empty() {
        vec![Line::styled("no packet refused by a policy on this host", DIM)]
    } else {
        data.drops
            .iter()
            .take(room)
            .map(|d| Line::styled(widgets::clip(&drop_line(d), width), WARN))
            .collect()
    };
    let title = format!(" Latest drops on this host ({}) ", data.drops.len());
    f.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), bottom);
}
