//! `/api/v1` endpoints for attaching targets: attach, detach, ps.

use super::{blocking, with_netlink, ApiFailure, AppState};
use crate::attach::{self, target::Target, Attached};
use crate::expose;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(attach_))
        .routes(routes!(detach_))
        .routes(routes!(ps))
        .routes(routes!(expose_))
        .routes(routes!(hide_))
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

/// What was released in IPAM, added to what was taken off interfaces.
fn add_missing(removed: &mut Vec<ipnet::Ipv4Net>, released: Vec<ipnet::Ipv4Net>) {
    for r in released {
        if !removed.contains(&r) {
            removed.push(r);
        }
    }
}

/// Fails unless the target's namespace can be opened (before anything is allocated for it).
async fn reachable(t: &Target) -> Result<(), ApiFailure> {
    let t = t.clone();
    blocking(StatusCode::UNPROCESSABLE_ENTITY, move || t.open().map(drop)).await
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
    let specs = super::ipam::parse_specs_or_default(&req.addrs)?;
    reachable(&t).await?;
    let addrs = super::ipam::addresses_for(&d, &t.id(), &specs).await?;
    let mtu = crate::daemon::overlay_mtu(&d.config);
    let multicast = !req.no_multicast_route;
    let attached = with_netlink(StatusCode::UNPROCESSABLE_ENTITY, move |nl| {
        attach::attach(nl, crate::BRIDGE, &t, &addrs, mtu, multicast)
    })
    .await?;
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
        blocking(StatusCode::UNPROCESSABLE_ENTITY, move || attach::detach(&t, &a)).await?
    };
    let released = super::ipam::release(&d, &id, &addrs).await?;
    if gone && released.is_empty() {
        return Err(ApiFailure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{id} does not exist and holds no IPAM addresses on this peer"),
        ));
    }
    add_missing(&mut removed, released);
    super::dns::unregister(&d, &id, &removed).await;
    Ok(Json(DetachResult { id, removed: removed.iter().map(|n| n.to_string()).collect() }))
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
    State(d): State<AppState>,
    Json(req): Json<ExposeRequest>,
) -> Result<Json<AttachedTarget>, ApiFailure> {
    let specs = super::ipam::parse_specs_or_default(&req.addrs)?;
    // The name is checked before anything changes.
    let fqdn = match (&req.fqdn, d.dns()) {
        (Some(name), Some(dns)) => Some(dns.name_in_domain(name).map_err(ApiFailure::bad_request)?),
        (Some(_), None) => {
            return Err(ApiFailure::bad_request("a name needs weaveDNS, which is disabled (--no-dns)"))
        }
        (None, _) => None,
    };
    let addrs = super::ipam::addresses_for(&d, expose::ID, &specs).await?;
    let (dir, a) = (d.config.data_dir.clone(), addrs.clone());
    let masquerade = !req.without_masquerade;
    let host = with_netlink(StatusCode::INTERNAL_SERVER_ERROR, move |nl| {
        expose::expose(nl, crate::BRIDGE, &dir, &a, masquerade)?;
        attach::expose_entry(nl, crate::BRIDGE)
    })
    .await?
    .ok_or_else(|| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "the weave bridge is gone"))?;
    if let (Some(fqdn), Some(dns)) = (fqdn, d.dns()) {
        for a in &addrs {
            dns.add(&fqdn, expose::ID, a.addr()).await;
        }
    }
    Ok(Json(view(Attached { addrs, ..host })))
}

/// Takes exposed addresses away from the host (all when none given), releasing them in IPAM
/// and removing their weaveDNS names.
#[utoipa::path(post, path = "/api/v1/hide", tag = "attach", request_body = HideRequest,
    responses((status = 200, description = "What was removed", body = DetachResult),
        (status = 400, description = "Bad address", body = ApiError),
        (status = 500, description = "The bridge or the NAT rules could not be changed", body = ApiError)))]
async fn hide_(
    State(d): State<AppState>,
    Json(req): Json<HideRequest>,
) -> Result<Json<DetachResult>, ApiFailure> {
    let specs = super::ipam::parse_specs(&req.addrs)?;
    let addrs = super::ipam::detach_addresses(&d, expose::ID, &specs)?;
    if !req.addrs.is_empty() && addrs.is_empty() {
        return Ok(Json(DetachResult { id: expose::ID.into(), removed: vec![] }));
    }
    let (dir, a) = (d.config.data_dir.clone(), addrs.clone());
    let mut removed =
        with_netlink(StatusCode::INTERNAL_SERVER_ERROR, move |nl| expose::hide(nl, crate::BRIDGE, &dir, &a))
            .await?;
    add_missing(&mut removed, super::ipam::release(&d, expose::ID, &addrs).await?);
    super::dns::unregister(&d, expose::ID, &removed).await;
    Ok(Json(DetachResult { id: expose::ID.into(), removed: removed.iter().map(|n| n.to_string()).collect() }))
}

/// Every attached target, the host's own (`weave:expose`) first.
#[utoipa::path(get, path = "/api/v1/ps", tag = "attach",
    responses((status = 200, description = "Attached targets", body = Vec<AttachedTarget>)))]
async fn ps() -> Result<Json<Vec<AttachedTarget>>, ApiFailure> {
    let list = with_netlink(StatusCode::INTERNAL_SERVER_ERROR, |nl| {
        let mut out: Vec<Attached> = attach::expose_entry(nl, crate::BRIDGE)?.into_iter().collect();
        out.extend(attach::list(nl, crate::BRIDGE)?);
        Ok(out)
    })
    .await?;
    Ok(Json(list.into_iter().map(view).collect()))
}
