//! `GET /api/v1/events`: a Server-Sent Events stream of changes.

use super::{DaemonApi, DnsApi, IpamApi, MeshApi, PolicyApi, ServicesApi};
use crate::mesh::MeshEvent;
use axum::extract::State;
use axum::response::sse::{Event as Sse, KeepAlive, Sse as SseResponse};
use futures_util::stream::Stream;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use weave_api::Event;
use weave_api::{ConnectionTraffic, OverlayEvent, StreamEvent, Traffic, TrafficEvent};
use weave_wire::PeerName;

/// How often the traffic counters are sent.
const TRAFFIC_EVERY: Duration = Duration::from_secs(1);

/// Changes to peers, connections, routes, targets, IPAM allocations, DNS entries, services and policy drops, one SSE
/// event per change; the event name is the `type` field of the JSON data. Besides, once a
/// second, a `traffic` event with every established connection's counters, and an
/// `overlay_switched` event for each switch of a connection's overlay since the last second. The
/// stream ends when the daemon stops.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, description = "An endless text/event-stream of events", body = StreamEvent, content_type = "text/event-stream")))]
pub async fn events(
    State(daemon): State<DaemonApi>,
    State(d): State<MeshApi>,
    State(ipam): State<IpamApi>,
    State(dns): State<DnsApi>,
    State(services): State<ServicesApi>,
    State(policy): State<PolicyApi>,
) -> SseResponse<impl Stream<Item = Result<Sse, Infallible>>> {
    let mut rx = d.mesh.events();
    let mut ipam_rx = ipam.0.as_ref().map(|i| i.events());
    let mut dns_rx = dns.0.as_ref().map(|dns| dns.events());
    let mut services_rx = Some(services.events());
    let mut policy_rx = Some(policy.events());
    let stop = daemon.shutdown_signal();
    let mut ticks = tokio::time::interval(TRAFFIC_EVERY);
    // A slow reader gets fewer samples, not a burst of stale ones.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = async_stream::stream! {
        tokio::pin!(stop);
        // The latest overlay switch told of, per peer; `None` until the first tick sets the baseline.
        let mut switches_seen = None;
        loop {
            let mut sample = None;
            let mut switched = vec![];
            let next = tokio::select! {
                _ = &mut stop => break,
                _ = ticks.tick() => {
                    sample = Some(traffic(&d).await);
                    switched = overlay_switches(&d, &mut switches_seen);
                    Ok(None)
                }
                e = rx.recv() => e.map(convert),
                e = recv_ipam(&mut ipam_rx) => e.map(Some),
                e = recv_ipam(&mut dns_rx) => e.map(Some),
                e = recv_ipam(&mut services_rx) => e.map(Some),
                e = recv_ipam(&mut policy_rx) => e.map(Some),
            };
            match next {
                Ok(e) => {
                    if let Some(e) = e {
                        let data = serde_json::to_string(&e).unwrap_or_default();
                        yield Ok(Sse::default().event(e.kind()).data(data));
                    }
                }
                // A slow reader missed some events: say so, and carry on.
                Err(RecvError::Lagged(n)) => yield Ok(Sse::default().event("lagged").data(n.to_string())),
                Err(RecvError::Closed) => break,
            }
            if let Some(t) = sample {
                let data = serde_json::to_string(&t).unwrap_or_default();
                yield Ok(Sse::default().event(t.kind()).data(data));
            }
            for o in switched {
                let data = serde_json::to_string(&o).unwrap_or_default();
                yield Ok(Sse::default().event(o.kind()).data(data));
            }
        }
    };
    SseResponse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The next IPAM (or DNS) event, or never without that subsystem.
