//! IPAM over HTTP: `/api/v1/ipam...` (JSON), `/api/v1/reset`, and Weave's own endpoints with
//! Weave's paths, bodies and status codes (`/ip...`, `/ring`, `/ipinfo/...`, `/peer...`).
//! Also how `attach`/`detach` turn `net:`/`ip:` addresses into IPAM requests.

use super::{ApiFailure, AppState};
use crate::ipam::{check, to_cidr, to_net, Ipam, IpamFailure, Stuck, MAX_IDENT_LEN};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use ipnet::Ipv4Net;
use std::sync::Arc;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;
use weave_ipam::{Address, Cidr, OpError};

/// After handing our space over, the longest the connections stay up for the news to get out
/// (closing them early could discard unsent data). Weave's script sleeps 0.5 s instead.
const HANDOVER_LIMIT: Duration = Duration::from_secs(5);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(allocations))
        .routes(routes!(allocate))
        .routes(routes!(claim))
        .routes(routes!(free))
        .routes(routes!(prime))
        .routes(routes!(rmpeer))
        .routes(routes!(check_))
        .routes(routes!(reset))
}

// ---- shared helpers ----

fn disabled() -> ApiFailure {
    ApiFailure::new(
        StatusCode::NOT_FOUND,
        "IPAM is disabled in this daemon (it was started with an empty --ipalloc-range)",
    )
    .hint(weave_api::client::DISABLED_HINT)
}

fn ipam(d: &AppState) -> Result<&Arc<Ipam>, ApiFailure> {
    d.ipam.as_ref().ok_or_else(disabled)
}

fn failure(e: IpamFailure) -> ApiFailure {
    match &e {
        IpamFailure::Op(op) => {
            let status = match op {
                OpError::OutOfBounds { .. } | OpError::NotASubnet(_) | OpError::SubnetTooSmall(_) => {
                    StatusCode::BAD_REQUEST
                }
                OpError::NoAddresses(_) | OpError::NotFound { .. } => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            let f = ApiFailure::new(status, e.to_string());
            match op {
                OpError::OutOfBounds { universe, .. } => {
                    f.hint(format!("allocate within the IPAM range {universe} (--ipalloc-range)"))
                }
                OpError::OwnedByOtherPeer { .. } => {
                    f.hint("the address belongs to another peer's range; pick another address or net:default")
                }
                OpError::NoAddresses(_) | OpError::NotFound { .. } => {
                    f.hint("GET /api/v1/ipam/allocations lists what this peer has handed out")
                }
                _ => f,
            }
        }
        IpamFailure::Stopping => ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        IpamFailure::Stuck(stuck) => {
            let f = ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            match stuck {
                Stuck::Exhausted { .. } => f.hint(
                    "release addresses with weave detach (weave ipam check lists orphans), or allocate from another subnet",
                ),
                Stuck::Unreachable { names, .. } => f.hint(format!(
                    "if they are gone for good: weave rmpeer {}",
                    names.join(" ")
                )),
            }
        }
        IpamFailure::Persist(_) => ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            .hint("the daemon stops; check the disk under --data-dir, then launch it again"),
    }
}

fn bad_json(e: JsonRejection) -> ApiFailure {
    ApiFailure::new(e.status(), e.body_text()).hint("see /api/v1/openapi.json for the request body")
}

/// Owner identifiers: any non-empty string of reasonable length.
fn check_ident(ident: &str) -> Result<(), String> {
    if ident.is_empty() {
        return Err("the owner identifier (ident) must not be empty".into());
    }
    if ident.len() > MAX_IDENT_LEN {
        return Err(format!("identifier too long ({} bytes; at most {MAX_IDENT_LEN})", ident.len()));
    }
    Ok(())
}

/// A subnet to allocate in, with Weave's checks and texts (`ParseCIDRSubnet`).
pub fn parse_subnet(s: &str) -> Result<Cidr, String> {
    let c: Cidr = s.parse().map_err(|e: weave_ipam::address::ParseError| e.to_string())?;
    if c.size() < weave_ipam::allocator::MIN_SUBNET_SIZE {
        return Err(format!("invalid subnet - smaller than minimum size 4: {s}"));
    }
    if !c.is_subnet() {
        return Err(format!("invalid subnet - bits after network prefix are not all zero: {s}"));
    }
    Ok(c)
}

/// One address argument of `attach`/`detach`, as Weave: `net:default`, `net:CIDR`,
/// `ip:CIDR` or `CIDR`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddrSpec {
    Default,
    Net(Cidr),
    Ip(Cidr),
}

pub fn parse_spec(s: &str) -> Result<AddrSpec, String> {
    if s == "net:default" {
        return Ok(AddrSpec::Default);
    }
    if let Some(net) = s.strip_prefix("net:") {
        return parse_subnet(net).map(AddrSpec::Net).map_err(|e| format!("{s}: {e}"));
    }
    let cidr = s.strip_prefix("ip:").unwrap_or(s);
    cidr.parse::<Cidr>().map(AddrSpec::Ip).map_err(|_| {
        format!(
            "invalid address {s:?}: expected net:default, net:CIDR, ip:CIDR or CIDR, such as 10.32.0.5/12"
        )
    })
}

