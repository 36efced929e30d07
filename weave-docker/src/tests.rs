//! The plugin's HTTP surface in process: every call answers in libnetwork's form, bad input gets
//! a clear `{"Err": ...}` naming what was wrong, and nothing is changed by it. (The calls that
//! plumb interfaces and allocate addresses run end to end against a real dockerd: see
//! tests/tests/docker.rs.)

use crate::driver::NetworkDriver;
use crate::ipam_driver::IpamDriver;
use crate::plugin::{router, MAX_BODY};
use crate::ports::{BoxFuture, Interface, PortError, Targets};
use crate::Shared;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

/// The attach service of these tests: no kernel, no endpoint was ever made.
struct NoTargets;

impl Targets for NoTargets {
    fn create_endpoint(&self, _: String) -> BoxFuture<'_, Result<[u8; 6], PortError>> {
        Box::pin(async { Err("no kernel in these tests".into()) })
    }
    fn delete_endpoint(&self, _: String) -> BoxFuture<'_, Result<bool, PortError>> {
        Box::pin(async { Ok(false) })
    }
    fn unjoined_endpoints(&self) -> BoxFuture<'_, Result<Vec<String>, PortError>> {
        Box::pin(async { Ok(vec![]) })
    }
    fn remove_unjoined<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async { vec![] })
    }
    fn attach<'a>(
        &'a self,
        _: &'a str,
        _: Vec<String>,
        _: bool,
    ) -> BoxFuture<'a, Result<Vec<Ipv4Net>, PortError>> {
        Box::pin(async { Err("no kernel in these tests".into()) })
    }
    fn interface<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Option<Interface>> {
        Box::pin(async { None })
    }
    fn announce_attached(&self, _: &str, _: Vec<Ipv4Net>, _: &BTreeMap<String, String>) {}
    fn announce_detached(&self, _: &str, _: Vec<Ipv4Net>) {}
    fn serve_containers(&self, _: Arc<Shared>) {}
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared::for_tests(Arc::new(NoTargets)))
}

fn mesh() -> (axum::Router, Arc<Shared>) {
    let shared = shared();
    let driver = Arc::new(NetworkDriver::new("weavemesh", "local", shared.clone()));
    let ipam = Arc::new(IpamDriver::new(shared.clone()));
    (router(driver, Some(ipam)), shared)
}

fn global() -> axum::Router {
    router(Arc::new(NetworkDriver::new("weave", "global", shared())), None)
}

async fn call(r: &axum::Router, path: &str, body: impl Into<Body>) -> (StatusCode, serde_json::Value) {
    let req = Request::post(path).body(body.into()).unwrap();
    let resp = r.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {bytes:?}"));
    (status, v)
}

fn err(v: &serde_json::Value) -> &str {
    v["Err"].as_str().unwrap_or_else(|| panic!("no Err in {v}"))
}

const NET: &str = "4f3bbd7ad7bb0c2f0d0e3d8a0a3b4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
const EP: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";

