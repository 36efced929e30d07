//! weaveDNS over HTTP: `/api/v1/dns...` (JSON) and Weave's own endpoints with Weave's paths,
//! bodies and status codes (`/name...`, `/domain`, `/dns-address`, `/dns-address-port`).

use super::form::Form;
use super::{ApiFailure, AppState, DnsApi};
use crate::dns::{api_entry, Dns, EXTERN_ID};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(add))
        .routes(routes!(remove))
        .routes(routes!(lookup))
}

fn parse_addrs(addrs: &[String]) -> Result<Vec<Ipv4Addr>, ApiFailure> {
    addrs
        .iter()
        .map(|a| {
            a.split('/').next().unwrap_or(a).parse::<Ipv4Addr>().map_err(|_| {
                ApiFailure::bad_request(format!("invalid IPv4 address {a:?}"))
                    .hint("give addresses as 10.32.0.1")
            })
        })
        .collect()
}

/// The configuration and every entry (tombstones included).
#[utoipa::path(get, path = "/api/v1/dns", tag = "dns",
    responses((status = 200, description = "weaveDNS on this peer", body = DnsInfo),
        (status = 404, description = "DNS is disabled (--no-dns)", body = ApiError)))]
async fn info(State(d): State<DnsApi>) -> Result<Json<DnsInfo>, ApiFailure> {
    let dns = d.get()?;
    Ok(Json(DnsInfo {
        domain: dns.responder().domain().to_string(),
        address: dns.config.listen.to_string(),
        ttl: dns.config.ttl,
        upstream: dns.upstream().iter().map(|s| s.to_string()).collect(),
        entries: dns.read().entries().iter().map(api_entry).collect(),
    }))
}

/// Registers a name for addresses (a single label is qualified with the domain); the change
/// is gossiped to every peer.
#[utoipa::path(post, path = "/api/v1/dns/entries", tag = "dns", request_body = DnsAddRequest,
    responses((status = 200, description = "The entries as registered", body = DnsChange),
        (status = 400, description = "A bad address, or a name outside the DNS domain", body = ApiError),
        (status = 404, description = "DNS is disabled (--no-dns)", body = ApiError)))]
async fn add(State(d): State<DnsApi>, Json(req): Json<DnsAddRequest>) -> Result<Json<DnsChange>, ApiFailure> {
    let dns = d.get()?;
    let addrs = parse_addrs(&req.addrs)?;
    if addrs.is_empty() {
        return Err(ApiFailure::bad_request("no addresses given"));
    }
    let name = dns.name_in_domain(&req.hostname).map_err(ApiFailure::bad_request)?;
    let container = req.container_id.as_deref().unwrap_or(EXTERN_ID);
    let mut entries = vec![];
    for a in addrs {
        if let Some(e) = dns.add(&name, container, a).await {
            entries.push(api_entry(&e));
        }
    }
    Ok(Json(DnsChange { entries }))
}

/// Removes this peer's live entries matching every given field (name, any of the addresses,
/// container); the change is gossiped to every peer.
#[utoipa::path(post, path = "/api/v1/dns/remove", tag = "dns", request_body = DnsRemoveRequest,
    responses((status = 200, description = "The entries removed", body = DnsChange),
        (status = 400, description = "A bad address", body = ApiError),
        (status = 404, description = "DNS is disabled (--no-dns)", body = ApiError)))]
async fn remove(
    State(d): State<DnsApi>,
    Json(req): Json<DnsRemoveRequest>,
) -> Result<Json<DnsChange>, ApiFailure> {
    let dns = d.get()?;
    let addrs = parse_addrs(&req.addrs)?;
    let name = req.hostname.as_deref().map(|h| dns.qualify(h));
    let container = req.container_id.as_deref();
    let mut removed = vec![];
    if addrs.is_empty() {
        removed = dns.delete(name.as_deref(), container, None).await;
    }
    for a in addrs {
        removed.extend(dns.delete(name.as_deref(), container, Some(a)).await);
    }
    Ok(Json(DnsChange { entries: removed.iter().map(api_entry).collect() }))
}

/// The live addresses of a name, from the entries (a single label is qualified).
#[utoipa::path(get, path = "/api/v1/dns/lookup", tag = "dns",
    params(("name" = String, Query, description = "The name to look up")),
    responses((status = 200, description = "Its addresses", body = DnsLookup),
        (status = 400, description = "No name given", body = ApiError),
        (status = 404, description = "DNS is disabled (--no-dns)", body = ApiError)))]
