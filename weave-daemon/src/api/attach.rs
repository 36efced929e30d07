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

fn explicit_addrs(addrs: &[String]) -> Result<Vec<ipnet::Ipv4Net>, ApiFailure> {
    addrs
        .iter()
        .map(|a| {
            if a.starts_with("net:") {
                return Err(ApiFailure::new(
                    StatusCode::NOT_IMPLEMENTED,
                    format!("{a}: address allocation from IPAM is not available in this version"),
                )
                .hint("give explicit addresses as CIDR or ip:CIDR, such as 10.32.0.5/12"));
            }
            attach::parse_addr(a).map_err(ApiFailure::bad_request)
        })
        .collect()
}

/// Connects a target to the weave network (idempotent) and returns its addresses.
#[utoipa::path(post, path = "/api/v1/attach", tag = "attach", request_body = AttachRequest,
    responses(
        (status = 200, description = "The target as attached", body = AttachedTarget),
        (status = 400, description = "Bad target or address", body = ApiError),
        (status = 501, description = "IPAM allocation requested but not available", body = ApiError)))]
async fn attach_(
    State(d): State<AppState>,
    Json(req): Json<AttachRequest>,
) -> Result<Json<AttachedTarget>, ApiFailure> {
    let t = target(&req.target)?;
    let addrs = if req.addrs.is_empty() {
        explicit_addrs(&["net:default".into()])?
    } else {
        explicit_addrs(&req.addrs)?
    };
    let mtu = crate::daemon::overlay_mtu(&d.config);
    let multicast = !req.no_multicast_route;
    let attached = tokio::task::spawn_blocking(move || {
        let mut nl = weave_netdev::Netlink::open().map_err(|e| e.to_string())?;
        attach::attach(&mut nl, crate::BRIDGE, &t, &addrs, mtu, multicast)
    })
    .await
    .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    Ok(Json(view(attached)))
}

/// Removes addresses (all when none given) from a target; its interface goes with the last.
#[utoipa::path(post, path = "/api/v1/detach", tag = "attach", request_body = DetachRequest,
    responses((status = 200, description = "What was removed", body = DetachResult),
        (status = 400, description = "Bad target or address", body = ApiError)))]
async fn detach_(Json(req): Json<DetachRequest>) -> Result<Json<DetachResult>, ApiFailure> {
    let t = target(&req.target)?;
    let addrs: Vec<ipnet::Ipv4Net> = req
        .addrs
        .iter()
        .map(|a| attach::parse_addr(a).map_err(ApiFailure::bad_request))
        .collect::<Result<_, _>>()?;
    let id = t.id();
    let removed = tokio::task::spawn_blocking(move || attach::detach(&t, &addrs))
        .await
        .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
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
