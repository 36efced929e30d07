//! Weave Net's own endpoints, with Weave's paths, plain-text bodies and status codes, so that
//! existing scripts and tooling keep working. Thin adapters over the same snapshots as `/api/v1`.

use super::form::Form;
use super::{AppState, AttachApi, DaemonApi, MeshApi};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use weave_api::{text, Report};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/status/{view}", get(status_view))
        .route("/report", get(report))
        .route("/metrics", get(metrics))
        .route("/connect", post(connect))
        .route("/forget", post(forget))
        .route("/expose/{ip}/{prefixlen}", post(expose))
        .route("/proxyaddrs", get(proxy_addrs))
}

/// Weave's `/proxyaddrs`: the proxy's addresses, one per line (404 when it does not run).
async fn proxy_addrs(State(d): State<super::DockerApi>) -> Response {
    match d.0.as_ref().and_then(|d| d.proxy()) {
        Some(p) => plain(StatusCode::OK, &p.addrs.join("\n")),
        None => plain(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// Weave's handlers answer 503 (with the body) until the router is ready.
fn text_response(r: &Report, body: String) -> Response {
    let code = if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn plain(code: StatusCode, body: &str) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{body}\n")).into_response()
}

async fn status(State(d): State<DaemonApi>) -> Response {
    let r = d.report();
    text_response(&r, text::status(&r))
}

async fn status_view(State(d): State<DaemonApi>, Path(view): Path<String>) -> Response {
    let r = d.report();
    let body = match view.as_str() {
        "targets" => text::targets(&r),
        "connections" => text::connections(&r),
        "peers" => text::peers(&r),
        "dns" if r.dns.is_some() => text::dns(&r),
        "ipam" if r.ipam.is_some() => text::ipam(&r),
        _ => return plain(StatusCode::NOT_FOUND, "404 page not found"),
    };
    text_response(&r, body)
}

/// Prometheus text exposition, Weave's metric names.
async fn metrics(State(d): State<DaemonApi>, State(m): State<MeshApi>) -> Response {
    let mut body = weave_api::metrics::render(&d.report());
    if let Some(s) = &m.sleeve {
        weave_api::metrics::render_sleeve_bytes(&mut body, &s.cipher_bytes());
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
        .into_response()
}

/// JSON with `Accept: application/json`, else exactly one `format` template, as Weave.
async fn report(
    State(d): State<DaemonApi>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let r = d.report();
    let wants_json = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) == Some("application/json");
    if wants_json {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        if let Err(e) = serde::Serialize::serialize(&r, &mut ser) {
            return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
        return ([(header::CONTENT_TYPE, "application/json")], out).into_response();
    }
    let formats: Vec<&String> = q.iter().filter(|(k, _)| k == "format").map(|(_, v)| v).collect();
    let [format] = formats.as_slice() else {
        return plain(StatusCode::BAD_REQUEST, "error: must supply one format parameter");
    };
    // A format is anyone's input: it renders on a blocking thread, a few at a time, within the
    // template module's limits (shape, steps, output, time).
    let Ok(permit) = RENDERS.try_acquire() else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "error: too many report formats rendering at once; retry",
        );
    };
    let format = format.to_string();
    let rendered = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        weave_api::template::render(&r, &format)
    })
    .await;
    match rendered {
        Ok(Ok(body)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
        }
        Ok(Err(e)) => plain(StatusCode::BAD_REQUEST, &e),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("error: rendering failed: {e}")),
    }
}

/// Report formats rendering at once.
static RENDERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// `POST /connect` with `peer=...` (repeatable) and `replace=true`: 200, or 400 listing the
/// peers that could not be used (the others are added).
async fn connect(State(d): State<MeshApi>, Query(q): Query<Vec<(String, String)>>, body: String) -> Response {
    let f = match Form::parse(q, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let replace = f.value("replace") == "true";
    let errors = d.mesh.connect(&f.values("peer"), replace).await;
    if errors.is_empty() {
        StatusCode::OK.into_response()
    } else {
        plain(StatusCode::BAD_REQUEST, &errors.join("\n"))
    }
}

/// `POST /forget` with `peer=...` (repeatable).
async fn forget(State(d): State<MeshApi>, Query(q): Query<Vec<(String, String)>>, body: String) -> Response {
    let f = match Form::parse(q, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    d.mesh.forget(&f.values("peer")).await;
    StatusCode::OK.into_response()
}

/// `POST /expose/{ip}/{prefixlen}` (`skipNAT=true` leaves out the masquerading): the address
/// goes on the bridge; allocating it is the caller's business, as in Weave. 204, 400 for a bad
/// CIDR, 500 when the bridge or the rules cannot be changed.
async fn expose(
    State(svc): State<AttachApi>,
    Path((ip, len)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    let Ok(cidr) = format!("{ip}/{len}").parse::<ipnet::Ipv4Net>() else {
        return (StatusCode::BAD_REQUEST, format!("invalid CIDR address: {ip}/{len}\n")).into_response();
    };
    let f = match Form::parse(q, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let masquerade = !f.values("skipNAT").iter().any(|v| v == "true");
    match svc.expose_address(cidr, masquerade).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (super::error::attach_status(&e), format!("{e}\n")).into_response(),
    }
}
