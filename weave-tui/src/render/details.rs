//! The Enter popup: everything known about the selected row.

use super::chart;
use super::peers::state_style;
use super::widgets::{self, field, wrapped, DIM, OK, WARN};
use crate::app::App;
use crate::rates::History;
use crate::topology::NodeKind;
use crate::views::{
    allocation_rows, dns_rows, event_rows, graph, nicknames, peer_rows, policy_rows, route_rows,
    service_rows, Tab,
};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

const W: usize = 11;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let d = app.shown();
    let filter = app.ui.filter();
    let sel = app.ui.selected();
    let pick = |n: usize| (n > 0).then(|| sel.min(n - 1));
    match app.ui.tab {
        Tab::Overview => {
            let Some(g) = graph(d) else { return };
            let Some(n) = super::overview::selected_node(app, &g) else { return };
            let node = &g.nodes[n];
            if node.kind == NodeKind::Us {
                this_peer(f, area, app);
            } else if let Some(r) = peer_rows(d, "")
                .into_iter()
                .find(|r| r.name.as_deref() == Some(node.key.as_str()) || r.address == node.key)
            {
                peer(f, area, app, &r);
            }
        }
        Tab::Peers => {
            let rows = peer_rows(d, filter);
            if let Some(i) = pick(rows.len()) {
                peer(f, area, app, &rows[i]);
            }
        }
        Tab::Routes => {
            let rows = route_rows(d, filter);
            if let Some(r) = pick(rows.len()).map(|i| &rows[i]) {
                let bc: Vec<Line> =
                    r.broadcast.iter().map(|(n, k)| Line::from(format!("  {k} {n}"))).collect();
                let mut lines = vec![
                    field("Peer", W, format!("{} {}", r.dest_nick, r.dest)),
                    field(
                        "Next hop",
                        W,
                        r.via.as_ref().map(|(n, k)| format!("{k} {n}")).unwrap_or("unreachable".into()),
                    ),
                    field(
                        "Broadcasts",
                        W,
                        match bc.len() {
                            0 => {
                                format!("from {} end here (this peer passes them on to no one)", r.dest_nick)
                            }
                            n => {
                                format!("from {} are passed on by this peer to {n} neighbours:", r.dest_nick)
                            }
                        },
                    ),
                ];
                lines.extend(bc);
                popup(f, area, "route", lines);
            }
        }
        Tab::Ipam => {
            let rows = allocation_rows(d, filter);
            if let Some(a) = pick(rows.len()).map(|i| rows[i]) {
                let mut lines = vec![
                    field("Target", W, a.ident.clone()),
                    field("Kind", W, if a.is_container { "container (freed when it goes)" } else { "other" }),
                    field("Addresses", W, a.addrs.len().to_string()),
                ];
                lines.extend(a.addrs.iter().map(|c| Line::from(format!("  {c}"))));
                popup(f, area, "allocation", lines);
            }
        }
        Tab::Dns => {
            let rows = dns_rows(d, filter);
            if let Some(e) = pick(rows.len()).map(|i| rows[i]) {
                let nick = d
                    .snapshot
                    .as_ref()
                    .and_then(|s| nicknames(s).get(e.origin.as_str()).map(|n| n.to_string()));
                let lines = vec![
                    field("Name", W, e.name.clone()),
                    field("Address", W, e.address.clone()),
                    field("Peer", W, format!("{} {}", nick.unwrap_or_default(), e.origin)),
                    field("Container", W, e.container_id.clone()),
                ];
                popup(f, area, "DNS entry", lines);
            }
        }
        Tab::Events => {
            let rows = event_rows(d, filter, &app.ui.events);
            if let Some(e) = pick(rows.len()).map(|i| rows[i]) {
                let mut lines =
                    vec![field("Time", W, e.time.clone()), field("Event", W, e.kind.clone()), Line::from("")];
                let style = if e.warn { WARN } else { Default::default() };
                lines.extend(wrapped("", 0, &e.text, style, popup_width(area) as usize - 2));
                popup(f, area, "event", lines);
            }
        }
        Tab::Services => {
            let rows = service_rows(d, filter);
            if let Some(s) = pick(rows.len()).map(|i| rows[i]) {
                service(f, area, s);
            }
        }
        Tab::Policy => {
            let rows = policy_rows(d, filter);
            if let Some(p) = pick(rows.len()).map(|i| rows[i]) {
                policy(f, area, app, p);
            }
        }
    }
}