async fn lookup(
    State(d): State<DnsApi>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<DnsLookup>, ApiFailure> {
    let dns = d.get()?;
    let name = q.get("name").filter(|n| !n.is_empty()).cloned();
    let name = name.ok_or_else(|| ApiFailure::bad_request("give the name to look up: ?name=NAME"))?;
    let addrs = dns.lookup(&name).iter().map(|a| a.to_string()).collect();
    Ok(Json(DnsLookup { name, addrs }))
}

// ---- Weave's endpoints ----

pub fn legacy_routes() -> Router<AppState> {
    Router::new()
        .route("/domain", get(domain))
        .route("/dns-address", get(dns_address))
        .route("/dns-address-port", get(dns_address_port))
        .route("/name", get(name_json).delete(name_delete))
        .route("/name/{container}", delete(name_delete))
        .route("/name/{container}/{ip}", put(name_put).delete(name_delete))
}

fn text(code: StatusCode, body: String) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Weave registers these routes only with DNS on: Go's 404 otherwise.
fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found\n".into())
}

/// Go's `address.ParseIP` (IPv4 only).
fn parse_ip(s: &str) -> Option<Ipv4Addr> {
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => Some(a),
        _ => None,
    }
}

/// Its error, as Go's `http.Error` prints it.
fn bad_ip(s: &str) -> Response {
    text(StatusCode::BAD_REQUEST, format!("invalid IP Address: {s}\n"))
}

async fn domain(State(d): State<DnsApi>) -> Response {
    match d.0.as_ref() {
        Some(dns) => text(StatusCode::OK, dns.config.domain.clone()),
        None => not_found(),
    }
}

/// The IP containers should use: the listen IP, or where that is unspecified the bridge's
/// first address, else 127.0.0.1.
fn advertised_ip(dns: &Dns) -> IpAddr {
    let ip = dns.config.listen.ip();
    if !ip.is_unspecified() {
        return ip;
    }
    let bridge = weave_netdev::Netlink::open().ok().and_then(|mut nl| {
        let link = nl.link_by_name(crate::BRIDGE).ok()??;
        nl.addresses(link.index).ok()?.first().map(|n| n.addr())
    });
    IpAddr::V4(bridge.unwrap_or(Ipv4Addr::LOCALHOST))
}

async fn dns_address(State(d): State<DnsApi>) -> Response {
    match d.0.as_ref() {
        Some(dns) => text(StatusCode::OK, advertised_ip(dns).to_string()),
        None => not_found(),
    }
}

async fn dns_address_port(State(d): State<DnsApi>) -> Response {
    match d.0.as_ref() {
        Some(dns) => {
            let addr = std::net::SocketAddr::new(advertised_ip(dns), dns.config.listen.port());
            text(StatusCode::OK, addr.to_string())
        }
        None => not_found(),
    }
}

/// `GET /name` with `Accept: application/json`: every entry as Weave's JSON (Weave's route
/// exists only with that header).
async fn name_json(State(d): State<DnsApi>, headers: HeaderMap) -> Response {
    let json = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) == Some("application/json");
    match d.0.as_ref() {
        Some(dns) if json => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], dns.name_json()).into_response()
        }
        _ => not_found(),
    }
}

