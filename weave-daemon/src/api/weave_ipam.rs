//! Weave Net's own IPAM endpoints, with Weave's paths, plain-text bodies and status codes
//! (`/ip...`, `/ring`, `/ipinfo/...`, `/peer...`): thin adapters over the daemon's IPAM.

use super::{AppState, IpamApi};
use crate::ipam::{check_ident, parse_subnet, IpamFailure};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::Router;
use weave_ipam::{Address, Cidr, OpError};

pub fn routes() -> Router<AppState> {
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

async fn default_subnet(State(ipam): State<IpamApi>) -> Response {
    match &ipam.0 {
        Some(i) => text(StatusCode::OK, i.default_subnet().to_string()),
        None => not_found(),
    }
}

async fn tracker(State(ipam): State<IpamApi>) -> Response {
    match &ipam.0 {
        Some(_) => text(StatusCode::OK, "\n".into()),
        None => not_found(),
    }
}

async fn ip_all(State(ipam): State<IpamApi>) -> Response {
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
    let Some(ipam) = &ipam.0 else { return not_found() };
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

async fn ip_lookup(State(ipam): State<IpamApi>, Path(id): Path<String>) -> Response {
    let Some(ipam) = &ipam.0 else { return not_found() };
    write_addresses(&ipam.lookup(&id, ipam.default_subnet()))
}

async fn ip_lookup_in(
    State(ipam): State<IpamApi>,
    Path((id, ip, len)): Path<(String, String, String)>,
) -> Response {
    let Some(ipam) = &ipam.0 else { return not_found() };
    match parse_subnet(&format!("{ip}/{len}")) {
        Ok(subnet) => write_addresses(&ipam.lookup(&id, subnet)),
        Err(e) => http_error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn legacy_allocate(ipam: &IpamApi, id: &str, subnet: Option<Cidr>, q: &[(String, String)]) -> Response {
    let Some(ipam) = &ipam.0 else { return not_found() };
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
    State(ipam): State<IpamApi>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    legacy_allocate(&ipam, &id, None, &form(q, &body)).await
}

async fn ip_allocate_in(
    State(ipam): State<IpamApi>,
    Path((id, ip, len)): Path<(String, String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    if ipam.0.is_none() {
        return not_found();
    }
    match parse_subnet(&format!("{ip}/{len}")) {
        Ok(subnet) => legacy_allocate(&ipam, &id, Some(subnet), &form(q, &body)).await,
        Err(e) => http_error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn ip_claim(
    State(ipam): State<IpamApi>,
    Path((id, ip, len)): Path<(String, String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    let Some(ipam) = &ipam.0 else { return not_found() };
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

async fn ip_free(State(ipam): State<IpamApi>, Path((id, ip)): Path<(String, String)>) -> Response {
    let Some(ipam) = &ipam.0 else { return not_found() };
    let addr: Address = match ip.parse() {
        Ok(a) => a,
        Err(e) => return http_error(StatusCode::BAD_REQUEST, &format!("{e}")),
    };
    match ipam.free(&id, addr).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => legacy_failure(e, "Unable to free: "),
    }
}

async fn ip_delete(State(ipam): State<IpamApi>, Path(id): Path<String>) -> Response {
    let Some(ipam) = &ipam.0 else { return not_found() };
    match ipam.delete(&id).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => legacy_failure(e, ""),
    }
}

async fn ring(State(ipam): State<IpamApi>) -> Response {
    let Some(ipam) = &ipam.0 else { return not_found() };
    match ipam.prime().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => legacy_failure(e, ""),
    }
}

/// `DELETE /peer`: hand our space to an heir (Weave's `Shutdown`); the daemon keeps running.
async fn peer_shutdown(State(ipam): State<IpamApi>) -> Response {
    if let Some(ipam) = &ipam.0 {
        if let Err(e) = ipam.shutdown().await {
            return legacy_failure(e, "");
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /peer/{id}`: rmpeer, as Weave (no reachability check, 0 for unknown peers).
async fn peer_takeover(State(ipam): State<IpamApi>, Path(id): Path<String>) -> Response {
    let Some(ipam) = &ipam.0 else { return StatusCode::OK.into_response() };
    match ipam.takeover(&id).await {
        Ok(n) => text(StatusCode::OK, format!("{n} IPs taken over from {id}\n")),
        Err(e) => legacy_failure(e, ""),
    }
}

/// Weave's endpoints against the bodies a real weaver answered (testdata/weave-2.8).
#[cfg(test)]
mod tests {
    use super::super::testkit::{call, req, seeded};
    use super::*;

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
}