fn service(f: &mut Frame, area: Rect, s: &weave_api::Service) {
    let inner = popup_width(area) as usize - 2;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut lines = vec![
        field("Service", W, s.id.clone()),
        field("Kind", W, format!("{} {}", s.kind.as_str(), s.protocol.as_str())),
        field("Target", W, format!("{}:{}", s.target, s.port)),
        field("Sends to", W, opt(&s.target_address)),
        field("Answers at", W, super::services::answers_at(s)),
        field("Weave addr", W, opt(&s.weave_address)),
        field("DNS name", W, opt(&s.fqdn)),
        field("Created", W, s.created.clone()),
    ];
    let style = if s.state == weave_api::ServiceState::Active { OK } else { WARN };
    lines.extend(wrapped("State", W, &super::services::state_text(s), style, inner));
    popup(f, area, "service", lines);
}

/// A policy with the drops on this host it took part in, newest first.
fn policy(f: &mut Frame, area: Rect, app: &App, p: &weave_api::PolicyInfo) {
    let inner = popup_width(area) as usize - 2;
    let data = app.shown().snapshot.as_ref().and_then(|s| s.policy.ready());
    let drops: Vec<&weave_api::PolicyDrop> = data.map(|d| d.drops_by(&p.name).collect()).unwrap_or_default();
    let selector =
        if p.selector.is_empty() { "every target of its namespace".into() } else { p.selector.clone() };
    let mut lines = vec![
        field("Policy", W, p.name.clone()),
        field("Selects", W, selector),
        field("Isolates", W, format!("{} (rules per direction)", super::policy::isolates(p))),
        field("Selected", W, format!("{} targets, cluster-wide", p.selected)),
        field("Drops", W, format!("{} of the latest on this host", drops.len())),
    ];
    let room = area.height.saturating_sub(lines.len() as u16 + 4) as usize;
    for d in drops.iter().take(room.min(10)) {
        lines.push(Line::styled(widgets::clip(&format!("  {}", super::policy::drop_line(d)), inner), WARN));
    }
    popup(f, area, "policy", lines);
}

fn popup_width(area: Rect) -> u16 {
    area.width.saturating_sub(6).clamp(12, 90)
}

fn popup(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line>) {
    let h = lines.len() as u16 + 2;
    widgets::popup_text(f, widgets::popup(area, popup_width(area), h), title, lines);
}

fn peer(f: &mut Frame, area: Rect, app: &App, r: &crate::views::PeerRow) {
    let d = app.shown();
    let series = r.rates_key.as_deref().and_then(|k| d.rates.get(k));
    let dir = match r.outbound {
        Some(true) => " (outbound)",
        Some(false) => " (inbound)",
        None => "",
    };
    let width = area.width.saturating_sub(4).min(100);
    let inner = width.saturating_sub(2) as usize;
    let mut lines = vec![
        field(
            "Peer",
            W,
            format!("{} {}", r.nickname.clone().unwrap_or_default(), r.name.clone().unwrap_or_default()),
        ),
        field(
            "Address",
            W,
            if r.address.is_empty() {
                "no direct connection".to_string()
            } else {
                format!("{}{dir}", r.address)
            },
        ),
        Line::from(vec![
            Span::styled(format!("{:<W$}", "State"), widgets::LABEL),
            Span::styled(r.state.clone(), state_style(&r.state)),
        ]),
    ];
    if let (Some(g), Some(name)) = (graph(d), r.name.as_deref()) {
        if let Some(n) = g.index(name) {
            let node = &g.nodes[n];
            let route = match node.hops() {
                Some(_) => {
                    let mut names = vec![g.nodes[0].label().to_string()];
                    names.extend(
                        node.path.iter().map(|k| g.index(k).map_or(k.clone(), |i| g.nodes[i].label().into())),
                    );
                    names.join(" → ")
                }
                None => "none: unreachable".into(),
            };
            lines.extend(wrapped("Route", W, &route, Style::new(), inner));
        }
    }
    if let Some(o) = &r.overlay {
        let enc = if r.encrypted == Some(true) { "encrypted" } else { "not encrypted" };
        let mtu = r.mtu.map(|m| format!("MTU {m}")).unwrap_or_else(|| "MTU ?".into());
        let rtt = r.rtt_ms.map(|m| format!("RTT {m:.1} ms")).unwrap_or_else(|| "RTT not reported".into());
        lines.push(field("Overlay", W, format!("{o} · {enc} · {mtu} · {rtt}")));
    }
    if let Some(why) = &r.fallback {
        lines.extend(wrapped("Fallback", W, why, WARN, inner));
    }
    if !r.info.is_empty() {
        lines.extend(wrapped("Info", W, &r.info, Style::new(), inner));
    }
    if let Some(c) = d.snapshot.as_ref().and_then(|s| s.connections.iter().find(|c| c.address == r.address)) {
        overlay_lines(&mut lines, c, inner);
    }
    if let Some(s) = series {
        let t = &s.totals;
        lines.push(field(
            "Received",
            W,
            format!(
                "{} in {} packets · now {}",
                widgets::bytes(t.rx_bytes as f64),
                t.rx_packets,
                s.rx_now().map(widgets::rate).unwrap_or("-".into())
            ),
        ));
        lines.push(field(
            "Sent",
            W,
            format!(
                "{} in {} packets · now {}",
                widgets::bytes(t.tx_bytes as f64),
                t.tx_packets,
                s.tx_now().map(widgets::rate).unwrap_or("-".into())
            ),
        ));
        lines.push(field("Dropped", W, format!("{} packets · now {:.0}/s", t.drops, s.drops_now())));
    }
    if let Some(p) = d
        .snapshot
        .as_ref()
        .and_then(|s| s.report.router.peers.iter().find(|p| Some(&p.name) == r.name.as_ref()))
    {
        let conns: Vec<Span> = p
            .connections
            .iter()
            .map(|c| Span::styled(format!("{} ", c.nick_name), if c.established { OK } else { DIM }))
            .collect();
        let mut l = vec![Span::styled(format!("{:<W$}", "Its peers"), widgets::LABEL)];
        l.extend(conns);
        lines.push(Line::from(l));
    }
    let history = series.map(|s| &s.history);
    popup_with_charts(f, area, app, "peer", lines, width, history);
}

