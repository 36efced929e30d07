//! A daemon for the in-process API tests: its mesh listens on loopback on a port of the
//! kernel's choosing, its state lives in a directory removed on drop, and requests go through
//! the real router with no sockets.

use super::router;
use crate::config::Config;
use crate::daemon::{Daemon, Parts};
use crate::dns::Dns;
use crate::identity::Identity;
use crate::ipam::Ipam;
use crate::store::Store;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::Parser;
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

/// The subsystems a test daemon runs besides the mesh and the API.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum With {
    Nothing,
    /// IPAM as its flags configure it (none with `--ipalloc-range ""`).
    Ipam,
    /// weaveDNS state, without its sockets.
    Dns,
}

pub struct TestDaemon {
    pub daemon: Arc<Daemon>,
    dir: std::path::PathBuf,
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.daemon.request_shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Peer `02:00:00:00:00:0a` (`hostA`) with `args` after the common flags; `tag` keeps the data
/// directories of concurrent tests apart.
pub async fn daemon(tag: &str, args: &[&str], with: With) -> TestDaemon {
    daemon_as(tag, ("02:00:00:00:00:0a", "hostA"), args, with).await
}

/// As [`daemon`], with another peer name and nickname.
pub async fn daemon_as(tag: &str, (name, nick): (&str, &str), args: &[&str], with: With) -> TestDaemon {
    let dir = std::env::temp_dir().join(format!("weave-api-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = ["weave-daemon", "--name", name, "--nickname", nick, "--resolv-conf", ""];
    let dir_args = ["--data-dir", dir.to_str().unwrap()];
    let mut config = Config::try_parse_from(base.iter().chain(&dir_args).chain(args)).unwrap();
    config.host = Some([127, 0, 0, 1].into());
    config.port = 0;
    let store = Store::open(&config.db_path()).unwrap();
    let identity = Identity::new(config.name.unwrap(), nick.into());
    let stop = tokio_util::sync::CancellationToken::new();
    let ipam = crate::ipam::config_from_flags(&config, identity.name, identity.uid, nick, 0)
        .filter(|_| with == With::Ipam)
        .map(|cfg| {
            let persisted = crate::ipam::load(&store).unwrap();
            Ipam::new(cfg, store.clone(), persisted, stop.clone()).unwrap()
        });
    let channels = ipam.iter().map(|i| i.gossiper()).collect();
    let peers = config.peers.clone();
    let mesh = crate::daemon::start_mesh_with_channels(
        &config,
        &identity,
        &store,
        peers,
        stop.clone(),
        None,
        channels,
    )
    .await
    .unwrap();
    if let Some(i) = &ipam {
        i.start(mesh.clone());
    }
    let dns = (with == With::Dns).then(|| Dns::new(crate::dns::config_from_flags(&config), identity.name));
    let policy = crate::policy::service::PolicyService::new(&identity.name.to_string(), None);
    let daemon =
        Daemon::new(Parts { config, identity, store, mesh, sleeve: None, ipam, dns, policy, shutdown: stop });
    TestDaemon { daemon, dir }
}

/// A daemon with IPAM, ready.
pub async fn ipam_daemon(tag: &str, extra: &[&str]) -> TestDaemon {
    let t = daemon(&format!("ipam-{tag}"), extra, With::Ipam).await;
    t.daemon.set_ready();
    t
}

/// A daemon with IPAM seeded with itself, so the ring exists at once.
pub async fn seeded(tag: &str) -> TestDaemon {
    ipam_daemon(tag, &["--ipalloc-init", "seed=02:00:00:00:00:0a"]).await
}

/// A request without a body.
pub fn req(method: &str, path: &str) -> Request<Body> {
    Request::builder().method(method).uri(path).body(Body::empty()).unwrap()
}

/// A POST with a JSON body.
pub fn json(path: &str, body: &str) -> Request<Body> {
    Request::post(path).header("content-type", "application/json").body(Body::from(body.to_string())).unwrap()
}

/// One request through the router, for the tests that read a response as it streams.
pub async fn send(d: &Arc<Daemon>, req: Request<Body>) -> axum::response::Response {
    router(d.clone()).oneshot(req).await.unwrap()
}

/// One request through the router: the status and the body as text.
pub async fn call(d: &Arc<Daemon>, req: Request<Body>) -> (StatusCode, String) {
    let resp = send(d, req).await;
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Reads an event stream until `done` holds of everything read so far; fails after 5 s.
pub async fn read_events(body: &mut Body, mut done: impl FnMut(&str) -> bool) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done(&seen) {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await;
        let frame = frame.unwrap_or_else(|_| panic!("no such event within 5s; read: {seen}"));
        if let Some(data) = frame.expect("stream open").expect("frame").data_ref() {
            seen.push_str(&String::from_utf8_lossy(data));
        }
    }
    seen
}
