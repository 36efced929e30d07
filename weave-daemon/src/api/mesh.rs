//! `/api/v1` endpoints of the mesh: peers, connections, routes and targets.

use super::{ApiFailure, AppState, MeshApi};
use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(peers))
        .routes(routes!(connections))
        .routes(routes!(routes_))
        .routes(routes!(targets, connect))
        .routes(routes!(forget))
}

/// Every peer of the topology with the connections it announces.
#[utoipa::path(get, path = "/api/v1/peers", tag = "mesh",
    responses((status = 200, description = "The topology", body = Vec<Peer>)))]
async fn peers(State(d): State<MeshApi>) -> Json<Vec<weave_api::Peer>> {
    let m = d.mesh.snapshot();
    Json(
        m.peers()
            .iter()
            .map(|p| weave_api::Peer {
                name: p.name.clone(),
                nickname: p.nick_name.clone(),
                uid: p.uid,
                short_id: p.short_id,
                version: p.version,
                connections: p
                    .connections
                    .iter()
                    .map(|c| PeerConnection {
                        name: c.name.clone(),
                        nickname: c.nick_name.clone(),
                        address: c.address.clone(),
                        outbound: c.outbound,
                        established: c.established,
                    })
                    .collect(),
            })
            .collect(),
    )
}

/// This peer's connections and the targets it is trying to reach.
#[utoipa::path(get, path = "/api/v1/connections", tag = "mesh",
    responses((status = 200, description = "Connections and targets", body = Vec<Connection>)))]
async fn connections(State(d): State<MeshApi>) -> Json<Vec<Connection>> {
    let m = d.mesh.snapshot();
    let nick = |name: &str| m.peers().iter().find(|p| p.name == name).map(|p| p.nick_name.clone());
    let counters = d.sleeve.as_ref().map(|s| s.counters()).unwrap_or_default();
    let devices = d.mesh.fastdp().map(|f| f.devices()).unwrap_or_default();
    Json(
        m.connections()
            .iter()
            .map(|c| {
                let attrs = c.attrs.clone().unwrap_or_default();
                // Registered connections' info ends in `name(nick)`; targets' is an error.
                let peer = match c.state.as_str() {
                    "established" | "pending" => {
                        c.info.rsplit(' ').next().and_then(|s| s.split('(').next()).map(String::from)
                    }
                    _ => None,
                };
                let peer_name = peer.as_deref().and_then(|p| p.parse::<weave_wire::PeerName>().ok());
                let overlay = peer_name.and_then(|p| m.overlays.get(&p));
                let fastdp = peer_name.and_then(|p| devices.get(&p)).map(|dev| FastdpDevice {
                    device: dev.name.clone(),
                    on_bridge: dev.attached,
                    tx_packets: dev.stats.tx_packets,
                    tx_bytes: dev.stats.tx_bytes,
                    rx_packets: dev.stats.rx_packets,
                    rx_bytes: dev.stats.rx_bytes,
                });
                let forwarders = overlay
                    .map(|o| {
                        o.forwarders
                            .iter()
                            .map(|f| Forwarder {
                                name: f.name.clone(),
                                state: f.state.clone(),
                                reason: f.reason.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let switches = overlay
                    .map(|o| {
                        o.switches
                            .iter()
                            .map(|s| OverlaySwitch {
                                at: crate::timefmt::rfc3339(s.at),
                                from: s.from.clone(),
                                to: s.to.clone(),
                                reason: s.reason.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let traffic = peer_name
                    .and_then(|p| counters.get(&p))
                    .map(|c| Traffic {
                        tx_packets: c[0],
                        tx_bytes: c[1],
                        rx_packets: c[2],
                        rx_bytes: c[3],
                        drops: c[4],
                    })
                    .unwrap_or_default();
                Connection {
                    traffic,
                    address: c.address.clone(),
                    outbound: c.outbound,
                    state: c.state.clone(),
                    nickname: peer.as_deref().and_then(nick),
                    peer,
                    overlay: attrs.get("name").and_then(|v| v.as_str()).map(String::from),
                    encrypted: attrs.get("encrypted").and_then(|v| v.as_bool()).unwrap_or(false),
                    cipher: attrs.get("cipher").and_then(|v| v.as_str()).map(String::from),
                    mtu: attrs.get("mtu").and_then(|v| v.as_u64()).map(|v| v as u32),
                    info: c.info.clone(),
                    forwarders,
                    switches,
                    fastdp,
                    rtt_us: peer_name.and_then(|p| m.rtts.get(&p)?.get()).map(|d| d.as_micros() as u64),
                    expected_peer: m.target_peer(&c.address).map(|p| p.to_string()),
                }
            })
            .collect(),
    )
}

/// Unicast next hops and broadcast fan-out, as computed from the topology.
#[utoipa::path(get, path = "/api/v1/routes", tag = "mesh",
    responses((status = 200, description = "Routes", body = Routes)))]
async fn routes_(State(d): State<MeshApi>) -> Json<Routes> {
    let m = d.mesh.snapshot();
    let paths = m.unicast_paths();
    Json(Routes {
        unicast: m
            .unicast_routes()
            .iter()
            .map(|r| UnicastHop {
                dest: r.dest.clone(),
                via: r.via.clone(),
                path: r
                    .dest
                    .parse::<weave_wire::PeerName>()
                    .ok()
                    .and_then(|d| paths.get(&d))
                    .map(|p| p.iter().map(|n| n.to_string()).collect())
                    .unwrap_or_default(),
            })
            .collect(),
        broadcast: m
            .broadcast_routes()
            .iter()
            .map(|r| BroadcastHops { source: r.source.clone(), via: r.via.clone() })
            .collect(),
    })
}

/// The connection targets (from the command line, `weave connect`, or persisted).
#[utoipa::path(get, path = "/api/v1/targets", tag = "mesh",
    responses((status = 200, description = "Targets", body = Targets)))]
async fn targets(State(d): State<MeshApi>) -> Json<Targets> {
    Json(Targets { targets: d.mesh.snapshot().targets.clone() })
}

/// Adds connection targets, or replaces them all (`replace`). Persisted.
#[utoipa::path(post, path = "/api/v1/targets", tag = "mesh", request_body = ConnectRequest,
    responses(
        (status = 200, description = "The targets now", body = Targets),
        (status = 400, description = "A peer address is invalid or cannot be resolved; the others were added", body = ApiError)))]
async fn connect(
    State(d): State<MeshApi>,
    Json(req): Json<ConnectRequest>,
) -> Result<Json<Targets>, ApiFailure> {
    let errors = d.mesh.connect(&req.peers, req.replace).await;
    if !errors.is_empty() {
        return Err(ApiFailure::bad_request(errors.join("; ")).hint("give peers as HOST or HOST:PORT"));
    }
    Ok(Json(Targets { targets: current_targets(&d).await }))
}

/// Removes connection targets; existing connections stay up. Persisted.
#[utoipa::path(post, path = "/api/v1/targets/forget", tag = "mesh", request_body = ForgetRequest,
    responses((status = 200, description = "The targets now", body = Targets)))]
async fn forget(State(d): State<MeshApi>, Json(req): Json<ForgetRequest>) -> Json<Targets> {
    d.mesh.forget(&req.peers).await;
    Json(Targets { targets: current_targets(&d).await })
}

/// The targets after a change: the mesh publishes its snapshot right after applying it.
async fn current_targets(d: &MeshApi) -> Vec<String> {
    let mut w = d.mesh.watch();
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), w.changed()).await;
    let targets = w.borrow().targets.clone();
    targets
}