pub fn parse_specs(specs: &[String]) -> Result<Vec<AddrSpec>, ApiFailure> {
    specs.iter().map(|s| parse_spec(s).map_err(ApiFailure::bad_request)).collect()
}

/// For attach and expose: no address given means `net:default`.
pub fn parse_specs_or_default(specs: &[String]) -> Result<Vec<AddrSpec>, ApiFailure> {
    if specs.is_empty() {
        return Ok(vec![AddrSpec::Default]);
    }
    parse_specs(specs)
}

/// The addresses `ident` gets for `specs`: allocated (`net:`) or claimed (explicit) in IPAM.
/// Explicit addresses do not wait for consensus (the claim goes on in the background).
pub async fn addresses_for(
    d: &AppState,
    ident: &str,
    specs: &[AddrSpec],
) -> Result<Vec<Ipv4Net>, ApiFailure> {
    check_ident(ident).map_err(ApiFailure::bad_request)?;
    let mut out = Vec::new();
    for spec in specs {
        let cidr = match *spec {
            AddrSpec::Ip(c) => {
                if let Some(ipam) = &d.ipam {
                    ipam.claim(ident, c, true, true).await.map_err(failure)?;
                }
                c
            }
            AddrSpec::Default | AddrSpec::Net(_) => {
                let Some(ipam) = &d.ipam else {
                    return Err(ApiFailure::new(
                        StatusCode::NOT_FOUND,
                        "IP address allocation must be enabled to use 'net:' (the daemon was started with an empty --ipalloc-range)",
                    )
                    .hint(weave_api::client::DISABLED_HINT));
                };
                let subnet = if let AddrSpec::Net(n) = *spec { n } else { ipam.default_subnet() };
                ipam.allocate_or_explain(ident, subnet, true).await.map_err(failure)?
            }
        };
        let net = to_net(cidr);
        if !out.contains(&net) {
            out.push(net);
        }
    }
    Ok(out)
}

/// For `detach`: `net:` specs stand for the ident's addresses in that subnet.
pub fn detach_addresses(d: &AppState, ident: &str, specs: &[AddrSpec]) -> Result<Vec<Ipv4Net>, ApiFailure> {
    let mut out = Vec::new();
    for spec in specs {
        match *spec {
            AddrSpec::Ip(c) => out.push(to_net(c)),
            AddrSpec::Default | AddrSpec::Net(_) => {
                let ipam = ipam(d)?;
                let subnet = if let AddrSpec::Net(n) = *spec { n } else { ipam.default_subnet() };
                out.extend(ipam.lookup(ident, subnet).into_iter().map(to_net));
            }
        }
    }
    Ok(out)
}

/// For `detach`: releases `addrs` of `ident` in IPAM (all of them when `addrs` is empty).
/// Returns what was released; addresses IPAM does not know for `ident` are skipped.
pub async fn release(d: &AppState, ident: &str, addrs: &[Ipv4Net]) -> Result<Vec<Ipv4Net>, ApiFailure> {
    let Some(ipam) = &d.ipam else { return Ok(vec![]) };
    if addrs.is_empty() {
        return match ipam.delete(ident).await {
            Ok(cidrs) => Ok(cidrs.into_iter().map(to_net).collect()),
            Err(IpamFailure::Op(OpError::NoAddresses(_))) => Ok(vec![]),
            Err(e) => Err(failure(e)),
        };
    }
    let owned = ipam.owned();
    let mine: Vec<Cidr> =
        owned.iter().find(|(k, _)| k == ident).map(|(_, d)| d.cidrs.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for a in addrs {
        let addr = to_cidr(*a).addr;
        let Some(c) = mine.iter().find(|c| c.addr == addr) else { continue };
        match ipam.free(ident, addr).await {
            Ok(()) => out.push(to_net(*c)),
            Err(IpamFailure::Op(OpError::NotFound { .. })) => {}
            Err(e) => return Err(failure(e)),
        }
    }
    Ok(out)
}

// ---- /api/v1 ----

/// IPAM as this peer sees it: the ring, allocations, pending requests, refused gossip.
#[utoipa::path(get, path = "/api/v1/ipam", tag = "ipam",
    responses((status = 200, description = "IPAM status", body = IpamInfo),
        (status = 404, description = "IPAM is disabled", body = ApiError)))]
async fn info(State(d): State<AppState>) -> Result<Json<IpamInfo>, ApiFailure> {
    Ok(Json(ipam(&d)?.info()))
}

/// Addresses this peer has handed out, by owner.
#[utoipa::path(get, path = "/api/v1/ipam/allocations", tag = "ipam",
    responses((status = 200, description = "Allocations", body = Vec<Allocation>),
        (status = 404, description = "IPAM is disabled", body = ApiError)))]
async fn allocations(State(d): State<AppState>) -> Result<Json<Vec<Allocation>>, ApiFailure> {
    let owned = ipam(&d)?.owned();
    Ok(Json(
        owned
            .into_iter()
            .map(|(ident, data)| Allocation {
                ident,
                addrs: data.cidrs.iter().map(|c| c.to_string()).collect(),
                is_container: data.is_container,
            })
            .collect(),
    ))
}

