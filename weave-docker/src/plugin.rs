//! The Docker network plugin v1 server: libnetwork's remote driver and IPAM driver protocols,
//! JSON over HTTP on unix sockets, as Weave's plugin answers them.
//!
//! Two sockets, as Weave: driver `weave` (global scope, network driver only) and `weavemesh`
//! (local scope, network driver and IPAM driver). Every call is a POST with a JSON body; answers
//! are JSON. Failures answer HTTP 500 with `{"Err": "..."}` (libnetwork's error form); a body
//! that cannot be read answers 400 with the same form, naming what was wrong. Bodies are
//! bounded ([`MAX_BODY`]); unknown fields are ignored (newer Docker versions add some), missing
//! or mistyped ones are refused.

use crate::driver::NetworkDriver;
use crate::ipam_driver::IpamDriver;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The largest request body taken (libnetwork's are a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// Docker's plugin directory and Weave's socket names.
pub const PLUGIN_DIR: &str = "/run/docker/plugins";
pub const GLOBAL_SOCKET: &str = "weave.sock";
pub const MESH_SOCKET: &str = "weavemesh.sock";

/// A plugin call that failed: answered as `{"Err": message}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    pub status: StatusCode,
    pub message: String,
}

impl PluginError {
    /// A failure of the operation (HTTP 500, as libnetwork expects).
    pub fn new(message: impl Into<String>) -> PluginError {
        PluginError { status: StatusCode::INTERNAL_SERVER_ERROR, message: message.into() }
    }

    /// A request that could not be read.
    pub fn bad_request(message: impl Into<String>) -> PluginError {
        PluginError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl IntoResponse for PluginError {
    fn into_response(self) -> Response {
        tracing::warn!(status = %self.status, "plugin call refused: {}", self.message);
        (self.status, json_body(&serde_json::json!({ "Err": self.message }))).into_response()
    }
}

fn json_body<T: Serialize>(v: &T) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    ([(header::CONTENT_TYPE, "application/vnd.docker.plugins.v1+json")], body).into_response()
}

/// A successful answer.
pub struct Answer(pub serde_json::Value);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        json_body(&self.0)
    }
}

pub type PluginResult = Result<Answer, PluginError>;

/// Turns any serialisable answer into a [`PluginResult`].
pub fn answer<T: Serialize>(v: T) -> PluginResult {
    serde_json::to_value(v).map(Answer).map_err(|e| PluginError::new(format!("encoding the answer: {e}")))
}

/// `{}`: success with nothing to say.
pub fn empty() -> PluginResult {
    Ok(Answer(serde_json::json!({})))
}

/// Reads a request body of type `T`, naming the call and what was wrong when it cannot.
pub fn parse<T: DeserializeOwned>(call: &str, body: &[u8]) -> Result<T, PluginError> {
    // Docker sends nothing at all for some calls it makes without arguments.
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    let bad = |e: String| {
        PluginError::bad_request(format!("{call}: the request is not valid JSON for this call: {e}"))
    };
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    if !v.is_object() {
        return Err(bad("expected a JSON object".into()));
    }
    serde_json::from_value(v).map_err(|e| bad(e.to_string()))
}

/// The body, or why it could not be read (too large, cut off).
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, PluginError> {
    body.map_err(|e| {
        let why = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the request body is larger than {MAX_BODY} bytes")
        } else {
            format!("the request body could not be read: {e}")
        };
        PluginError { status: e.status(), message: why }
    })
}

/// What one socket serves.
#[derive(Clone)]
struct Endpoint {
    driver: Arc<NetworkDriver>,
    ipam: Option<Arc<IpamDriver>>,
}

