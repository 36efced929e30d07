//! Routes: for every peer, the next hop this peer sends its unicast traffic to, and the
//! neighbours this peer relays that peer's broadcasts to (Weave's broadcast tree).

use super::widgets::{self, BAD, DIM, OK};
use crate::app::App;
use crate::views::{route_rows, RouteRow};
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

const WIDE: u16 = 110;

/// A peer as `nick`, or its name when it has no nickname (yet).
fn who(name: &str, nick: &str) -> String {
    if nick.is_empty() {
        name.to_string()
    } else {
        nick.to_string()
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let rows = route_rows(app.shown(), app.ui.filter());
    let wide = area.width >= WIDE;
    let table_rows: Vec<Row> = rows.iter().map(|r| row(r, wide)).collect();
    let (header, widths) = if wide {
        (
            vec!["PEER", "NAME", "NEXT HOP", "VIA NAME", "BROADCASTS FROM IT GO TO"],
            vec![
                Constraint::Length(12),
                Constraint::Length(17),
                Constraint::Length(12),
                Constraint::Length(17),
                Constraint::Min(10),
            ],
        )
    } else {
        (
            vec!["PEER", "NAME", "NEXT HOP", "BROADCASTS GO TO"],
            vec![Constraint::Length(12), Constraint::Length(17), Constraint::Length(12), Constraint::Min(10)],
        )
    };
    widgets::list(f, area, app, "routes", table_rows, header, widths);
}

fn row<'a>(r: &RouteRow, wide: bool) -> Row<'a> {
    let dest =
        if r.is_self { format!("{} (us)", who(&r.dest, &r.dest_nick)) } else { who(&r.dest, &r.dest_nick) };
    let mut cells = vec![Cell::from(widgets::clip(&dest, 12)), Cell::from(r.dest.clone())];
    match (&r.via, r.is_self) {
        (_, true) => cells.push(Cell::from("-").style(DIM)),
        (Some((name, _)), _) if *name == r.dest => cells.push(Cell::from("direct").style(OK)),
        (Some((name, nick)), _) => cells.push(Cell::from(widgets::clip(&who(name, nick), 12))),
        (None, _) => cells.push(Cell::from("unreachable").style(BAD)),
    }
    if wide {
        cells
            .push(Cell::from(r.via.as_ref().filter(|_| !r.is_self).map(|v| v.0.clone()).unwrap_or_default()));
    }
    let bc: Vec<String> = r.broadcast.iter().map(|(n, k)| who(n, k)).collect();
    cells.push(Cell::from(if bc.is_empty() { "-".to_string() } else { bc.join(", ") }));
    Row::new(cells)
}
