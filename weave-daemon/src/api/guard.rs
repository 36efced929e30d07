//! The API's front door: what may reach a handler at all. Owns the browser checks, the time
//! limit of a request and the caps on requests in progress.
//!
//! Any web page the host's browser opens can send requests to `127.0.0.1:6784`, so:
//! * `Host` must be a loopback name or address, or an address literal the daemon listens on: a
//!   DNS-rebinding page (its own name now resolving to 127.0.0.1) still sends its own name;
//! * `Origin`, when sent, must be this very origin, and `Sec-Fetch-Site`, when sent, `none` or
//!   `same-origin`: browsers send them, curl, Weave's scripts and the `weave` CLI do not;
//! * `/api/v1` changes (POST, PUT, PATCH, DELETE) need a JSON content type, which a page on
//!   another site cannot send without the daemon's consent (a CORS preflight we never grant).
//!   Weave's own endpoints keep their form bodies behind the first two checks.
//!
//! Then every request takes a permit of its class: the event stream (long-lived, held as long as
//! its body), requests that wait on the cluster by design (`weave prime`, Weave's `/ip`
//! allocations and claims, which Weave too lets a client wait on), and the rest, which must
//! answer within a time limit: past it the caller gets a 503 while the handler, spawned on its
//! own, finishes what it started (nothing is left half done). No permit left: 503 at once.
//!
//! Refusals speak the caller's dialect: `{"error", "hint"}` JSON under `/api/`, Weave's plain
//! text elsewhere.

use super::ApiFailure;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long and how many.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a request that does not wait on the cluster has to answer.
    pub request_time: Duration,
    /// Such requests in progress at once.
    pub requests: usize,
    /// Requests waiting on the cluster (IPAM consensus, free space) at once.
    pub waits: usize,
    /// Open `/api/v1/events` streams.
    pub streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { request_time: Duration::from_secs(60), requests: 128, waits: 64, streams: 32 }
    }
}

/// The checks and permits for one listening address; cheap to clone (one per router).
#[derive(Clone)]
pub struct Guard {
    listen: SocketAddr,
    limits: Limits,
    requests: Arc<Semaphore>,
    waits: Arc<Semaphore>,
    streams: Arc<Semaphore>,
}

/// What a request may hold on to, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The SSE stream: no time limit; its permit lives as long as the response body.
    Stream,
    /// Waits on the cluster by design: no time limit; cancelled when the client goes away.
    Wait,
    /// Everything else: answers within `request_time`.
    Bounded,
}

/// A request refused before any handler saw it.
struct Refusal {
    status: StatusCode,
    error: String,
    hint: &'static str,
}

impl Guard {
    pub fn new(listen: SocketAddr, limits: Limits) -> Guard {
        Guard {
            listen,
            limits,
            requests: Arc::new(Semaphore::new(limits.requests)),
            waits: Arc::new(Semaphore::new(limits.waits)),
            streams: Arc::new(Semaphore::new(limits.streams)),
        }
    }

    /// The browser checks and the content type rule.
    fn check(&self, req: &Request) -> Result<(), Refusal> {
        let headers = req.headers();
        let host = match headers.get(header::HOST) {
            Some(v) => Some(v.to_str().map_err(|_| bad_host("(not text)"))?.to_string()),
            // HTTP/2 carries the host in the URI; HTTP/1.0 may send none (and is no browser).
            None => req.uri().authority().map(|a| a.as_str().to_string()),
        };
        if let Some(host) = &host {
            if !self.host_allowed(host) {
                return Err(bad_host(host));
            }
        }
        cross_site(headers, host.as_deref())?;
        Ok(())
    }

    /// A loopback name or address, an address this daemon listens on, or any address literal
    /// when it listens on all of them (a literal cannot be rebound to another machine).
    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        if name == "localhost" || name == "localhost." {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == self.listen.ip() || self.listen.ip().is_unspecified(),
            Err(_) => false,
        }
    }

    fn permit(&self, class: Class) -> Result<OwnedSemaphorePermit, Refusal> {
        let (pool, what, n) = match class {
            Class::Stream => (&self.streams, "event streams open", self.limits.streams),
            Class::Wait => (&self.waits, "requests waiting on the cluster", self.limits.waits),
            Class::Bounded => (&self.requests, "requests in progress", self.limits.requests),
        };
        pool.clone().try_acquire_owned().map_err(|_| Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: format!("too many {what} (at most {n})"),
            hint: "retry once some have finished",
        })
    }
}