#[tokio::test]
async fn activation_and_capabilities_are_weaves() {
    let (m, _) = mesh();
    assert_eq!(
        call(&m, "/Plugin.Activate", "").await.1,
        serde_json::json!({"Implements": ["NetworkDriver", "IpamDriver"]})
    );
    assert_eq!(
        call(&global(), "/Plugin.Activate", "").await.1,
        serde_json::json!({"Implements": ["NetworkDriver"]})
    );
    assert_eq!(call(&m, "/NetworkDriver.GetCapabilities", "").await.1, serde_json::json!({"Scope": "local"}));
    assert_eq!(
        call(&global(), "/NetworkDriver.GetCapabilities", "").await.1,
        serde_json::json!({"Scope": "global"})
    );
    assert_eq!(
        call(&m, "/IpamDriver.GetCapabilities", "").await.1,
        serde_json::json!({"RequiresMACAddress": false})
    );
    assert_eq!(
        call(&m, "/IpamDriver.GetDefaultAddressSpaces", "").await.1,
        serde_json::json!({"LocalDefaultAddressSpace": "weavelocal", "GlobalDefaultAddressSpace": "weaveglobal"})
    );
    // The global driver has no IPAM driver.
    assert_eq!(call(&global(), "/IpamDriver.RequestPool", "{}").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn networks_take_weaves_multicast_option() {
    let (m, shared) = mesh();
    let body = format!(
        r#"{{"NetworkID":"{NET}","Options":{{"com.docker.network.generic":{{"works.weave.multicast":""}}}}}}"#
    );
    let (code, v) = call(&m, "/NetworkDriver.CreateNetwork", body).await;
    assert_eq!((code, v), (StatusCode::OK, serde_json::json!({})));
    assert!(shared.networks.lock().unwrap()[NET].multicast);
    let body = format!(
        r#"{{"NetworkID":"{NET}x","Options":{{"com.docker.network.generic":{{"works.weave.multicast":"maybe"}}}}}}"#
    );
    let (code, v) = call(&m, "/NetworkDriver.CreateNetwork", body).await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(err(&v), "unrecognized value \"maybe\" for option works.weave.multicast");
    assert!(!shared.networks.lock().unwrap().contains_key(&format!("{NET}x")));
    let (_, v) = call(
        &m,
        "/NetworkDriver.AllocateNetwork",
        format!(r#"{{"NetworkID":"{NET}","Options":{{"a":"b"}}}}"#),
    )
    .await;
    assert_eq!(v, serde_json::json!({"Options": {"a": "b"}}));
    assert_eq!(
        call(&m, "/NetworkDriver.FreeNetwork", format!(r#"{{"NetworkID":"{NET}"}}"#)).await.1,
        serde_json::json!({})
    );
    assert_eq!(
        call(&m, "/NetworkDriver.DiscoverNew", r#"{"DiscoveryType":1,"DiscoveryData":{}}"#).await.1,
        serde_json::json!({})
    );
    assert_eq!(
        call(&m, "/NetworkDriver.DeleteNetwork", format!(r#"{{"NetworkID":"{NET}"}}"#)).await.1,
        serde_json::json!({})
    );
    assert!(shared.networks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn malformed_requests_get_a_clear_err_and_change_nothing() {
    let (m, shared) = mesh();
    for (path, body, want) in [
        (
            "/NetworkDriver.CreateNetwork",
            "{",
            "NetworkDriver.CreateNetwork: the request is not valid JSON for this call",
        ),
        ("/NetworkDriver.CreateNetwork", r#"{"NetworkID":7}"#, "invalid type: integer `7`"),
        ("/NetworkDriver.CreateNetwork", r#"{}"#, "missing field `NetworkID`"),
        (
            "/NetworkDriver.Join",
            r#"["not","an","object"]"#,
            "NetworkDriver.Join: the request is not valid JSON",
        ),
        (
            "/IpamDriver.RequestAddress",
            r#"{"PoolID":5}"#,
            "IpamDriver.RequestAddress: the request is not valid JSON",
        ),
    ] {
        let (code, v) = call(&m, path, body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{path} {body}");
        assert!(err(&v).contains(want), "{path} {body}: {v}");
    }
    let huge = vec![b' '; MAX_BODY + 1];
    let (code, v) = call(&m, "/NetworkDriver.CreateNetwork", huge).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(err(&v).contains("larger than"), "{v}");
    for (path, body) in [
        ("/NetworkDriver.CreateNetwork", r#"{"NetworkID":"../../x"}"#.to_string()),
        ("/NetworkDriver.CreateEndpoint", format!(r#"{{"NetworkID":"{NET}","EndpointID":"x;rm"}}"#)),
        ("/NetworkDriver.Join", format!(r#"{{"NetworkID":"","EndpointID":"{EP}"}}"#)),
    ] {
        let (code, v) = call(&m, path, body.clone()).await;
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR, "{path} {body}");
        assert!(err(&v).starts_with("invalid "), "{path}: {v}");
    }
    assert!(shared.networks.lock().unwrap().is_empty());
    let (code, v) = call(&m, "/NetworkDriver.NoSuchCall", "{}").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(err(&v), "no such plugin call");
}

#[tokio::test]
async fn unknown_networks_and_endpoints_are_named_in_the_error() {
    let (m, _) = mesh();
    // Without Docker, a network never created here cannot be looked up.
    let body =
        format!(r#"{{"NetworkID":"{NET}","EndpointID":"{EP}","Interface":{{"Address":"10.32.0.1/12"}}}}"#);
    let (code, v) = call(&m, "/NetworkDriver.CreateEndpoint", body).await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(err(&v).contains(&format!("network {NET} is unknown here")), "{v}");
    let (_, v) =
        call(&m, "/NetworkDriver.Join", format!(r#"{{"NetworkID":"{NET}","EndpointID":"{EP}"}}"#)).await;
    assert!(err(&v).starts_with("unable to find network info"), "{v}");
    // A network of ours, an endpoint that was never created.
    call(&m, "/NetworkDriver.CreateNetwork", format!(r#"{{"NetworkID":"{NET}"}}"#)).await;
    for path in ["/NetworkDriver.Join", "/NetworkDriver.EndpointOperInfo"] {
        let (code, v) = call(&m, path, format!(r#"{{"NetworkID":"{NET}","EndpointID":"{EP}"}}"#)).await;
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert!(err(&v).contains(&format!("no endpoint {EP}")), "{path}: {v}");
    }
    // As Weave, deleting an endpoint that is not there succeeds (Docker repeats the calls a
    // restarting daemon did not answer).
    let body = format!(r#"{{"NetworkID":"{NET}","EndpointID":"{EP}"}}"#);
    assert_eq!(
        call(&m, "/NetworkDriver.DeleteEndpoint", body).await,
        (StatusCode::OK, serde_json::json!({}))
    );
    // As Weave: an endpoint without an interface from IPAM is not made here.
    let (_, v) =
        call(&m, "/NetworkDriver.CreateEndpoint", format!(r#"{{"NetworkID":"{NET}","EndpointID":"{EP}"}}"#))
            .await;
    assert_eq!(err(&v), "Not supported: creating an interface from within CreateEndpoint");
    // A network of the other driver is not this one's.
    let g = global();
    let (_, v) = call(&g, "/NetworkDriver.CreateNetwork", format!(r#"{{"NetworkID":"{NET}"}}"#)).await;
    assert_eq!(v, serde_json::json!({}));
}

#[tokio::test]
async fn ipam_calls_check_pools_and_addresses() {
    let (m, _) = mesh();
    let (_, v) = call(
        &m,
        "/IpamDriver.RequestPool",
        r#"{"AddressSpace":"weavelocal","Pool":"10.40.0.0/16","SubPool":"10.40.1.0/24"}"#,
    )
    .await;
    assert_eq!(
        v,
        serde_json::json!({"PoolID": "weave-10.40.0.0/16-10.40.1.0/24", "Pool": "10.40.0.0/16", "Data": {"com.docker.network.gateway": "10.40.0.0/16"}})
    );
    for (body, want) in [
        (r#"{"Pool":"10.40.0.0/16","V6":true}"#, "IPv4 addresses only"),
        (r#"{"Pool":"banana"}"#, "invalid pool \"banana\""),
        (r#"{"Pool":"10.40.0.0/16","SubPool":"10.50.0.0/24"}"#, "is not inside the subnet"),
        // Without IPAM there is no default subnet.
        (r#"{}"#, "IP address allocation must be enabled"),
    ] {
        let (code, v) = call(&m, "/IpamDriver.RequestPool", body).await;
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert!(err(&v).contains(want), "{body}: {v}");
    }
    let (_, v) = call(&m, "/IpamDriver.ReleasePool", r#"{"PoolID":"weavepool"}"#).await;
    assert_eq!(err(&v), "Unrecognized pool ID: weavepool");
    let (_, v) = call(
        &m,
        "/IpamDriver.RequestAddress",
        r#"{"PoolID":"weave-10.40.0.0/16-10.40.0.0/16","Address":"10.99.0.1"}"#,
    )
    .await;
    assert!(err(&v).contains("IP address allocation must be enabled"), "{v}");
    // The faked gateway is released without asking IPAM.
    let (code, v) = call(
        &m,
        "/IpamDriver.ReleaseAddress",
        r#"{"PoolID":"weave-10.40.0.0/16-10.40.0.0/16","Address":"10.40.0.0"}"#,
    )
    .await;
    assert_eq!((code, v), (StatusCode::OK, serde_json::json!({})));
    let (_, v) = call(
        &m,
        "/IpamDriver.ReleaseAddress",
        r#"{"PoolID":"weave-10.40.0.0/16-10.40.0.0/16","Address":"ten"}"#,
    )
    .await;
    assert_eq!(err(&v), "invalid address \"ten\": expected an IPv4 address");
}