/// `PUT /name/{container}/{ip}` with `fqdn=`: 204 (a name outside the domain is ignored).
async fn name_put(
    State(d): State<DnsApi>,
    Path((container, ip)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    let Some(dns) = d.0.as_ref() else { return not_found() };
    let Some(ip) = parse_ip(&ip) else { return bad_ip(&ip) };
    let form = match Form::parse(q, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let fqdn = form.value("fqdn");
    // Weave's first weaveDNS refused a missing name; a name with an empty label can never answer.
    if fqdn.is_empty() || fqdn.trim_end_matches('.').split('.').any(str::is_empty) {
        return text(
            StatusCode::BAD_REQUEST,
            format!("Invalid FQDN: {fqdn:?} (give fqdn=NAME.{})\n", dns.config.domain),
        );
    }
    dns.add(fqdn, &container, ip).await;
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /name[/{container}[/{ip}]]` with optional `fqdn=`: 204.
async fn name_delete(
    State(d): State<DnsApi>,
    path: Option<Path<HashMap<String, String>>>,
    Query(q): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    let Some(dns) = d.0.as_ref() else { return not_found() };
    let vars = path.map(|p| p.0).unwrap_or_default();
    let ip = match vars.get("ip") {
        Some(s) => match parse_ip(s) {
            Some(ip) => Some(ip),
            None => return bad_ip(s),
        },
        None => None,
    };
    let form = match Form::parse(q, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let fqdn = form.value("fqdn").to_string();
    let hostname = (!fqdn.is_empty()).then_some(fqdn);
    dns.delete(hostname.as_deref(), vars.get("container").map(String::as_str), ip).await;
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{self, TestDaemon, With};
    use super::*;
    use axum::body::Body;
    use axum::http::Request;

    /// A daemon with weaveDNS state (no DNS sockets), `dns` or not.
    async fn daemon(tag: &str, dns: bool) -> TestDaemon {
        let with = if dns { With::Dns } else { With::Nothing };
        testkit::daemon(&format!("dns-{tag}"), &[], with).await
    }

    async fn call(
        d: &std::sync::Arc<crate::daemon::Daemon>,
        method: &str,
        path: &str,
        accept: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        if body.starts_with('{') {
            req = req.header("Content-Type", "application/json");
        }
        let (status, body) = testkit::call(d, req.body(Body::from(body.to_string())).unwrap()).await;
        (status.as_u16(), body)
    }

    #[tokio::test]
    async fn weaves_name_endpoints() {
        let t = daemon("weave", true).await;
        let d = &t.daemon;
        assert_eq!(call(d, "GET", "/domain", None, "").await, (200, "weave.local.".into()));
        assert_eq!(call(d, "GET", "/name", Some("application/json"), "").await, (200, "null\n".into()));
        assert_eq!(call(d, "PUT", "/name/c1/10.0.0.1?fqdn=web.weave.local", None, "").await.0, 204);
        // The name may come in the urlencoded body, too.
        assert_eq!(call(d, "PUT", "/name/c2/10.0.0.2", None, "fqdn=web.weave.local").await.0, 204);
        assert_eq!(
            call(d, "PUT", "/name/c1/nope?fqdn=x", None, "").await,
            (400, "invalid IP Address: nope\n".into())
        );
        let (_, json) = call(d, "GET", "/name", Some("application/json"), "").await;
        assert!(
            json.starts_with(r#"[{"ContainerID":"c1","Origin":2199023255562,"Addr":"10.0.0.1","Hostname":"web.weave.local.","Version":0,"Tombstone":0}"#),
            "{json}"
        );
        // Without the JSON Accept header, Weave has no such route.
        assert_eq!(call(d, "GET", "/name", None, "").await.0, 404);
        assert_eq!(call(d, "DELETE", "/name/c1", None, "").await.0, 204);
        let dns = d.dns().unwrap();
        assert_eq!(dns.lookup("web"), vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(call(d, "DELETE", "/name?fqdn=web.weave.local", None, "").await.0, 204);
        assert!(dns.lookup("web.weave.local.").is_empty());
        let report = d.report().dns.unwrap();
        assert_eq!(report.entries.len(), 2);
        assert!(report.entries.iter().all(|e| e.tombstone > 0));
    }

    #[tokio::test]
    async fn json_api_and_disabled_dns() {
        let t = daemon("json", true).await;
        let d = &t.daemon;
        let (code, body) =
            call(d, "POST", "/api/v1/dns/entries", None, r#"{"hostname":"db","addrs":["10.0.0.9/24"]}"#)
                .await;
        assert_eq!(code, 200, "{body}");
        let change: DnsChange = serde_json::from_str(&body).unwrap();
        assert_eq!(change.entries[0].hostname, "db.weave.local.");
        assert_eq!(change.entries[0].container_id, EXTERN_ID);
        let (code, body) = call(
            d,
            "POST",
            "/api/v1/dns/entries",
            None,
            r#"{"hostname":"a.example.com","addrs":["10.0.0.9"]}"#,
        )
        .await;
        assert_eq!(code, 400, "{body}");
        let (_, body) = call(d, "GET", "/api/v1/dns/lookup?name=db", None, "").await;
        assert_eq!(serde_json::from_str::<DnsLookup>(&body).unwrap().addrs, ["10.0.0.9"]);
        let (_, body) = call(d, "POST", "/api/v1/dns/remove", None, r#"{"hostname":"db"}"#).await;
        assert_eq!(serde_json::from_str::<DnsChange>(&body).unwrap().entries.len(), 1);
        let (_, body) = call(d, "GET", "/api/v1/dns", None, "").await;
        let info: DnsInfo = serde_json::from_str(&body).unwrap();
        assert_eq!((info.domain.as_str(), info.entries.len()), ("weave.local.", 1));
        assert!(info.entries[0].tombstone > 0);

        let t = daemon("off", false).await;
        let d = &t.daemon;
        assert_eq!(call(d, "GET", "/domain", None, "").await, (404, "404 page not found\n".into()));
        let (code, body) = call(d, "GET", "/api/v1/dns", None, "").await;
        assert!(code == 404 && body.contains(weave_api::client::DISABLED_HINT), "{body}");
    }
}