async fn recv_ipam(rx: &mut Option<broadcast::Receiver<Event>>) -> Result<Event, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn convert(e: MeshEvent) -> Option<Event> {
    Some(match e {
        MeshEvent::PeerAdded { name, nickname } => Event::PeerAdded { name: name.to_string(), nickname },
        MeshEvent::PeerRemoved { name, nickname } => Event::PeerRemoved { name: name.to_string(), nickname },
        MeshEvent::ConnectionAdded { peer, address, outbound } => {
            Event::ConnectionAdded { peer: peer.to_string(), address, outbound }
        }
        MeshEvent::ConnectionEstablished { peer, address } => {
            Event::ConnectionEstablished { peer: peer.to_string(), address }
        }
        MeshEvent::ConnectionClosed { peer, address, reason } => {
            Event::ConnectionClosed { peer: peer.map(|p| p.to_string()), address, reason }
        }
        MeshEvent::RoutesChanged => Event::RoutesChanged,
        MeshEvent::TargetsChanged { targets } => Event::TargetsChanged { targets },
        MeshEvent::ShortIdsInvalidated => return None,
    })
}

/// Every established connection's counters: sleeve's, and the kernel's for its fastdp device.
async fn traffic(d: &MeshApi) -> TrafficEvent {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_millis() as u64)
        .unwrap_or_default();
    let m = d.mesh.snapshot();
    let sleeve = d.sleeve.as_ref().map(|s| s.counters()).unwrap_or_default();
    // Listing the devices is a netlink dump: keep it off the async workers.
    let devices = match d.mesh.fastdp().cloned() {
        Some(f) => tokio::task::spawn_blocking(move || f.devices()).await.unwrap_or_default(),
        None => Default::default(),
    };
    let connections = m
        .connections()
        .iter()
        .filter(|c| c.state == "established")
        .filter_map(|c| {
            // As in `/api/v1/connections`: an established connection's info ends in `name(nick)`.
            let peer = c.info.rsplit(' ').next()?.split('(').next()?;
            let name = peer.parse::<weave_wire::PeerName>().ok()?;
            let sleeve = sleeve.get(&name).map(|c| Traffic {
                tx_packets: c[0],
                tx_bytes: c[1],
                rx_packets: c[2],
                rx_bytes: c[3],
                drops: c[4],
            });
            let fastdp = devices.get(&name).map(|dev| Traffic {
                tx_packets: dev.stats.tx_packets,
                tx_bytes: dev.stats.tx_bytes,
                rx_packets: dev.stats.rx_packets,
                rx_bytes: dev.stats.rx_bytes,
                drops: 0,
            });
            let overlay =
                c.attrs.as_ref().and_then(|a| a.get("name")).and_then(|v| v.as_str()).map(String::from);
            Some(ConnectionTraffic {
                peer: peer.to_string(),
                address: c.address.clone(),
                overlay,
                sleeve: sleeve.unwrap_or_default(),
                fastdp,
            })
        })
        .collect();
    TrafficEvent::Traffic { at_ms, connections }
}

/// The overlay switches recorded since the last call (none on the first: it sets the baseline).
fn overlay_switches(
    d: &MeshApi,
    seen: &mut Option<std::collections::HashMap<PeerName, std::time::SystemTime>>,
) -> Vec<OverlayEvent> {
    let m = d.mesh.snapshot();
    let first = seen.is_none();
    let seen = seen.get_or_insert_with(Default::default);
    let mut out = vec![];
    for (peer, o) in &m.overlays {
        let last = seen.get(peer).copied();
        for s in o.switches.iter().filter(|s| last.is_none_or(|t| s.at > t)) {
            if !first {
                out.push(OverlayEvent::OverlaySwitched {
                    peer: peer.to_string(),
                    at: crate::timefmt::rfc3339(s.at),
                    from: s.from.clone(),
                    to: s.to.clone(),
                    reason: s.reason.clone(),
                });
            }
        }
        if let Some(s) = o.switches.last() {
            seen.insert(*peer, s.at);
        }
    }
    // Peers gone from the overlays start afresh if they come back.
    seen.retain(|p, _| m.overlays.contains_key(p));
    out
}
