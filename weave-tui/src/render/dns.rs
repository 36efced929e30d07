//! DNS: every name in the weave DNS domain, where it points and which peer announced it.

use super::widgets::{self, WARN};
use crate::app::App;
use crate::model::Avail;
use crate::views::{dns_rows, nicknames};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::Row;
use ratatui::Frame;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(s) = &app.shown().snapshot else { return };
    match &s.dns {
        Avail::Ready(_) => {}
        Avail::Disabled => {
            return widgets::notice(
                f,
                area,
                "DNS",
                vec![Line::from("DNS is disabled in this daemon (--no-dns).")],
            )
        }
        Avail::Missing => {
            let why = "DNS not available: this daemon serves no DNS entries.";
            return widgets::notice(f, area, "DNS", vec![Line::from(why)]);
        }
        Avail::Failed(e) => {
            return widgets::notice(
                f,
                area,
                "DNS",
                vec![Line::styled(format!("DNS not available: {e}"), WARN)],
            )
        }
    }
    let nicks = nicknames(s);
    let rows = dns_rows(app.shown(), app.ui.filter());
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|e| {
            let origin =
                nicks.get(e.origin.as_str()).map(|n| n.to_string()).unwrap_or_else(|| e.origin.clone());
            Row::new(vec![e.name.clone(), e.address.clone(), origin, widgets::clip(&e.container_id, 12)])
        })
        .collect();
    let widths =
        [Constraint::Min(20), Constraint::Length(15), Constraint::Length(17), Constraint::Length(12)];
    let header = vec!["NAME", "ADDRESS", "PEER", "CONTAINER"];
    widgets::list(f, area, app, "DNS entries", table_rows, header, widths);
}
