//! `/api/v1/services`: export, import and bind. Each handler is one call of the services
//! subsystem.

use super::{ApiFailure, AppState, ServicesApi};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, add)).routes(routes!(get_one, remove))
}

/// Every service of this host, with its state (`broken` with the reason when its target is gone).
#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    responses((status = 200, description = "The services", body = Vec<Service>)))]
async fn list(State(s): State<ServicesApi>) -> Json<Vec<Service>> {
    Json(s.list())
}

/// Creates a service: `kind` `export`, `import` or `bind`. Recorded before anything changes,
/// and undone when a step fails; the same request again answers the service it made. Its
/// weave address, when not given, comes from IPAM.
#[utoipa::path(post, path = "/api/v1/services", tag = "services", request_body = ServiceRequest,
    responses(
        (status = 200, description = "The service", body = Service),
        (status = 400, description = "A port out of range, an address that does not parse, is loopback or lies outside the weave network's range, a bad name", body = ApiError),
        (status = 404, description = "The target is not attached on this host", body = ApiError),
        (status = 409, description = "The published port, or the weave address, is taken", body = ApiError),
        (status = 500, description = "The kernel or the database refused a step (nothing is left applied)", body = ApiError),
        (status = 503, description = "No address can be had from IPAM", body = ApiError)))]
async fn add(
    State(s): State<ServicesApi>,
    Json(req): Json<ServiceRequest>,
) -> Result<Json<Service>, ApiFailure> {
    Ok(Json(s.add(req).await?))
}

/// One service.
#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "services",
    params(("id" = String, Path, description = "The service's id")),
    responses((status = 200, description = "The service", body = Service),
        (status = 404, description = "No such service", body = ApiError)))]
async fn get_one(State(s): State<ServicesApi>, Path(id): Path<String>) -> Result<Json<Service>, ApiFailure> {
    s.list()
        .into_iter()
        .find(|x| x.id == id)
        .map(Json)
        .ok_or_else(|| crate::services::ServiceError::NotFound(id).into())
}

/// Removes a service: its name, its rules, its weave address (released in IPAM), its record.
#[utoipa::path(delete, path = "/api/v1/services/{id}", tag = "services",
    params(("id" = String, Path, description = "The service's id")),
    responses((status = 200, description = "Removed", body = ServiceRemoved),
        (status = 404, description = "No such service", body = ApiError),
        (status = 500, description = "A step failed; the next start finishes the removal", body = ApiError)))]
async fn remove(
    State(s): State<ServicesApi>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ServiceRemoved>), ApiFailure> {
    s.remove(id.clone()).await?;
    Ok((StatusCode::OK, Json(ServiceRemoved { id })))
}
