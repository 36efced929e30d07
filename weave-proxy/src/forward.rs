//! The proxy's HTTP server and its forwarding to dockerd.
//!
//! Each request gets a connection of its own to dockerd (a unix socket connect costs little,
//! and a hijacked connection is then simply handed over). Bodies stream in both directions
//! frame by frame; a `101 Switching Protocols` from dockerd (Docker's attach, exec start,
//! `docker run -i`) turns both connections into raw byte streams spliced with half-close.
//! Only bodies the proxy rewrites are read whole, within [`MAX_BODY`]. A client or dockerd
//! going away ends that request's tasks and nothing else.

use crate::listen::DockerAddr;
use crate::rewrite::{self, ImageCommand, RewriteError, Rules};
use crate::route::{self, Route};
use crate::Hooks;
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// The largest body the proxy reads whole (create, start, exec, an inspect it rewrites).
pub const MAX_BODY: usize = 8 << 20;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("weave proxy: cannot reach Docker: {0}")]
    Docker(String),
    #[error("weave proxy: the request body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("weave proxy: reading the request body: {0}")]
    Read(String),
    #[error("weave proxy: the container's configuration is not valid JSON: {0}")]
    Json(String),
    #[error("weave proxy: {0}")]
    Rewrite(#[from] RewriteError),
    #[error("weave proxy: unexpected answer from Docker to {what}: {why}")]
    Answer { what: String, why: String },
    #[error("weave proxy: attaching the container to weave failed: {0}")]
    Attach(String),
}

impl ProxyError {
    fn status(&self) -> StatusCode {
        match self {
            ProxyError::Docker(_) | ProxyError::Answer { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Read(_) | ProxyError::Json(_) | ProxyError::Rewrite(_) => StatusCode::BAD_REQUEST,
            ProxyError::Attach(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Docker's error shape, which its clients print.
    fn response(&self) -> Response<Body> {
        let body = serde_json::json!({ "message": self.to_string() }).to_string();
        let mut r = Response::new(full(body.into()));
        *r.status_mut() = self.status();
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }
}

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

fn boxed(b: Incoming) -> Body {
    b.map_err(|e| Box::new(e) as BoxError).boxed()
}

/// The proxy: dockerd's address, the rewrite rules and the daemon's hooks.
pub struct Proxy {
    pub docker: DockerAddr,
    pub rules: Rules,
    pub rewrite_inspect: bool,
    pub hooks: Arc<dyn Hooks>,
}

/// Serves one listener until `stop`; connections already open run to their end.
pub async fn serve(listener: crate::listen::Listener, proxy: Arc<Proxy>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok(conn) => {
                let proxy = proxy.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let proxy = proxy.clone();
                        async move { Ok::<_, std::convert::Infallible>(proxy.handle(req).await) }
                    });
                    let served = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(conn), svc)
                        .with_upgrades()
                        .await;
                    if let Err(e) = served {
                        tracing::debug!("proxy connection: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(listener = %listener.addr(), "accepting a proxy connection: {e}");
                // EMFILE and the like: give the process a moment rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.headers().contains_key(UPGRADE)
        || req
            .headers()
            .get_all(CONNECTION)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.to_ascii_lowercase().contains("upgrade")))
}

/// Reads a body whole, within [`MAX_BODY`].
async fn collect(body: Incoming) -> Result<Bytes, ProxyError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ProxyError::TooLarge),
        Err(e) => Err(ProxyError::Read(e.to_string())),
    }
}

/// The request with a new body, its length fixed.
fn with_body(mut parts: http::request::Parts, b: Bytes) -> Request<Body> {
    parts.headers.remove(TRANSFER_ENCODING);
    parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(b.len()));
    Request::from_parts(parts, full(b))
}

impl Proxy {
    /// The rules with weaveDNS's address as it is now (Docker's bridge may come later).
    fn rules_now(&self) -> Rules {
        Rules { dns_server: self.hooks.dns_server(), ..self.rules.clone() }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let r = route::route(req.method(), req.uri().path());
        let out = match r {
            Route::Create => self.create(req).await,
            Route::Start(id) => self.start(req, &id).await,
            Route::Exec(id) => self.exec(req, &id).await,
            Route::Inspect(id) if self.rewrite_inspect => self.inspect(req, &id).await,
            Route::Inspect(_) | Route::Pass => self.pass(req).await,
        };
        out.unwrap_or_else(|e| {
            tracing::info!(error = %e, "proxy request refused");
            e.response()
        })
    }

