//! IPAM over HTTP, `/api/v1/ipam...` (JSON). Weave's own IPAM endpoints are in
//! `weave_ipam`; `/api/v1/reset` is the daemon's (`v1`).

use super::{ApiFailure, AppState, AttachApi, IpamApi};
use crate::ipam::{check, check_ident, parse_subnet};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;
use weave_ipam::{Address, Cidr};

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
}

/// A body that is not the JSON asked for: 400 (415 without the JSON type), as every endpoint.
pub(super) fn bad_json(e: JsonRejection) -> ApiFailure {
    let status = match e.status() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY => axum::http::StatusCode::BAD_REQUEST,
        s => s,
    };
    ApiFailure::new(status, e.body_text()).hint("see /api/v1/openapi.json for the request body")
}

/// IPAM as this peer sees it: the ring, allocations, pending requests, refused gossip.
#[utoipa::path(get, path = "/api/v1/ipam", tag = "ipam",
    responses((status = 200, description = "IPAM status", body = IpamInfo),
        (status = 404, description = "IPAM is disabled", body = ApiError)))]
async fn info(State(ipam): State<IpamApi>) -> Result<Json<IpamInfo>, ApiFailure> {
    Ok(Json(ipam.get()?.info()))
}

/// Addresses this peer has handed out, by owner.
#[utoipa::path(get, path = "/api/v1/ipam/allocations", tag = "ipam",
    responses((status = 200, description = "Allocations", body = Vec<Allocation>),
        (status = 404, description = "IPAM is disabled", body = ApiError)))]
async fn allocations(State(ipam): State<IpamApi>) -> Result<Json<Vec<Allocation>>, ApiFailure> {
    let owned = ipam.get()?.owned();
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
    State(ipam): State<IpamApi>,
    req: Result<Json<AllocateRequest>, JsonRejection>,
) -> Result<Json<Allocated>, ApiFailure> {
    let Json(req) = req.map_err(bad_json)?;
    let ipam = ipam.get()?;
    check_ident(&req.ident).map_err(ApiFailure::bad_request)?;
    let subnet = match &req.subnet {
        None => ipam.default_subnet(),
        Some(s) => parse_subnet(s).map_err(ApiFailure::bad_request)?,
    };
    let cidr = ipam.allocate_or_explain(&req.ident, subnet, req.is_container).await?;
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
    State(ipam): State<IpamApi>,
    req: Result<Json<ClaimRequest>, JsonRejection>,
) -> Result<Json<Allocated>, ApiFailure> {
    let Json(req) = req.map_err(bad_json)?;
    let ipam = ipam.get()?;
    check_ident(&req.ident).map_err(ApiFailure::bad_request)?;
    let cidr: Cidr = req.cidr.parse().map_err(|e: weave_ipam::address::ParseError| {
        ApiFailure::bad_request(e.to_string())
            .hint("give the address with its prefix length, such as 10.32.0.5/12")
    })?;
    ipam.claim(&req.ident, cidr, req.is_container, req.no_error_on_unknown).await?;
    Ok(Json(Allocated { ident: req.ident, cidr: cidr.to_string() }))
}

/// Releases addresses of an owner (all of them when none are given).
#[utoipa::path(post, path = "/api/v1/ipam/free", tag = "ipam", request_body = FreeRequest,
    responses((status = 200, description = "What was released", body = Freed),
        (status = 400, description = "Bad address", body = ApiError),
        (status = 404, description = "Unknown owner or address, or IPAM disabled", body = ApiError)))]
async fn free(
    State(ipam): State<IpamApi>,
    req: Result<Json<FreeRequest>, JsonRejection>,
) -> Result<Json<Freed>, ApiFailure> {
    let Json(req) = req.map_err(bad_json)?;
    let ipam = ipam.get()?;
    check_ident(&req.ident).map_err(ApiFailure::bad_request)?;
    if req.addrs.is_empty() {
        let cidrs = ipam.delete(&req.ident).await?;
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
        ipam.free(&req.ident, addr).await?;
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
async fn prime(State(ipam): State<IpamApi>) -> Result<Json<Primed>, ApiFailure> {
    let ipam = ipam.get()?;
    ipam.prime().await?;
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
    State(ipam): State<IpamApi>,
    req: Result<Json<RmpeerRequest>, JsonRejection>,
) -> Result<Json<RmpeerResult>, ApiFailure> {
    let Json(req) = req.map_err(bad_json)?;
    let ipam = ipam.get()?;
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
    let n = ipam.takeover(&req.peer).await?;
    Ok(Json(RmpeerResult { peer: req.peer, taken_over: u64::from(n) }))
}

/// What is wrong with IPAM from this peer's view, each with the command that fixes it.
#[utoipa::path(get, path = "/api/v1/ipam/check", tag = "ipam",
    responses((status = 200, description = "The check's findings", body = IpamCheck),
        (status = 404, description = "IPAM is disabled", body = ApiError)))]
async fn check_(
    State(ipam): State<IpamApi>,
    State(attach): State<AttachApi>,
) -> Result<Json<IpamCheck>, ApiFailure> {
    let ipam = ipam.get()?.clone();
    let attached = attach.list().await.map_err(|e| {
        ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, format!("listing attached targets: {e}"))
    })?;
    let carried: Vec<_> = attached.iter().map(|a| (a.id.as_str(), a.addrs.as_slice())).collect();
    Ok(Json(check::check(&ipam, &carried, crate::attach::target::id_exists)))
}

/// In-process tests of the IPAM endpoints: a one-peer daemon seeded with itself, so the ring
/// exists at once; requests go through the real router.
#[cfg(test)]
mod http_tests {
    use super::super::testkit::{self, call};
    use super::*;
    use crate::ipam::MAX_IDENT_LEN;
    use std::time::Duration;

    use testkit::{ipam_daemon as daemon, json, req, seeded};

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