/// Allocates an address (the ident's existing one in the subnet, if any). Waits until the
/// ring exists and space is available, as Weave, except when waiting cannot help: no free
/// address in the subnet here, and no reachable peer reports one (503, saying which).
#[utoipa::path(post, path = "/api/v1/ipam/allocate", tag = "ipam", request_body = AllocateRequest,
    responses((status = 200, description = "The address", body = Allocated),
        (status = 400, description = "Bad subnet or identifier", body = ApiError),
        (status = 404, description = "IPAM is disabled", body = ApiError),
        (status = 503, description = "The daemon is stopping, or the subnet is full, or its free addresses belong to unreachable peers", body = ApiError)))]
async fn allocate(
    State(d): State<AppState>,
    req: Result<Json<AllocateRequest>, JsonRejection>,
) -> Result<Json<Allocated>, ApiFailure> {
    let Json(req) = req.map_err(bad_json)?;
    let ipam = ipam(&d)?;
    check_ident(&req.ident).map_err(ApiFailure::bad_request)?;
    let subnet = match &req.subnet {
        None => ipam.default_subnet(),
        Some(s) => parse_subnet(s).map_err(ApiFailure::bad_request)?,
    };
    let cidr = ipam.allocate_or_explain(&req.ident, subnet, req.is_container).await.map_err(failure)?;
    Ok(Json(Allocated { ident: req.ident, cidr: cidr.to_string() }))
}

/// Records a specific address for an owner. In another peer's range it is asked for; outside
/// the IPAM range it is just recorded.
#[utoipa::path(post, path = "/api/v1/ipam/claim", tag = "ipam", request_body = ClaimRequest,
    responses((status = 200, description = "Claimed", body = Allocated),
        (status = 400, description = "Bad address or identifier", body = ApiError),
        (status = 404, description = "IPAM is disabled", body = ApiError),
        (status = 409, description = "The address is in use", body = ApiError)))]
async fn claim(
    State(d): State<AppState>,
    req: Result<Json<ClaimRequest>, JsonRejection>,
) -> Result<Json<Allocated>, ApiFailure> {
    let Json(req) = req.map_err(bad_json)?;
    let ipam = ipam(&d)?;
    check_ident(&req.ident).map_err(ApiFailure::bad_request)?;
    let cidr: Cidr = req.cidr.parse().map_err(|e: weave_ipam::address::ParseError| {
        ApiFailure::bad_request(e.to_string())
            .hint("give the address with its prefix length, such as 10.32.0.5/12")
    })?;
    ipam.claim(&req.ident, cidr, req.is_container, req.no_error_on_unknown).await.map_err(failure)?;
    Ok(Json(Allocated { ident: req.ident, cidr: cidr.to_string() }))
}

/// Releases addresses of an owner (all of them when none are given).
#[utoipa::path(post, path = "/api/v1/ipam/free", tag = "ipam", request_body = FreeRequest,
    responses((status = 200, description = "What was released", body = Freed),
        (status = 400, description = "Bad address", body = ApiError),
        (status = 404, description = "Unknown owner or address, or IPAM disabled", body = ApiError)))]
async fn free(
    State(d): State<AppState>,
    req: Result<Json<FreeRequest>, JsonRejection>,
) -> Result<Json<Freed>, ApiFailure> {
    let Json(req) = req.map_err(bad_json)?;
    let ipam = ipam(&d)?;
    check_ident(&req.ident).map_err(ApiFailure::bad_request)?;
    if req.addrs.is_empty() {
        let cidrs = ipam.delete(&req.ident).await.map_err(failure)?;
        return Ok(Json(Freed { ident: req.ident, freed: cidrs.iter().map(|c| c.to_string()).collect() }));
    }
    let mine: Vec<Cidr> =
        ipam.owned().into_iter().find(|(k, _)| *k == req.ident).map(|(_, d)| d.cidrs).unwrap_or_default();
    let mut freed = Vec::new();
    for a in &req.addrs {
        let addr: Address = a
            .split('/')
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|e: weave_ipam::address::ParseError| ApiFailure::bad_request(e.to_string()))?;
        ipam.free(&req.ident, addr).await.map_err(failure)?;
        freed.push(
            mine.iter().find(|c| c.addr == addr).map(|c| c.to_string()).unwrap_or_else(|| addr.to_string()),
        );
    }
    Ok(Json(Freed { ident: req.ident, freed }))
}

/// Waits until IPAM consensus is reached (the ring exists), starting an election if needed.
#[utoipa::path(post, path = "/api/v1/ipam/prime", tag = "ipam",
    responses((status = 200, description = "The ring exists", body = Primed),
        (status = 404, description = "IPAM is disabled", body = ApiError),
        (status = 503, description = "The daemon is stopping", body = ApiError)))]
async fn prime(State(d): State<AppState>) -> Result<Json<Primed>, ApiFailure> {
    let ipam = ipam(&d)?;
    ipam.prime().await.map_err(failure)?;
    Ok(Json(Primed { state: ipam.info().state }))
}

/// Takes over every range of a dead peer (Weave's `rmpeer`). A reachable peer is refused
/// unless `force` is set: it would reject the change and its connections would flap.
#[utoipa::path(post, path = "/api/v1/ipam/rmpeer", tag = "ipam", request_body = RmpeerRequest,
    responses((status = 200, description = "Space taken over", body = RmpeerResult),
        (status = 400, description = "The peer is this peer", body = ApiError),
        (status = 404, description = "Unknown peer, or IPAM disabled", body = ApiError),
        (status = 409, description = "The peer is reachable", body = ApiError)))]
