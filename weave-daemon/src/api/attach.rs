//! `/api/v1` endpoints for attaching targets: attach, detach, ps.

use super::{blocking, with_netlink, ApiFailure, AppState};
use crate::attach::{self, target::Target, Attached};
use crate::docker::client::DockerError;
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
        .routes(routes!(resolve_))
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

/// TARGET as given: `netns:NAME`, `pid:PID` or a path; anything else is a Docker container
/// (id, unique id prefix or name), resolved through Docker. `running` refuses containers that
/// do not run (a stopped one resolves to its id, for detach).
async fn target(d: &AppState, s: &str, running: bool) -> Result<Target, ApiFailure> {
    let hint = "targets are a Docker container (id or name), netns:NAME, pid:PID or a namespace path";
    let not_docker = match Target::parse(s) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let Some(docker) = d.docker().filter(|x| x.enabled()) else {
        return Err(ApiFailure::bad_request(not_docker)
            .hint("Docker containers need the Docker integration, which is disabled (--docker-api '')"));
    };
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if !ok {
        return Err(ApiFailure::bad_request(format!("invalid target {s:?}")).hint(hint));
    }
    let client = docker.require_client().map_err(|e| {
        ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            .hint("is dockerd running? weave status says")
    })?;
    let c = match client.container(s).await {
        Ok(c) => c,
        // A container Docker has forgotten is still named by its full id (detach releases it).
        Err(DockerError::NoSuchContainer(_)) if !running && crate::docker::is_container_id(s) => {
            return Ok(Target::Docker { id: s.into(), pid: 0, hostname: String::new() })
        }
        Err(DockerError::NoSuchContainer(_)) => {
            return Err(ApiFailure::new(StatusCode::NOT_FOUND, format!("no such container: {s}")).hint(hint))
        }
        Err(e) => return Err(ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    };
    if running && !c.running {
        return Err(ApiFailure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("container {} ({}) is not running", c.name, c.short_id()),
        ));
    }
    let hostname = match (c.hostname.as_str(), c.domainname.as_str()) {
        (h, "") => h.to_string(),
        (h, dom) => format!("{h}.{dom}"),
    };
    Ok(Target::Docker { id: c.id, pid: c.pid, hostname })
}

/// A Docker container attached just now must still be the same running process; if it died
/// meanwhile, everything attach did is undone and the caller is told.
async fn still_running(d: &AppState, t: &Target) -> Result<(), String> {
    let Target::Docker { id, pid, .. } = t else { return Ok(()) };
    let Some(client) = d.docker().and_then(|x| x.client()) else { return Ok(()) };
    match client.container(id).await {
        Ok(c) if c.running && c.pid == *pid => Ok(()),
        Ok(_) | Err(DockerError::NoSuchContainer(_)) => {
            Err(format!("container {} died during attach", &id[..12.min(id.len())]))
        }
        // Docker went away: the event watcher reconciles when it is back.
        Err(_) => Ok(()),
    }
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
    let t = target(&d, &req.target, true).await?;
    let specs = super::ipam::parse_specs_or_default(&req.addrs)?;
    reachable(&t).await?;
    let addrs = super::ipam::addresses_for(&d, &t.id(), &specs).await?;
    let mtu = crate::daemon::overlay_mtu(&d.config);
    let multicast = !req.no_multicast_route;
    let (t2, a2) = (t.clone(), addrs.clone());
    let attached = with_netlink(StatusCode::UNPROCESSABLE_ENTITY, move |nl| {
        attach::attach(nl, crate::BRIDGE, &t2, &a2, mtu, multicast)
    })
    .await;
    let attached = match attached {
        Ok(a) => a,
        Err(e) => {
            // Nothing stays allocated for a target that could not be plumbed.
            let _ = super::ipam::release(&d, &t.id(), &addrs).await;
            return Err(e);
        }
    };
    if !req.without_dns {
        super::dns::register(&d, &attached.id, t.hostname(), &attached.addrs).await;
    }
    if let Err(why) = still_running(&d, &t).await {
        let _ = attach::detach(&t, &attached.addrs);
        let _ = super::ipam::release(&d, &attached.id, &[]).await;
        if let Some(dns) = d.dns() {
            dns.forget_target(&attached.id).await;
        }
        return Err(ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{why}: nothing was kept")));
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
    let t = target(&d, &req.target, false).await?;
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

/// Every attached target, the host's own (`weave:expose`) first; Docker containers by their
/// full id.
#[utoipa::path(get, path = "/api/v1/ps", tag = "attach",
    responses((status = 200, description = "Attached targets", body = Vec<AttachedTarget>)))]
async fn ps(State(d): State<AppState>) -> Result<Json<Vec<AttachedTarget>>, ApiFailure> {
    let aliases =
        with_netlink(StatusCode::INTERNAL_SERVER_ERROR, |nl| attach::port_aliases(nl, crate::BRIDGE)).await?;
    // Containers are found through Docker (their namespace is their first process's).
    let mut containers = std::collections::HashMap::new();
    for a in aliases.iter().filter(|a| crate::docker::is_container_id(a)) {
        let known = d.docker().and_then(|x| x.known_container(a));
        let c = match known {
            Some(c) => Some(c),
            None => match d.docker().and_then(|x| x.client()) {
                Some(client) => client.container(a).await.ok(),
                None => None,
            },
        };
        if let Some(c) = c.filter(|c| c.running) {
            containers.insert(a.clone(), Target::Docker { id: c.id, pid: c.pid, hostname: String::new() });
        }
    }
    let list = with_netlink(StatusCode::INTERNAL_SERVER_ERROR, move |nl| {
        let mut out: Vec<Attached> = attach::expose_entry(nl, crate::BRIDGE)?.into_iter().collect();
        out.extend(attach::list_with(nl, crate::BRIDGE, &|a| {
            Target::parse(a).ok().or_else(|| containers.get(a).cloned())
        })?);
        Ok(out)
    })
    .await?;
    Ok(Json(list.into_iter().map(view).collect()))
}

/// What a TARGET names: its id (`weave ps`, DNS entries) and its default DNS name.
#[utoipa::path(post, path = "/api/v1/resolve", tag = "attach", request_body = ResolveRequest,
    responses((status = 200, description = "The target", body = ResolvedTarget),
        (status = 400, description = "Not a target", body = ApiError),
        (status = 404, description = "No such container", body = ApiError),
        (status = 503, description = "Docker is not reachable", body = ApiError)))]
async fn resolve_(
    State(d): State<AppState>,
    Json(req): Json<ResolveRequest>,
) -> Result<Json<ResolvedTarget>, ApiFailure> {
    let t = target(&d, &req.target, false).await?;
    Ok(Json(ResolvedTarget { id: t.id(), hostname: t.hostname() }))
}