/// This peer: its totals over all connections, with the whole peer's graphs.
fn this_peer(f: &mut Frame, area: Rect, app: &App) {
    let d = app.shown();
    let Some(s) = &d.snapshot else { return };
    let (rx, tx) = d.rates.total_now();
    let lines = vec![
        field("Peer", W, format!("{} {} (this peer)", s.status.nickname, s.status.name)),
        field("Traffic", W, format!("in {} out {}, all connections", widgets::rate(rx), widgets::rate(tx))),
    ];
    let width = area.width.saturating_sub(4).min(100);
    popup_with_charts(f, area, app, "this peer", lines, width, Some(&d.rates.total));
}

/// A popup of `lines` with, where there is room below them, the throughput and drops graphs
/// of `history` over the window the user picked.
fn popup_with_charts(
    f: &mut Frame,
    area: Rect,
    app: &App,
    title: &str,
    lines: Vec<Line>,
    width: u16,
    history: Option<&History>,
) {
    const THROUGHPUT: u16 = 10;
    const DROPS: u16 = 7;
    let room = area.height.saturating_sub(2).saturating_sub(lines.len() as u16);
    let charts = match history {
        Some(_) if room >= THROUGHPUT + DROPS => THROUGHPUT + DROPS,
        Some(_) if room >= THROUGHPUT => THROUGHPUT,
        _ => 0,
    };
    let h = lines.len() as u16 + 2 + charts;
    let rect = widgets::popup(area, width, h);
    widgets::popup_text(f, rect, title, lines);
    let Some(hist) = history.filter(|_| charts > 0) else { return };
    let inner = rect.inner(ratatui::layout::Margin { horizontal: 1, vertical: 1 });
    let now = app.shown().rates.now();
    let drops_h = if charts > THROUGHPUT { DROPS } else { 0 };
    let [_, tp, dr] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(THROUGHPUT), Constraint::Length(drops_h)])
            .areas(inner);
    chart::throughput(f, tp, hist, now, app.ui.window, "traffic");
    if drops_h > 0 {
        chart::drops(f, dr, hist, now, app.ui.window, "dropped");
    }
}

/// The overlay switch's side of a connection: its forwarders, the latest switches between them
/// and fastdp's kernel device.
fn overlay_lines(lines: &mut Vec<Line>, c: &weave_api::Connection, width: usize) {
    if !c.forwarders.is_empty() {
        let mut l = vec![Span::styled(format!("{:<W$}", "Forwarders"), widgets::LABEL)];
        for f in &c.forwarders {
            let style = if f.state == "established" { OK } else { WARN };
            l.push(Span::styled(format!("{} {} ", f.name, f.state), style));
        }
        lines.push(Line::from(l));
    }
    // The last few switches, newest first.
    for (i, s) in c.switches.iter().rev().take(3).enumerate() {
        let label = if i == 0 { "Switches" } else { "" };
        let from = s.from.as_deref().unwrap_or("-");
        let to = s.to.as_deref().unwrap_or("none");
        let text = format!("{} {from} -> {to}: {}", time_of_day(&s.at), s.reason);
        lines.extend(wrapped(label, W, &text, Style::new(), width));
    }
    if let Some(f) = &c.fastdp {
        let bridge = if f.on_bridge { "on the bridge" } else { "off the bridge" };
        lines.push(field("Device", W, format!("{} ({bridge})", f.device)));
    }
}

/// `HH:MM:SSZ` of an RFC 3339 UTC time (the daemon's), or the text as it is. Kept in UTC: the
/// render must not depend on the local time zone.
fn time_of_day(at: &str) -> String {
    match at.split_once('T') {
        Some((_, t)) if t.len() >= 8 => format!("{}Z", &t[..8]),
        _ => at.to_string(),
    }
}
