//! `/api/v1` endpoints of the attach service: attach, detach, expose, hide, ps, resolve. Each turns
//! its request into one call of the service and its answer into JSON.

use super::{ApiFailure, AppState, AttachApi, CniApi};
use crate::attach::{format_mac, AttachSpec, Attached, Detached};
use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(attach_))
        .routes(routes!(detach_))
        .routes(routes!(ps))
        .routes(routes!(resolve_))
        .routes(routes!(expose_))
        .routes(routes!(hide_))
}

fn view(a: Attached) -> AttachedTarget {
    AttachedTarget {
        id: a.id,
        mac: format_mac(&a.mac),
        addrs: a.addrs.iter().map(|n| n.to_string()).collect(),
    }
}

fn removed(d: Detached) -> DetachResult {
    DetachResult { id: d.id, removed: d.removed.iter().map(|n| n.to_string()).collect() }
}

/// Connects a target to the weave network (idempotent) and returns its addresses. `net:`
/// addresses are allocated from IPAM (waiting for consensus and space, as Weave); explicit
/// ones are claimed in IPAM (outside its range just recorded). When a step fails, what the
/// earlier ones did is undone: no address stays allocated, no interface is left.
#[utoipa::path(post, path = "/api/v1/attach", tag = "attach", request_body = AttachRequest,
    responses(
        (status = 200, description = "The target as attached", body = AttachedTarget),
        (status = 400, description = "Bad target or address, a file that is not a network namespace, a named port's protocol that is not tcp, udp or sctp, or a label or namespace Kubernetes would refuse", body = ApiError),
        (status = 404, description = "No such target, or net: requested but IPAM is disabled", body = ApiError),
        (status = 409, description = "An address is in use, or the interface name is taken by something else", body = ApiError),
        (status = 422, description = "The target's namespace cannot be entered", body = ApiError),
        (status = 503, description = "No address can be had, or the weave bridge is missing", body = ApiError)))]
async fn attach_(
    State(svc): State<AttachApi>,
    Json(req): Json<AttachRequest>,
) -> Result<Json<AttachedTarget>, ApiFailure> {
    let mut spec = AttachSpec::new(&req.target, req.addrs);
    spec.dns = !req.without_dns;
    spec.multicast_route = !req.no_multicast_route;
    if let Some(ns) = req.namespace.as_deref() {
        weave_policy::validate::dns_label(ns)
            .map_err(|why| ApiFailure::bad_request(format!("namespace {ns:?} {why}")))?;
    }
    crate::policy::handle::check_labels(&req.labels).map_err(ApiFailure::bad_request)?;
    spec.meta.namespace = req.namespace;
    spec.meta.labels = req.labels;
    for p in req.ports {
        if crate::policy::handle::protocol(&p.protocol).is_none() {
            return Err(ApiFailure::bad_request(format!(
                "port {}: protocol {:?} is not tcp, udp or sctp",
                p.name, p.protocol
            )));
        }
        spec.meta.ports.insert(p.name, (p.port, p.protocol));
    }
    Ok(Json(view(svc.attach(spec).await?)))
}

/// Removes addresses (all when none given) from a target; its interface goes with the last.
/// The addresses are released in IPAM, also when the target no longer exists.
#[utoipa::path(post, path = "/api/v1/detach", tag = "attach", request_body = DetachRequest,
    responses((status = 200, description = "What was removed", body = DetachResult),
        (status = 400, description = "Bad target or address", body = ApiError),
        (status = 404, description = "The target does not exist and holds no addresses here", body = ApiError),
        (status = 422, description = "The target's namespace cannot be entered", body = ApiError)))]
async fn detach_(
    State(svc): State<AttachApi>,
    Json(req): Json<DetachRequest>,
) -> Result<Json<DetachResult>, ApiFailure> {
    Ok(Json(removed(svc.detach(req.target, req.addrs).await?)))
}

/// Gives the host addresses on the weave network (idempotent): they go on the bridge, `net:`
/// ones allocated from IPAM for `weave:expose` and explicit ones claimed, as for attach; traffic
/// between the exposed subnets and elsewhere is masqueraded unless asked not to. Answers with
/// the addresses of this request.
#[utoipa::path(post, path = "/api/v1/expose", tag = "attach", request_body = ExposeRequest,
    responses(
        (status = 200, description = "The host, with the addresses of this request", body = AttachedTarget),
        (status = 400, description = "Bad address or name", body = ApiError),
        (status = 404, description = "net: requested but IPAM is disabled", body = ApiError),
        (status = 409, description = "An address is in use", body = ApiError),
        (status = 500, description = "The bridge or the NAT rules could not be changed", body = ApiError)))]
async fn expose_(
    State(svc): State<AttachApi>,
    Json(req): Json<ExposeRequest>,
) -> Result<Json<AttachedTarget>, ApiFailure> {
    Ok(Json(view(svc.expose(req.addrs, req.fqdn, !req.without_masquerade).await?)))
}

/// Takes exposed addresses away from the host (all when none given), releasing them in IPAM
/// and removing their weaveDNS names.
#[utoipa::path(post, path = "/api/v1/hide", tag = "attach", request_body = HideRequest,
    responses((status = 200, description = "What was removed", body = DetachResult),
        (status = 400, description = "Bad address", body = ApiError),
        (status = 500, description = "The bridge or the NAT rules could not be changed", body = ApiError)))]
async fn hide_(
    State(svc): State<AttachApi>,
    Json(req): Json<HideRequest>,
) -> Result<Json<DetachResult>, ApiFailure> {
    Ok(Json(removed(svc.hide(req.addrs).await?)))
}

/// Every attached target, the host's own (`weave:expose`) first.
#[utoipa::path(get, path = "/api/v1/ps", tag = "attach",
    responses((status = 200, description = "Attached targets", body = Vec<AttachedTarget>)))]
async fn ps(
    State(svc): State<AttachApi>,
    State(cni): State<CniApi>,
) -> Result<Json<Vec<AttachedTarget>>, ApiFailure> {
    let mut all = svc.ps().await?;
    // CNI containers are found through their attachments' namespace paths.
    let mut containers: Vec<Attached> =
        cni.ps().await.into_iter().map(|c| Attached { id: c.id, mac: c.mac, addrs: c.addrs }).collect();
    containers.retain(|c| !all.iter().any(|a| a.id == c.id));
    all.extend(containers);
    // The bridge (`weave:expose`) stays first; targets in id order after it.
    let host = all.iter().position(|a| a.id == crate::attach::nat::ID).map(|i| all.remove(i));
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(host.into_iter().chain(all).map(view).collect()))
}

/// What a TARGET names: its id (in `weave ps`, IPAM and DNS entries: a Docker container's full
/// id) and the DNS name it gets by default. A container that does not run resolves to its id.
#[utoipa::path(post, path = "/api/v1/resolve", tag = "attach", request_body = ResolveRequest,
    responses((status = 200, description = "The target", body = ResolvedTarget),
        (status = 400, description = "Not a target", body = ApiError),
        (status = 404, description = "No such container", body = ApiError),
        (status = 503, description = "Docker is not reachable", body = ApiError)))]
async fn resolve_(
    State(svc): State<AttachApi>,
    Json(req): Json<ResolveRequest>,
) -> Result<Json<ResolvedTarget>, ApiFailure> {
    let (id, hostname) = svc.resolve(&req.target).await?;
    Ok(Json(ResolvedTarget { id, hostname }))
}
