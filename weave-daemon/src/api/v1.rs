//! `/api/v1`: the daemon's JSON API. Every handler here appears in the OpenAPI document.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(report))
        .routes(routes!(version))
        .routes(routes!(shutdown))
}

/// Summary of this peer and each subsystem.
#[utoipa::path(get, path = "/api/v1/status", tag = "daemon",
    responses((status = 200, description = "The daemon's status", body = Status)))]
async fn status(State(d): State<AppState>) -> Json<Status> {
    let r = d.report();
    Json(summarise(&d, &r))
}

/// The full state in Weave Net's `WeaveStatus` shape (Weave's field names).
#[utoipa::path(get, path = "/api/v1/report", tag = "daemon",
    responses((status = 200, description = "Weave's report", body = Report)))]
async fn report(State(d): State<AppState>) -> Json<Report> {
    Json(d.report())
}

/// Versions of the daemon and of the wire protocol it speaks.
#[utoipa::path(get, path = "/api/v1/version", tag = "daemon",
    responses((status = 200, description = "Versions", body = VersionInfo)))]
async fn version() -> Json<VersionInfo> {
    Json(VersionInfo {
        version: crate::VERSION.into(),
        protocol: crate::PROTOCOL.into(),
        protocol_min_version: crate::PROTOCOL_MIN_VERSION,
        protocol_max_version: crate::PROTOCOL_MAX_VERSION,
    })
}

/// Stops the daemon. Attached containers keep their interfaces and addresses.
#[utoipa::path(post, path = "/api/v1/shutdown", tag = "daemon",
    responses((status = 202, description = "The daemon is stopping", body = ShutdownAccepted)))]
async fn shutdown(State(d): State<AppState>) -> (StatusCode, Json<ShutdownAccepted>) {
    d.request_shutdown();
    (StatusCode::ACCEPTED, Json(ShutdownAccepted { name: d.identity.name.to_string() }))
}

fn summarise(d: &crate::daemon::Daemon, r: &Report) -> Status {
    let rt = &r.router;
    let mut counts = ConnectionCounts::default();
    for c in &rt.connections {
        match c.state.as_str() {
            "established" => counts.established += 1,
            "pending" => counts.pending += 1,
            "retrying" => counts.retrying += 1,
            "failed" => counts.failed += 1,
            _ => counts.connecting += 1,
        }
    }
    Status {
        ready: r.ready,
        version: r.version.clone(),
        name: rt.name.clone(),
        nickname: rt.nick_name.clone(),
        uid: d.identity.uid,
        bridge: crate::BRIDGE.into(),
        data_dir: d.config.data_dir.display().to_string(),
        router: RouterSummary {
            protocol: rt.protocol.clone(),
            protocol_min_version: rt.protocol_min_version,
            protocol_max_version: rt.protocol_max_version,
            port: rt.port,
            encryption: rt.encryption,
            peer_discovery: rt.peer_discovery,
            trusted_subnets: rt.trusted_subnets.clone(),
            targets: rt.targets.clone(),
            peers: rt.peers.len() as u32,
            connections: counts,
            sleeve_rejected: d.sleeve.as_ref().map(|s| s.rejected()).unwrap_or(0),
        },
        ipam: r.ipam.as_ref().map(|i| IpamSummary {
            status: weave_api::text::ipam_state(i),
            range: i.range.clone(),
            default_subnet: i.default_subnet.clone(),
        }),
        dns: r.dns.as_ref().map(|n| DnsSummary {
            domain: n.domain.clone(),
            listen_address: n.address.clone(),
            upstream: n.upstream.clone(),
            ttl: n.ttl,
            entries: n.entries.iter().filter(|e| e.tombstone == 0).count() as u32,
        }),
    }
}
