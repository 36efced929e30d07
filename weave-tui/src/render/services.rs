//! Services: this host's exports, imports and binds, where each answers and whether it is in
//! force (a broken one with its reason).

use super::widgets::{self, BAD, OK};
use crate::app::App;
use crate::views::service_rows;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;
use weave_api::{Service, ServiceKind, ServiceState};

/// Where a service answers: an export on the host's published port, the others at their weave
/// address and port.
pub fn answers_at(s: &Service) -> String {
    match s.kind {
        ServiceKind::Export => format!(
            "{}:{}",
            s.publish_address.as_deref().unwrap_or("*"),
            s.publish_port.map(|p| p.to_string()).unwrap_or_default()
        ),
        _ => {
            let addr = s.weave_address.as_deref().unwrap_or("-");
            let ip = addr.split('/').next().unwrap_or(addr);
            format!("{ip}:{}", s.weave_port.unwrap_or(s.port))
        }
    }
}

/// `active`, or `broken: REASON`.
pub fn state_text(s: &Service) -> String {
    match (s.state, &s.reason) {
        (ServiceState::Active, _) => "active".into(),
        (ServiceState::Broken, Some(r)) => format!("broken: {r}"),
        (ServiceState::Broken, None) => "broken".into(),
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let rows: Vec<Row> = service_rows(app.shown(), app.ui.filter())
        .into_iter()
        .map(|s| {
            let style = if s.state == ServiceState::Active { OK } else { BAD };
            Row::new(vec![
                Cell::from(s.id.clone()),
                Cell::from(s.kind.as_str()),
                Cell::from(s.protocol.as_str()),
                Cell::from(format!("{}:{}", s.target, s.port)),
                Cell::from(answers_at(s)),
                Cell::from(state_text(s)).style(style),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Min(14),
        Constraint::Length(21),
        Constraint::Min(8),
    ];
    let header = vec!["ID", "KIND", "PROTO", "TARGET", "ANSWERS AT", "STATE"];
    widgets::list(f, area, app, "Services", rows, header, widths);
}
