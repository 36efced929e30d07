//! The overview's judgement: how each subsystem is doing, and what needs attention. Pure
//! functions of the app state, tested without a terminal.

use crate::app::{App, Link, StreamLink};
use crate::model::Avail;
use crate::views::peer_rows;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Not running or not available; nothing wrong as such.
    Off,
    Ok,
    Warn,
    Bad,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub text: String,
}

fn check(name: &'static str, level: Level, text: impl Into<String>) -> Check {
    Check { name, level, text: text.into() }
}

/// One line per subsystem.
pub fn subsystems(app: &App) -> Vec<Check> {
    let d = app.shown();
    let mut out = vec![];
    let Some(s) = &d.snapshot else {
        out.push(match &app.link {
            Link::Down { .. } => check("Router", Level::Bad, "daemon unreachable"),
            _ => check("Router", Level::Off, "connecting..."),
        });
        return out;
    };
    let r = &s.report.router;
    let established = s.connections.iter().filter(|c| c.state == "established").count();
    let router = format!("{} peers · {established}/{} connections up", r.peers.len(), s.connections.len());
    out.push(match (&app.link, s.status.ready) {
        (Link::Down { .. }, _) => check("Router", Level::Bad, format!("unreachable (last: {router})")),
        (_, true) => check("Router", Level::Ok, format!("ready · {router}")),
        (_, false) => check("Router", Level::Warn, format!("starting · {router}")),
    });

    let rows = peer_rows(d, "");
    let on =
        |o: &str| rows.iter().filter(|p| p.state == "established" && p.overlay.as_deref() == Some(o)).count();
    let encrypted = rows.iter().filter(|p| p.state == "established" && p.encrypted == Some(true)).count();
    let fallbacks = rows.iter().filter(|p| p.fallback.is_some()).count();
    let (sleeve, fastdp) = (on("sleeve"), on("fastdp"));
    out.push(match (established, fallbacks) {
        (0, _) => check("Overlay", Level::Off, "no connections"),
        (_, 0) => {
            check("Overlay", Level::Ok, format!("{sleeve} sleeve · {fastdp} fastdp · {encrypted} encrypted"))
        }
        // Short enough for 80 columns; the warnings say which and why.
        (_, n) => check("Overlay", Level::Warn, format!("{sleeve} sleeve ({n} fell back) · {fastdp} fastdp")),
    });

    out.push(match &s.ipam {
        Avail::Ready(i) => {
            let text = format!("{} · {} · {} IPs here", i.state, i.range, i.active);
            let level = if !i.problems.is_empty() || !matches!(i.state.as_str(), "ready" | "idle") {
                Level::Warn
            } else {
                Level::Ok
            };
            check("IPAM", level, text)
        }
        Avail::Disabled => check("IPAM", Level::Off, "disabled"),
        Avail::Missing => check("IPAM", Level::Off, "not available"),
        Avail::Failed(e) => check("IPAM", Level::Bad, e.clone()),
    });

    out.push(match &s.dns {
        Avail::Ready(v) => {
            let domain = s.report.dns.as_ref().map(|d| d.domain.as_str()).filter(|d| !d.is_empty());
            let text = match domain {
                Some(d) => format!("{} entries in {d}", v.len()),
                None => format!("{} entries", v.len()),
            };
            check("DNS", Level::Ok, text)
        }
        Avail::Disabled => check("DNS", Level::Off, "disabled"),
        Avail::Missing => check("DNS", Level::Off, "not available"),
        Avail::Failed(e) => check("DNS", Level::Bad, e.clone()),
    });

    out.push(match &app.stream {
        StreamLink::Up => check("Events", Level::Ok, format!("streaming · {} logged", d.log.len())),
        StreamLink::Connecting => check("Events", Level::Off, "connecting..."),
        StreamLink::Down(e) => check("Events", Level::Warn, format!("retrying: {e}")),
    });
    out
}

/// What needs attention, worst first.
pub fn warnings(app: &App) -> Vec<(Level, String)> {
    let d = app.shown();
    let mut out = vec![];
    if let Link::Down { error, attempts } = &app.link {
        out.push((Level::Bad, format!("daemon unreachable ({attempts} tries): {error}")));
    }
    let Some(s) = &d.snapshot else { return out };
    if !s.status.ready {
        out.push((Level::Warn, "the router is not ready yet".into()));
    }
    for p in peer_rows(d, "") {
        let who = match (&p.nickname, &p.name) {
            (Some(n), Some(m)) => format!("{n}({m})"),
            _ => p.label(),
        };
        match p.state.as_str() {
            "failed" | "retrying" => {
                out.push((Level::Bad, format!("connection to {}: {}", p.address, p.info)))
            }
            "unreachable" => out.push((Level::Bad, format!("peer {who} is unreachable (no route)"))),
            _ => {}
        }
        if let Some(why) = &p.fallback {
            out.push((Level::Warn, format!("{who} fell back from fastdp to sleeve: {why}")));
        }
        if let Some(s) = p.rates_key.as_deref().and_then(|k| d.rates.get(k)).filter(|s| s.drops_now() > 0.0) {
            out.push((Level::Warn, format!("{who} drops {:.0} packets/s", s.drops_now())));
        }
    }
    match &s.ipam {
        Avail::Ready(i) => {
            if !matches!(i.state.as_str(), "ready" | "idle") {
                out.push((Level::Warn, format!("IPAM {}", i.state)));
            }
            out.extend(i.problems.iter().map(|p| (Level::Warn, format!("IPAM: {p}"))));
        }
        Avail::Failed(e) => out.push((Level::Bad, format!("IPAM: {e}"))),
        _ => {}
    }
    if let (Link::Up, StreamLink::Down(e)) = (&app.link, &app.stream) {
        out.push((Level::Warn, format!("events stream down ({e}); changes show at the next poll")));
    }
    out.sort_by_key(|w| std::cmp::Reverse(w.0));
    out
}