    /// Sends a request to dockerd on a connection of its own.
    async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, ProxyError> {
        match &self.docker {
            DockerAddr::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(|e| ProxyError::Docker(format!("connecting to unix://{}: {e}", p.display())))?;
                send_on(s, req).await
            }
            DockerAddr::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a.as_str())
                    .await
                    .map_err(|e| ProxyError::Docker(format!("connecting to tcp://{a}: {e}")))?;
                let _ = s.set_nodelay(true);
                send_on(s, req).await
            }
        }
    }

    /// Forwards unchanged; a switch of protocols splices the two connections.
    async fn pass(&self, mut req: Request<Incoming>) -> Result<Response<Body>, ProxyError> {
        let client_side = is_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
        let mut resp = self.send(req.map(boxed)).await?;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_side) = client_side {
                let docker_side = hyper::upgrade::on(&mut resp);
                tokio::spawn(splice(client_side, docker_side));
            }
        }
        Ok(resp.map(boxed))
    }

    /// GET of a JSON document from dockerd; `None` when it answers 404.
    async fn get_json(&self, path: &str) -> Result<Option<Value>, ProxyError> {
        let req = Request::get(path)
            .header(HOST, "docker")
            .body(full(Bytes::new()))
            .map_err(|e| ProxyError::Docker(e.to_string()))?;
        let resp = self.send(req).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let answer = |why: String| ProxyError::Answer { what: format!("GET {path}"), why };
        let body = collect(resp.into_body()).await.map_err(|e| answer(e.to_string()))?;
        if !status.is_success() {
            return Err(answer(format!("HTTP {status}: {}", String::from_utf8_lossy(&body))));
        }
        serde_json::from_slice(&body).map(Some).map_err(|e| answer(e.to_string()))
    }

    /// A container as dockerd describes it, and its `WEAVE_CIDR` words when it is the proxy's.
    async fn container(&self, id: &str) -> Result<Option<(Value, Option<Vec<String>>)>, ProxyError> {
        let Some(c) = self.get_json(&format!("/containers/{id}/json")).await? else { return Ok(None) };
        let cidrs = rewrite::proxied(&c, self.rules.no_default_ipalloc);
        Ok(Some((c, cidrs)))
    }

    async fn create(&self, req: Request<Incoming>) -> Result<Response<Body>, ProxyError> {
        let (parts, body) = req.into_parts();
        let bytes = collect(body).await?;
        let mut v: Value = serde_json::from_slice(&bytes).map_err(|e| ProxyError::Json(e.to_string()))?;
        let (mode, env) = rewrite::create_facts(&v)?;
        let name = route::query_param(parts.uri.query(), "name");
        if let Err(why) = rewrite::weave_cidrs(&mode, &env, self.rules.no_default_ipalloc) {
            tracing::debug!(name = ?name, "leaving the container off weave: {why}");
            return self.pass_bytes(parts, bytes).await;
        }
        let image = match rewrite::image_needed(&v)? {
            None => ImageCommand::default(),
            Some(image) => match self.get_json(&format!("/images/{}/json", path_escape(&image))).await? {
                Some(i) => ImageCommand::from_inspect(&i),
                // Docker answers "no such image" and the client pulls and creates again.
                None => return self.pass_bytes(parts, bytes).await,
            },
        };
        rewrite::rewrite_create(&mut v, name.as_deref(), &self.rules_now(), &image)?;
        let b = Bytes::from(serde_json::to_vec(&v).map_err(|e| ProxyError::Json(e.to_string()))?);
        Ok(self.send(with_body(parts, b)).await?.map(boxed))
    }

    async fn pass_bytes(&self, parts: http::request::Parts, b: Bytes) -> Result<Response<Body>, ProxyError> {
        Ok(self.send(with_body(parts, b)).await?.map(boxed))
    }

    /// Start and restart: older clients' HostConfig gets the volume and DNS again; a container
    /// of the proxy is attached before the answer goes back.
    async fn start(&self, req: Request<Incoming>, id: &str) -> Result<Response<Body>, ProxyError> {
        let (parts, body) = req.into_parts();
        let mut bytes = collect(body).await?;
        let Some((c, Some(cidrs))) = self.container(id).await? else {
            return self.pass_bytes(parts, bytes).await;
        };
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            let mut hc: Value =
                serde_json::from_slice(&bytes).map_err(|e| ProxyError::Json(e.to_string()))?;
            if hc.is_object() {
                let has_hostname =
                    c.pointer("/Config/Hostname").and_then(Value::as_str).is_some_and(|h| !h.is_empty());
                rewrite::inject_host_config(&mut hc, &self.rules_now(), has_hostname)?;
                bytes = Bytes::from(serde_json::to_vec(&hc).map_err(|e| ProxyError::Json(e.to_string()))?);
            }
        }
        let resp = self.send(with_body(parts, bytes)).await?;
        if resp.status().is_success() {
            let full_id = c.get("Id").and_then(Value::as_str).unwrap_or(id).to_string();
            self.hooks.attach(full_id, cidrs).await.map_err(ProxyError::Attach)?;
        }
        Ok(resp.map(boxed))
    }

    async fn exec(&self, req: Request<Incoming>, id: &str) -> Result<Response<Body>, ProxyError> {
        let (parts, body) = req.into_parts();
        let bytes = collect(body).await?;
        if !matches!(self.container(id).await?, Some((_, Some(_)))) {
            return self.pass_bytes(parts, bytes).await;
        }
        let mut v: Value = serde_json::from_slice(&bytes).map_err(|e| ProxyError::Json(e.to_string()))?;
        rewrite::rewrite_exec(&mut v)?;
        let b = Bytes::from(serde_json::to_vec(&v).map_err(|e| ProxyError::Json(e.to_string()))?);
        self.pass_bytes(parts, b).await
    }

    /// `--rewrite-inspect`: a proxy container shows its weave address.
    async fn inspect(&self, req: Request<Incoming>, _id: &str) -> Result<Response<Body>, ProxyError> {
        let resp = self.send(req.map(boxed)).await?;
        if resp.status() != StatusCode::OK {
            return Ok(resp.map(boxed));
        }
        let (mut parts, body) = resp.into_parts();
        let bytes = collect(body)
            .await
            .map_err(|e| ProxyError::Answer { what: "inspect".into(), why: e.to_string() })?;
        let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
            return Ok(Response::from_parts(parts, full(bytes)));
        };
        let full_id = v.get("Id").and_then(Value::as_str).unwrap_or_default().to_string();
        if rewrite::proxied(&v, self.rules.no_default_ipalloc).is_none() {
            return Ok(Response::from_parts(parts, full(bytes)));
        }
        let Some(w) = self.hooks.weave_if(full_id).await else {
            return Ok(Response::from_parts(parts, full(bytes)));
        };
        rewrite::rewrite_inspect(&mut v, &w.mac, w.ip, w.prefix);
        let b = Bytes::from(v.to_string());
        parts.headers.remove(TRANSFER_ENCODING);
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(b.len()));
        Ok(Response::from_parts(parts, full(b)))
    }
}

