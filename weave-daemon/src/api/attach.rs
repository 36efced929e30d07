//! `/api/v1` endpoints for attaching targets: attach, detach, ps.

use super::{ApiFailure, AppState};
use crate::attach::{self, target::Target, Attached};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(attach_)).routes(routes!(detach_)).routes(routes!(ps))
}

fn view(a: Attached) -> AttachedTarget {
    AttachedTarget {
        id: a.id,
        mac: attach::format_mac(&a.mac),
        addrs: a.addrs.iter().map(|n| n.to_string()).collect(),
    }
}

fn target(s: &str) -> Result<Target, ApiFailure> {
    Target::parse(s)
        .map_err(|e| ApiFailure::bad_request(e).hint("targets are netns:NAME, pid:PID or a namespace path"))
}

/// Fails unless the target's namespace can be opened (before anything is allocated for it).
async fn reachable(t: &Target) -> Result<(), ApiFailure> {
    let t = t.clone();
    tokio::task::spawn_blocking(move || t.open().map(drop))
        .await
        .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, e))
}

/// Connects a target to the weave network (idempotent) and returns its addresses. `net:`
/// addresses are allocated from IPAM (waiting for consensus and space, as Weave); explicit
/// ones are claimed in IPAM (outside its range just recorded).
#[utoipa::path(post, path = "/api/v1/attach", tag = "attach", request_body = AttachRequest,
    responses(
        (status = 200, description = "The target as attached", body = AttachedTarget),
        (status = 400, description = "Bad target or address", body = ApiError),
        (status = 404, description = "net: requested but IPAM is disabled", body = ApiError),
        (status = 409, description = "An address is in use", body = ApiError),
        (status = 422, description = "The target cannot be reached", body = ApiError)))]
async fn attach_(
    State(d): State<AppState>,
    Json(req): Json<AttachRequest>,
) -> Result<Json<AttachedTarget>, ApiFailure> {
    let t = target(&req.target)?;
    let specs = if req.addrs.is_empty() { vec!["net:default".to_string()] } else { req.addrs.clone() };
    let specs = super::ipam::parse_specs(&specs)?;
    reachable(&t).await?;
    let addrs = super::ipam::addresses_for(&d, &t.id(), &specs).await?;
    let mtu = crate::daemon::overlay_mtu(&d.config);
    let multicast = !req.no_multicast_route;
    let attached = tokio::task::spawn_blocking(move || {
        let mut nl = weave_netdev::Netlink::open().map_err(|e| e.to_string())?;
        attach::attach(&mut nl, crate::BRIDGE, &t, &addrs, mtu, multicast)
    })
    .await
    .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    if !req.without_dns {
        super::dns::register(&d, &attached.id, &req.target, &attached.addrs).await;
    }
    Ok(Json(view(attached)))
}

/// Removes addresses (all when none given) from a target; its interface goes with the last.
/// The addresses are released in IPAM, also when the target no longer exists.
#[utoipa::path(post, path = "/api/v1/detach", tag = "attach", request_body = DetachRequest,
    responses((status = 200, description = "What was removed", body = DetachResult),
        (status = 400, description = "Bad target or address", body = ApiError),
        (status = 422, description = "The target cannot be reached", body = ApiError)))]
async fn detach_(
    State(d): State<AppState>,
    Json(req): Json<DetachRequest>,
) -> Result<Json<DetachResult>, ApiFailure> {
    let t = target(&req.target)?;
    let specs = super::ipam::parse_specs(&req.addrs)?;
    let id = t.id();
    let addrs = super::ipam::detach_addresses(&d, &id, &specs)?;
    if !req.addrs.is_empty() && addrs.is_empty() {
        // Only net: arguments, and nothing allocated there.
        return Ok(Json(DetachResult { id, removed: vec![] }));
    }
    let gone = !crate::ipam::check::target_exists(&t);
    if let (true, Some(dns)) = (gone, d.dns()) {
        dns.forget_target(&id).await;
    }
    let mut removed = if gone {
        vec![]
    } else {
        let (t, a) = (t.clone(), addrs.clone());
        tokio::task::spawn_blocking(move || attach::detach(&t, &a))
            .await
            .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, e))?
    };
    let released = super::ipam::release(&d, &id, &addrs).await?;
    if gone && released.is_empty() {
        return Err(ApiFailure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{id} does not exist and holds no IPAM addresses on this peer"),
        ));
    }
    for r in released {
        if !removed.contains(&r) {
            removed.push(r);
        }
    }
    super::dns::unregister(&d, &id, &removed).await;
    Ok(Json(DetachResult { id, removed: removed.iter().map(|n| n.to_string()).collect() }))
}

/// Every attached target, the host's own (`weave:expose`) first.
#[utoipa::path(get, path = "/api/v1/ps", tag = "attach",
    responses((status = 200, description = "Attached targets", body = Vec<AttachedTarget>)))]
async fn ps() -> Result<Json<Vec<AttachedTarget>>, ApiFailure> {
    let list = tokio::task::spawn_blocking(|| {
        let mut nl = weave_netdev::Netlink::open().map_err(|e| e.to_string())?;
        let mut out: Vec<Attached> = attach::expose_entry(&mut nl, crate::BRIDGE)?.into_iter().collect();
        out.extend(attach::list(&mut nl, crate::BRIDGE)?);
        Ok::<_, String>(out)
    })
    .await
    .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Json(list.into_iter().map(view).collect()))
}
