//! The REST API: `/api/v1` (JSON, described by the OpenAPI document) and Weave Net's own
//! endpoints with Weave's paths and bodies. Handlers read daemon snapshots; they never reach
//! into a subsystem's internals.

mod attach;
mod dns;
mod error;
mod events;
mod ipam;
mod legacy;
mod mesh;
mod v1;

pub use error::ApiFailure;

use crate::daemon::Daemon;
use axum::Router;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub type AppState = Arc<Daemon>;

/// Runs blocking work (namespaces, netlink, nft) off the runtime; its error answers with `status`.
async fn blocking<T: Send + 'static>(
    status: axum::http::StatusCode,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ApiFailure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiFailure::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiFailure::new(status, e))
}

/// Runs `f` with a netlink socket of the daemon's namespace, off the runtime.
async fn with_netlink<T: Send + 'static>(
    status: axum::http::StatusCode,
    f: impl FnOnce(&mut weave_netdev::Netlink) -> Result<T, String> + Send + 'static,
) -> Result<T, ApiFailure> {
    blocking(status, move || f(&mut weave_netdev::Netlink::open().map_err(|e| e.to_string())?)).await
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "weave",
        description = "The REST API of weave-daemon, the Weave Net compatible router. \
                       Errors are JSON `{\"error\": ..., \"hint\": ...}` with a 4xx/5xx status.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "daemon", description = "This peer and the daemon process"),
        (name = "mesh", description = "Peers, connections, routes and connection targets"),
        (name = "attach", description = "Targets (namespaces, containers) on the weave network"),
        (name = "ipam", description = "Cluster-wide IP address allocation"),
        (name = "dns", description = "weaveDNS: names of containers, answered on every host"),
        (name = "events", description = "The stream of changes")
    )
)]
struct ApiDoc;

/// The `/api/v1` routes with their OpenAPI document.
fn v1_parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1::routes())
        .merge(mesh::routes())
        .merge(attach::routes())
        .merge(ipam::routes())
        .merge(dns::routes())
        .routes(utoipa_axum::routes!(events::events))
        .split_for_parts()
}

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    v1_parts().1
}

/// Every route the daemon serves.
pub fn router(daemon: AppState) -> Router {
    let (v1, doc) = v1_parts();
    let doc = Arc::new(doc);
    v1.route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
    .merge(legacy::routes())
    .merge(ipam::legacy_routes())
    .merge(dns::legacy_routes())
    .fallback(error::not_found)
    .with_state(daemon)
}

/// Serves the API until the daemon shuts down.
pub async fn serve(listener: tokio::net::TcpListener, daemon: AppState) -> std::io::Result<()> {
    let stop = daemon.shutdown_signal();
    axum::serve(listener, router(daemon)).with_graceful_shutdown(stop).await
}

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