async fn rmpeer(
    State(d): State<AppState>,
    req: Result<Json<RmpeerRequest>, JsonRejection>,
) -> Result<Json<RmpeerResult>, ApiFailure> {
    let Json(req) = req.map_err(bad_json)?;
    let ipam = ipam(&d)?;
    let Some(name) = ipam.resolve_peer(&req.peer) else {
        return Err(ApiFailure::new(
            StatusCode::NOT_FOUND,
            format!("unknown peer {:?}: it owns no IPAM space known here", req.peer),
        )
        .hint("`weave status ipam` lists the peers owning space, by name and nickname"));
    };
    if name == ipam.our_name() {
        return Err(ApiFailure::bad_request(format!(
            "{} is this peer: rmpeer takes over the space of another, dead peer",
            req.peer
        ))
        .hint("to leave the cluster with this peer, run `weave reset` here"));
    }
    if !req.force && ipam.is_reachable(name) {
        return Err(ApiFailure::new(
            StatusCode::CONFLICT,
            format!("peer {} ({name}) is reachable: rmpeer is only for dead peers", req.peer),
        )
        .hint(
            "run `weave reset` on that peer to hand its space over, or stop it first (or force with --force)",
        ));
    }
    let n = ipam.takeover(&req.peer).await.map_err(failure)?;
    Ok(Json(RmpeerResult { peer: req.peer, taken_over: u64::from(n) }))
}

/// What is wrong with IPAM from this peer's view, each with the command that fixes it.
#[utoipa::path(get, path = "/api/v1/ipam/check", tag = "ipam",
    responses((status = 200, description = "The check's findings", body = IpamCheck),
        (status = 404, description = "IPAM is disabled", body = ApiError)))]
async fn check_(State(d): State<AppState>) -> Result<Json<IpamCheck>, ApiFailure> {
    let ipam = ipam(&d)?.clone();
    let report = super::with_netlink(StatusCode::INTERNAL_SERVER_ERROR, move |nl| {
        let attached =
            crate::attach::list(nl, crate::BRIDGE).map_err(|e| format!("listing attached targets: {e}"))?;
        Ok(check::check(&ipam, &attached))
    })
    .await?;
    Ok(Json(report))
}

/// Leaves the cluster: hands this peer's IPAM space to a live peer, removes the bridge, its
/// devices, the firewall rules and the persisted data, and stops the daemon.
#[utoipa::path(post, path = "/api/v1/reset", tag = "daemon",
    responses((status = 202, description = "Reset done; the daemon is stopping", body = ResetResult)))]
async fn reset(State(d): State<AppState>) -> Result<(StatusCode, Json<ResetResult>), ApiFailure> {
    let handed_over = hand_over(&d).await?;
    let dir = d.config.data_dir.clone();
    let (removed, failures) =
        super::blocking(StatusCode::INTERNAL_SERVER_ERROR, move || Ok(crate::daemon::reset_host(&dir)))
            .await?;
    d.request_reset();
    let name = d.identity.name.to_string();
    Ok((StatusCode::ACCEPTED, Json(ResetResult { name, handed_over, removed, failures })))
}

/// IPAM shutdown, then until the news has left: written to every connection and acknowledged
/// by the peer at its other end (bounded, so a stuck connection cannot hold up the reset).
async fn hand_over(d: &AppState) -> Result<u64, ApiFailure> {
    let Some(ipam) = &d.ipam else { return Ok(0) };
    let n = ipam.shutdown().await.map_err(failure)?;
    if n > 0 && tokio::time::timeout(HANDOVER_LIMIT, d.mesh.flush_gossip()).await.is_err() {
        tracing::warn!(
            "IPAM handover: gossip not flushed within {}s; resetting anyway",
            HANDOVER_LIMIT.as_secs()
        );
    }
    Ok(n)
}

// ---- Weave's endpoints ----

pub fn legacy_routes() -> Router<AppState> {
    Router::new()
        .route("/ipinfo/defaultsubnet", get(default_subnet))
        .route("/ipinfo/tracker", get(tracker))
        .route("/ip", get(ip_all))
        .route("/ip/{id}", get(ip_lookup).post(ip_allocate).delete(ip_delete))
        .route("/ip/{id}/{ip}", delete(ip_free))
        .route("/ip/{id}/{ip}/{prefixlen}", get(ip_lookup_in).post(ip_allocate_in).put(ip_claim))
        .route("/ring", get(ring))
        .route("/peer", delete(peer_shutdown))
        .route("/peer/{id}", delete(peer_takeover))
}

fn text(code: StatusCode, body: String) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Go's `http.Error`.
fn http_error(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        format!("{msg}\n"),
    )
        .into_response()
}

fn not_found() -> Response {
    http_error(StatusCode::NOT_FOUND, "404 page not found")
}

