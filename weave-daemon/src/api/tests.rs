//! In-process tests of the HTTP surface: requests go through the real router, no sockets.

use super::testkit::{self, call, TestDaemon, With};

use axum::body::Body;
use axum::http::{Request, StatusCode};

async fn daemon(tag: &str) -> TestDaemon {
    testkit::daemon(tag, &["10.0.0.2"], With::Nothing).await
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn weave_status_is_503_until_ready_then_200() {
    let t = daemon("ready").await;
    let (code, body) = call(&t.daemon, get("/status")).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("           Name: 02:00:00:00:00:0a(hostA)\n"), "{body}");
    t.daemon.set_ready();
    let (code, body) = call(&t.daemon, get("/status")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(body.contains("        Targets: 1\n"), "{body}");
    assert!(body.contains("        Service: ipam\n         Status: idle\n"), "{body}");
    let (code, body) = call(&t.daemon, get("/status/targets")).await;
    assert_eq!((code, body.as_str()), (StatusCode::OK, "10.0.0.2\n"));
}

#[tokio::test]
async fn v1_status_is_json_with_this_peer() {
    let t = daemon("v1").await;
    t.daemon.set_ready();
    let (code, body) = call(&t.daemon, get("/api/v1/status")).await;
    assert_eq!(code, StatusCode::OK);
    let s: weave_api::Status = serde_json::from_str(&body).unwrap();
    assert!(s.ready);
    assert_eq!(s.name, "02:00:00:00:00:0a");
    assert_eq!(s.router.port, 0, "the test daemon listens on a port of the kernel's choosing");
    assert_eq!(s.ipam.unwrap().status, "idle");
    assert_eq!(s.dns.unwrap().domain, "weave.local.");
}

#[tokio::test]
async fn report_needs_json_or_exactly_one_format_as_weave() {
    let t = daemon("report").await;
    let (code, body) = call(&t.daemon, get("/report")).await;
    assert_eq!((code, body.as_str()), (StatusCode::BAD_REQUEST, "error: must supply one format parameter\n"));
    let (code, body) = call(&t.daemon, get("/report?format=%7B%7B.Router.NickName%7D%7D")).await;
    assert_eq!((code, body.as_str()), (StatusCode::OK, "hostA"));
    let req = Request::get("/report").header("Accept", "application/json").body(Body::empty()).unwrap();
    let (code, body) = call(&t.daemon, req).await;
    assert_eq!(code, StatusCode::OK);
    assert!(body.starts_with("{\n    \"Ready\": false,\n"), "{body}");
    let r: weave_api::Report = serde_json::from_str(&body).unwrap();
    assert_eq!(r.router.nick_name, "hostA");
}

#[tokio::test]
async fn hostile_report_formats_get_400_and_the_daemon_carries_on() {
    let t = daemon("hostile").await;
    t.daemon.set_ready();
    let recursive = r#"{{define "a"}}{{template "a"}}{{end}}{{template "a"}}"#;
    let mut exponential = String::from(r#"{{define "t0"}}{{end}}"#);
    for i in 1..=25 {
        exponential.push_str(&format!(
            r#"{{{{define "t{i}"}}}}{{{{template "t{p}"}}}}{{{{template "t{p}"}}}}{{{{end}}}}"#,
            p = i - 1
        ));
    }
    exponential.push_str(r#"{{template "t25"}}"#);
    for (format, why) in [(recursive, "calls itself"), (exponential.as_str(), "too much work")] {
        let q = serde_urlencoded::to_string([("format", format)]).unwrap();
        let (code, body) = call(&t.daemon, get(&format!("/report?{q}"))).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains(why), "{body}");
    }
    let (code, body) = call(&t.daemon, get("/report?format=%7B%7B.Router.NickName%7D%7D")).await;
    assert_eq!((code, body.as_str()), (StatusCode::OK, "hostA"));
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_callers_dialect() {
    let t = daemon("404").await;
    let (code, body) = call(&t.daemon, get("/api/v1/nope")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let e: weave_api::ApiError = serde_json::from_str(&body).unwrap();
    assert!(e.error.contains("/api/v1/nope") && e.hint.is_some());
    let (code, body) = call(&t.daemon, get("/status/nonexistent")).await;
    assert_eq!((code, body.as_str()), (StatusCode::NOT_FOUND, "404 page not found\n"));
}

#[tokio::test]
async fn shutdown_is_accepted_and_signalled() {
    let t = daemon("shutdown").await;
    let stop = t.daemon.shutdown_signal();
    let req = Request::post("/api/v1/shutdown").header("content-type", "application/json");
    let (code, _) = call(&t.daemon, req.body(Body::empty()).unwrap()).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    tokio::time::timeout(std::time::Duration::from_secs(5), stop).await.expect("shutdown signalled");
}

#[tokio::test]
async fn serves_its_openapi_document() {
    let t = daemon("openapi").await;
    let (code, body) = call(&t.daemon, get("/api/v1/openapi.json")).await;
    assert_eq!(code, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["paths"]["/api/v1/status"]["get"].is_object());
}

#[tokio::test]
async fn targets_can_be_added_replaced_and_forgotten_and_are_persisted() {
    let t = daemon("targets").await;
    let post = |path: &str, body: &str| {
        Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (code, body) =
        call(&t.daemon, post("/api/v1/targets", r#"{"peers": ["10.0.0.3", "10.0.0.4:6783"]}"#)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let got: weave_api::Targets = serde_json::from_str(&body).unwrap();
    assert_eq!(got.targets, ["10.0.0.2", "10.0.0.3", "10.0.0.4:6783"]);
    let (code, body) = call(&t.daemon, post("/api/v1/targets/forget", r#"{"peers": ["10.0.0.2"]}"#)).await;
    assert_eq!(code, StatusCode::OK);
    let got: weave_api::Targets = serde_json::from_str(&body).unwrap();
    assert_eq!(got.targets, ["10.0.0.3", "10.0.0.4:6783"]);
    assert_eq!(t.daemon.store.targets().unwrap().unwrap(), ["10.0.0.3", "10.0.0.4:6783"]);
    let (code, body) =
        call(&t.daemon, post("/api/v1/targets", r#"{"peers": ["10.0.0.9"], "replace": true}"#)).await;
    assert_eq!(code, StatusCode::OK);
    let got: weave_api::Targets = serde_json::from_str(&body).unwrap();
    assert_eq!(got.targets, ["10.0.0.9"]);
    // Bad peers are refused with a reason; malformed bodies too.
    let (code, body) = call(&t.daemon, post("/api/v1/targets", r#"{"peers": ["10.0.0.5:99999"]}"#)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid port"), "{body}");
    let (code, _) = call(&t.daemon, post("/api/v1/targets", r#"{"peers": 5}"#)).await;
    assert!(code.is_client_error());
}

#[tokio::test]
async fn weaves_connect_and_forget_take_form_values() {
    let t = daemon("legacyconnect").await;
    let form = |path: &str, body: &str| {
        Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (code, body) = call(&t.daemon, form("/connect", "peer=not-an-address%3A99999")).await;
    assert_eq!((code, body.as_str()), (StatusCode::BAD_REQUEST, "address 99999: invalid port\n"));
    let (code, _) = call(&t.daemon, form("/connect", "peer=10.0.0.7&peer=10.0.0.8")).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = call(&t.daemon, form("/forget", "peer=10.0.0.7")).await;
    assert_eq!(code, StatusCode::OK);
    let (_, body) = call(&t.daemon, get("/status/targets")).await;
    assert_eq!(body, "10.0.0.2\n10.0.0.8\n");
}

#[tokio::test]
async fn the_event_stream_carries_target_changes() {
    let t = daemon("events").await;
    let resp = testkit::send(&t.daemon, get("/api/v1/events")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let req = Request::post("/api/v1/targets")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"peers": ["10.0.0.42"]}"#))
        .unwrap();
    let (code, _) = call(&t.daemon, req).await;
    assert_eq!(code, StatusCode::OK);
    let seen = testkit::read_events(&mut body, |s| s.contains("event: targets_changed")).await;
    let line = seen.lines().skip_while(|l| *l != "event: targets_changed").nth(1).unwrap();
    let e: weave_api::Event = serde_json::from_str(line.trim_start_matches("data: ")).unwrap();
    assert_eq!(e, weave_api::Event::TargetsChanged { targets: vec!["10.0.0.2".into(), "10.0.0.42".into()] });
}

#[tokio::test]
async fn the_event_stream_sends_traffic_counters_every_second() {
    let t = daemon("traffic").await;
    let resp = testkit::send(&t.daemon, get("/api/v1/events")).await;
    let mut body = resp.into_body();
    let seen = testkit::read_events(&mut body, |s| s.matches("event: traffic").count() >= 2).await;
    let samples: Vec<u64> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| match serde_json::from_str(d).ok()? {
            weave_api::StreamEvent::Traffic(weave_api::TrafficEvent::Traffic { at_ms, connections }) => {
                assert!(connections.is_empty(), "no connections, no counters: {d}");
                Some(at_ms)
            }
            _ => None,
        })
        .collect();
    assert_eq!(samples.len(), 2, "{seen}");
    let gap = samples[1] - samples[0];
    assert!((900..=2000).contains(&gap), "samples {gap} ms apart");
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_weaves_names() {
    let t = daemon("metrics").await;
    let (code, body) = call(&t.daemon, get("/metrics")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(body.contains("# TYPE weave_connections gauge\n"), "{body}");
    assert!(body.contains("weave_connections{state=\"established\"} 0\n"), "{body}");
    assert!(body.contains("weave_connection_terminations_total 0\n"), "{body}");
    // The test daemon runs IPAM over a range, so its families are there too.
    assert!(body.contains("weave_max_ips "), "{body}");
    assert!(body.contains("weave_ipam_unreachable_percentage 0\n"), "{body}");
}

/// Attach failures answer with the status `api::error` gives each kind, and JSON bodies.
#[tokio::test]
async fn attach_failures_map_to_their_statuses() {
    let t = testkit::daemon("attach-errors", &["--ipalloc-range", ""], With::Nothing).await;
    let fifo = std::env::temp_dir().join(format!("weave-api-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let cases = [
        ("x y", StatusCode::BAD_REQUEST, "invalid target"),
        ("netns:", StatusCode::BAD_REQUEST, "netns:NAME needs a namespace name"),
        (fifo.to_str().unwrap(), StatusCode::BAD_REQUEST, "is a FIFO, not a network namespace"),
        ("/dev/null", StatusCode::BAD_REQUEST, "is a character device"),
        ("netns:surely-not-there", StatusCode::NOT_FOUND, "cannot open the network namespace"),
        ("web", StatusCode::NOT_FOUND, "the Docker integration is off"),
    ];
    for (target, status, says) in cases {
        let body = format!(r#"{{"target":{}}}"#, serde_json::to_string(target).unwrap());
        let (code, resp) = call(&t.daemon, testkit::json("/api/v1/attach", &body)).await;
        assert_eq!(code, status, "{target}: {resp}");
        let e: weave_api::ApiError = serde_json::from_str(&resp).unwrap();
        assert!(e.error.contains(says) && e.hint.is_some(), "{target}: {e:?}");
    }
    // net: without IPAM: the CLI's "disabled" exit status 4 keys on this hint.
    let me = format!(r#"{{"target":"pid:{}"}}"#, std::process::id());
    let (code, resp) = call(&t.daemon, testkit::json("/api/v1/attach", &me)).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{resp}");
    let e: weave_api::ApiError = serde_json::from_str(&resp).unwrap();
    assert_eq!(e.hint.as_deref(), Some(weave_api::client::DISABLED_HINT));
    // Labels and namespaces policy could never select on are refused before anything happens.
    for (body, says) in [
        (r#"{"target":"netns:x","labels":{"app":"two words"}}"#, "label value \"two words\""),
        (r#"{"target":"netns:x","labels":{"bad key!":"x"}}"#, "label key \"bad key!\""),
        (r#"{"target":"netns:x","namespace":"Not_A_Name"}"#, "namespace \"Not_A_Name\""),
    ] {
        let (code, resp) = call(&t.daemon, testkit::json("/api/v1/attach", body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {resp}");
        let e: weave_api::ApiError = serde_json::from_str(&resp).unwrap();
        assert!(e.error.contains(says), "{body}: {e:?}");
    }
    // Detaching a namespace that never existed and holds nothing.
    let (code, resp) =
        call(&t.daemon, testkit::json("/api/v1/detach", r#"{"target":"netns:surely-not-there"}"#)).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{resp}");
    let _ = std::fs::remove_file(&fifo);
}
