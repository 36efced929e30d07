//! `/api/v1`: the daemon's JSON API. Every handler here appears in the OpenAPI document.

use super::{ApiFailure, AppState, DaemonApi, DockerApi, IpamApi, MeshApi, ServicesApi};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;

/// After handing our space over, the longest the connections stay up for the news to get out
/// (closing them early could discard unsent data). Weave's script sleeps 0.5 s instead.
const HANDOVER_LIMIT: Duration = Duration::from_secs(5);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(report))
        .routes(routes!(version))
        .routes(routes!(shutdown))
        .routes(routes!(reset))
}

/// Summary of this peer and each subsystem.
#[utoipa::path(get, path = "/api/v1/status", tag = "daemon",
    responses((status = 200, description = "The daemon's status", body = Status)))]
async fn status(State(d): State<DaemonApi>, State(m): State<MeshApi>) -> Json<Status> {
    let r = d.report();
    Json(summarise(&d, &m, &r))
}

/// The full state in Weave Net's `WeaveStatus` shape (Weave's field names).
#[utoipa::path(get, path = "/api/v1/report", tag = "daemon",
    responses((status = 200, description = "Weave's report", body = Report)))]
async fn report(State(d): State<DaemonApi>) -> Json<Report> {
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
async fn shutdown(
    State(d): State<DaemonApi>,
    State(docker): State<DockerApi>,
) -> (StatusCode, Json<ShutdownAccepted>) {
    // As Weave's `weave stop`, before the plugin stops answering Docker.
    let warnings = docker.remove_network().await.into_iter().collect();
    d.request_shutdown();
    (StatusCode::ACCEPTED, Json(ShutdownAccepted { name: d.name(), warnings }))
}

/// Leaves the cluster: hands this peer's IPAM space to a live peer, removes the bridge, its
/// devices, the firewall rules and the persisted data, and stops the daemon.
#[utoipa::path(post, path = "/api/v1/reset", tag = "daemon",
    responses((status = 202, description = "Reset done; the daemon is stopping", body = ResetResult)))]
async fn reset(
    State(d): State<DaemonApi>,
    State(ipam): State<IpamApi>,
    State(m): State<MeshApi>,
    State(services): State<ServicesApi>,
    State(docker): State<DockerApi>,
) -> Result<(StatusCode, Json<ResetResult>), ApiFailure> {
    let handed_over = hand_over(&ipam, &m).await?;
    services.reset().await;
    let warnings = docker.remove_network().await.into_iter().collect();
    let dir = d.data_dir();
    let (removed, failures) = tokio::task::spawn_blocking(move || crate::daemon::reset_host(&dir))
        .await
        .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    d.request_reset();
    Ok((StatusCode::ACCEPTED, Json(ResetResult { name: d.name(), handed_over, removed, failures, warnings })))
}

/// IPAM shutdown, then until the news has left: written to every connection and acknowledged
/// by the peer at its other end (bounded, so a stuck connection cannot hold up the reset).
async fn hand_over(ipam: &IpamApi, m: &MeshApi) -> Result<u64, ApiFailure> {
    let Some(ipam) = &ipam.0 else { return Ok(0) };
    let n = ipam.shutdown().await?;
    if n > 0 && tokio::time::timeout(HANDOVER_LIMIT, m.mesh.flush_gossip()).await.is_err() {
        tracing::warn!(
            "IPAM handover: gossip not flushed within {}s; resetting anyway",
            HANDOVER_LIMIT.as_secs()
        );
    }
    Ok(n)
}

fn summarise(d: &DaemonApi, m: &MeshApi, r: &Report) -> Status {
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
        uid: d.uid(),
        bridge: crate::BRIDGE.into(),
        data_dir: d.data_dir().display().to_string(),
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
            sleeve_rejected: m.sleeve.as_ref().map(|s| s.rejected()).unwrap_or(0),
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
        services: ServicesSummary::of(&r.services),
    }
}