/// The middleware: checks, takes a permit, runs the handler within its limits.
pub async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let class = class(req.method(), req.uri().path());
    let permit = match g.check(&req).and_then(|()| g.permit(class)) {
        Ok(p) => p,
        Err(r) => return r.respond(api),
    };
    match class {
        Class::Stream => {
            let resp = next.run(req).await;
            // The permit goes with the body: the stream counts until the client or daemon ends it.
            resp.map(|body| {
                Body::from_stream(body.into_data_stream().map(move |chunk| {
                    let _held = &permit;
                    chunk
                }))
            })
        }
        Class::Wait => {
            let resp = next.run(req).await;
            drop(permit);
            resp
        }
        Class::Bounded => {
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            let handler = tokio::spawn(async move {
                let resp = next.run(req).await;
                drop(permit);
                resp
            });
            match tokio::time::timeout(g.limits.request_time, handler).await {
                Ok(Ok(resp)) => resp,
                Ok(Err(e)) => {
                    tracing::error!(%method, %path, "API handler failed: {e}");
                    Refusal {
                        status: StatusCode::INTERNAL_SERVER_ERROR,
                        error: format!("the handler of {method} {path} failed: {e}"),
                        hint: "this is a bug in weave-daemon: please report it with the daemon's log",
                    }
                    .respond(api)
                }
                Err(_) => {
                    tracing::warn!(%method, %path, limit_s = g.limits.request_time.as_secs(), "API request timed out");
                    Refusal {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        error: format!(
                            "{method} {path} did not finish within {} s; it goes on in the background",
                            g.limits.request_time.as_secs()
                        ),
                        hint: "check its outcome (weave status, weave ps) before retrying",
                    }
                    .respond(api)
                }
            }
        }
    }
}

/// The `/api/v1` paths that take POST, as templates (`{id}` matches one segment): only those
/// need the JSON type, so a POST to a path that does not take it gets the router's 405.
#[derive(Clone, Default)]
pub struct PostPaths(Arc<Vec<Vec<String>>>);

impl PostPaths {
    pub fn of(doc: &utoipa::openapi::OpenApi) -> PostPaths {
        let posts = doc.paths.paths.iter().filter(|(_, item)| item.post.is_some());
        PostPaths(Arc::new(posts.map(|(p, _)| p.split('/').map(String::from).collect()).collect()))
    }

    fn takes_post(&self, path: &str) -> bool {
        let segs: Vec<&str> = path.split('/').collect();
        self.0.iter().any(|t| {
            t.len() == segs.len()
                && t.iter().zip(&segs).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        })
    }
}

