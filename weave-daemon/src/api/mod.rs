//! The REST API: `/api/v1` (JSON, described by the OpenAPI document) and Weave Net's own
//! endpoints with Weave's paths and bodies. Handlers reach the daemon only through the narrow
//! handles of [`AppState`] (one per subsystem, extracted with `State<...Api>`): they read
//! snapshots and call services, and never reach into a subsystem's internals.

mod attach;
mod cni;
mod dns;
mod error;
mod events;
mod form;
mod guard;
mod ipam;
mod legacy;
mod mesh;
mod policy;
mod services;
mod state;
mod v1;
mod weave_ipam;

pub use error::ApiFailure;
pub use guard::Limits;
pub use state::{
    AppState, AttachApi, CniApi, DaemonApi, DnsApi, DockerApi, IpamApi, MeshApi, PolicyApi, ServicesApi,
};

use crate::daemon::Daemon;
use axum::Router;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "weave",
        description = "The REST API of weave-daemon, the Weave Net compatible router. \
                       Errors are JSON `{\"error\": ..., \"hint\": ...}` with a 4xx/5xx status. \
                       A POST needs `Content-Type: application/json` (415 otherwise; a \
                       browser preflights the other changing methods, and gets no CORS grant). Requests whose `Host` is not a loopback name or an address \
                       the daemon listens on, or whose `Origin` or `Sec-Fetch-Site` says they \
                       come from another site, are refused with 403. A request answers within \
                       60 s or gets a 503 (the event stream and `/api/v1/ipam/prime` wait as \
                       long as they need); too many at once get a 503 too.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "daemon", description = "This peer and the daemon process"),
        (name = "mesh", description = "Peers, connections, routes and connection targets"),
        (name = "attach", description = "Targets (namespaces, containers) on the weave network"),
        (name = "cni", description = "CNI attachments: the daemon side of the weave-net and weave-ipam plugins"),
        (name = "ipam", description = "Cluster-wide IP address allocation"),
        (name = "dns", description = "weaveDNS: names of containers, answered on every host"),
        (name = "policy", description = "Network policy in Kubernetes' NetworkPolicy format, cluster-wide; its verdicts, drops, and the labels targets are selected by"),
        (name = "services", description = "Services exported from, imported into, or bound on the weave network"),
        (name = "events", description = "The stream of changes")
    )
)]
struct ApiDoc;

/// The `/api/v1` routes with their OpenAPI document.
fn v1_parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (v1, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1::routes())
        .merge(mesh::routes())
        .merge(attach::routes())
        .merge(cni::routes())
        .merge(ipam::routes())
        .merge(dns::routes())
        .merge(services::routes())
        .merge(policy::routes())
        .routes(utoipa_axum::routes!(events::events))
        .split_for_parts();
    let (router, mut doc) = (v1, doc);
    common_responses(&mut doc);
    (router, doc)
}

/// What every operation may answer besides its own responses, from the guard and the framework:
/// 400 for a malformed body, query or path, 403 for a refused browser request, 415 for a POST
/// without a JSON body, 503 past the limits. Added where an operation does not say more.
fn common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |what: &str| {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiError"))).build();
        ResponseBuilder::new().description(what).content("application/json", content).build()
    };
    for item in doc.paths.paths.values_mut() {
        let ops = [
            (&mut item.get, false),
            (&mut item.put, true),
            (&mut item.post, true),
            (&mut item.delete, false),
        ];
        for (op, body) in ops {
            let Some(op) = op.as_mut() else { continue };
            let mut add = |code: &str, what: &str| {
                op.responses.responses.entry(code.to_string()).or_insert_with(|| error(what).into());
            };
            add("400", "A malformed body, query or path parameter");
            add("403", "A request from another site, or for a Host this daemon does not serve");
            if body {
                add("415", "The body is not declared as JSON (Content-Type: application/json)");
            }
            add("503", "Too many requests at once, or one that did not finish within 60 s");
        }
    }
}

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    v1_parts().1
}

/// Every route the daemon serves, over the daemon's handles, behind the guard (see [`guard`])
/// with the default limits.
pub fn router(daemon: Arc<Daemon>) -> Router {
    router_with_limits(daemon, Limits::default())
}

/// Every route the daemon serves, behind the guard with these limits.
pub fn router_with_limits(daemon: Arc<Daemon>, limits: Limits) -> Router {
    let guard = guard::Guard::new(daemon.config.http_addr, limits);
    let state = AppState::of(&daemon);
    let (v1, doc) = v1_parts();
    let posts = guard::PostPaths::of(&doc);
    let doc = Arc::new(doc);
    v1.route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
    .merge(legacy::routes())
    .merge(weave_ipam::routes())
    .merge(dns::legacy_routes())
    .fallback(error::not_found)
    .with_state(state)
    .layer(axum::middleware::from_fn_with_state(posts, guard::json_post))
    .layer(axum::middleware::from_fn(error::json_errors))
    .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
}

/// Serves the API until the daemon shuts down.
pub async fn serve(listener: tokio::net::TcpListener, daemon: Arc<Daemon>) -> std::io::Result<()> {
    let stop = daemon.shutdown_signal();
    axum::serve(listener, router(daemon)).with_graceful_shutdown(stop).await
}

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