/// The routes of one socket: the network driver, and the IPAM driver when `ipam` is given.
pub fn router(driver: Arc<NetworkDriver>, ipam: Option<Arc<IpamDriver>>) -> Router {
    macro_rules! net {
        ($method:ident) => {
            post(|State(e): State<Endpoint>, body: Result<Bytes, BytesRejection>| async move {
                e.driver.$method(&body_of(body)?).await
            })
        };
    }
    macro_rules! ipam {
        ($method:ident) => {
            post(|State(e): State<Endpoint>, body: Result<Bytes, BytesRejection>| async move {
                match &e.ipam {
                    Some(i) => i.$method(&body_of(body)?).await,
                    None => Err(PluginError::new("this driver has no IPAM driver: use weavemesh")),
                }
            })
        };
    }
    let mut r = Router::new()
        .route(
            "/Plugin.Activate",
            post(|State(e): State<Endpoint>| async move {
                let mut implements = vec!["NetworkDriver"];
                if e.ipam.is_some() {
                    implements.push("IpamDriver");
                }
                answer(serde_json::json!({ "Implements": implements }))
            }),
        )
        .route("/NetworkDriver.GetCapabilities", net!(capabilities))
        .route("/NetworkDriver.CreateNetwork", net!(create_network))
        .route("/NetworkDriver.DeleteNetwork", net!(delete_network))
        .route("/NetworkDriver.CreateEndpoint", net!(create_endpoint))
        .route("/NetworkDriver.DeleteEndpoint", net!(delete_endpoint))
        .route("/NetworkDriver.EndpointOperInfo", net!(endpoint_info))
        .route("/NetworkDriver.Join", net!(join))
        .route("/NetworkDriver.Leave", net!(leave))
        .route("/NetworkDriver.AllocateNetwork", net!(allocate_network))
        .route("/NetworkDriver.FreeNetwork", net!(free_network))
        .route("/NetworkDriver.DiscoverNew", net!(discover))
        .route("/NetworkDriver.DiscoverDelete", net!(discover));
    if ipam.is_some() {
        r = r
            .route("/IpamDriver.GetCapabilities", ipam!(capabilities))
            .route("/IpamDriver.GetDefaultAddressSpaces", ipam!(default_address_spaces))
            .route("/IpamDriver.RequestPool", ipam!(request_pool))
            .route("/IpamDriver.ReleasePool", ipam!(release_pool))
            .route("/IpamDriver.RequestAddress", ipam!(request_address))
            .route("/IpamDriver.ReleaseAddress", ipam!(release_address));
    }
    r.fallback(|| async {
        PluginError { status: StatusCode::NOT_FOUND, message: "no such plugin call".into() }
    })
    .layer(DefaultBodyLimit::max(MAX_BODY))
    .with_state(Endpoint { driver, ipam })
}

/// Binds a plugin socket at `path` (replacing a stale one left by a killed daemon).
pub fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| std::io::Error::new(e.kind(), format!("create {}: {e}", dir.display())))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(std::io::Error::new(e.kind(), format!("remove stale {}: {e}", path.display()))),
    }
    tokio::net::UnixListener::bind(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("listen on {}: {e}", path.display())))
}

/// Serves `router` on `listener` until `stop`, then removes the socket file.
pub async fn serve(
    listener: tokio::net::UnixListener,
    path: PathBuf,
    router: Router,
    stop: CancellationToken,
) {
    let stopped = stop.clone();
    if let Err(e) =
        axum::serve(listener, router).with_graceful_shutdown(async move { stopped.cancelled().await }).await
    {
        tracing::error!(socket = %path.display(), "plugin server: {e}");
    }
    let _ = std::fs::remove_file(&path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_parsed_strictly_with_clear_errors() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "PascalCase")]
        struct R {
            #[serde(rename = "NetworkID")]
            network_id: String,
        }
        let r: R = parse("X", br#"{"NetworkID":"abc","Extra":1}"#).unwrap();
        assert_eq!(r.network_id, "abc");
        let e = parse::<R>("NetworkDriver.X", b"{").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("NetworkDriver.X: the request is not valid JSON"), "{}", e.message);
        let e = parse::<R>("X", br#"{"NetworkID":5}"#).unwrap_err();
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let e = parse::<R>("X", b"").unwrap_err();
        assert!(e.message.contains("missing field `NetworkID`"), "{}", e.message);
    }
}
