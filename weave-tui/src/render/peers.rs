//! Peers and connections: our connections with their overlay, encryption, MTU, RTT and live
//! rates, then the peers we reach through others.

use super::widgets::{self, BAD, DIM, OK, WARN};
use crate::app::App;
use crate::views::{peer_rows, PeerRow};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

/// Width at which the peer name (MAC) and address columns fit.
const WIDE: u16 = 120;
/// Bytes per second a full sparkline bar stands for at least.
const SPARK_FLOOR: f64 = 4096.0;
/// Room for a nickname, or a target's `IP:port`.
const PEER_W: usize = 15;

pub fn state_style(state: &str) -> Style {
    match state {
        "established" => OK,
        "pending" | "connecting" | "waiting" => WARN,
        "failed" | "retrying" | "unreachable" => BAD,
        _ => DIM,
    }
}

/// The cipher in the 6 cells of its column.
fn short_cipher(name: &str) -> String {
    match name {
        "aes-256-gcm" => "aesgcm".into(),
        "chacha20-poly1305" => "chacha".into(),
        other => other.into(),
    }
}

fn rtt(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms < 10.0 => format!("{ms:.1}ms"),
        Some(ms) => format!("{ms:.0}ms"),
        None => "-".into(),
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let d = app.shown();
    let rows = peer_rows(d, app.ui.filter());
    let wide = area.width >= WIDE;
    let mut header = vec!["PEER"];
    if wide {
        header.extend(["NAME", "ADDRESS", ""]);
    }
    header.extend(["STATE", "OVERLAY", "CIPHER", "MTU", "RTT", "RX", "TX"]);
    let mut widths = vec![Constraint::Length(PEER_W as u16)];
    if wide {
        widths.extend([Constraint::Length(17), Constraint::Length(21), Constraint::Length(2)]);
    }
    widths.extend([
        Constraint::Length(11),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Min(4),
    ]);
    // The sparkline gets what the fixed columns (each with one cell of spacing) and the
    // borders leave over.
    let fixed: u16 = widths.iter().map(|c| if let Constraint::Length(n) = c { n + 1 } else { 0 }).sum();
    let spark_w = area.width.saturating_sub(fixed + 2).max(4) as usize;
    header.push(match spark_w {
        7.. => "TRAFFIC",
        5..=6 => "TREND",
        _ => "",
    });
    // One scale for every row, so bars compare across connections; the floor keeps heartbeats
    // on an idle link from looking like traffic.
    let scale = rows
        .iter()
        .filter_map(|r| d.rates.get(r.rates_key.as_deref()?))
        .flat_map(|s| s.history.iter().map(|p| p.rx + p.tx))
        .fold(SPARK_FLOOR, f64::max);
    let table_rows: Vec<Row> = rows.iter().map(|r| row(r, app, wide, spark_w, scale)).collect();
    widgets::list(f, area, app, "peers & connections", table_rows, header, widths);
}

fn row<'a>(r: &PeerRow, app: &App, wide: bool, spark_w: usize, scale: f64) -> Row<'a> {
    let series = r.rates_key.as_deref().and_then(|k| app.shown().rates.get(k));
    let mut cells = vec![Cell::from(widgets::clip(&r.label(), PEER_W))];
    if wide {
        let dir = match r.outbound {
            Some(true) => "->",
            Some(false) => "<-",
            None => "",
        };
        cells.push(Cell::from(r.name.clone().unwrap_or_default()));
        cells.push(Cell::from(r.address.clone()));
        cells.push(Cell::from(dir));
    }
    cells.push(Cell::from(widgets::clip(&r.state, 11)).style(state_style(&r.state)));
    let overlay = r.overlay.clone().unwrap_or_default();
    cells.push(match r.fallback {
        Some(_) => Cell::from(format!("{overlay}!")).style(WARN),
        None => Cell::from(overlay),
    });
    cells.push(Cell::from(match (r.encrypted, r.cipher.as_deref()) {
        (Some(true), Some(c)) => short_cipher(c),
        (Some(true), None) => "yes".into(),
        (Some(false), _) => "no".into(),
        (None, _) => String::new(),
    }));
    cells.push(Cell::from(r.mtu.map(|m| m.to_string()).unwrap_or_default()));
    cells.push(Cell::from(if r.overlay.is_some() { rtt(r.rtt_ms) } else { String::new() }));
    match series {
        Some(s) => {
            cells.push(Cell::from(s.rx_now().map(widgets::rate).unwrap_or_else(|| "-".into())));
            cells.push(Cell::from(s.tx_now().map(widgets::rate).unwrap_or_else(|| "-".into())));
            let sum = s.history.iter().map(|p| p.rx + p.tx);
            cells.push(Cell::from(widgets::spark(sum, spark_w, scale)).style(OK));
        }
        None => cells.extend([Cell::from(""), Cell::from(""), Cell::from("")]),
    }
    let style = if r.address.is_empty() && r.state != "unreachable" { DIM } else { Style::new() };
    Row::new(cells).style(style)
}
