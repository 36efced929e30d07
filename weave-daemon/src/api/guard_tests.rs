//! The API refuses what a web page in the host's browser could make it do (cross-site requests,
//! DNS rebinding, `/api/v1` changes without a JSON body type), while curl, Weave's scripts and
//! the `weave` CLI, which send neither `Origin` nor `Sec-Fetch-Site`, work as before.

use super::testkit::{self, call, TestDaemon, With};

use axum::body::Body;
use axum::http::{Request, StatusCode};

async fn daemon(tag: &str) -> TestDaemon {
    let t = testkit::daemon(tag, &["10.0.0.2"], With::Nothing).await;
    t.daemon.set_ready();
    t
}

/// A request as curl sends it to the default `--http-addr`.
fn curl(method: &str, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1:6784")
        .header("user-agent", "curl/7.88.1")
}

fn form(b: axum::http::request::Builder, body: &str) -> Request<Body> {
    b.header("content-type", "application/x-www-form-urlencoded").body(Body::from(body.to_string())).unwrap()
}

async fn targets(t: &TestDaemon) -> String {
    call(&t.daemon, curl("GET", "/status/targets").body(Body::empty()).unwrap()).await.1
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused_and_changes_nothing() {
    let t = daemon("xsite").await;
    // What a page on another site submits with a hidden form: Origin and Sec-Fetch-Site say so.
    let req = curl("POST", "/connect")
        .header("origin", "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("user-agent", "Mozilla/5.0");
    let (code, body) = call(&t.daemon, form(req, "peer=10.9.9.9")).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("cross-site"), "{body}");
    // Origin alone (browsers without Fetch Metadata) is enough, and so is Sec-Fetch-Site alone.
    let req = curl("POST", "/connect").header("origin", "null");
    assert_eq!(call(&t.daemon, form(req, "peer=10.9.9.9")).await.0, StatusCode::FORBIDDEN);
    let req = curl("POST", "/connect").header("sec-fetch-site", "same-site");
    assert_eq!(call(&t.daemon, form(req, "peer=10.9.9.9")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(targets(&t).await, "10.0.0.2\n", "no target was added");
    // An image tag on another site reaching the report: refused too.
    let req = curl("GET", "/report?format=%7B%7B.Router.Name%7D%7D").header("sec-fetch-site", "cross-site");
    assert_eq!(call(&t.daemon, req.body(Body::empty()).unwrap()).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_rebinding_host_is_refused() {
    let t = daemon("rebind").await;
    // A page on attacker.example whose name now resolves to 127.0.0.1: the browser thinks it is
    // same-origin, but the Host header still names the attacker's site.
    for host in ["attacker.example:6784", "attacker.example", "127.0.0.1.nip.io:6784", "localhost.evil:6784"]
    {
        let req = Request::get("/status").header("host", host).header("sec-fetch-site", "same-origin");
        let (code, body) = call(&t.daemon, req.body(Body::empty()).unwrap()).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{host}: {body}");
        assert!(body.contains("Host"), "{body}");
        let req = Request::get("/api/v1/status").header("host", host);
        let (code, body) = call(&t.daemon, req.body(Body::empty()).unwrap()).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{host}: {body}");
        let e: weave_api::ApiError = serde_json::from_str(&body).expect("the v1 dialect: JSON");
        assert!(e.hint.is_some(), "{body}");
    }
    // The loopback names and addresses, with or without the port, are fine.
    for host in
        ["127.0.0.1:6784", "127.0.0.1", "localhost:6784", "LOCALHOST", "[::1]:6784", "127.0.0.53:6784"]
    {
        let req = Request::get("/status").header("host", host);
        assert_eq!(call(&t.daemon, req.body(Body::empty()).unwrap()).await.0, StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn curl_like_requests_work_as_before() {
    let t = daemon("curl").await;
    let (code, body) = call(&t.daemon, form(curl("POST", "/connect"), "peer=10.0.0.7")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(targets(&t).await, "10.0.0.2\n10.0.0.7\n");
    // A browser's own address bar (Sec-Fetch-Site: none) may read the status.
    let req = curl("GET", "/status").header("sec-fetch-site", "none");
    assert_eq!(call(&t.daemon, req.body(Body::empty()).unwrap()).await.0, StatusCode::OK);
    // A request with no Host at all (HTTP/1.0) is no browser's.
    let req = Request::get("/status/targets").body(Body::empty()).unwrap();
    assert_eq!(call(&t.daemon, req).await.0, StatusCode::OK);
    // JSON to /api/v1, as the weave CLI sends it.
    let req = curl("POST", "/api/v1/targets/forget").header("content-type", "application/json");
    let (code, body) = call(&t.daemon, req.body(Body::from(r#"{"peers":["10.0.0.7"]}"#)).unwrap()).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(targets(&t).await, "10.0.0.2\n");
}

#[tokio::test]
async fn v1_changes_need_a_json_content_type() {
    let t = daemon("ctype").await;
    // A form can send these three types across sites without asking: none reaches a handler.
    for ctype in
        [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data")]
    {
        let mut req = curl("POST", "/api/v1/targets");
        if let Some(c) = ctype {
            req = req.header("content-type", c);
        }
        let (code, body) = call(&t.daemon, req.body(Body::from(r#"{"peers":["10.0.0.9"]}"#)).unwrap()).await;
        assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ctype:?}: {body}");
        let e: weave_api::ApiError = serde_json::from_str(&body).unwrap();
        assert!(e.error.contains("application/json"), "{body}");
    }
    assert_eq!(targets(&t).await, "10.0.0.2\n");
    let req = curl("POST", "/api/v1/targets").header("content-type", "application/json; charset=utf-8");
    let (code, body) = call(&t.daemon, req.body(Body::from(r#"{"peers":["10.0.0.9"]}"#)).unwrap()).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    // A browser preflights DELETE, so it needs no type: the handler answers, not the guard.
    let req = curl("DELETE", "/api/v1/cni/attachments/nothing/eth0");
    let (code, body) = call(&t.daemon, req.body(Body::empty()).unwrap()).await;
    assert_ne!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    // Reads need nothing.
    assert_eq!(
        call(&t.daemon, curl("GET", "/api/v1/targets").body(Body::empty()).unwrap()).await.0,
        StatusCode::OK
    );
    // A body that is JSON but no object (serde would read a struct from an array) changes nothing.
    for body in ["[]", " [\"10.0.0.9\"]", "\"x\"", "7"] {
        let req = curl("POST", "/api/v1/targets").header("content-type", "application/json");
        let (code, text) = call(&t.daemon, req.body(Body::from(body)).unwrap()).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert!(text.contains("takes a JSON object"), "{text}");
    }
    assert_eq!(targets(&t).await, "10.0.0.2\n10.0.0.9\n");
}

#[tokio::test]
async fn event_streams_are_capped_and_a_closed_one_frees_its_place() {
    let t = daemon("streams").await;
    let limits = super::Limits { streams: 2, ..Default::default() };
    let app = super::router_with_limits(t.daemon.clone(), limits);
    let open = || {
        let app = app.clone();
        async move {
            use tower::ServiceExt;
            app.oneshot(curl("GET", "/api/v1/events").body(Body::empty()).unwrap()).await.unwrap()
        }
    };
    let first = open().await;
    let second = open().await;
    assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    let third = open().await;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = http_body_util::BodyExt::collect(third.into_body()).await.unwrap().to_bytes();
    let e: weave_api::ApiError = serde_json::from_slice(&body).unwrap();
    assert!(e.error.contains("event streams"), "{e:?}");
    // Other requests are not held up by the streams.
    let (code, _) = call(&t.daemon, curl("GET", "/api/v1/status").body(Body::empty()).unwrap()).await;
    assert_eq!(code, StatusCode::OK);
    drop(first);
    assert_eq!(open().await.status(), StatusCode::OK);
    drop(second);
}

#[tokio::test]
async fn a_request_past_its_time_limit_gets_503_and_holds_its_place_until_done() {
    let t = daemon("slow").await;
    let limits = super::Limits {
        request_time: std::time::Duration::from_millis(300),
        requests: 1,
        ..Default::default()
    };
    let app = super::router_with_limits(t.daemon.clone(), limits);
    // A form body that never ends: the handler waits for it past the limit.
    let never = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let req = curl("POST", "/connect").header("content-type", "application/x-www-form-urlencoded");
    let resp = {
        use tower::ServiceExt;
        app.clone().oneshot(req.body(Body::from_stream(never)).unwrap()).await.unwrap()
    };
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("did not finish within"), "{body:?}");
    // Its handler still runs, so with one place the next request is refused at once.
    let resp = {
        use tower::ServiceExt;
        app.clone().oneshot(curl("GET", "/status").body(Body::empty()).unwrap()).await.unwrap()
    };
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("too many requests in progress"), "{body:?}");
}