/// An image reference in a path: `/` stays (Docker routes `{name:.*}`), the rest is safe.
fn path_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b':' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn send_on<S>(io: S, req: Request<Body>) -> Result<Response<Incoming>, ProxyError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let what = format!("{} {}", req.method(), req.uri().path());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| ProxyError::Docker(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("proxy connection to Docker: {e}");
        }
    });
    sender.send_request(req).await.map_err(|e| ProxyError::Answer { what, why: e.to_string() })
}

/// Both ends of a hijacked connection, byte for byte, each direction closed on its own.
async fn splice(client: hyper::upgrade::OnUpgrade, docker: hyper::upgrade::OnUpgrade) {
    let (client, docker) = tokio::join!(client, docker);
    let (Ok(client), Ok(docker)) = (client, docker) else {
        tracing::debug!("a hijacked proxy connection ended before the switch");
        return;
    };
    let (mut c, mut d) = (TokioIo::new(client), TokioIo::new(docker));
    match tokio::io::copy_bidirectional(&mut c, &mut d).await {
        Ok((up, down)) => tracing::debug!(up, down, "hijacked proxy connection done"),
        Err(e) => tracing::debug!("hijacked proxy connection: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_dockers_json() {
        let r = ProxyError::TooLarge.response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(ProxyError::Rewrite(RewriteError::NoCommand).status(), StatusCode::BAD_REQUEST);
        assert_eq!(path_escape("reg:5000/a/b:tag x"), "reg:5000/a/b:tag%20x");
    }
}
