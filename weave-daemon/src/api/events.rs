//! `GET /api/v1/events`: a Server-Sent Events stream of changes.

use super::AppState;
use crate::mesh::MeshEvent;
use axum::extract::State;
use axum::response::sse::{Event as Sse, KeepAlive, Sse as SseResponse};
use futures_util::stream::Stream;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use weave_api::Event;

/// Changes to peers, connections, routes, targets and IPAM allocations, one SSE event per
/// change; the event name is the `type` field of the JSON data. The stream ends when the daemon
/// stops.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, description = "An endless text/event-stream of events", body = Event, content_type = "text/event-stream")))]
pub async fn events(State(d): State<AppState>) -> SseResponse<impl Stream<Item = Result<Sse, Infallible>>> {
    let mut rx = d.mesh.events();
    let mut ipam_rx = d.ipam.as_ref().map(|i| i.events());
    let stop = d.shutdown_signal();
    let stream = async_stream::stream! {
        tokio::pin!(stop);
        loop {
            let next = tokio::select! {
                _ = &mut stop => break,
                e = rx.recv() => e.map(convert),
                e = recv_ipam(&mut ipam_rx) => e.map(Some),
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
        }
    };
    SseResponse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The next IPAM event, or never without IPAM.
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