/// The failure as Weave answers it: 200 `cancelled`, else 400 with the (prefixed) error.
fn legacy_failure(e: IpamFailure, prefix: &str) -> Response {
    match e {
        IpamFailure::Op(OpError::Cancelled { .. }) => text(StatusCode::OK, "cancelled".into()),
        IpamFailure::Op(op) => http_error(StatusCode::BAD_REQUEST, &format!("{prefix}{op}")),
        IpamFailure::Stopping | IpamFailure::Stuck(_) => {
            http_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        IpamFailure::Persist(_) => http_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn flag(q: &[(String, String)], key: &str) -> bool {
    q.iter().any(|(k, v)| k == key && v == "true")
}

/// Weave's form values: the query string and an urlencoded body.
fn form(mut q: Vec<(String, String)>, body: &str) -> Vec<(String, String)> {
    q.extend(serde_urlencoded::from_str::<Vec<(String, String)>>(body).unwrap_or_default());
    q
}

fn write_addresses(cidrs: &[Cidr]) -> Response {
    let body: Vec<String> = cidrs.iter().map(|c| c.to_string()).collect();
    text(StatusCode::OK, body.join(" "))
}

async fn default_subnet(State(d): State<AppState>) -> Response {
    match &d.ipam {
        Some(i) => text(StatusCode::OK, i.default_subnet().to_string()),
        None => not_found(),
    }
}

async fn tracker(State(d): State<AppState>) -> Response {
    match &d.ipam {
        Some(_) => text(StatusCode::OK, "\n".into()),
        None => not_found(),
    }
}

async fn ip_all(State(d): State<AppState>) -> Response {
    #[derive(serde::Serialize)]
    struct Mapping {
        containerid: String,
        addrs: Vec<String>,
    }
    #[derive(serde::Serialize)]
    struct Mappings {
        /// `null` when empty, as Go's nil slice.
        owned: Option<Vec<Mapping>>,
    }
    let Some(ipam) = &d.ipam else { return not_found() };
    let owned: Vec<Mapping> = ipam
        .owned()
        .into_iter()
        .map(|(id, data)| Mapping {
            containerid: id,
            addrs: data.cidrs.iter().map(|c| c.to_string()).collect(),
        })
        .collect();
    let m = Mappings { owned: (!owned.is_empty()).then_some(owned) };
    let body = serde_json::to_string(&m).unwrap_or_default() + "\n";
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The 400 for an unusable owner identifier, if it is one.
fn legacy_ident(id: &str) -> Option<Response> {
    check_ident(id).err().map(|e| http_error(StatusCode::BAD_REQUEST, &e))
}

async fn ip_lookup(State(d): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(ipam) = &d.ipam else { return not_found() };
    write_addresses(&ipam.lookup(&id, ipam.default_subnet()))
}

async fn ip_lookup_in(
    State(d): State<AppState>,
    Path((id, ip, len)): Path<(String, String, String)>,
) -> Response {
    let Some(ipam) = &d.ipam else { return not_found() };
    match parse_subnet(&format!("{ip}/{len}")) {
        Ok(subnet) => write_addresses(&ipam.lookup(&id, subnet)),
        Err(e) => http_error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn legacy_allocate(d: &AppState, id: &str, subnet: Option<Cidr>, q: &[(String, String)]) -> Response {
    let Some(ipam) = &d.ipam else { return not_found() };
    if let Some(r) = legacy_ident(id) {
        return r;
    }
    let subnet = subnet.unwrap_or(ipam.default_subnet());
    match ipam.allocate(id, subnet, flag(q, "check-alive")).await {
        Ok(c) => text(StatusCode::OK, c.to_string()),
        Err(e) => legacy_failure(e, ""),
    }
}

async fn ip_allocate(
    State(d): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    legacy_allocate(&d, &id, None, &form(q, &body)).await
}

async fn ip_allocate_in(
    State(d): State<AppState>,
    Path((id, ip, len)): Path<(String, String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    if d.ipam.is_none() {
        return not_found();
    }
    match parse_subnet(&format!("{ip}/{len}")) {
        Ok(subnet) => legacy_allocate(&d, &id, Some(subnet), &form(q, &body)).await,
        Err(e) => http_error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn ip_claim(
    State(d): State<AppState>,
    Path((id, ip, len)): Path<(String, String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    let Some(ipam) = &d.ipam else { return not_found() };
    if let Some(r) = legacy_ident(&id) {
        return r;
    }
    let cidr: Cidr = match format!("{ip}/{len}").parse() {
        Ok(c) => c,
        Err(e) => return http_error(StatusCode::BAD_REQUEST, &format!("{e}")),
    };
    let f = form(q, &body);
    match ipam.claim(&id, cidr, flag(&f, "check-alive"), flag(&f, "noErrorOnUnknown")).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => legacy_failure(e, "Unable to claim: "),
    }
}

async fn ip_free(State(d): State<AppState>, Path((id, ip)): Path<(String, String)>) -> Response {
    let Some(ipam) = &d.ipam else { return not_found() };
    let addr: Address = match ip.parse() {
        Ok(a) => a,
        Err(e) => return http_error(StatusCode::BAD_REQUEST, &format!("{e}")),
    };
    match ipam.free(&id, addr).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => legacy_failure(e, "Unable to free: "),
    }
}

async fn ip_delete(State(d): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(ipam) = &d.ipam else { return not_found() };
    match ipam.delete(&id).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => legacy_failure(e, ""),
    }
}

async fn ring(State(d): State<AppState>) -> Response {
    let Some(ipam) = &d.ipam else { return not_found() };
    match ipam.prime().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => legacy_failure(e, ""),
    }
}

/// `DELETE /peer`: hand our space to an heir (Weave's `Shutdown`); the daemon keeps running.
async fn peer_shutdown(State(d): State<AppState>) -> Response {
    if let Some(ipam) = &d.ipam {
        if let Err(e) = ipam.shutdown().await {
            return legacy_failure(e, "");
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /peer/{id}`: rmpeer, as Weave (no reachability check, 0 for unknown peers).
async fn peer_takeover(State(d): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(ipam) = &d.ipam else { return StatusCode::OK.into_response() };
    match ipam.takeover(&id).await {
        Ok(n) => text(StatusCode::OK, format!("{n} IPs taken over from {id}\n")),
        Err(e) => legacy_failure(e, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_arguments_parse_as_weave() {
        assert_eq!(parse_spec("net:default"), Ok(AddrSpec::Default));
        assert_eq!(parse_spec("net:10.32.0.0/24"), Ok(AddrSpec::Net("10.32.0.0/24".parse().unwrap())));
        assert_eq!(parse_spec("ip:10.32.0.5/12"), Ok(AddrSpec::Ip("10.32.0.5/12".parse().unwrap())));
        assert_eq!(parse_spec("10.32.0.5/12"), Ok(AddrSpec::Ip("10.32.0.5/12".parse().unwrap())));
        assert!(parse_spec("net:10.32.0.1/24")
            .unwrap_err()
            .contains("bits after network prefix are not all zero"));
        assert!(parse_spec("net:10.32.0.0/31").unwrap_err().contains("smaller than minimum size 4"));
        assert!(parse_spec("10.32.0.5").unwrap_err().contains("expected net:default"));
        assert!(parse_spec("ip:999.1.1.1/8").is_err());
        assert_eq!(parse_subnet("x/8").unwrap_err(), "invalid CIDR address: x/8");
    }
}

/// In-process tests of the IPAM endpoints: a one-peer daemon seeded with itself, so the ring
/// exists at once; requests go through the real router.
#[cfg(test)]
mod http_tests {
    use super::super::testkit::{self, call, TestDaemon, With};
    use super::*;
    use axum::body::Body;
    use axum::http::Request;

    async fn daemon(tag: &str, extra: &[&str]) -> TestDaemon {
        let t = testkit::daemon(&format!("ipam-{tag}"), extra, With::Ipam).await;
        t.daemon.set_ready();
        t
    }

    async fn seeded(tag: &str) -> TestDaemon {
        daemon(tag, &["--ipalloc-init", "seed=02:00:00:00:00:0a"]).await
    }

    fn req(method: &str, path: &str) -> Request<Body> {
        Request::builder().method(method).uri(path).body(Body::empty()).unwrap()
    }

    fn json(path: &str, body: &str) -> Request<Body> {
        Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    fn vector(name: &str) -> String {
        let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/weave-2.8/http")
            .join(name);
        std::fs::read_to_string(p).unwrap()
    }

    #[tokio::test]
    async fn weaves_ip_endpoints_answer_as_the_captured_weaver() {
        let t = seeded("legacy").await;
        let d = &t.daemon;
        let (code, body) = call(d, req("POST", "/ip/testcontainer")).await;
        assert_eq!((code, body.as_str()), (StatusCode::OK, "10.32.0.1/12"));
        // Asking again gives the same address.
        let (_, body) = call(d, req("POST", "/ip/testcontainer")).await;
        assert_eq!(body, "10.32.0.1/12");
        assert_eq!(call(d, req("GET", "/ip")).await, (StatusCode::OK, vector("A_ip_json.body")));
        assert_eq!(
            call(d, req("GET", "/ip/testcontainer")).await,
            (StatusCode::OK, vector("A_ip_testcontainer.body"))
        );
        assert_eq!(
            call(d, req("GET", "/ipinfo/defaultsubnet")).await,
            (StatusCode::OK, vector("A_ipinfo_defaultsubnet.body"))
        );
        assert_eq!(call(d, req("GET", "/ipinfo/tracker")).await, (StatusCode::OK, "\n".into()));
        assert_eq!(
            call(d, req("DELETE", "/ip/nonexistent")).await,
            (StatusCode::BAD_REQUEST, vector("A_err_delete_ip_nonexistent.body"))
        );
        assert_eq!(
            call(d, req("POST", "/ip/x/192.168.0.0/24")).await,
            (StatusCode::BAD_REQUEST, vector("A_err_ip_outside_range.body"))
        );
        assert_eq!(call(d, req("GET", "/ring")).await, (StatusCode::OK, String::new()));
        let (code, body) = call(d, req("GET", "/status/ipam")).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, "02:00:00:00:00:0a(hostA)               1048576 IPs (100.0% of total) (1 active)\n");
        // Claims, subnets, frees.
        assert_eq!(call(d, req("PUT", "/ip/c2/10.32.0.9/12")).await.0, StatusCode::NO_CONTENT);
        let (code, body) = call(d, req("PUT", "/ip/c3/10.32.0.9/12")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(body, "Unable to claim: address 10.32.0.9/12 is already owned by c2\n");
        let (code, body) = call(d, req("POST", "/ip/c4/10.33.0.0/24")).await;
        assert_eq!((code, body.as_str()), (StatusCode::OK, "10.33.0.1/24"));
        assert_eq!(call(d, req("GET", "/ip/c4/10.33.0.0/24")).await.1, "10.33.0.1/24");
        let (code, body) = call(d, req("POST", "/ip/c4/10.33.0.1/24")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(body, "invalid subnet - bits after network prefix are not all zero: 10.33.0.1/24\n");
        let (code, body) = call(d, req("POST", "/ip/c4/10.33.0.0/31")).await;
        assert_eq!(
            (code, body.as_str()),
            (StatusCode::BAD_REQUEST, "invalid subnet - smaller than minimum size 4: 10.33.0.0/31\n")
        );
        let (code, body) = call(d, req("DELETE", "/ip/c4/10.33.0.7")).await;
        assert_eq!(
            (code, body.as_str()),
            (StatusCode::BAD_REQUEST, "Unable to free: Free: address 10.33.0.7 not found for c4\n")
        );
        let (code, body) = call(d, req("DELETE", "/ip/c4/nonsense")).await;
        assert_eq!((code, body.as_str()), (StatusCode::BAD_REQUEST, "invalid IP address: nonsense\n"));
        assert_eq!(call(d, req("DELETE", "/ip/c4/10.33.0.1")).await.0, StatusCode::NO_CONTENT);
        assert_eq!(call(d, req("DELETE", "/ip/c2")).await.0, StatusCode::NO_CONTENT);
        // rmpeer of an unknown peer, as Weave.
        assert_eq!(
            call(d, req("DELETE", "/peer/nobody")).await,
            (StatusCode::OK, "0 IPs taken over from nobody\n".into())
        );
    }

    #[tokio::test]
    async fn v1_refuses_bad_input_with_json_errors() {
        let t = seeded("v1bad").await;
        let d = &t.daemon;
        let expect = |(code, body): (StatusCode, String), want: StatusCode, text: &str| {
            assert_eq!(code, want, "{body}");
            let e: ApiError = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
            assert!(e.error.contains(text), "{e:?} should say {text:?}");
        };
        expect(
            call(d, json("/api/v1/ipam/allocate", r#"{"ident":"a","subnet":"192.168.0.0/24"}"#)).await,
            StatusCode::BAD_REQUEST,
            "range 192.168.0.0/24 out of bounds: 10.32.0.0/12",
        );
        expect(
            call(d, json("/api/v1/ipam/allocate", r#"{"ident":"a","subnet":"10.32.0.300/24"}"#)).await,
            StatusCode::BAD_REQUEST,
            "invalid CIDR address: 10.32.0.300/24",
        );
        let huge = format!(r#"{{"ident":"{}"}}"#, "x".repeat(MAX_IDENT_LEN + 1));
        expect(
            call(d, json("/api/v1/ipam/allocate", &huge)).await,
            StatusCode::BAD_REQUEST,
            "identifier too long",
        );
        expect(
            call(d, json("/api/v1/ipam/allocate", r#"{"ident":""}"#)).await,
            StatusCode::BAD_REQUEST,
            "must not be empty",
        );
        let (code, body) = call(d, json("/api/v1/ipam/allocate", r#"{"ident": 5}"#)).await;
        assert!(code.is_client_error(), "{code}");
        assert!(serde_json::from_str::<ApiError>(&body).is_ok(), "{body}");
        expect(
            call(d, json("/api/v1/ipam/claim", r#"{"ident":"a","cidr":"10.32.0.5"}"#)).await,
            StatusCode::BAD_REQUEST,
            "invalid CIDR address",
        );
        expect(
            call(d, json("/api/v1/ipam/free", r#"{"ident":"nobody"}"#)).await,
            StatusCode::NOT_FOUND,
            "Delete: no addresses for nobody",
        );
        expect(
            call(d, json("/api/v1/ipam/free", r#"{"ident":"nobody","addrs":["10.32.0.1"]}"#)).await,
            StatusCode::NOT_FOUND,
            "Free: address 10.32.0.1 not found for nobody",
        );
        expect(
            call(d, json("/api/v1/ipam/rmpeer", r#"{"peer":"nobody"}"#)).await,
            StatusCode::NOT_FOUND,
            "unknown peer",
        );
        expect(
            call(d, json("/api/v1/ipam/rmpeer", r#"{"peer":"hostA"}"#)).await,
            StatusCode::BAD_REQUEST,
            "is this peer",
        );
        // Good requests.
        let (code, body) =
            call(d, json("/api/v1/ipam/allocate", r#"{"ident":"a","subnet":"10.32.1.0/24"}"#)).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        let a: Allocated = serde_json::from_str(&body).unwrap();
        assert_eq!(a.cidr, "10.32.1.1/24");
        let (code, body) =
            call(d, json("/api/v1/ipam/claim", r#"{"ident":"a","cidr":"10.32.0.7/12"}"#)).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        expect(
            call(d, json("/api/v1/ipam/claim", r#"{"ident":"b","cidr":"10.32.0.7/12"}"#)).await,
            StatusCode::CONFLICT,
            "already owned by a",
        );
        let (_, body) = call(d, req("GET", "/api/v1/ipam/allocations")).await;
        let all: Vec<Allocation> = serde_json::from_str(&body).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].addrs, ["10.32.1.1/24", "10.32.0.7/12"]);
        let (code, body) = call(d, json("/api/v1/ipam/free", r#"{"ident":"a","addrs":["10.32.0.7"]}"#)).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        let f: Freed = serde_json::from_str(&body).unwrap();
        assert_eq!(f.freed, ["10.32.0.7/12"]);
        let (_, body) = call(d, req("GET", "/api/v1/ipam")).await;
        let info: IpamInfo = serde_json::from_str(&body).unwrap();
        assert_eq!(info.state, "ready");
        assert_eq!(info.status.active_ips, 1);
        let (code, body) = call(d, json("/api/v1/ipam/prime", "")).await;
        assert_eq!(
            (code, serde_json::from_str::<Primed>(&body).unwrap().state.as_str()),
            (StatusCode::OK, "ready")
        );
    }

    #[tokio::test]
    async fn allocations_are_announced_on_the_event_stream() {
        let t = seeded("events").await;
        let resp = testkit::send(&t.daemon, req("GET", "/api/v1/events")).await;
        let mut body = resp.into_body();
        let (code, _) = call(&t.daemon, req("POST", "/ip/ev1")).await;
        assert_eq!(code, StatusCode::OK);
        let seen = testkit::read_events(&mut body, |s| s.contains("event: allocation_added")).await;
        let line = seen.lines().skip_while(|l| *l != "event: allocation_added").nth(1).unwrap();
        let e: Event = serde_json::from_str(line.trim_start_matches("data: ")).unwrap();
        assert_eq!(e, Event::AllocationAdded { ident: "ev1".into(), cidr: "10.32.0.1/12".into() });
    }

    #[tokio::test]
    async fn a_disabled_ipam_answers_404_in_each_dialect() {
        let t = daemon("disabled", &["--ipalloc-range", ""]).await;
        let d = &t.daemon;
        let (code, body) = call(d, req("GET", "/api/v1/ipam")).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        let e: ApiError = serde_json::from_str(&body).unwrap();
        assert_eq!(e.hint.as_deref(), Some(weave_api::client::DISABLED_HINT));
        assert_eq!(call(d, req("GET", "/ip")).await, (StatusCode::NOT_FOUND, "404 page not found\n".into()));
        assert_eq!(call(d, req("POST", "/ip/x")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(d, req("GET", "/status/ipam")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(d, req("DELETE", "/peer")).await.0, StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn an_address_is_on_disk_when_it_is_answered() {
        let t = seeded("persist").await;
        assert_eq!(call(&t.daemon, req("POST", "/ip/keep")).await.1, "10.32.0.1/12");
        let p = crate::ipam::load(&t.daemon.store).unwrap().unwrap();
        assert_eq!(p.owned["keep"].cidrs[0].to_string(), "10.32.0.1/12");
        assert!(p.ring.is_some_and(|r| !r.is_empty()));
    }

    /// A full subnet: Weave's endpoint waits (as Weave), the v1 API says why at once.
    #[tokio::test]
    async fn an_exhausted_subnet_is_explained_not_waited_on() {
        let t = seeded("full").await;
        let d = &t.daemon;
        for id in ["f1", "f2"] {
            assert_eq!(call(d, req("POST", &format!("/ip/{id}/10.33.0.0/30"))).await.0, StatusCode::OK);
        }
        let body = r#"{"ident":"f3","subnet":"10.33.0.0/30"}"#;
        let (code, body) =
            tokio::time::timeout(Duration::from_secs(10), call(d, json("/api/v1/ipam/allocate", body)))
                .await
                .expect("an answer, not a wait");
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let e: ApiError = serde_json::from_str(&body).unwrap();
        assert_eq!(e.error, "no free address in 10.33.0.0/30: all 2 are in use");
        assert!(e.hint.unwrap().contains("weave detach"));
        let legacy = call(d, req("POST", "/ip/f3/10.33.0.0/30"));
        assert!(
            tokio::time::timeout(Duration::from_millis(2500), legacy).await.is_err(),
            "Weave's endpoint waits"
        );
        // Once an address is free again, the same request succeeds.
        assert_eq!(call(d, req("DELETE", "/ip/f1")).await.0, StatusCode::NO_CONTENT);
        let (code, body) =
            call(d, json("/api/v1/ipam/allocate", r#"{"ident":"f3","subnet":"10.33.0.0/30"}"#)).await;
        assert_eq!(code, StatusCode::OK, "{body}");
    }

    /// Concurrent requests share commits: still, each answer is on disk when it arrives, and
    /// no two answers are the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_answers_are_each_on_disk_and_unique() {
        let t = seeded("group").await;
        let jobs: Vec<_> = (0..48)
            .map(|i| {
                let d = t.daemon.clone();
                tokio::spawn(async move {
                    let ident = format!("g{i}");
                    let (code, cidr) = call(&d, req("POST", &format!("/ip/{ident}"))).await;
                    assert_eq!(code, StatusCode::OK, "{cidr}");
                    let p = crate::ipam::load(&d.store).unwrap().unwrap();
                    let stored = p.owned.get(&ident).map(|o| o.cidrs[0].to_string());
                    assert_eq!(
                        stored.as_deref(),
                        Some(cidr.as_str()),
                        "{ident} answered before it was durable"
                    );
                    cidr
                })
            })
            .collect();
        let mut all = std::collections::BTreeSet::new();
        for j in jobs {
            let cidr = j.await.unwrap();
            assert!(all.insert(cidr.clone()), "{cidr} handed out twice");
        }
        assert_eq!(all.len(), 48);
    }
}