/// A POST to an `/api/v1` path that takes it must say its body is JSON.
pub async fn json_post(State(paths): State<PostPaths>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST && !is_json(req.headers()) && paths.takes_post(req.uri().path()) {
        return Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error: format!("{} {} needs Content-Type: application/json", req.method(), req.uri().path()),
            hint: "send the body as JSON with that header (curl: -H 'Content-Type: application/json'); \
                   a web page on another site cannot, which is why it is required",
        }
        .respond(true);
    }
    let api_body = (req.method() == Method::POST || req.method() == Method::PUT)
        && req.uri().path().starts_with("/api/v1/")
        && is_json(req.headers());
    if !api_body {
        return next.run(req).await;
    }
    // Every /api/v1 body is a JSON object; serde would read a struct from an array too.
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_JSON_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return Refusal {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                error: format!("the body is larger than {MAX_JSON_BODY} bytes"),
                hint: "send a smaller body",
            }
            .respond(true)
        }
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|&b| b != b'{') {
        return Refusal {
            status: StatusCode::BAD_REQUEST,
            error: format!("{} {} takes a JSON object", parts.method, parts.uri.path()),
            hint: "see /api/v1/openapi.json for the fields it takes",
        }
        .respond(true);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The largest /api/v1 body (axum's default for its JSON extractor).
const MAX_JSON_BODY: usize = 2 * 1024 * 1024;

fn class(method: &Method, path: &str) -> Class {
    if method == Method::GET && path == "/api/v1/events" {
        Class::Stream
    } else if (method == Method::POST && path == "/api/v1/ipam/prime")
        || ((method == Method::POST || method == Method::PUT) && path.starts_with("/ip/"))
    {
        Class::Wait
    } else {
        Class::Bounded
    }
}

// Only POST needs the JSON type: it is the one changing method an HTML form (or a no-cors fetch)
// can send across sites. A browser preflights PUT, PATCH and DELETE, and the daemon grants no
// CORS, so those never leave another site's page; `curl -X DELETE` keeps working without a type.

/// `application/json` or a `+json` type, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(v) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media = v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// `Origin` must be this origin, `Sec-Fetch-Site` none or same-origin, when they are sent.
fn cross_site(headers: &HeaderMap, host: Option<&str>) -> Result<(), Refusal> {
    let refuse = |what: String| Refusal {
        status: StatusCode::FORBIDDEN,
        error: format!("cross-site request refused ({what})"),
        hint: "the weave API answers only its own host's tools, not web pages; use curl or the weave command",
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        let same = host.is_some_and(|h| origin.eq_ignore_ascii_case(&format!("http://{h}")));
        if !same {
            return Err(refuse(format!("Origin: {origin}")));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("(not text)");
        if !matches!(site, "none" | "same-origin") {
            return Err(refuse(format!("Sec-Fetch-Site: {site}")));
        }
    }
    Ok(())
}

fn bad_host(host: &str) -> Refusal {
    Refusal {
        status: StatusCode::FORBIDDEN,
        error: format!("Host {host:?} is not this daemon's address"),
        hint: "address the API by the IP address it listens on (--http-addr) or as localhost; \
               other names are refused against DNS rebinding",
    }
}

/// The host of a `Host` value, without the port and the brackets of an IPv6 literal.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

impl Refusal {
    fn respond(self, api: bool) -> Response {
        if api {
            ApiFailure::new(self.status, self.error).hint(self.hint).into_response()
        } else {
            let body = format!("{}\n{}\n", self.error, self.hint);
            (self.status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_paths_match_templates_segment_by_segment() {
        let p = PostPaths(Arc::new(
            ["/api/v1/attach", "/api/v1/cni/attachments/{container_id}/{ifname}/check"]
                .iter()
                .map(|t| t.split('/').map(String::from).collect())
                .collect(),
        ));
        assert!(p.takes_post("/api/v1/attach"));
        assert!(p.takes_post("/api/v1/cni/attachments/abc/eth0/check"));
        assert!(!p.takes_post("/api/v1/cni/attachments//eth0/check"), "an empty segment");
        assert!(!p.takes_post("/api/v1/version"));
        assert!(!p.takes_post("/api/v1/attach/more"));
    }

    #[test]
    fn host_names_lose_port_and_brackets() {
        assert_eq!(host_name("127.0.0.1:6784"), "127.0.0.1");
        assert_eq!(host_name("localhost"), "localhost");
        assert_eq!(host_name("[::1]:6784"), "::1");
        assert_eq!(host_name("[::1]"), "::1");
        assert_eq!(host_name("evil.example:x"), "evil.example:x");
    }

    #[test]
    fn hosts_by_listening_address() {
        let lo = Guard::new("127.0.0.1:6784".parse().unwrap(), Limits::default());
        assert!(lo.host_allowed("127.0.0.1:6784") && lo.host_allowed("localhost.:1"));
        assert!(!lo.host_allowed("10.0.0.5:6784") && !lo.host_allowed("weave.example"));
        let ns = Guard::new("10.0.0.5:6784".parse().unwrap(), Limits::default());
        assert!(ns.host_allowed("10.0.0.5:6784") && ns.host_allowed("127.0.0.1"));
        assert!(!ns.host_allowed("10.0.0.6:6784") && !ns.host_allowed("host.example:6784"));
        let any = Guard::new("0.0.0.0:6784".parse().unwrap(), Limits::default());
        assert!(any.host_allowed("192.0.2.7:6784") && any.host_allowed("[2001:db8::1]:6784"));
        assert!(!any.host_allowed("rebind.example:6784"));
    }

    #[test]
    fn json_content_types() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::CONTENT_TYPE, v.parse().unwrap());
            is_json(&m)
        };
        assert!(
            h("application/json")
                && h("Application/JSON; charset=utf-8")
                && h("application/merge-patch+json")
        );
        assert!(!h("text/plain") && !h("application/x-www-form-urlencoded") && !h("multipart/form-data"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
