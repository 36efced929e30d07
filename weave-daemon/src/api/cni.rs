//! `/api/v1/cni`: the daemon side of the `weave-net` and `weave-ipam` CNI plugins. Each
//! command of the CNI spec is one call: ADD is `POST /attachments` (or `POST /ipam` for an
//! address only), DEL is `DELETE /attachments/{container_id}/{ifname}`, CHECK is `POST
//! /attachments/{container_id}/{ifname}/check`, GC is `POST /gc`, STATUS is `GET /status`.

use super::{ApiFailure, AppState, CniApi};
use axum::extract::{Path, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add, list))
        .routes(routes!(ipam_add))
        .routes(routes!(del))
        .routes(routes!(check))
        .routes(routes!(gc))
        .routes(routes!(status))
}

/// CNI ADD: an interface named `ifname` in the container's namespace, on the weave bridge,
/// with an address from weave's IPAM keyed by the container id (or the addresses given), the
/// bridge's address as gateway (exposed when the bridge has none in the subnet) and a default
/// route, unless a gateway or routes are given; the container's name in weaveDNS. When a step
/// fails, nothing is left of the earlier ones.
#[utoipa::path(post, path = "/api/v1/cni/attachments", tag = "cni", request_body = CniAddRequest,
    responses(
        (status = 200, description = "The attachment", body = CniAttachment),
        (status = 400, description = "A bad value in the request (kind `invalid`)", body = ApiError),
        (status = 404, description = "The namespace does not exist (kind `unknown_container`), or IPAM is off", body = ApiError),
        (status = 409, description = "The interface exists, or the container is attached already (kind `conflict`)", body = ApiError),
        (status = 503, description = "No address can be had (kind `exhausted` or `unreachable_peers`)", body = ApiError)))]
async fn add(
    State(cni): State<CniApi>,
    Json(req): Json<CniAddRequest>,
) -> Result<Json<CniAttachment>, ApiFailure> {
    Ok(Json(cni.add(req).await?))
}

/// Every CNI attachment on this host.
#[utoipa::path(get, path = "/api/v1/cni/attachments", tag = "cni",
    responses((status = 200, description = "The attachments", body = Vec<CniAttachment>)))]
async fn list(State(cni): State<CniApi>) -> Result<Json<Vec<CniAttachment>>, ApiFailure> {
    Ok(Json(cni.list().await?))
}

/// CNI ADD of `weave-ipam`: an address from weave's IPAM for the container (the one it has in
/// the subnet already, if any), recorded as an attachment without an interface.
#[utoipa::path(post, path = "/api/v1/cni/ipam", tag = "cni", request_body = CniIpamRequest,
    responses(
        (status = 200, description = "The address-only attachment", body = CniAttachment),
        (status = 400, description = "A bad subnet or container id", body = ApiError),
        (status = 404, description = "IPAM is off", body = ApiError),
        (status = 503, description = "No address can be had", body = ApiError)))]
async fn ipam_add(
    State(cni): State<CniApi>,
    Json(req): Json<CniIpamRequest>,
) -> Result<Json<CniAttachment>, ApiFailure> {
    Ok(Json(cni.ipam_add(req).await?))
}

/// CNI DEL: removes the interface (when the namespace is still there), releases the
/// container's addresses and names. Deleting what does not exist succeeds.
#[utoipa::path(delete, path = "/api/v1/cni/attachments/{container_id}/{ifname}", tag = "cni",
    params(("container_id" = String, Path, description = "CNI_CONTAINERID"), ("ifname" = String, Path, description = "CNI_IFNAME")),
    responses(
        (status = 200, description = "What was removed", body = CniDeleted),
        (status = 400, description = "A bad container id or interface name", body = ApiError)))]
async fn del(
    State(cni): State<CniApi>,
    Path((id, ifname)): Path<(String, String)>,
) -> Result<Json<CniDeleted>, ApiFailure> {
    Ok(Json(cni.delete(&id, &ifname).await?))
}

/// CNI CHECK: compares the attachment with what the runtime expects (the result of ADD) and
/// with what ADD made: the namespace, the interface, its addresses (and their reservation in
/// IPAM) and the routes ADD added. Problems are answered with 200, one entry each.
#[utoipa::path(post, path = "/api/v1/cni/attachments/{container_id}/{ifname}/check", tag = "cni",
    params(("container_id" = String, Path, description = "CNI_CONTAINERID"), ("ifname" = String, Path, description = "CNI_IFNAME")),
    request_body = CniCheckRequest,
    responses(
        (status = 200, description = "What is wrong, if anything", body = CniCheckResult),
        (status = 400, description = "A bad value in the request", body = ApiError)))]
async fn check(
    State(cni): State<CniApi>,
    Path((id, ifname)): Path<(String, String)>,
    Json(req): Json<CniCheckRequest>,
) -> Result<Json<CniCheckResult>, ApiFailure> {
    Ok(Json(cni.check(&id, &ifname, req).await?))
}

/// CNI GC: removes, as DEL does, every attachment of the network that is not listed.
#[utoipa::path(post, path = "/api/v1/cni/gc", tag = "cni", request_body = CniGcRequest,
    responses((status = 200, description = "What was removed, and what could not be", body = CniGcResult)))]
async fn gc(
    State(cni): State<CniApi>,
    Json(req): Json<CniGcRequest>,
) -> Result<Json<CniGcResult>, ApiFailure> {
    Ok(Json(cni.gc(req).await?))
}

/// CNI STATUS: whether ADD can be served now (the bridge is up, IPAM is not stuck).
#[utoipa::path(get, path = "/api/v1/cni/status", tag = "cni",
    responses((status = 200, description = "Readiness for ADD", body = CniStatus)))]
async fn status(State(cni): State<CniApi>) -> Json<CniStatus> {
    Json(cni.status().await)
}
